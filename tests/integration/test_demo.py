"""The README's demo command runs to completion, non-interactively."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_runs_and_cleans_up(lab_factory):   # lab_factory: root + netns prerequisites
    from xdpmtcp.lab import netns

    def demo_namespaces():   # only the demo's: other labs may come and go meanwhile
        return {n for n in netns.list_names() if n.startswith("xmdemo")}
    before = demo_namespaces()
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "demo"], cwd=ROOT, capture_output=True,
                       text=True, timeout=180, env=dict(os.environ, CI="true"), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo ok" in r.stdout
    assert "XDP program detached" in r.stdout
    assert "hello from xdpmtcp" in r.stdout and "kernel: hello kernel" in r.stdout
    assert "200 1000000 bytes, 0 new connection(s)" in r.stdout     # keep-alive on our server
    assert "1000000 body bytes, sha256 matches" in r.stdout          # our client, kernel server
    assert "options [mss" in r.stdout          # rich did not eat tcpdump's brackets
    assert demo_namespaces() == before
