"""The steering program's SYN answering (bpf/xdp_syn_answer.h) as the
control plane runs it: on with the C core's cookie key, and off again if
the interface drops what XDP_TX sends.

A veth hands XDP_TX frames only to a peer end that runs an XDP program of
its own (docs/architecture.md); otherwise it drops them and counts them in
its xdp_tx_errors (ethtool -S).  The cookie SYN-ACKs would be lost and
every client over the SYN budget would wait for its SYN retransmission, so
while answering is on the guard reads that count at most once a second and
turns answering off at its first increase: the listeners then take every
SYN, as they do without it (counted: the program's syn_answer_stopped)."""
from pyroute2.ethtool.ioctl import IoctlEthtool

CHECK_INTERVAL_NS = 1_000_000_000


class SynAnswerGuard:
    def __init__(self, program, ifname):
        self.program = program
        self.ifname = ifname
        self.stopped_reason = None
        self._ethtool = None
        self._errors_at_start = 0
        self._next_check_ns = 0

    def start(self, cookie_key, rate, burst, ttl):
        """Answering on (SteeringProgram.answer_syns); the guard reads the
        interface's statistics from this thread's network namespace."""
        self.program.answer_syns(cookie_key, rate, burst, ttl)
        try:
            self._ethtool = IoctlEthtool(self.ifname)
            self._errors_at_start = self._tx_errors()
        except Exception:           # a driver without statistics: nothing to watch
            self.close()

    def _tx_errors(self):
        return sum(v for name, v in self._ethtool.get_statistics() if "xdp_tx_err" in name)

    def check(self, now_ns):
        """Called by the engine's batch loop; reads the statistics at most
        once per CHECK_INTERVAL_NS."""
        if self._ethtool is None or now_ns < self._next_check_ns:
            return
        self._next_check_ns = now_ns + CHECK_INTERVAL_NS
        errors = self._tx_errors()
        if errors > self._errors_at_start:
            self.program.stop_answering_syns()
            self.stopped_reason = ("%s dropped %d XDP_TX frames (a veth whose peer end runs no XDP "
                                   "program?): SYNs over the budget go to the stack again"
                                   % (self.ifname, errors - self._errors_at_start))
            self.close()

    def close(self):
        if self._ethtool is not None:
            self._ethtool.close()
            self._ethtool = None
