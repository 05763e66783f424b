"""Scale-out past the GIL: one worker process per context, as mTCP runs one
thread per core (its ``-N``).

The supervisor attaches the steering program to every interface of the
configuration and reserves the ephemeral ports once, then forks a worker
per core (one core runs in the calling process, no fork).  Each worker makes its context (``mtcp_create_context(core)``:
an AF_XDP socket on RX queue ``core``, bound into the shared program's
XSKMAP), runs the caller's function and exits.  The supervisor passes
SIGINT/SIGTERM on (a worker sees its ``stop`` flag set), stops every worker
when one dies, and detaches XDP when the last is gone.  A worker whose
supervisor dies gets SIGTERM from the kernel (PR_SET_PDEATHSIG); a SIGKILLed
worker's socket closes with it, its XSKMAP entry vanishes and the program
passes its queue's frames to the kernel, counted as ``no_socket``.

Listeners are shared: every worker listens on the same ports and accepts the
connections its queue receives.  Active opens come back on the opener's
queue when the NIC's RSS key is known (kernel/rss.py ``queue_rss``).
"""
import ctypes
import errno
import json
import os
import signal
import sys
import time
import traceback

from ..netif import InterfaceSteering
from ..osutil import StopFlag, say as say_line
from . import runtime
from .errors import error

PR_SET_PDEATHSIG = 1

_on_worker_ready = None       # what worker_ready() does in this process


def worker_ready():
    """A worker's code says it serves now (its listeners are up); once every
    worker has, the supervisor calls its on_ready.  Outside a worker: nothing."""
    if _on_worker_ready is not None:
        _on_worker_ready()


class WorkerFailed(RuntimeError):
    pass


