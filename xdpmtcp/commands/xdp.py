"""xdpmtcp xdp: what XDP program an interface runs; remove a stale one."""
import socket

from ..xdp import OUR_PROGRAMS, attached_program
from .common import add_netns_flag, console, fail, netns_context


def add_parser(sub):
    p = sub.add_parser("xdp", help="show or detach the XDP program on an interface",
                       description=__doc__)
    xs = p.add_subparsers(dest="xdp_cmd", required=True)
    s = xs.add_parser("status", help="show the attached XDP program")
    s.add_argument("-i", "--iface", required=True, metavar="IF")
    add_netns_flag(s)
    s.set_defaults(func=status)
    d = xs.add_parser("detach", help="detach a stale xdpmtcp program (e.g. after SIGKILL)")
    d.add_argument("-i", "--iface", required=True, metavar="IF")
    d.add_argument("--force", action="store_true", help="detach even a program xdpmtcp did not attach")
    add_netns_flag(d)
    d.set_defaults(func=detach)


def _query(ifname):
    try:
        return attached_program(socket.if_nametoindex(ifname))
    except OSError:
        raise OSError("no interface %r in this network namespace" % ifname) from None


def status(args):
    try:
        with netns_context(args.netns):
            cur = _query(args.iface)
    except OSError as e:
        return fail(str(e))
    if not cur.prog_id:
        console().print("%s: no XDP program" % args.iface)
    else:
        console().print("%s: %s (id %d, %s mode)%s" % (
            args.iface, cur.name, cur.prog_id, cur.mode,
            "" if cur.name in OUR_PROGRAMS else "  [not attached by xdpmtcp]"))
    return 0


def detach(args):
    from bcc import BPF
    from ..xdp.attach import XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE
    try:
        with netns_context(args.netns):
            cur = _query(args.iface)
            if not cur.prog_id:
                console().print("%s: no XDP program, nothing to do" % args.iface)
                return 0
            if cur.name not in OUR_PROGRAMS and not args.force:
                return fail("%s runs %r, which xdpmtcp did not attach; use --force" % (args.iface, cur.name))
            flags = XDP_FLAGS_SKB_MODE if cur.mode == "skb" else XDP_FLAGS_DRV_MODE
            BPF.remove_xdp(args.iface.encode(), flags)
    except OSError as e:
        return fail(str(e))
    console().print("%s: detached %s (id %d)" % (args.iface, cur.name, cur.prog_id))
    return 0
