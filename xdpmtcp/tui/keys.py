"""Keys from a terminal without waiting for Enter (cbreak mode), restored on
exit; arrow keys come as names."""
import os
import select
import sys
import termios
import tty

ESCAPES = {"\x1b[A": "up", "\x1b[B": "down", "\x1b[5~": "pgup", "\x1b[6~": "pgdown"}


class Keys:
    def __init__(self, stream=sys.stdin):
        self.fd = stream.fileno()
        self.saved = None

    def __enter__(self):
        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def read(self, timeout):
        """Keys typed within timeout seconds (a list, maybe empty)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.fd, 64).decode(errors="replace")
        keys, i = [], 0
        while i < len(data):
            for seq, name in ESCAPES.items():
                if data.startswith(seq, i):
                    keys.append(name)
                    i += len(seq)
                    break
            else:
                ch = data[i]
                keys.append({"\r": "enter", "\n": "enter", "\x1b": "esc", "\x7f": "backspace"}.get(ch, ch))
                i += 1
        return keys
