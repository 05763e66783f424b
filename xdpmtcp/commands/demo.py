"""xdpmtcp demo: the stack and the kernel sharing one interface, in a lab.

Brings up a two-namespace lab (stack | peer) on a veth pair and runs the
xdpmtcp TCP engine on the stack side through XDP + AF_XDP.  From the peer,
curl fetches pages from the stack's HTTP server on tcp/8080 while the
kernel keeps answering ARP, ping and its own TCP port on the same address;
then the stack fetches a file from a kernel HTTP server on the peer.  Prints
the first segments of the trace, the counters, tears everything down and
ends by itself; it never waits for a key.
"""
import hashlib
import os
import socket
import subprocess
import tempfile
import threading
import time

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..apps import ClientApp, ConnectionRunner, HttpApp
from ..lab.probes import SYSTEM_PYTHON, connect_echo
from ..netif import NetIf
from ..phy import PcapTap
from ..phy.pcap_source import PcapSource
from ..tcp import Engine
from ..wire import MalformedFrame, describe
from ..xdp import attached_program
from .common import console, fail

STACK_PORT = 8080
KERNEL_PORT = 8081
PEER_HTTP_PORT = 8000
BLOB = 1_000_000


def add_parser(sub):
    p = sub.add_parser("demo", help="run the demo in a fresh lab (non-interactive)",
                       description=__doc__)
    p.set_defaults(func=run)


def lab_table(lab):
    """The lab's hosts in 80 columns: the namespaces go in the title, as
    a column they pushed the MACs past the edge."""
    t = Table(title="lab %s: netns %s and %s" % (lab.name, lab.stack.ns, lab.peer.ns),
              show_edge=False)
    for col in ("host", "interface", "address", "mac"):
        t.add_column(col, no_wrap=True)
    for h in (lab.stack, lab.peer):
        t.add_row(h.name, h.ifname, "%s/%d" % (h.ip, h.prefixlen), h.mac)
    return t


