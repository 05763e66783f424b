"""xdpmtcp demo: the stack and the kernel sharing one interface, in a lab.

Brings up a two-namespace lab (stack | peer) on a veth pair, runs the
stateless echo responder on tcp/8080 through XDP + AF_XDP, and shows from
the peer's side that the stack answers on its port while the kernel keeps
answering ARP, ping and its own TCP port on the same address.  Tears
everything down and ends by itself; it never waits for a key.
"""
import socket
import threading
import time

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..lab.probes import connect_echo
from ..netif import NetIf
from ..responder import EchoResponder
from ..xdp import attached_program
from .common import console, fail

STACK_PORT = 8080
KERNEL_PORT = 8081

def add_parser(sub):
    p = sub.add_parser("demo", help="run the demo in a fresh lab (non-interactive)",
                       description=__doc__)
    p.set_defaults(func=run)


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


def run(args):
    from ..lab import Lab
    out = console()
    out.print(Panel.fit(__doc__.strip().splitlines()[0], style="bold"))
    lab = Lab.create(prefix="xmdemo")
    stop = threading.Event()
    try:
        t = Table(title="lab", show_edge=False)
        for col in ("host", "namespace", "interface", "address", "mac"):
            t.add_column(col)
        for h in (lab.stack, lab.peer):
            t.add_row(h.name, h.ns, h.ifname, "%s/%d" % (h.ip, h.prefixlen), h.mac)
        out.print(t)

        with lab.stack.enter():
            ksock = socket.create_server((lab.stack.ip, KERNEL_PORT))
            nif = NetIf(lab.stack.ifname).open()
        kthread = threading.Thread(target=_kernel_server, args=(ksock, stop), daemon=True)
        kthread.start()
        try:
            for note in nif.notes:
                out.print("[dim]note: %s[/]" % escape(note))
            nif.listen(STACK_PORT)
            out.print("stack: XDP program attached to %s (%s mode), AF_XDP socket on queue 0 "
                      "(%s), owning tcp/%d" % (nif.ifname, nif.guard.mode,
                                              "zero-copy" if nif.port.zerocopy else "copy mode",
                                              STACK_PORT))
            seen = []

            def show(s):
                seen.append(s)
                out.print("  [cyan]stack saw[/] %s" % escape(s.summary))

            resp = EchoResponder(nif, STACK_PORT, on_segment=show)
            rthread = threading.Thread(target=resp.run, kwargs={"stop": stop}, daemon=True)
            rthread.start()

            out.rule("kernel side, same address")
            ping = lab.peer.run(["ping", "-c", "3", "-i", "0.2", "-W", "1", lab.stack.ip],
                                timeout=20, check=False)
            summary = [l for l in ping.stdout.splitlines() if "packets transmitted" in l]
            out.print("ping %s: %s" % (lab.stack.ip, summary[0] if summary else ping.stdout.strip()))
            k = connect_echo(lab.peer, lab.stack.ip, KERNEL_PORT, "hello kernel")
            out.print("kernel tcp/%d: %s" % (KERNEL_PORT, k))

            out.rule("stack side, tcp/%d" % STACK_PORT)
            s = connect_echo(lab.peer, lab.stack.ip, STACK_PORT, "hello xdpmtcp")
            time.sleep(0.3)  # let the closing segments arrive
            out.print("peer got back: %s" % s)

            stop.set()
            rthread.join(2)
            counters = nif.program.counters()
            st = {k: v for k, v in nif.port.stats().items() if v}
            out.rule("counters")
            out.print("xdp program: %s" % counters)
            out.print("AF_XDP port: %s" % st)
            out.print("responder:   %s" % vars(resp.stats))
            ok = (ping.returncode == 0 and k.get("reply") == "kernel: hello kernel"
                  and s.get("reply") == "hello xdpmtcp")
        finally:
            stop.set()
            with lab.stack.enter():
                nif.close()
                left = attached_program(socket.if_nametoindex(lab.stack.ifname))
            ksock.close()
        out.print("teardown: XDP program %s" % ("detached" if not left.prog_id else "STILL ATTACHED"))
    finally:
        lab.destroy()
    out.print("lab %s removed" % lab.name)
    if not ok:
        return fail("demo did not behave as expected (see above)")
    out.print("[bold green]demo ok[/]")
    return 0
