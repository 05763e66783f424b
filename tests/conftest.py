"""Suite-wide rules.

In CI (CI=true) a skipped test fails the run: integration tests must run
there, and a skip caused by a missing privilege or package is a failure.
"""
import os

import pytest

pytest_plugins = ["xdpmtcp.lab.fixtures"]

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_sessionfinish(session, exitstatus):
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line("CI=true: %d skipped test(s) count as failures" % skipped, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