def _kernel_server(sock, stop):
    """Kernel TCP server on the stack's address: answers 'kernel: <msg>'."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = sock.accept()
        except socket.timeout:
            continue
        with c:
            data = c.recv(4096)
            c.sendall(b"kernel: " + data)


def _serve_until(eng, lst, runner, root, done, timeout=30.0):
    """Run the engine, giving every accepted connection an HttpApp."""
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        eng.poll(0 if runner.ready else 0.005)
        while lst.pending():
            runner.add(lst.accept(), HttpApp(root))
        runner.step()


def _trace(out, pcap, port, limit=8):
    out.rule("first segments on the stack's wire (its pcap tap, tcpdump style)")
    shown = 0
    for frame in PcapSource(pcap).frames():
        try:
            line = describe(frame.data)
        except MalformedFrame:
            continue
        if ".%d " % port in line or ".%d:" % port in line:
            out.print("  " + line, markup=False)
            shown += 1
            if shown == limit:
                return


def run(args):
    from ..lab import Lab
    out = console()
    out.print(Panel.fit(__doc__.strip().splitlines()[0], style="bold"))
    lab = Lab.create(prefix="xmdemo")
    stop = threading.Event()
    ok = False
    tmp = tempfile.mkdtemp(prefix="xmdemo-")
    try:
        out.print(lab_table(lab))

        site = os.path.join(tmp, "site")
        os.makedirs(site)
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write("<h1>hello from xdpmtcp</h1>\n")
        blob = os.urandom(BLOB)
        with open(os.path.join(site, "blob.bin"), "wb") as f:
            f.write(blob)
        peer_http = lab.peer.popen([SYSTEM_PYTHON, "-m", "http.server", str(PEER_HTTP_PORT),
                                    "--bind", lab.peer.ip, "--directory", site],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pcap = os.path.join(tmp, "stack.pcap")
        with lab.stack.enter():
            ksock = socket.create_server((lab.stack.ip, KERNEL_PORT))
            nif = NetIf(lab.stack.ifname).open()
            nif.port.add(PcapTap(pcap))
            eng = Engine.on_netif(nif)
        kthread = threading.Thread(target=_kernel_server, args=(ksock, stop), daemon=True)
        kthread.start()
        try:
            for note in nif.notes:
                out.print("[dim]note: %s[/]" % escape(note))
            lst = eng.listen(STACK_PORT)
            runner = ConnectionRunner(eng)
            out.print("stack: XDP program attached to %s (%s mode), AF_XDP socket on queue 0 "
                      "(%s), TCP engine listening on tcp/%d" % (
                          nif.ifname, nif.guard.mode,
                          "zero-copy" if nif.port.zerocopy else "copy mode", STACK_PORT))

            out.rule("kernel side, same address")
            ping = lab.peer.run(["ping", "-c", "3", "-i", "0.2", "-W", "1", lab.stack.ip],
                                timeout=20, check=False)
            summary = [ln for ln in ping.stdout.splitlines() if "packets transmitted" in ln]
            out.print("ping %s: %s" % (lab.stack.ip, summary[0] if summary else ping.stdout.strip()))
            k = connect_echo(lab.peer, lab.stack.ip, KERNEL_PORT, "hello kernel")
            out.print("kernel tcp/%d: %s" % (KERNEL_PORT, k))

            out.rule("xdpmtcp server on tcp/%d, kernel's curl as the client" % STACK_PORT)
            url = "http://%s:%d/" % (lab.stack.ip, STACK_PORT)
            fmt = "%{http_code} %{size_download} bytes, %{num_connects} new connection(s)\\n"
            curl = lab.peer.popen(["curl", "-sS", "-w", fmt, "-o", "-", "-o", "/dev/null",
                                   url, url + "blob.bin"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            _serve_until(eng, lst, runner, site, lambda: curl.poll() is not None)
            curl_out, curl_err = curl.communicate(timeout=5)
            for line in curl_out.strip().splitlines():
                out.print("  curl: %s" % line, markup=False)
            if curl_err.strip():
                out.print("  curl stderr: %s" % curl_err.strip(), markup=False)
            served = "hello from xdpmtcp" in curl_out and "200 %d bytes" % BLOB in curl_out

            out.rule("xdpmtcp client, kernel's http.server as the server")
            keep = bytearray()
            with lab.stack.enter():
                conn = None
                for _ in range(50):        # the kernel server may still be starting
                    conn = eng.connect((lab.peer.ip, PEER_HTTP_PORT))
                    app = ClientApp(b"GET /blob.bin HTTP/1.0\r\n\r\n", keep=keep)
                    runner.add(conn, app)
                    runner.run(lambda: app.done, timeout=10)
                    if not app.error:
                        break
                    time.sleep(0.1)
            head, _, body = bytes(keep).partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            fetched = hashlib.sha256(body).digest() == hashlib.sha256(blob).digest()
            out.print("  %s:%d > %s:%d: %s, %d body bytes, sha256 %s" % (
                conn.local + conn.remote + (status, len(body), "matches" if fetched else "DIFFERS")),
                markup=False)
            c = conn.counters()
            out.print("  connection: %d segments in, %d out, %d retransmitted" % (
                c["segs_in"], c["segs_out"], c["retrans_segs"]))
            eng.drain()

            out.rule("counters")
            out.print("xdp program: %s" % nif.program.counters())
            out.print("AF_XDP port: %s" % {k: v for k, v in nif.port.stats().items() if v})
            out.print("tcp engine:  %s" % {k: v for k, v in eng.c_stats().items() if v})
            out.print("listener:    %s" % {k: v for k, v in vars(lst.stats).items() if v})
            ok = (ping.returncode == 0 and k.get("reply") == "kernel: hello kernel"
                  and served and fetched)
        finally:
            stop.set()
            with lab.stack.enter():
                eng.close()
                nif.close()
                left = attached_program(socket.if_nametoindex(lab.stack.ifname))
            ksock.close()
        _trace(out, pcap, STACK_PORT)
        out.print("teardown: XDP program %s" % ("detached" if not left.prog_id else "STILL ATTACHED"))
    finally:
        lab.destroy()
        subprocess.run(["rm", "-rf", tmp], check=False)
    out.print("lab %s removed" % lab.name)
    if not ok:
        return fail("demo did not behave as expected (see above)")
    out.print("[bold green]demo ok[/]")
    return 0
