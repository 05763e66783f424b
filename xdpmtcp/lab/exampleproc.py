"""The example programs (examples/*.py) and nginx in lab namespaces, for
tests and benchmarks: write a configuration, start, wait until ready,
stop with a signal, collect what they printed."""
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def write_conf(path, ifname, **keys):
    """An mtcp.conf for one interface; keys become 'key = value' lines."""
    lines = ["port = %s" % ifname] + ["%s = %s" % (k, v) for k, v in keys.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def example_argv(name, *args):
    return [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)]


def example_env():
    return dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")


def run_example(host, name, *args, timeout=120, check=True):
    """Run to completion in host's namespace; CompletedProcess (text)."""
    return host.run(example_argv(name, *args), env=example_env(), timeout=timeout, check=check)


class ExampleProcess:
    """A long-running example (epserver, echo) in a namespace; its stderr
    is collected line by line (it says "ready" there)."""

    def __init__(self, host, name, *args):
        self.name = name
        self.proc = host.popen(example_argv(name, *args), env=example_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        self.err_lines = []
        self.out_lines = []
        self._lines = queue.Queue()
        for stream, keep in ((self.proc.stderr, self.err_lines), (self.proc.stdout, self.out_lines)):
            threading.Thread(target=self._read, args=(stream, keep), daemon=True).start()

    def _read(self, stream, keep):
        for line in stream:
            keep.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, text, timeout=30.0):
        """The first output line containing text (RuntimeError if the
        program exits or stays silent)."""
        end = time.monotonic() + timeout
        for line in list(self.err_lines) + list(self.out_lines):
            if text in line:
                return line
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s: no %r within %.0fs:\n%s" % (self.name, text, timeout, self.output()))
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                if self.proc.poll() is not None:
                    raise RuntimeError("%s exited (%s) before %r:\n%s"
                                       % (self.name, self.proc.returncode, text, self.output()))
                continue
            if text in line:
                return line

    def output(self):
        return "".join(self.err_lines[-30:] + self.out_lines[-30:])

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send sig, wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.05)               # let the readers take the last lines
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


NGINX_CONF = """\
user root;
worker_processes %(workers)d;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body; proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi; uwsgi_temp_path %(dir)s/uwsgi; scgi_temp_path %(dir)s/scgi;
    keepalive_requests 1000000;
    sendfile %(sendfile)s;
    server { listen %(addr)s:%(port)d; root %(root)s; }
}
"""


def start_nginx(host, root, addr, port, workers=1, sendfile=False):
    """nginx serving root on addr:port in host's namespace (kernel TCP),
    with sendfile(2) if asked (nginx's default is off); returns the Popen
    (the lab stops it; so does terminate())."""
    d = tempfile.mkdtemp(prefix="xm-nginx-")
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF % {"workers": workers, "dir": d, "addr": addr, "port": port,
                              "root": os.path.realpath(root), "sendfile": "on" if sendfile else "off"})
    proc = host.popen(["nginx", "-c", conf, "-p", d], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(d, "nginx.pid")):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("nginx did not start: %s" % (proc.stderr.read() if proc.poll() is not None
                                                            else "no pid file"))
        time.sleep(0.02)
    return proc
