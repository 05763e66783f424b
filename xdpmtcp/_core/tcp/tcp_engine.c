/* The engine: connection blocks and their 4-tuple table, the event and
 * output lists, and the application-side calls. */
#include <stdlib.h>
#include <malloc.h>
#include <arpa/inet.h>
#include "tcp_internal.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 16;
	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

struct xc_tcp_engine *xc_engine_new(struct xc_port *port, const struct xc_tcp_config *cfg)
{
	if (!cfg->max_tcbs || cfg->max_tcbs > (1u << 24))
		return NULL;
	struct xc_tcp_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->port = port;
	e->cfg = *cfg;
	/* the engine is the port's one consumer and empties its burst every
	 * batch: receive by reference into the umem, not by copy */
	xc_port_set_flags(port, xc_port_set_flags(port, 0) | XC_RX_LEND);
	uint32_t n = cfg->max_tcbs;
	uint32_t slots = pow2_at_least(2 * n);
	e->tcbs = calloc(n + 1, sizeof(*e->tcbs));
	e->free_ids = calloc(n, sizeof(uint32_t));
	e->ev_list = calloc(n, sizeof(uint32_t));
	e->out_list = calloc(n, sizeof(uint32_t));
	e->flows = calloc(slots, sizeof(struct flow_slot));
	e->theap = calloc(n, sizeof(uint32_t));
	e->mem_wait = calloc(n, sizeof(uint32_t));
	e->pool = xc_bufpool_new(cfg->buffer_memory_max, cfg->buffer_pool_cache);
	if (!e->tcbs || !e->free_ids || !e->ev_list || !e->out_list || !e->flows || !e->theap ||
	    !e->mem_wait || !e->pool || tcp_listen_init(e) < 0) {
		xc_engine_free(e);
		return NULL;
	}
	e->flow_mask = slots - 1;
	for (uint32_t i = 0; i < n; i++)
		e->free_ids[i] = n - i;            /* ids 1..n, lowest popped first */
	e->nfree = n;
	e->challenge_left = cfg->challenge_ack_limit;
	/* The process has usually just compiled its XDP program (BCC, LLVM):
	 * give the heap's free pages back, so that what connections cost
	 * shows in RSS instead of hiding in the compiler's leftovers. */
	malloc_trim(0);
	return e;
}

void xc_engine_free(struct xc_tcp_engine *e)
{
	if (!e)
		return;
	if (e->tcbs) {
		for (uint32_t i = 1; i <= e->cfg.max_tcbs; i++) {
			if (e->tcbs[i]) {
				if (e->tcbs[i]->watch)
					tcb_watchers_detach(e->tcbs[i]);
				xc_ring_free(&e->tcbs[i]->rcv);
				xc_ring_free(&e->tcbs[i]->snd);
				free(e->tcbs[i]);
			}
		}
	}
	free(e->tcbs);
	free(e->free_ids);
	free(e->ev_list);
	free(e->out_list);
	free(e->flows);
	free(e->theap);
	free(e->mem_wait);
	tcp_listen_free(e);
	xc_bufpool_free(e->pool);   /* after the rings: they put their storage back */
	free(e);
}

void xc_engine_get_stats(struct xc_tcp_engine *e, struct xc_tcp_stats *out,
			 struct xc_bufpool_stats *pool)
{
	struct xc_bufpool_stats p;
	xc_bufpool_get_stats(e->pool, &p);
	*out = e->stats;
	out->buffer_bytes = p.bytes_in_use;
	out->buffer_cached = p.bytes_cached;
	out->buffer_peak = p.peak_in_use;
	out->tcbs = e->ntcbs;
	out->tcb_size = sizeof(struct xc_tcb);
	if (pool)
		*pool = p;
}

/* --- 4-tuple table ------------------------------------------------------ */

static uint32_t flow_slot_of(const struct xc_tcp_engine *e, uint32_t la, uint32_t ra,
			     uint16_t lp, uint16_t rp)
{
	return xm_flow_hash(la, ra, lp, rp) & e->flow_mask;
}

static int slot_is(const struct flow_slot *f, uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp)
{
	return f->id && f->local_addr == la && f->remote_addr == ra && f->local_port == lp &&
	       f->remote_port == rp;
}

