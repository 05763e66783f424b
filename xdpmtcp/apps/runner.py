"""Drive many connections' applications from one engine loop: a
connection is stepped only when the engine reported activity on it."""
import collections
import time
import traceback


class ConnectionRunner:
    """Apps keyed by connection.  Finished (conn, app) pairs wait in
    ``finished`` until the owner takes them (``take_finished``); nothing is
    kept after that, so a server's memory does not grow with the
    connections it has served.  An app that raises ends its own connection
    (RST) and nothing else: the failure is kept in ``app.failure``."""

    def __init__(self, engine):
        self.engine = engine
        self.apps = {}                # Connection -> app
        self.ready = set()
        self.finished = collections.deque()   # (conn, app) in end order, until taken
        self.finished_total = 0
        self.app_failures = 0
        self._wake_cb = self._wake    # one bound method for every connection's watcher list

    def add(self, conn, app):
        self.apps[conn] = app
        conn.watchers.append(self._wake_cb)
        self.ready.add(conn)

    def _wake(self, conn, bits):
        if conn in self.apps:
            self.ready.add(conn)

    def take_finished(self):
        """The finished (conn, app) pairs not taken yet, oldest first."""
        while self.finished:
            yield self.finished.popleft()

    def _finish(self, conn, app):
        del self.apps[conn]
        conn.watchers.remove(self._wake_cb)
        self.finished.append((conn, app))
        self.finished_total += 1

    def step(self):
        ready, self.ready = self.ready, set()
        for conn in ready:
            app = self.apps.get(conn)
            if app is None:
                continue
            try:
                app.step(conn)
            except Exception as e:      # one app's bug must not stop the others
                self.app_failures += 1
                app.failure = "%s: %s" % (type(e).__name__, e)
                app.failure_trace = traceback.format_exc()
                app.done = True
                conn.abort()
            if app.done:
                self._finish(conn, app)
            elif conn.released:
                app.done = True
                self._finish(conn, app)

    def run(self, until, timeout=None, poll=0.01):
        """Poll and step until until() or timeout; returns until()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not until():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.engine.poll(0 if self.ready or self.engine.want_flush else poll)
            self.step()
        return True
