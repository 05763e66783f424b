"""SynAnswerGuard (xdpmtcp/xdp/syn_answer.py) from the statistics a veth
reports: answering stops when the interface drops every XDP_TX frame (its
peer end runs no XDP program), not when a flood overflows the peer's ring
now and then, and nothing is watched on a driver that counts otherwise."""
from xdpmtcp.xdp.syn_answer import CHECK_INTERVAL_NS, SynAnswerGuard


class Program:
    def __init__(self):
        self.answering = False

    def answer_syns(self, *args):
        self.answering = True

    def stop_answering_syns(self):
        self.answering = False


class VethStats:
    """rx_queue_N_xdp_tx (delivered) and _xdp_tx_errors (dropped), per queue."""

    def __init__(self, queues=2):
        self.delivered = [0] * queues
        self.dropped = [0] * queues
        self.closed = False

    def get_statistics(self):
        out = [("peer_ifindex", 2)]
        for q, (d, e) in enumerate(zip(self.delivered, self.dropped)):
            out += [("rx_queue_%d_xdp_packets" % q, d + e), ("rx_queue_%d_xdp_tx" % q, d),
                    ("rx_queue_%d_xdp_tx_errors" % q, e)]
        return out

    def close(self):
        self.closed = True


def started(stats):
    prog = Program()
    guard = SynAnswerGuard(prog, "veth0", ethtool=lambda ifname: stats)
    guard.start(b"k" * 16, 10000, 1000, 64)
    return prog, guard


def test_stops_when_every_xdp_tx_frame_is_dropped():
    stats = VethStats()
    prog, guard = started(stats)
    stats.dropped[1] += 3
    guard.check(0)
    assert not prog.answering and guard.stopped_reason and stats.closed


def test_keeps_answering_when_a_flood_overflows_the_peer_now_and_then():
    stats = VethStats()
    prog, guard = started(stats)
    for second in range(1, 4):
        stats.delivered[0] += 100_000
        stats.dropped[0] += 20_000
        guard.check(second * CHECK_INTERVAL_NS)
    assert prog.answering and guard.stopped_reason is None


def test_checks_at_most_once_an_interval():
    stats = VethStats()
    prog, guard = started(stats)
    guard.check(0)
    stats.dropped[0] += 1
    guard.check(CHECK_INTERVAL_NS - 1)        # not due: the drop is not seen yet
    assert prog.answering
    guard.check(CHECK_INTERVAL_NS)
    assert not prog.answering


def test_nothing_to_watch_on_other_drivers():
    class NicStats:
        closed = False

        def get_statistics(self):
            return [("rx_xdp_tx_xmit", 5), ("rx_xdp_tx_err", 5)]

        def close(self):
            self.closed = True
    nic = NicStats()
    prog, guard = started(nic)
    guard.check(0)
    assert prog.answering and nic.closed
