"""Imported first by every example: run from a clone without installing.
The clone goes on sys.path, and a script started by /usr/bin/env python3
(which lacks the venv's packages: pyroute2, rich, ...) starts again in the
clone's .venv (tools/setup makes it), unless it already runs there."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _run_in_the_clones_venv():
    venv = os.path.join(ROOT, ".venv")
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
        os.execv(python, [python] + sys.argv)


try:
    import pyroute2  # noqa: F401
    import rich  # noqa: F401
except ImportError:
    _run_in_the_clones_venv()
    raise
