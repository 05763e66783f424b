"""tools/vm/vm (make vm-test) without booting anything: its help teaches
the steps, every named suite names tests that exist, the guest-side tests
stay out of this suite, and the host peer runs only a peer's tools."""
import ast
import importlib.util
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VM = ROOT / "tools" / "vm"


def load(name, path):
    sys.path.insert(0, str(VM))
    try:
        spec = importlib.util.spec_from_loader(name, SourceFileLoader(name, str(path)))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(VM))


def test_help_names_every_step_and_the_console_log():
    r = subprocess.run([sys.executable, str(VM / "vm"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for word in ("image", "accel", "network", "guest", "results", "teardown", "console.log", "docs/testing.md"):
        assert word in r.stdout, word


def test_every_suite_names_existing_tests():
    vm = load("vm_tool", VM / "vm")
    assert set(vm.SUITES) >= {"ci", "native", "full"}
    for name, items in vm.SUITES.items():
        for item in items:
            path, _, func = item.partition("::")
            assert (ROOT / path).exists(), (name, item)
            if func:
                tree = ast.parse((ROOT / path).read_text())
                names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
                assert func in names, (name, item)


def test_guest_side_tests_are_not_collected_here():
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/vm"],
                       cwd=ROOT, capture_output=True, text=True)
    assert "test_vm_native" not in r.stdout and r.returncode == 5, r.stdout + r.stderr


def test_host_peer_refuses_what_is_not_a_peer_tool(tmp_path):
    hp = load("hostpeer", VM / "hostpeer.py")
    assert "error" in hp.handle({"run": ["rm", "-rf", "/"]}, str(tmp_path), {})
    assert "error" in hp.handle({"run": []}, str(tmp_path), {})
    assert "error" in hp.handle({"nonsense": 1}, str(tmp_path), {})
    ok = hp.handle({"run": ["ip", "-V"]}, str(tmp_path), {})
    assert ok["rc"] == 0 and "ip utility" in ok["stdout"], ok
    hp.handle({"write": "../../escape.bin", "data": "aGk="}, str(tmp_path), {})
    assert (tmp_path / "escape.bin").read_bytes() == b"hi"       # the name's directories are dropped
