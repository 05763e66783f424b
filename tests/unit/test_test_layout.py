"""The suite's own layout: pytest imports test files by basename (no
packages), so two files of the same name in tests/ stop collection."""
import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_file_basenames_are_unique():
    names = collections.Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []
