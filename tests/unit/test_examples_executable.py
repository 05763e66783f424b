"""README runs the examples as `examples/epserver.py ...`: every example
with a shebang must be executable in git itself (a fresh clone takes the
mode from the index, not from the working tree that made the commit)."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(name for name in os.listdir(os.path.join(ROOT, "examples"))
                  if name.endswith(".py"))


def has_shebang(name):
    with open(os.path.join(ROOT, "examples", name), "rb") as f:
        return f.read(2) == b"#!"


def git_mode(name):
    """The file's mode in git's index ('100755', '100644'), None outside git."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-s", "--", "examples/" + name],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.split()[0] if out else None


@pytest.mark.parametrize("name", [n for n in EXAMPLES if has_shebang(n)])
def test_example_with_a_shebang_is_executable(name):
    mode = git_mode(name)
    if mode is not None:
        assert mode == "100755", "git update-index --chmod=+x examples/" + name
    assert os.access(os.path.join(ROOT, "examples", name), os.X_OK)
