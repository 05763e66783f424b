"""An xdpmtcp command running in a lab namespace, speaking JSON lines
(``--json``): start it, wait for its events, stop it (tests, benchmarks)."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class StackProcessError(RuntimeError):
    pass


class StackProcess:
    def __init__(self, host, command, *args):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "xdpmtcp", command, "--netns", host.ns, "-i", host.ifname,
                "--json", *map(str, args)]
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events = queue.Queue()
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass
        self.events.put(None)

    def wait_event(self, kind, timeout=30.0):
        """The next event of this kind (others are kept in self.seen)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise StackProcessError("no %r event within %.0fs from %s\n%s" % (
                    kind, timeout, " ".join(self.argv[3:5]), self.output()))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                self.proc.wait(5)
                raise StackProcessError("exited (%s) before a %r event\n%s"
                                        % (self.proc.returncode, kind, self.output()))
            if ev.get("event") == kind:
                return ev

    def output(self):
        err = self.proc.stderr.read() if self.proc.poll() is not None else ""
        return "".join(self.lines[-20:]) + err

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
