"""Events and hooks: mOS's allowed (event, hook) pairs, user-defined events
(mtcp_define_event, mtcp_alloc_event) and firing callbacks of a socket and
its listener, then the user-defined events built on the one that fired."""
import errno as E
import itertools
import threading
from typing import Dict, List

from ..monitor.core import Ev
from .constants import (BUILTIN_EVENTS, MOS_HK_RCV, MOS_HK_SND, MOS_NULL, MOS_NULL_EVENT,
                        MOS_ON_CONN_END, MOS_ON_CONN_NEW_DATA, MOS_ON_CONN_START, MOS_ON_ERROR,
                        MOS_ON_ORPHAN, MOS_ON_PKT_IN, MOS_ON_REXMIT, MOS_ON_TCP_STATE_CHANGE,
                        MOS_ON_TIMEOUT)
from .errors import err


class _Ude:
    __slots__ = ("id", "parent", "root", "filter", "arg")

    def __init__(self, id_, parent, root, flt, arg):
        self.id, self.parent, self.root, self.filter, self.arg = id_, parent, root, flt, arg


udes: Dict[int, _Ude] = {}
_ude_children: Dict[int, List[_Ude]] = {}
_ude_ids = itertools.count(1 << 32)
_ude_lock = threading.Lock()


def root_of(event):
    """The built-in event an event (built-in or user-defined) stems from."""
    if event in BUILTIN_EVENTS:
        return event
    u = udes.get(event)
    return u.root if u else None


def mtcp_define_event(event, filter, arg=None):  # noqa: A002 (mOS's name)
    """A user-defined event: fires when `event` does and filter(mctx, sock,
    side, event, arg) is true.  Returns its id."""
    if root_of(event) is None:
        err(E.EINVAL, "mtcp_define_event: no such event %r" % event)
    if filter is not None and not callable(filter):
        err(E.EINVAL, "mtcp_define_event: the filter is not callable")
    with _ude_lock:
        u = _Ude(next(_ude_ids), event, root_of(event), filter, arg)
        udes[u.id] = u
        _ude_children.setdefault(event, []).append(u)
    return u.id


def mtcp_alloc_event(event):
    """A child event only mtcp_raise_event fires."""
    return mtcp_define_event(event, None, None)


def check_pair(event, hook):
    """mOS's allowed (event, hook) pairs (EINVAL otherwise)."""
    root = root_of(event)
    if event == MOS_NULL_EVENT or root is None:
        err(E.EINVAL, "no such event %r" % event)
    if hook == MOS_NULL:
        if root in (MOS_ON_CONN_START, MOS_ON_REXMIT, MOS_ON_TCP_STATE_CHANGE, MOS_ON_CONN_END):
            err(E.EINVAL, "event %#x cannot be hooked at MOS_NULL" % root)
    elif hook in (MOS_HK_RCV, MOS_HK_SND):
        if root in (MOS_ON_CONN_NEW_DATA, MOS_ON_ORPHAN, MOS_ON_ERROR):
            err(E.EINVAL, "event %#x is raised at MOS_NULL only" % root)
    else:
        err(E.EINVAL, "invalid hook %r" % hook)


# The core's events each mOS event needs raised.
CORE_EVENTS = {MOS_ON_PKT_IN: Ev.PKT_IN, MOS_ON_CONN_START: Ev.CONN_START,
               MOS_ON_CONN_NEW_DATA: Ev.NEW_DATA, MOS_ON_ERROR: Ev.ERROR | Ev.OVERLAP | Ev.GAP,
               MOS_ON_TIMEOUT: Ev.TIMEOUT, MOS_ON_TCP_STATE_CHANGE: Ev.STATE,
               MOS_ON_ORPHAN: Ev.ORPHAN, MOS_ON_REXMIT: Ev.REXMIT, MOS_ON_CONN_END: Ev.CONN_END}


def core_event_mask(socks):
    """What the C core must raise for the callbacks of these sockets."""
    m = 0
    for s in socks:
        for (ev, _hook) in s.callbacks:
            m |= CORE_EVENTS.get(root_of(ev) or 0, 0)
    return m


def _callbacks(ctx, s, event, hook):
    out = []
    cb = s.callbacks.get((event, hook))
    if cb:
        out.append(cb)
    if s.listener is not None:
        ls = ctx.socks.get(s.listener)
        if ls is not None:
            cb = ls.callbacks.get((event, hook))
            if cb:
                out.append(cb)
    return out


def _subtree(event):
    out, todo = set(), [event]
    while todo:
        e = todo.pop()
        out.add(e)
        todo.extend(u.id for u in _ude_children.get(e, ()))
    return out


def _wants(ctx, s, ude):
    """Does s (or its listener) have a callback for ude or an event built
    on it?  Filters of events nobody listens to are not run."""
    tree = _subtree(ude)
    owners = [s] + ([ctx.socks[s.listener]] if s.listener in ctx.socks else [])
    return any(ev in tree for o in owners for (ev, _h) in o.callbacks)


def fire(ctx, s, event, hook, side, arg=None, direct=False):
    """Callbacks of s (and its listener) for event at hook, then the
    user-defined events built on it whose filters pass."""
    hooks = (MOS_NULL, MOS_HK_SND, MOS_HK_RCV) if direct else (hook,)
    prev = ctx.in_cb
    ctx.in_cb = (s, side)
    try:
        for h in hooks:
            for cb in _callbacks(ctx, s, event, h):
                cb(ctx, s.id, side, event, arg)
        for u in _ude_children.get(event, ()):
            if u.filter is None or not _wants(ctx, s, u.id):
                continue
            if u.filter(ctx, s.id, side, event, u.arg):
                fire(ctx, s, u.id, hook, side, u.arg, direct)
    finally:
        ctx.in_cb = prev
