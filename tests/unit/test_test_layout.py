"""The suite's own layout: pytest imports test files by basename (no
packages), so two files of the same name in tests/ stop collection."""
import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_file_basenames_are_unique():
    names = collections.Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []


def test_no_merge_conflict_markers_in_the_tree():
    root = TESTS.parent
    marker = ("<" * 7 + " ", ">" * 7 + " ")
    bad = []
    for sub in ("xdpmtcp", "bpf", "docs", "examples", "tools", "tests"):
        for p in (root / sub).rglob("*"):
            if p.is_file() and p.suffix in (".py", ".c", ".h", ".md", ".toml", "") and ".venv" not in p.parts:
                try:
                    text = p.read_text()
                except (UnicodeDecodeError, OSError):
                    continue
                if any(line.startswith(marker) for line in text.splitlines()):
                    bad.append(str(p.relative_to(root)))
    for name in ("README.md", "Makefile", "pyproject.toml"):
        if any(line.startswith(marker) for line in (root / name).read_text().splitlines()):
            bad.append(name)
    assert bad == []
