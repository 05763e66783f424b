"""The pieces the /run/xdpmtcp records stand on: telling a live process
from a dead, zombie or recycled one, and the sysctl's port-set syntax as
the kernel prints it."""
import os
import subprocess
import sys

from xdpmtcp.kernel import runstate
from xdpmtcp.kernel.reserved_ports import format_ports, parse_ports, port_ranges


def test_live_process_is_alive_and_a_recycled_pid_is_not():
    me = runstate.this_process()
    assert me["pid"] == os.getpid() and me["start"] > 0
    assert runstate.is_alive(me)
    assert not runstate.is_alive(dict(me, start=me["start"] - 1))   # same pid, other process
    assert not runstate.is_alive({"pid": me["pid"], "start": None})


def test_exited_and_zombie_processes_are_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)        # exited, not reaped: a zombie
    assert runstate.process_start(child.pid) is None
    child.wait()
    assert runstate.process_start(child.pid) is None


def test_port_sets_print_merged_like_the_kernel():
    ports = parse_ports("5,60000-60999\n") | parse_ports("61000-61999")
    assert format_ports(ports) == "5,60000-61999"
    assert port_ranges(ports) == [(5, 5), (60000, 61999)]
    assert format_ports(set()) == "" and parse_ports("\n") == set()


def test_state_files_are_replaced_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(runstate, "RUN_DIR", tmp_path)
    runstate.write_state("x.json", {"a": 1})
    assert runstate.read_state("x.json") == {"a": 1}
    (tmp_path / "bad.json").write_text("{not json")
    assert runstate.read_state("bad.json") is None
    runstate.write_state("x.json", None)
    assert runstate.read_state("x.json") is None and list(tmp_path.iterdir()) == [tmp_path / "bad.json"]
