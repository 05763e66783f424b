"""The commands `xdpmtcp lab up` prints under "try it" work as pasted:
run one by one in a shell with xdpmtcp on PATH, the client gets its answer
through the lab, and the last line removes the lab."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from xdpmtcp.lab.fixtures import require_netns
from xdpmtcp.lab.stackproc import ROOT
from xdpmtcp.lab.topology import Lab

# what a line started in the background prints once it is ready
READY = {"xdpmtcp serve": "serving", "tcpdump": "listening on", "xdpmtcp lab impair": "bridging"}


@pytest.fixture
def shell_env(tmp_path):
    """PATH with `xdpmtcp` running this checkout, as setup's symlink would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "xdpmtcp"
    wrapper.write_text('#!/bin/sh\nPYTHONPATH=%s exec %s -m xdpmtcp "$@"\n' % (ROOT, sys.executable))
    wrapper.chmod(0o755)
    return dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))


def try_it_lines(text):
    lines = text.split("try it (as root, one line at a time):\n", 1)[1].splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def wait_ready(log_path, marker, proc, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(log_path) as f:
            if marker in f.read():
                return
        assert proc.poll() is None, open(log_path).read()
        time.sleep(0.1)
    raise AssertionError("not ready: " + open(log_path).read())


def run_pasted(lines, env, tmp_path):
    """Each line as a person would paste it; background ones awaited."""
    background, outputs = [], []
    try:
        for n, line in enumerate(lines):
            if line.endswith("&"):
                log = tmp_path / ("bg%d.log" % n)
                proc = subprocess.Popen(["bash", "-c", line[:-1]], env=env, cwd=tmp_path,
                                        stdout=open(log, "w"), stderr=subprocess.STDOUT)
                background.append(proc)
                marker = next((m for cmd, m in READY.items() if cmd in line), None)
                if marker:
                    wait_ready(log, marker, proc)
            else:
                r = subprocess.run(["bash", "-c", line], env=env, cwd=tmp_path, timeout=60,
                                   capture_output=True, text=True)
                assert r.returncode == 0, (line, r.stdout, r.stderr)
                outputs.append(r.stdout)
    finally:
        for proc in background:
            proc.terminate()
            proc.wait(10)
    return outputs


@pytest.mark.parametrize("flags,answer", [([], "hello from xdpmtcp\n"),
                                          (["--inline"], re.compile(r"^200 in [\d.]+ s$"))],
                         ids=["pair", "inline"])
def test_try_it_lines_work_as_pasted(shell_env, tmp_path, flags, answer):
    require_netns()
    shutil.which("curl") or pytest.skip("curl is not installed")
    up = subprocess.run(["xdpmtcp", "lab", "up", "--prefix", "xmtry"] + flags, env=shell_env,
                        capture_output=True, text=True, timeout=60, check=True)
    name = up.stdout.split()[1]
    try:
        lines = try_it_lines(up.stdout)
        assert lines[-1] == "xdpmtcp lab down %s" % name
        outputs = run_pasted(lines, shell_env, tmp_path)
        client_output = outputs[-2]
        if isinstance(answer, str):
            assert client_output == answer
        else:
            assert answer.match(client_output.strip()), client_output
        assert name not in [lab.name for lab in Lab.list()]
    finally:
        if name in [lab.name for lab in Lab.list()]:
            Lab.load(name).destroy()
