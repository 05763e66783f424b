"""Progress bars appear on a terminal only: not with --json, not in a pipe."""
import io
import os
import pty

from xdpmtcp.progress import progress_bar, wanted


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_not_in_a_pipe_nor_with_json():
    assert not wanted(stream=io.StringIO())
    assert not wanted(json_output=True, stream=Terminal())
    assert wanted(stream=Terminal())


def test_silent_bar_writes_nothing():
    out = io.StringIO()
    with progress_bar("requests", 10, stream=out) as bar:
        bar.advance(3)
        bar.update(10)
    assert out.getvalue() == ""


def test_bar_draws_on_a_terminal():
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty:
        with progress_bar("requests", 10, stream=tty) as bar:
            bar.advance(10)
        with progress_bar("bridging", stream=tty) as spinner:
            spinner.advance()
    drawn = os.read(leader, 65536).decode(errors="replace")
    os.close(leader)
    assert "requests" in drawn and "10/10" in drawn


def test_track_yields_every_item():
    from xdpmtcp.progress import track
    assert list(track(range(3), "runs")) == [0, 1, 2]
