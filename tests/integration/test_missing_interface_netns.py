"""A lab's interface named without --netns: the error says which namespace
holds it and the flag to add; inside the wrong namespace it lists what
that namespace has."""
import subprocess
import sys

from xdpmtcp.lab.stackproc import ROOT


def xdpmtcp(*argv):
    return subprocess.run([sys.executable, "-m", "xdpmtcp", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_lab_interface_without_netns_names_its_namespace(lab):
    r = xdpmtcp("serve", "-i", lab.stack.ifname, "-p", "8080")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no interface %r in this network namespace" % lab.stack.ifname in r.stderr
    assert "add --netns %s" % lab.stack.ns in r.stderr


def test_wrong_namespace_lists_its_interfaces(lab):
    r = xdpmtcp("xdp", "status", "--netns", lab.peer.ns, "-i", lab.stack.ifname)
    assert r.returncode == 1
    assert ("no interface %r in network namespace %s (it has: lo, %s)"
            % (lab.stack.ifname, lab.peer.ns, lab.peer.ifname)) in r.stderr
    assert "add --netns %s" % lab.stack.ns in r.stderr
