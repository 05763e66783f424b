"""Small facts about processes that several layers need."""
import os
import signal
import sys
import threading


def pid_alive(pid):
    """True if a process with this pid exists (even one we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StopFlag:
    """True once SIGINT or SIGTERM arrived: loops check it and end cleanly
    (contexts closed, XDP detached).  The handlers are set on creation;
    uninstall() puts the previous ones back."""

    def __init__(self):
        self.event = threading.Event()
        self.previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handler(self, signum, frame):
        self.event.set()

    def set(self):
        self.event.set()

    def uninstall(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def __bool__(self):
        return self.event.is_set()


def say(prog, text):
    """"prog: text" on stderr in one write: the workers of several cores
    share it, and their lines must not interleave."""
    sys.stderr.write("%s: %s\n" % (prog, text))
    sys.stderr.flush()
