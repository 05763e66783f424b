"""Local ports for active opens, from the range reserved with the kernel
(kernel/reserved_ports.py), so our connections and the kernel's never share
a 4-tuple.  A port may serve several connections to different peers."""


class EphemeralPorts:
    def __init__(self, first, last):
        if not 0 < first <= last < 65536:
            raise ValueError("bad port range %d-%d" % (first, last))
        self.first, self.last = first, last
        self._next = first
        self._users = {}              # port -> connections using it

    def take(self, tuple_in_use):
        """A port p for which tuple_in_use(p) is false, spreading over the
        range round-robin; None when every port is taken for that peer."""
        span = self.last - self.first + 1
        for _ in range(span):
            p = self._next
            self._next = self.first if p == self.last else p + 1
            if not tuple_in_use(p):
                self._users[p] = self._users.get(p, 0) + 1
                return p
        return None

    def release(self, port):
        n = self._users.get(port, 0) - 1
        if n > 0:
            self._users[port] = n
        else:
            self._users.pop(port, None)

    def in_use(self):
        return sum(self._users.values())