struct xc_tcb *tcb_lookup(struct xc_tcp_engine *e, uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp)
{
	for (uint32_t i = flow_slot_of(e, la, ra, lp, rp);; i = (i + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[i];
		if (!f->id)
			return NULL;
		if (slot_is(f, la, ra, lp, rp))
			return e->tcbs[f->id];
	}
}

int xc_tcb_bind(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	uint32_t i = flow_slot_of(e, t->local_addr, t->remote_addr, t->local_port, t->remote_port);
	for (uint32_t n = 0; n <= e->flow_mask; n++, i = (i + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[i];
		if (slot_is(f, t->local_addr, t->remote_addr, t->local_port, t->remote_port))
			return f->id == t->id ? 0 : -1;
		if (!f->id) {
			f->local_addr = t->local_addr;
			f->remote_addr = t->remote_addr;
			f->local_port = t->local_port;
			f->remote_port = t->remote_port;
			f->id = t->id;
			return 0;
		}
	}
	e->stats.flow_table_full++;   /* cannot happen: twice as many slots as tcbs */
	return -1;
}

/* Linear probing deletion by backward shift: later entries of the same
 * probe run move into the hole, so lookups never need tombstones. */
static void flow_unbind(struct xc_tcp_engine *e, const struct xc_tcb *t)
{
	uint32_t i = flow_slot_of(e, t->local_addr, t->remote_addr, t->local_port, t->remote_port);
	for (;; i = (i + 1) & e->flow_mask) {
		if (!e->flows[i].id)
			return;
		if (e->flows[i].id == t->id)
			break;
	}
	uint32_t hole = i;
	for (uint32_t j = (hole + 1) & e->flow_mask; e->flows[j].id; j = (j + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[j];
		uint32_t home = flow_slot_of(e, f->local_addr, f->remote_addr, f->local_port, f->remote_port);
		/* move f if its home is not in (hole, j] cyclically */
		if (((j - home) & e->flow_mask) >= ((j - hole) & e->flow_mask)) {
			e->flows[hole] = *f;
			hole = j;
		}
	}
	e->flows[hole].id = 0;
}

/* --- connection blocks ----------------------------------------------------- */

struct xc_tcb *xc_tcb_alloc(struct xc_tcp_engine *e, uint32_t rcvbuf, uint32_t sndbuf)
{
	if (!e->nfree) {
		e->stats.tcbs_alloc_failed++;
		return NULL;
	}
	struct xc_tcb *t = calloc(1, sizeof(*t));
	if (!t || xc_ring_init_pooled(&t->rcv, rcvbuf, XC_OVERLAP_FIRST, e->pool) < 0 ||
	    xc_ring_init_pooled(&t->snd, sndbuf, XC_OVERLAP_FIRST, e->pool) < 0) {
		if (t) {
			xc_ring_free(&t->rcv);
			free(t);
		}
		e->stats.tcbs_alloc_failed++;
		return NULL;
	}
	t->id = e->free_ids[--e->nfree];
	e->tcbs[t->id] = t;
	e->ntcbs++;
	e->stats.buffer_capacity += (uint64_t)t->rcv.cap + t->snd.cap;
	return t;
}

static void list_remove(uint32_t *list, uint32_t *n, uint32_t id)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (list[i] == id) {
			list[i] = list[--*n];
			return;
		}
	}
}

void xc_tcb_free(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (!t || e->tcbs[t->id] != t)
		return;
	flow_unbind(e, t);
	timer_heap_remove(e, t);
	if (t->watch)
		tcb_watchers_detach(t);
	if (t->queued & Q_EVENT)
		list_remove(e->ev_list, &e->nev, t->id);
	if (t->queued & Q_OUTPUT)
		list_remove(e->out_list, &e->nout, t->id);
	if (t->queued & Q_MEMWAIT)
		list_remove(e->mem_wait, &e->nmem_wait, t->id);
	e->tcbs[t->id] = NULL;
	e->free_ids[e->nfree++] = t->id;
	e->ntcbs--;
	e->stats.buffer_capacity -= (uint64_t)t->rcv.cap + t->snd.cap;
	xc_ring_free(&t->rcv);
	xc_ring_free(&t->snd);
	free(t);
}

/* --- lists drained per batch ---------------------------------------------- */

/* Writers refused for want of storage learn that some came back (as the
 * kernel wakes sockets waiting for memory): XC_EV_WRITABLE, and they retry. */
static void mem_wait_wake(struct xc_tcp_engine *e)
{
	struct xc_bufpool_stats p;
	xc_bufpool_get_stats(e->pool, &p);
	if (p.bytes_in_use >= e->mem_wait_mark)
		return;
	for (uint32_t i = 0; i < e->nmem_wait; i++) {
		struct xc_tcb *t = e->tcbs[e->mem_wait[i]];
		t->queued &= ~Q_MEMWAIT;
		tcb_event(e, t, XC_EV_WRITABLE);
	}
	e->nmem_wait = 0;
}

uint32_t xc_engine_events(struct xc_tcp_engine *e, uint32_t *ids, uint32_t *bits, uint32_t max)
{
	if (e->nmem_wait)
		mem_wait_wake(e);
	uint32_t n = e->nev < max ? e->nev : max;
	for (uint32_t i = 0; i < n; i++) {
		struct xc_tcb *t = e->tcbs[e->ev_list[i]];
		ids[i] = e->ev_list[i];
		bits[i] = t->events;
		t->events = 0;
		t->queued &= ~Q_EVENT;
	}
	/* keep the rest for the next call */
	memmove(e->ev_list, e->ev_list + n, (e->nev - n) * sizeof(uint32_t));
	e->nev -= n;
	if (n < max)
		n += tcp_listen_events(e, ids + n, bits + n, max - n);
	return n;
}

void xc_engine_poll(struct xc_tcp_engine *e, struct xc_burst *burst, uint32_t *slow, uint64_t now_ns,
		    struct xc_poll_result *r)
{
	r->frames = r->slow = 0;
	int n = burst->n < burst->cap ? xc_port_rx(e->port, burst, burst->cap - burst->n) : 0;
	if (n > 0) {
		r->frames = (uint32_t)n;
		r->slow = (uint32_t)xc_engine_rx(e, burst, slow, burst->cap, now_ns);
	}
	if (!r->slow)
		burst->n = 0;
	xc_engine_timers(e, now_ns);
	if (e->nmem_wait)
		mem_wait_wake(e);
	r->events = e->nev + e->nlev;
	/* Python's work first (its events and slow segments may send) */
	if (!r->slow && !r->events)
		xc_engine_flush(e, now_ns);
}

int xc_engine_flush(struct xc_tcp_engine *e, uint64_t now_ns)
{
	int sent = 0;
	e->now_ns = now_ns;
	/* output may queue events but never more output: the list is stable */
	for (uint32_t i = 0; i < e->nout; i++) {
		struct xc_tcb *t = e->tcbs[e->out_list[i]];
		t->queued &= ~Q_OUTPUT;
		sent += tcp_output(e, t, now_ns);
	}
	e->nout = 0;
	tcp_tx_flush(e);
	xc_port_flush(e->port);
	return sent;
}

void xc_tcp_mark_output(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	tcb_output(e, t);
}

/* --- connection set-up -------------------------------------------------------- */

static uint8_t wscale_for(uint32_t bytes)
{
	uint8_t s = 0;
	while (s < 14 && (bytes >> s) > 65535)
		s++;
	return s;
}

/* Before the first SYN or SYN-ACK: what we will advertise. */
void xc_tcp_init_conn(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!t->rcv_mss)
		t->rcv_mss = 1460;
	/* scale for the largest the buffer may grow to (autotuning); a buffer
	 * the application fixed gets the scale of its own size, as in Linux */
	if (t->flags & XC_TF_RCVBUF_FIXED)
		t->rcv_wscale = wscale_for(t->rcv.cap);
	else
		t->rcv_wscale = wscale_for(t->rcv.cap > e->cfg.rcvbuf_max ? t->rcv.cap : e->cfg.rcvbuf_max);
	t->rto_us = e->cfg.rto_initial_us;
	t->recover = t->iss + 1;
	t->snd_una = t->iss;
	t->snd_nxt = t->iss;
	t->snd_max = t->iss;
	t->last_recv_ns = now_ns;
	xc_sack_reset(&t->sack, t->iss);
}

