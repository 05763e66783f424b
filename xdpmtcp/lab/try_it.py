"""Ready-to-paste commands that `lab up` prints for the lab it made: a
server on the lab, a client from the other side, a trace, and the way out.
Every name and address in them is the lab's own."""
from typing import List

STACK_PORT = 8080
SERVER_PORT = 8000


def try_it(lab) -> List[str]:
    """Shell lines (run as root) that exercise this lab, then remove it."""
    lines = _pair(lab) if lab.kind == "pair" else _inline(lab)
    return lines + [f"xdpmtcp lab down {lab.name}"]


def _pair(lab) -> List[str]:
    stack, peer = lab.stack, lab.peer
    site = f"/tmp/{lab.name}-site"
    if getattr(lab, "queues", 1) > 1:
        return _pair_multiqueue(lab, site)
    return [
        f"mkdir -p {site} && echo 'hello from xdpmtcp' > {site}/index.html",
        f"xdpmtcp serve --netns {stack.ns} -i {stack.ifname} -p {STACK_PORT} "
        f"--mode http --root {site} --count 1 &",
        f"ip netns exec {peer.ns} timeout 10 tcpdump -nl -i {peer.ifname} "
        f"tcp port {STACK_PORT} &",
        f"ip netns exec {peer.ns} curl -s http://{stack.ip}:{STACK_PORT}/",
    ]


def _pair_multiqueue(lab, site) -> List[str]:
    """A core per queue: epserver's workers, each on its own queue; the
    peer's connections spread over them."""
    from .exampleproc import EXAMPLES
    stack, peer, conf = lab.stack, lab.peer, f"/tmp/{lab.name}.conf"
    return [
        f"mkdir -p {site} && echo 'hello from xdpmtcp' > {site}/index.html",
        f"printf 'port = {stack.ifname}\\nnum_cores = {lab.queues}\\nrss_key = {lab.rss_key}\\n' > {conf}",
        f"{EXAMPLES}/epserver.py -p {site} -f {conf} --port {STACK_PORT} --netns {stack.ns} &",
        f"for i in $(seq 8); do ip netns exec {peer.ns} curl -s http://{stack.ip}:{STACK_PORT}/; done"
        f" | sort | uniq -c",
    ]


def _inline(lab) -> List[str]:
    client, monitor, server = lab.client, lab.monitor, lab.server
    first, second = (i.ifname for i in monitor.interfaces)
    return [
        f"xdpmtcp lab impair {lab.name} --faults drop=0.02 --duration 30 &",
        f"#  or, to watch instead of impair: xdpmtcp monitor --netns {monitor.ns} "
        f"--iface {first} --inline {second} --duration 30 &",
        f"ip netns exec {server.ns} python3 -m http.server {SERVER_PORT} "
        f"--bind {server.ip} --directory /usr/share &",
        f"ip netns exec {client.ns} curl -s -o /dev/null -w '%{{http_code}} in %{{time_total}} s\\n' "
        f"--retry 3 --retry-connrefused http://{server.ip}:{SERVER_PORT}/",
    ]
