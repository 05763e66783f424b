"""Every command teaches with --help and refuses bad input clearly."""
import subprocess
import sys

import pytest

from xdpmtcp.cli import build_parser, main

COMMANDS = [["demo"], ["respond"], ["xdp", "status"], ["xdp", "detach"],
            ["lab", "up"], ["lab", "down"], ["lab", "status"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(cmd + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: xdpmtcp " + " ".join(cmd) in out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("demo", "respond", "xdp", "lab"):
        assert name in out


def test_bad_fault_spec_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["respond", "-i", "x", "-p", "1", "--faults", "drop=7"])
    assert e.value.code == 2
    assert "probability" in capsys.readouterr().err


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("xdpmtcp ")


def test_missing_interface_is_a_clear_error(capsys):
    assert main(["xdp", "status", "-i", "no-such-if0"]) == 1
    assert "no interface 'no-such-if0'" in capsys.readouterr().err
