"""Every command teaches with --help and refuses bad input clearly."""
import subprocess
import sys

import pytest

from xdpmtcp.cli import build_parser, main

COMMANDS = [["demo"], ["serve"], ["connect"], ["respond"], ["xdp", "status"], ["xdp", "detach"],
            ["lab", "up"], ["lab", "down"], ["lab", "status"], ["lab", "impair"]]


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
    for name in ("demo", "serve", "connect", "respond", "xdp", "lab"):
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


@pytest.mark.parametrize("arg,words", [
    ("congestion", "expected KEY=VALUE"),
    ("no_such=1", "expected KEY=VALUE with KEY one of"),
    ("rcvbuf=big", "rcvbuf: bad value 'big' for a int"),
    ("sack=maybe", "sack: bad value 'maybe' for a bool"),
])
def test_bad_tunable_override_is_a_usage_error(capsys, arg, words):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["serve", "-i", "x", "-p", "1", "--tcp", arg])
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_tunable_overrides_take_their_types():
    args = build_parser().parse_args(["serve", "-i", "x", "-p", "1", "--tcp", "rcvbuf=1048576",
                                      "--tcp", "sack=off", "--tcp", "congestion=newreno",
                                      "--tcp", "ephemeral_ports=62000-62999"])
    assert dict(args.tcp) == {"rcvbuf": 1048576, "sack": False, "congestion": "newreno",
                              "ephemeral_ports": (62000, 62999)}