/* After the handshake: negotiated options give the segment size, the
 * windows and the congestion controller its start. */
void tcp_init_established(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!(t->flags & XC_TF_WS_OK)) {
		t->snd_wscale = 0;
		t->rcv_wscale = 0;
	}
	uint32_t peer = t->peer_mss ? t->peer_mss : 536;   /* RFC 9293 §3.7.1 default */
	uint32_t mss = peer < t->rcv_mss ? peer : t->rcv_mss;
	if (t->flags & XC_TF_TS_OK)
		mss -= 12;
	if (mss < 64)
		mss = 64;
	t->mss = (uint16_t)mss;
	xc_cc_init(&t->cc, t->cc_algo, mss, e->cfg.initial_window);
	xc_sack_reset(&t->sack, t->snd_una);
	t->quickacks = e->cfg.quickack_segs;
	t->retries = 0;
	t->backoff = 0;
	t->timer_due[XC_T_RTO] = 0;
	t->flags &= ~XC_TF_RTT_TIMING;
	t->last_recv_ns = now_ns;
	if (seq_lt(t->rcv_adv, t->rcv_nxt))
		t->rcv_adv = t->rcv_nxt;
	/* SO_KEEPALIVE set before the handshake, and the idle timeout, start now */
	if (t->flags & XC_TF_KEEPALIVE)
		tcb_timer_set(e, t, XC_T_KEEPALIVE, now_ns + ms_ns(t->keepalive_idle_ms));
	if (e->cfg.idle_timeout_ms)
		tcb_timer_set(e, t, XC_T_TIMEWAIT, now_ns + ms_ns(e->cfg.idle_timeout_ms));
}

