"""After setup `xdpmtcp` is on PATH: tools/put-on-path links the venv's
console script into a bin directory, idempotently, and never replaces a
file that is not its symlink."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def clone(tmp_path):
    """A stand-in clone: the script, and a venv with a console script."""
    (tmp_path / "tools").mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "put-on-path"), tmp_path / "tools")
    script = tmp_path / ".venv" / "bin" / "xdpmtcp"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\necho xdpmtcp from the venv\n")
    script.chmod(0o755)
    return tmp_path


def put_on_path(clone, bin_dir):
    return subprocess.run([str(clone / "tools" / "put-on-path"), str(bin_dir)],
                          capture_output=True, text=True, check=True).stdout


def test_links_the_console_script_once(clone, tmp_path):
    bin_dir = tmp_path / "bin"
    assert "on PATH" in put_on_path(clone, bin_dir)
    link = bin_dir / "xdpmtcp"
    assert os.readlink(link) == str(clone / ".venv" / "bin" / "xdpmtcp")
    assert subprocess.run([str(link)], capture_output=True, text=True).stdout == "xdpmtcp from the venv\n"
    assert put_on_path(clone, bin_dir) == ""          # the second run has nothing to do


def test_repoints_a_link_to_another_clone(clone, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink("/elsewhere/.venv/bin/xdpmtcp", bin_dir / "xdpmtcp")
    put_on_path(clone, bin_dir)
    assert os.readlink(bin_dir / "xdpmtcp") == str(clone / ".venv" / "bin" / "xdpmtcp")


def test_leaves_a_file_it_did_not_make(clone, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xdpmtcp").write_text("someone else's\n")
    assert "left alone" in put_on_path(clone, bin_dir)
    assert (bin_dir / "xdpmtcp").read_text() == "someone else's\n"


def test_pyproject_declares_the_console_script_it_links():
    with open(os.path.join(ROOT, "pyproject.toml")) as f:
        assert 'xdpmtcp = "xdpmtcp.cli:main"' in f.read()
    from xdpmtcp.cli import main
    assert callable(main)
