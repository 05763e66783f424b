"""Drive many connections' applications from one engine loop: a
connection is stepped only when the engine reported activity on it."""
import time


class ConnectionRunner:
    def __init__(self, engine):
        self.engine = engine
        self.apps = {}                # Connection -> app
        self.ready = set()
        self.finished = []            # (conn description, app) in end order

    def add(self, conn, app):
        self.apps[conn] = app
        conn.watchers.append(self._wake)
        self.ready.add(conn)

    def _wake(self, conn, bits):
        if conn in self.apps:
            self.ready.add(conn)

    def step(self):
        ready, self.ready = self.ready, set()
        for conn in ready:
            app = self.apps.get(conn)
            if app is None:
                continue
            app.step(conn)
            if app.done:
                del self.apps[conn]
                self.finished.append((conn, app))
            elif conn.released:
                app.done = True
                del self.apps[conn]
                self.finished.append((conn, app))

    def run(self, until, timeout=None, poll=0.01):
        """Poll and step until until() or timeout; returns until()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not until():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.engine.poll(0 if self.ready or self.engine.want_flush else poll)
            self.step()
        return True