/* Move a handshaking block to ESTABLISHED on segment s, which
 * acknowledged our SYN. */
void tcp_establish(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		   uint32_t rtt_us, uint64_t now_ns)
{
	t->snd_una = s->ack;
	if (seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = s->ack;
	t->snd_max = t->snd_nxt;
	/* the window in a SYN-ACK is never scaled (RFC 7323 §2.2) */
	t->snd_wnd = (s->flags & TCP_SYN) ? s->wnd : s->wnd << t->snd_wscale;
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = s->seq;
	t->snd_wl2 = s->ack;
	tcp_init_established(e, t, now_ns);
	if (rtt_us)
		tcp_rtt_sample(e, t, rtt_us);
	tcb_set_state(e, t, XC_TCP_ESTABLISHED);
}

/* --- application side ------------------------------------------------------- */

/* After an append to the send buffer: output, or at buffer_memory_max
 * (nothing taken, EAGAIN) a wait until storage frees. */
static void wrote(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t n, uint64_t refused_before)
{
	if (n) {
		tcb_output(e, t);
	} else if (t->snd.stats.no_storage != refused_before) {
		/* buffer_memory_max: nothing taken (EAGAIN); woken when storage frees */
		t->c.snd_refused_memory++;
		e->stats.write_refused_memory++;
		struct xc_bufpool_stats p;
		xc_bufpool_get_stats(e->pool, &p);
		e->mem_wait_mark = p.bytes_in_use;
		if (!(t->queued & Q_MEMWAIT)) {
			t->queued |= Q_MEMWAIT;
			e->mem_wait[e->nmem_wait++] = t->id;
		}
	}
}

static int resize_counted(struct xc_tcp_engine *e, struct xc_ring *r, uint32_t bytes);

/* Send-buffer autotuning (Linux's tcp_sndbuf_expand): a writer that
 * finds the buffer too small for want while the congestion window is
 * past half of it gets it doubled, up to cfg.sndbuf_max, as long as the
 * connection's buffers, full, fit beside the storage the others hold
 * (buffer_memory_max; else it stays as is).  A larger buffer means more
 * bytes per write call and per batch. */
static void sndbuf_expand(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t want)
{
	struct xc_ring *r = &t->snd;
	if ((t->flags & XC_TF_SNDBUF_FIXED) || r->cap >= e->cfg.sndbuf_max || !tcb_synchronized(t) ||
	    xc_ring_free_space(r) >= want || (uint64_t)t->cc.cwnd * 2 <= r->cap)
		return;
	uint32_t cap = r->cap > e->cfg.sndbuf_max / 2 ? e->cfg.sndbuf_max : r->cap * 2;
	struct xc_bufpool_stats p;
	xc_bufpool_get_stats(e->pool, &p);
	uint64_t others = p.bytes_in_use - t->rcv.store_cap - r->store_cap;
	if (others + t->rcv.cap + cap > e->cfg.buffer_memory_max)
		return;
	resize_counted(e, r, cap);
}

/* Append to the send ring (the buffer already grown if it may). */
static uint32_t append_send(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len)
{
	uint64_t refused_before = t->snd.stats.no_storage;
	uint32_t n = xc_ring_append(&t->snd, data, len);
	wrote(e, t, n, refused_before);
	return n;
}

uint32_t xc_tcp_write(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len)
{
	if (t->flags & XC_TF_FIN_QUEUED)
		return 0;
	sndbuf_expand(e, t, len);
	return append_send(e, t, data, len);
}

int64_t xc_tcp_write_fd(struct xc_tcp_engine *e, struct xc_tcb *t, int fd, uint64_t offset,
			uint32_t count)
{
	if (t->flags & XC_TF_FIN_QUEUED)
		return 0;
	sndbuf_expand(e, t, count);
	uint64_t refused_before = t->snd.stats.no_storage;
	int64_t n = xc_ring_append_fd(&t->snd, fd, offset, count);
	if (n >= 0)
		wrote(e, t, (uint32_t)n, refused_before);
	return n;
}

uint32_t xc_tcp_read(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n, int peek)
{
	if (peek)
		return xc_ring_peek(&t->rcv, t->rcv.read_off, dst, n);
	uint32_t before = tcp_rcv_window(t);
	uint32_t got = xc_ring_read(&t->rcv, dst, n);
	if (got && tcb_synchronized(t)) {
		/* window update once it grew enough to matter (RFC 9293
		 * §3.8.6.2.2): two segments or half the buffer */
		uint32_t after = tcp_rcv_window(t);
		uint32_t step = 2u * t->rcv_mss < t->rcv.cap / 2 ? 2u * t->rcv_mss : t->rcv.cap / 2;
		if (after > before && (after - before >= step || before == 0)) {
			t->flags |= XC_TF_ACK_NOW;
			tcb_output(e, t);
		}
	}
	return got;
}

int32_t xc_tcp_recv(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n)
{
	if (n > INT32_MAX)
		n = INT32_MAX;
	if (n && xc_ring_readable(&t->rcv))
		return (int32_t)xc_tcp_read(e, t, dst, n, 0);
	if (n && !t->so_error && tcb_synchronized(t) && !(t->flags & (XC_TF_FIN_RCVD | XC_TF_RCV_SHUT)))
		return -EAGAIN;
	return -1;
}

int32_t xc_tcp_send(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len)
{
	if (!len || t->so_error || (t->flags & XC_TF_FIN_QUEUED) ||
	    (t->state != XC_TCP_ESTABLISHED && t->state != XC_TCP_CLOSE_WAIT))
		return -1;
	if (len > INT32_MAX)
		len = INT32_MAX;
	sndbuf_expand(e, t, len);          /* before the low-water check: a full buffer may grow */
	uint32_t low = t->sndlowat < len ? t->sndlowat : len;
	if (low > t->snd.cap)
		low = t->snd.cap;
	if (xc_ring_free_space(&t->snd) < low)
		return -EAGAIN;
	uint32_t n = append_send(e, t, data, len);
	return n ? (int32_t)n : -EAGAIN;
}

void xc_tcp_shutdown_send(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	t->flags |= XC_TF_FIN_QUEUED;
	tcb_output(e, t);
}

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

int xc_tcp_set_rcvbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes)
{
	/* the scale is fixed by the SYN; before it, follow the new size */
	if (t->state == XC_TCP_CLOSED || t->state == XC_TCP_LISTEN)
		t->rcv_wscale = wscale_for(bytes);
	return resize_counted(e, &t->rcv, bytes);
}

int xc_tcp_set_sndbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes)
{
	return resize_counted(e, &t->snd, bytes);
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
	struct xc_bufpool_stats p;
	xc_bufpool_get_stats(e->pool, &p);
	uint64_t others = p.bytes_in_use - rcv->store_cap - t->snd.store_cap;
	if (others + want + t->snd.cap > e->cfg.buffer_memory_max || resize_counted(e, rcv, want) < 0) {
		e->stats.rcvbuf_grow_refused++;
		return;
	}
	e->stats.rcvbuf_grown++;
	/* a grown buffer is announced at once: a peer facing a small window
	 * would otherwise wait */
	t->flags |= XC_TF_ACK_NOW;
	tcb_output(e, t);
}
