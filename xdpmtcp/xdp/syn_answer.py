"""The steering program's SYN answering (bpf/xdp_syn_answer.h) as the
control plane runs it: on with the C core's cookie key, and off again if
the interface drops what XDP_TX sends.

A veth hands XDP_TX frames only to a peer end that runs an XDP program of
its own (docs/architecture.md); otherwise it drops every one of them and
counts them in rx_queue_N_xdp_tx_errors (ethtool -S), next to
rx_queue_N_xdp_tx, the ones it delivered.  The cookie SYN-ACKs would be
lost and every client over the SYN budget would wait for its SYN
retransmission, so while answering is on the guard reads both at most once
a second and turns answering off when frames were dropped and none
delivered: the listeners then take every SYN, as they do without it
(counted: the program's syn_answer_stopped).  Some dropped among many
delivered is the peer's ring overflowing under a flood, which costs only
SYN-ACKs to the flood.  Other drivers deliver XDP_TX frames themselves and
name their counters otherwise: nothing to watch there."""
import re

from pyroute2.ethtool.ioctl import IoctlEthtool

CHECK_INTERVAL_NS = 1_000_000_000


class SynAnswerGuard:
    def __init__(self, program, ifname, ethtool=IoctlEthtool):
        self.program = program
        self.ifname = ifname
        self._open_ethtool = ethtool  # ifname -> object with get_statistics() and close()
        self.stopped_reason = None
        self._ethtool = None
        self._last = None             # (delivered, dropped) at the last check
        self._next_check_ns = 0

    def start(self, cookie_key, rate, burst, ttl):
        """Answering on (SteeringProgram.answer_syns); the guard reads the
        interface's statistics from this thread's network namespace."""
        self.program.answer_syns(cookie_key, rate, burst, ttl)
        try:
            self._ethtool = self._open_ethtool(self.ifname)
            self._last = self._xdp_tx()
        except Exception:           # a driver without statistics: nothing to watch
            self._last = None
        if self._last is None:
            self.close()

    def _xdp_tx(self):
        """(delivered, dropped) XDP_TX frames as a veth counts them, None
        for a driver that does not."""
        delivered = dropped = 0
        found = False
        for name, value in self._ethtool.get_statistics():
            if re.fullmatch(r"rx_queue_\d+_xdp_tx", name):
                delivered += value
                found = True
            elif re.fullmatch(r"rx_queue_\d+_xdp_tx_errors", name):
                dropped += value
        return (delivered, dropped) if found else None

    def check(self, now_ns):
        """Called by the engine's batch loop; reads the statistics at most
        once per CHECK_INTERVAL_NS."""
        if self._ethtool is None or now_ns < self._next_check_ns:
            return
        self._next_check_ns = now_ns + CHECK_INTERVAL_NS
        now = self._xdp_tx()
        delivered, dropped = (n - l for n, l in zip(now, self._last))
        self._last = now
        if dropped and not delivered:
            self.program.stop_answering_syns()
            self.stopped_reason = ("%s dropped %d XDP_TX frames and delivered none (a veth whose peer "
                                   "end runs no XDP program): SYNs go to the stack again"
                                   % (self.ifname, dropped))
            self.close()

    def close(self):
        if self._ethtool is not None:
            self._ethtool.close()
            self._ethtool = None
