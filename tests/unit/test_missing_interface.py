"""Every verb taking an interface refuses a missing one before it opens
anything, in one line that lists the interfaces that do exist."""
import pytest

from xdpmtcp.cli import main

MISSING = "nosuch0"
VERBS = [["serve", "-p", "8080", "-i", MISSING],
         ["connect", "-i", MISSING, "198.18.0.2", "80"],
         ["respond", "-p", "8080", "-i", MISSING],
         ["xdp", "status", "-i", MISSING],
         ["xdp", "detach", "-i", MISSING],
         ["monitor", "--iface", MISSING, "--duration", "1"],
         ["monitor", "--iface", "lo", "--inline", MISSING, "--duration", "1"]]


@pytest.mark.parametrize("argv", VERBS, ids=" ".join)
def test_missing_interface_lists_the_ones_there(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("xdpmtcp: no interface %r in this network namespace (it has: " % MISSING)
    assert "lo" in err.split("it has:")[1]
    assert len(err.splitlines()) == 1
