"""A short fuzzing run in CI: every harness of tools/fuzz builds with ASan
and UBSan, replays its seed corpus, then fuzzes for a few seconds
(XDPMTCP_FUZZ_SECONDS, default 20) without a crash.  Without clang this
fails, it does not skip: tools/setup installs clang and the runtimes.
docs/fuzzing.md has the long campaign."""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tools", "fuzz")
OUT = os.path.join(ROOT, "build", "fuzz-smoke")
TARGETS = ["pcap_reader", "frame", "monitor", "ring", "mon_stream"]
SECONDS = int(os.environ.get("XDPMTCP_FUZZ_SECONDS", "20"))


@pytest.fixture(scope="module")
def harnesses():
    if not shutil.which("clang"):
        pytest.fail("clang is missing: tools/setup installs clang and libclang-rt-dev")
    build = subprocess.run(["make", "-s", "-C", FUZZ, "OUT=" + OUT, "-j2"],
                           capture_output=True, text=True)
    assert build.returncode == 0, "building the harnesses failed:\n" + build.stderr[-3000:]
    return OUT


def test_every_harness_is_run_here():
    """A harness added to tools/fuzz must join the list above (and run)."""
    on_disk = sorted(f[:-2] for f in os.listdir(FUZZ) if f.endswith(".c"))
    assert on_disk == sorted(TARGETS)
    with open(os.path.join(FUZZ, "run")) as f:
        assert "targets=(%s)" % " ".join(TARGETS) in f.read()


@pytest.mark.parametrize("target", TARGETS)
def test_harness_fuzzes_without_a_crash(harnesses, target):
    env = dict(os.environ, FUZZ_OUT=harnesses)
    run = subprocess.run([os.path.join(FUZZ, "run"), target, str(SECONDS)],
                         capture_output=True, text=True, env=env, timeout=SECONDS + 300)
    log = run.stderr + run.stdout
    crashes = os.path.join(harnesses, "crashes", target)
    assert run.returncode == 0, "%s crashed (input in %s):\n%s" % (target, crashes, log[-4000:])
    seeds = len(os.listdir(os.path.join(FUZZ, "seeds", target)))
    assert seeds > 0
    m = re.search(r"stat::number_of_executed_units: (\d+)", log)
    assert m and int(m.group(1)) > seeds, log[-2000:]     # the seeds, then fuzzing