class Supervisor:
    """run(worker) forks ``cores`` workers; worker(ctx, stop) runs in each
    with its core's context and returns something JSON can carry (the
    worker's totals).  run returns those, in core order.  One core runs
    here, in this process."""

    def __init__(self, cores, *, prog="xdpmtcp", grace=5.0, say=None, tick=None, on_ready=None):
        rt = runtime.current()
        if not isinstance(cores, int) or not 1 <= cores <= rt.config.num_cores:
            raise error(errno.EINVAL, "cores %r: num_cores is %d" % (cores, rt.config.num_cores))
        self.cores = cores
        self.prog = prog
        self.grace = grace
        self.tick = tick              # called every 50 ms while the workers run
        self.on_ready = on_ready      # called once every worker called worker_ready()
        self._ready = None
        self.say = say or (lambda text: say_line(prog, text))
        self.workers = {}             # pid -> core
        self.results = [None] * cores
        self.failures = []            # (core, how it ended)

    def run(self, worker):
        if self.cores == 1:
            return [self._run_here(worker)]
        rt = runtime.current()
        tunables = rt.config.tunables()
        steering = []
        stop = StopFlag()
        try:
            for ifname in rt.config.ports:       # attached once, inherited by every worker
                steering.append(InterfaceSteering.acquire(ifname, tunables))
            import multiprocessing
            self._ready = multiprocessing.RawArray("b", self.cores)   # shared with the workers
            pipes = {}
            for core in range(self.cores):
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(r)
                    self._worker_main(core, worker, w)   # never returns
                os.close(w)
                self.workers[pid] = core
                pipes[pid] = r
            self._wait(stop, pipes)
        finally:
            self._kill_all(signal.SIGKILL)
            self._reap()
            for st in steering:
                st.release()
            stop.uninstall()
        if self.failures:
            raise WorkerFailed("; ".join("core %d %s" % f for f in self.failures))
        return self.results

    def _run_here(self, worker):
        """One core: its context in this process (the caller destroys it)."""
        global _on_worker_ready
        stop = StopFlag()
        _on_worker_ready = self.on_ready
        try:
            ctx = runtime.create_context(0)
            for note in ctx.notes:
                self.say(note)
            return worker(ctx, stop)
        finally:
            _on_worker_ready = None
            stop.uninstall()

    # -- the supervisor's loop --------------------------------------------------------------
    def _wait(self, stop, pipes):
        results = {pid: Result(fd) for pid, fd in pipes.items()}
        stopping_since = killed = None
        while self.workers:
            if stop and stopping_since is None:
                stopping_since = time.monotonic()
                self._kill_all(signal.SIGTERM)
            if stopping_since is not None and not killed and time.monotonic() - stopping_since > self.grace:
                self.say("workers still running %.0f s after SIGTERM: killing them" % self.grace)
                self._kill_all(signal.SIGKILL)
                killed = True
            for r in results.values():
                r.take()              # a worker blocks on a full pipe until it is read
            if self.on_ready is not None and all(self._ready):
                self.on_ready()
                self.on_ready = None
            pid, status = self._exited()
            if pid == 0:
                if self.tick is not None:
                    self.tick()
                time.sleep(0.05)
                continue
            core = self.workers.pop(pid, None)
            if core is None:
                continue
            self.results[core] = results.pop(pid).finish()
            ended = _how_it_ended(status)
            if ended is not None and not (stopping_since is not None and
                                          status_signal(status) in (signal.SIGTERM, signal.SIGKILL)):
                self.failures.append((core, ended))
                if stopping_since is None:
                    self.say("core %d %s: stopping the other workers" % (core, ended))
                    stop.set()
        for r in results.values():
            r.close()

    def _exited(self):
        """(pid, status) of a worker that ended, (0, 0) if none did; only
        our workers are reaped, never the caller's other children."""
        for pid in list(self.workers):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:       # reaped elsewhere: count it as killed
                done, status = pid, signal.SIGKILL
            if done:
                return done, status
        return 0, 0

    def _reap(self):
        for pid in list(self.workers):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            del self.workers[pid]

    def _kill_all(self, sig):
        for pid in list(self.workers):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    # -- a worker --------------------------------------------------------------------------------
    def _worker_main(self, core, worker, result_fd):
        global _on_worker_ready
        code = 1
        _on_worker_ready = lambda flags=self._ready: flags.__setitem__(core, 1)   # noqa: E731
        try:
            _die_with_parent()
            stop = StopFlag()
            ctx = runtime.create_context(core)
            for note in ctx.notes:    # said once when the same for every core
                if core == 0 or "queue %d" % core in note:
                    self.say(note)
            result = worker(ctx, stop)
            data = json.dumps(result).encode()   # the supervisor reads while it is written
            with os.fdopen(result_fd, "wb") as f:
                f.write(data)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:
            if isinstance(e, OSError) and e.strerror:
                self.say("core %d: %s" % (core, e.strerror))
            else:
                traceback.print_exc()
        finally:
            try:
                runtime.destroy()     # this worker's context: its socket leaves the XSKMAP
            except BaseException:
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            # no atexit: what this process inherited (the XDP attachment, the
            # port reservation) belongs to the supervisor
            os._exit(code)


def _die_with_parent():
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:        # the supervisor died before prctl took effect
        os._exit(1)


class Result:
    """What a worker sends back: read as it comes (non-blocking), decoded
    once the worker has exited."""

    def __init__(self, fd):
        os.set_blocking(fd, False)
        self.fd = fd
        self.chunks = []

    def take(self):
        while self.fd is not None:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def finish(self):
        self.take()
        self.close()
        try:
            return json.loads(b"".join(self.chunks)) if self.chunks else None
        except ValueError:
            return None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def status_signal(status):
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None


def _how_it_ended(status):
    """None for a clean exit, else a phrase (exit code or signal)."""
    if os.WIFSIGNALED(status):
        return "was killed by %s" % signal.Signals(os.WTERMSIG(status)).name
    code = os.WEXITSTATUS(status)
    return None if code == 0 else "exited with status %d" % code


def run_per_core(cores, worker, **kwargs):
    """Supervisor(cores, **kwargs).run(worker)."""
    return Supervisor(cores, **kwargs).run(worker)
