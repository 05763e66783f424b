/* Buffer sizes: SO_RCVBUF and SO_SNDBUF, and autotuning both ways, within
 * buffer_memory_max. */
#include "tcp_internal.h"

/* Resizing keeps the data; a smaller buffer than the data held is refused,
 * and so is a move to a new block the pool will not give (buffer_memory_max).
 * buffer_capacity follows; the pool counts the storage itself. */
static int resize_counted(struct xc_tcp_engine *e, struct xc_ring *r, uint32_t bytes)
{
	uint32_t before = r->cap;
	int rc = xc_ring_resize(r, bytes);
	e->stats.buffer_capacity += (uint64_t)r->cap - before;
	return rc;
}

/* Whether buffers of rcv + snd bytes, filled, fit beside the storage the
 * other blocks hold now (buffer_memory_max); t NULL: a block not made yet. */
int tcp_buffers_fit(struct xc_tcp_engine *e, const struct xc_tcb *t, uint64_t rcv, uint64_t snd)
{
	struct xc_bufpool_stats p;
	xc_bufpool_get_stats(e->pool, &p);
	uint64_t others = p.bytes_in_use - (t ? (uint64_t)t->rcv.store_cap + t->snd.store_cap : 0);
	return others + rcv + snd <= e->cfg.buffer_memory_max;
}

int xc_tcp_set_rcvbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes)
{
	/* the scale is fixed by the SYN; before it, follow the new size */
	if (t->state == XC_TCP_CLOSED || t->state == XC_TCP_LISTEN)
		t->rcv_wscale = tcp_wscale_for(bytes);
	return resize_counted(e, &t->rcv, bytes);
}

int xc_tcp_set_sndbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes)
{
	return resize_counted(e, &t->snd, bytes);
}

/* Send-buffer autotuning (Linux's tcp_sndbuf_expand): a writer that
 * finds the buffer too small for want while the congestion window is
 * past half of it gets it doubled, up to cfg.sndbuf_max, as long as the
 * connection's buffers, full, fit beside the storage the others hold
 * (buffer_memory_max; else it stays as is).  A larger buffer means more
 * bytes per write call and per batch. */
void tcp_sndbuf_expand(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t want)
{
	struct xc_ring *r = &t->snd;
	if ((t->flags & XC_TF_SNDBUF_FIXED) || r->cap >= e->cfg.sndbuf_max || !tcb_synchronized(t) ||
	    xc_ring_free_space(r) >= want || (uint64_t)t->cc.cwnd * 2 <= r->cap)
		return;
	uint32_t cap = r->cap > e->cfg.sndbuf_max / 2 ? e->cfg.sndbuf_max : r->cap * 2;
	if (tcp_buffers_fit(e, t, t->rcv.cap, cap))
		resize_counted(e, r, cap);
}

/* Receive-buffer autotuning, per in-order segment: when the sender has
 * used 3/4 of the window we offered (it is window-limited), or what the
 * ring holds (unread plus out of order) passes 3/4 of it, double the
 * buffer up to rcvbuf_max, as long as buffer_memory_max allows (policy at
 * the cap: stay as is).  Not before the sender has moved one buffer's
 * worth (right after the handshake a request of a few bytes already
 * "uses" 3/4 of the SYN's unscaled window), not without window scaling
 * (the window cannot pass 64 KiB anyway), and never once SO_RCVBUF was set. */
void tcp_rcvbuf_autotune(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	struct xc_ring *rcv = &t->rcv;
	uint32_t limit = e->cfg.rcvbuf_max;
	if ((t->flags & XC_TF_RCVBUF_FIXED) || rcv->cap >= limit || t->c.bytes_received < rcv->cap)
		return;
	if (!(t->flags & XC_TF_WS_OK) && rcv->cap >= 65535)
		return;
	int32_t left = (int32_t)(t->rcv_adv - t->rcv_nxt);
	uint64_t window_left = left > 0 ? (uint64_t)left : 0;
	uint64_t held = rcv->high_off - rcv->read_off;
	if (window_left * 4 > rcv->cap && held * 4 < (uint64_t)rcv->cap * 3)
		return;
	uint32_t want = rcv->cap > limit / 2 ? limit : rcv->cap * 2;
	/* the connection's buffers, filled, must fit beside the storage the
	 * others hold now */
	if (!tcp_buffers_fit(e, t, want, t->snd.cap) || resize_counted(e, rcv, want) < 0) {
		e->stats.rcvbuf_grow_refused++;
		return;
	}
	e->stats.rcvbuf_grown++;
	/* a grown buffer is announced at once: a peer facing a small window
	 * would otherwise wait */
	t->flags |= XC_TF_ACK_NOW;
	tcb_output(e, t);
}
