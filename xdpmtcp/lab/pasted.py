"""Shell lines run as a person pastes them into a root shell, for the
tests that hold README and `lab up` to their word.  A line ending in `&`
starts a background job, awaited until it says it is ready; `kill %N`
stops the Nth job, as in an interactive shell; any other line must exit 0."""
import os
import re
import subprocess
import sys
import time

from .stackproc import ROOT

# what a background command prints once it serves; None: give it a second
READY = {"xdpmtcp serve": "serving", "xdpmtcp respond": "owning", "xdpmtcp lab impair": "bridging",
         "epserver.py": "ready:", "tcpdump": "listening on"}
_KILL_JOB = re.compile(r"^kill %(\d+)\b")


class PastedSession:
    def __init__(self, env, cwd, timeout=120):
        self.env = env
        self.cwd = cwd
        self.timeout = timeout
        self.jobs = []          # (Popen, log path)

    def run(self, line):
        """Run one pasted line; the output of a foreground one (stdout and
        stderr, as a terminal shows them)."""
        killed = _KILL_JOB.match(line)
        if killed:
            proc, _ = self.jobs[int(killed.group(1)) - 1]
            proc.terminate()
            proc.wait(30)
            return ""
        if line.endswith("&"):
            self._start(line[:-1])
            return ""
        r = subprocess.run(["bash", "-c", line], env=self.env, cwd=self.cwd, timeout=self.timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise AssertionError("%r exited %d:\n%s" % (line, r.returncode, r.stdout))
        return r.stdout

    def _start(self, command):
        log = "%s/job%d.log" % (self.cwd, len(self.jobs) + 1)
        proc = subprocess.Popen(["bash", "-c", command], env=self.env, cwd=self.cwd,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.jobs.append((proc, log))
        marker = next((m for cmd, m in READY.items() if cmd in command), None)
        if marker is None:
            time.sleep(1)
            return
        end = time.monotonic() + 60
        while time.monotonic() < end:
            with open(log) as f:
                if marker in f.read():
                    return
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("%r did not get ready:\n%s" % (command, open(log).read()))

    def close(self):
        for proc, _ in self.jobs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


def env_with_xdpmtcp(bin_dir):
    """The environment with `xdpmtcp` on PATH running this checkout with
    this interpreter, as setup's symlink would (tools/put-on-path)."""
    os.makedirs(bin_dir, exist_ok=True)
    wrapper = os.path.join(bin_dir, "xdpmtcp")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nPYTHONPATH=%s exec %s -m xdpmtcp "$@"\n' % (ROOT, sys.executable))
    os.chmod(wrapper, 0o755)
    return dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
