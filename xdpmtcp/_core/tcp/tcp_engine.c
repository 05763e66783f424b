/* The engine: its making and freeing, the batch (xc_engine_poll: the
 * segments of a burst dispatched, timers, events, output), and the
 * application's reads and writes.  Nothing below calls back up here. */
#include <stdlib.h>
#include <malloc.h>
#include <arpa/inet.h>
#include "tcp_internal.h"
#include "dev/port.h"    /* xc_port_rx_lend: the engine empties its burst every batch */

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

/* --- the batch: segments in, timers, events, output ------------------------ */

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

/* The batch entry point: fast path for synchronized connections, the
 * rest (handshakes, unknown tuples, SYN in TIME-WAIT) listed for Python. */
int xc_engine_rx(struct xc_tcp_engine *e, struct xc_burst *in, uint32_t *slow, uint32_t slow_max,
		 uint64_t now_ns)
{
	uint32_t nslow = 0;
	e->now_ns = now_ns;
	for (uint32_t i = 0; i < in->n; i++) {
		struct xc_pkt *p = &in->pkts[i];
		const uint8_t *frame = in->frames + p->off;
		struct tcp_seg s;
		e->stats.segs_in++;
		if (p->seg_class == XM_SEG_MALFORMED) {
			e->stats.malformed++;
			continue;
		}
		if (tcp_seg_parse(frame, p->len, &s) < 0) {
			e->stats.not_tcp++;
			continue;
		}
		if (s.opt.bad) {
			e->stats.malformed++;
			continue;
		}
		struct xc_tcb *t = tcb_lookup(e, s.daddr, s.saddr, s.dport, s.sport);
		if (t && tcb_synchronized(t)) {
			if (tcp_input_seg(e, t, &s, now_ns) != 1) {
				e->stats.fast_path++;
				continue;
			}
		} else if (t && t->state == XC_TCP_SYN_RCVD) {
			tcp_syn_rcvd_input(e, t, &s, now_ns);
			e->stats.handshake_segments++;
			continue;
		} else if (t && t->state == XC_TCP_SYN_SENT) {
			tcp_syn_sent_input(e, t, &s, now_ns);
			e->stats.handshake_segments++;
			continue;
		} else if (t && t->state == XC_TCP_CLOSED) {
			if (!(s.flags & TCP_RST))          /* a block nobody released yet */
				tcp_queue_reset_for(e, &s);
			continue;
		} else if (!t) {
			if (tcp_listen_input(e, &s, now_ns)) {
				e->stats.listen_segments++;
			} else if (!(s.flags & TCP_RST)) {
				tcp_queue_reset_for(e, &s);    /* no connection, no listener */
			}
			continue;
		}
		e->stats.slow_path++;
		if (nslow < slow_max)
			slow[nslow++] = i;
	}
	tcp_listen_reap(e);
	return (int)nslow;
}

void xc_engine_poll(struct xc_tcp_engine *e, struct xc_burst *burst, uint32_t *slow, uint64_t now_ns,
		    struct xc_poll_result *r)
{
	r->frames = r->slow = 0;
	int n = burst->n < burst->cap ? xc_port_rx_lend(e->port, burst, burst->cap - burst->n) : 0;
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
	tcp_sndbuf_expand(e, t, len);
	return append_send(e, t, data, len);
}

int64_t xc_tcp_write_fd(struct xc_tcp_engine *e, struct xc_tcb *t, int fd, uint64_t offset,
			uint32_t count)
{
	if (t->flags & XC_TF_FIN_QUEUED)
		return 0;
	tcp_sndbuf_expand(e, t, count);
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
	tcp_sndbuf_expand(e, t, len);          /* before the low-water check: a full buffer may grow */
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

