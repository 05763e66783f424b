"""The commands `xdpmtcp lab up` prints under "try it" work as pasted:
run one by one in a shell with xdpmtcp on PATH, the client gets its answer
through the lab, and the last line removes the lab."""
import re
import shutil
import subprocess

import pytest

from xdpmtcp.lab.fixtures import require_netns
from xdpmtcp.lab.pasted import PastedSession, env_with_xdpmtcp
from xdpmtcp.lab.topology import Lab


@pytest.fixture
def shell_env(tmp_path):
    return env_with_xdpmtcp(str(tmp_path / "bin"))


def try_it_lines(text):
    lines = text.split("try it (as root, one line at a time):\n", 1)[1].splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def run_pasted(lines, env, tmp_path):
    """Each line as a person would paste it; the foreground ones' output."""
    session = PastedSession(env, str(tmp_path))
    outputs = []
    try:
        for line in lines:
            output = session.run(line)
            if not line.endswith("&"):
                outputs.append(output)
    finally:
        session.close()
    return outputs


@pytest.mark.parametrize("flags,answer", [([], "hello from xdpmtcp\n"),
                                          (["--queues", "2"], re.compile(r"^8 hello from xdpmtcp$")),
                                          (["--inline"], re.compile(r"^200 in [\d.]+ s$"))],
                         ids=["pair", "two-queues", "inline"])
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
