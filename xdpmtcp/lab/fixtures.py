"""pytest plugin: lab fixtures.  Load with
``pytest_plugins = ["xdpmtcp.lab.fixtures"]`` in a conftest.py.

House rule: an integration test whose prerequisites are missing skips on a
developer machine but FAILS in CI (CI=true), so CI can never go green by
skipping everything.  ``require()`` is the single place that decides.
"""

import contextlib
import dataclasses
import os
from typing import Callable, Iterator, List, Optional

import pytest

from . import netns
from .topology import Lab, make_lab_name


def require(condition: bool, reason: str) -> None:
    """Skip (or, in CI, fail) the current test unless ``condition`` holds."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"integration prerequisite missing in CI: {reason}",
                    pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def engine_on(lab, netif, **tunables):
    """A TCP engine in this process on the lab's stack interface (netif:
    XDP attached, AF_XDP bound), with DEFAULTS changed by tunables;
    closed after."""
    from ..tcp import Engine
    from ..tunables import DEFAULTS
    with lab.stack.enter():
        eng = Engine.on_netif(netif, tunables=dataclasses.replace(DEFAULTS, **tunables))
        try:
            yield eng
        finally:
            eng.close()


_netns_problem: Optional[str] = None
_netns_checked = False


def netns_problem() -> Optional[str]:
    """Why labs cannot be built here, or None.  Probed once per process by
    really creating and removing a namespace."""
    global _netns_problem, _netns_checked
    if _netns_checked:
        return _netns_problem
    _netns_checked = True
    if os.geteuid() != 0:
        _netns_problem = "needs root for network namespaces"
    elif not os.path.exists("/proc/self/ns/net"):
        _netns_problem = "kernel has no network namespace support"
    else:
        probe = make_lab_name("xmprobe")
        try:
            netns.create(probe)
        except Exception as exc:
            _netns_problem = f"cannot create a network namespace: {exc}"
        finally:
            try:
                netns.remove(probe)
            except Exception:
                pass
    return _netns_problem


def require_netns() -> None:
    problem = netns_problem()
    require(problem is None, problem or "")


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Lab]]:
    """Call ``lab_factory(**kw)`` for a two-host lab (Lab.create) or
    ``lab_factory(inline=True, **kw)`` for client-monitor-server; every lab
    made is destroyed after the test, even if the test fails."""
    require_netns()
    made: List[Lab] = []

    def make(inline: bool = False, **kwargs) -> Lab:
        lab = (Lab.create_inline if inline else Lab.create)(**kwargs)
        made.append(lab)
        return lab

    yield make
    errors = []
    for lab in reversed(made):
        try:
            lab.destroy()
        except Exception as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("lab teardown: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def lab(lab_factory) -> Lab:
    """A fresh stack<->peer lab (198.18.0.1 / 198.18.0.2)."""
    return lab_factory()


@pytest.fixture
def inline_lab(lab_factory) -> Lab:
    """A fresh client<->monitor<->server lab (198.18.1.1 / 198.18.1.2)."""
    return lab_factory(inline=True)
