"""xdpmtcp xdp: what XDP program an interface runs and whether the xdpmtcp
process that attached it still lives; remove a stale one."""
import socket

from ..kernel import runstate
from ..kernel.reserved_ports import release_dead_reservations, reservation_holders
from ..xdp import OUR_PROGRAMS, attached_program
from ..xdp.attach import forget_owner, program_owner
from .common import add_netns_flag, console, fail, netns_context
from .interfaces import no_such_interface


def add_parser(sub):
    p = sub.add_parser("xdp", help="show or detach the XDP program on an interface",
                       description=__doc__)
    xs = p.add_subparsers(dest="xdp_cmd", required=True)
    s = xs.add_parser("status", help="show the attached XDP program and whether its owner lives")
    s.add_argument("-i", "--iface", required=True, metavar="IF")
    add_netns_flag(s)
    s.set_defaults(func=status)
    d = xs.add_parser("detach", help="detach a stale xdpmtcp program (e.g. after SIGKILL) and "
                      "release the reserved ports of dead stacks")
    d.add_argument("-i", "--iface", required=True, metavar="IF")
    d.add_argument("--force", action="store_true",
                   help="detach even a program xdpmtcp did not attach, or one a live stack runs")
    add_netns_flag(d)
    d.set_defaults(func=detach)


def _query(ifname, ns):
    try:
        ifindex = socket.if_nametoindex(ifname)
    except OSError:
        raise no_such_interface(ifname, ns) from None
    return ifindex, attached_program(ifindex)


def _detach_hint(args):
    return "xdpmtcp xdp detach -i %s%s" % (args.iface, " --netns %s" % args.netns if args.netns else "")


def status(args):
    try:
        with netns_context(args.netns):
            ifindex, cur = _query(args.iface, args.netns)
            owner = program_owner(ifindex, cur)
            holders = reservation_holders()
    except (OSError, RuntimeError) as e:        # RuntimeError: no such netns
        return fail(str(e))
    out = console()
    if not cur.prog_id:
        out.print("%s: no XDP program" % args.iface)
    elif cur.name not in OUR_PROGRAMS:
        out.print("%s: %s (id %d, %s mode)  [not attached by xdpmtcp]"
                  % (args.iface, cur.name, cur.prog_id, cur.mode))
    elif owner.alive:
        out.print("%s: %s (id %d, %s mode), live: attached by xdpmtcp process %d"
                  % (args.iface, cur.name, cur.prog_id, cur.mode, owner.pid))
    else:
        gone = "its process %d is gone" % owner.pid if owner.pid else "no xdpmtcp process owns it"
        out.print("%s: %s (id %d, %s mode), stale: %s; remove it with `%s`"
                  % (args.iface, cur.name, cur.prog_id, cur.mode, gone, _detach_hint(args)))
    for pid, ports, alive in holders:
        out.print("reserved ports %s (this namespace): %s" % (ports, (
            "held by live xdpmtcp process %d" % pid if alive else
            "left by process %d, which is gone; released by `%s` or the next start"
            % (pid, _detach_hint(args)))))
    return 0


def detach(args):
    from bcc import BPF
    from ..xdp.attach import XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE
    out = console()
    try:
        with netns_context(args.netns):
            with runstate.locked():
                ifindex, cur = _query(args.iface, args.netns)
                owner = program_owner(ifindex, cur)
                if not cur.prog_id:
                    out.print("%s: no XDP program, nothing to detach" % args.iface)
                elif cur.name not in OUR_PROGRAMS and not args.force:
                    return fail("%s runs %r, which xdpmtcp did not attach; use --force"
                                % (args.iface, cur.name))
                elif owner.alive and not args.force:
                    return fail("%s: %s (id %d) belongs to live xdpmtcp process %d; stop that "
                                "process, or use --force" % (args.iface, cur.name, cur.prog_id,
                                                             owner.pid))
                else:
                    flags = XDP_FLAGS_SKB_MODE if cur.mode == "skb" else XDP_FLAGS_DRV_MODE
                    try:
                        BPF.remove_xdp(args.iface.encode(), flags)
                    except Exception as e:              # BCC raises bare Exception
                        return fail("cannot detach XDP from %s: %s" % (args.iface, e))
                    forget_owner(ifindex)
                    whose = ("; forced: live process %d no longer receives frames" % owner.pid
                             if owner.alive else
                             "; its process %d was gone" % owner.pid if owner.pid else "")
                    out.print("%s: detached %s (id %d)%s" % (args.iface, cur.name, cur.prog_id,
                                                             whose))
            released = release_dead_reservations()
    except (OSError, RuntimeError) as e:        # RuntimeError: no such netns
        return fail(str(e))
    for pid, ports in released:
        out.print("released reserved ports %s left by process %d, which is gone" % (ports, pid))
    return 0
