/* RTT estimation (RFC 6298) and arming every timer: the deadlines live in
 * the tcb, and a heap of blocks by earliest deadline says which to look
 * at.  Arming only: what a timer does when it fires is tcp_timeout.c's,
 * so the files that send can arm timers without a cycle. */
#include "tcp_internal.h"

/* --- the heap -------------------------------------------------------------- */

static uint64_t heap_key(const struct xc_tcp_engine *e, uint32_t i)
{
	return e->tcbs[e->theap[i]]->timer_queued_ns;
}

static void heap_put(struct xc_tcp_engine *e, uint32_t i, uint32_t id)
{
	e->theap[i] = id;
	e->tcbs[id]->timer_heap_pos = i + 1;
}

static void heap_up(struct xc_tcp_engine *e, uint32_t i)
{
	uint32_t id = e->theap[i];
	uint64_t key = e->tcbs[id]->timer_queued_ns;
	while (i) {
		uint32_t parent = (i - 1) / 2;
		if (heap_key(e, parent) <= key)
			break;
		heap_put(e, i, e->theap[parent]);
		i = parent;
	}
	heap_put(e, i, id);
}

static void heap_down(struct xc_tcp_engine *e, uint32_t i)
{
	uint32_t id = e->theap[i];
	uint64_t key = e->tcbs[id]->timer_queued_ns;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= e->nheap)
			break;
		if (c + 1 < e->nheap && heap_key(e, c + 1) < heap_key(e, c))
			c++;
		if (heap_key(e, c) >= key)
			break;
		heap_put(e, i, e->theap[c]);
		i = c;
	}
	heap_put(e, i, id);
}

void timer_heap_schedule(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t due)
{
	if (!e->theap || e->tcbs[t->id] != t)   /* a block outside the engine's table */
		return;
	t->timer_queued_ns = due;
	if (t->timer_heap_pos) {
		heap_up(e, t->timer_heap_pos - 1);        /* keys only move earlier */
		return;
	}
	e->theap[e->nheap] = t->id;
	heap_up(e, e->nheap++);
}

void timer_heap_remove(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (!t->timer_heap_pos)
		return;
	uint32_t i = t->timer_heap_pos - 1;
	t->timer_heap_pos = 0;
	t->timer_queued_ns = 0;
	uint32_t last = e->theap[--e->nheap];
	if (i == e->nheap)
		return;
	heap_put(e, i, last);
	heap_up(e, i);
	heap_down(e, e->tcbs[last]->timer_heap_pos - 1);
}

uint64_t xc_engine_next_timer(struct xc_tcp_engine *e)
{
	return e->nheap ? heap_key(e, 0) : 0;
}

static uint32_t clamp_rto(const struct xc_tcp_engine *e, uint64_t us)
{
	if (us < e->cfg.rto_min_us)
		us = e->cfg.rto_min_us;
	if (us > e->cfg.rto_max_us)
		us = e->cfg.rto_max_us;
	return (uint32_t)us;
}

void tcp_rtt_sample(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t rtt_us)
{
	if (!rtt_us)
		rtt_us = 1;
	t->last_rtt_us = rtt_us;
	if (!t->min_rtt_us || rtt_us < t->min_rtt_us)
		t->min_rtt_us = rtt_us;
	if (!t->srtt_us) {                       /* (2.2) first measurement */
		t->srtt_us = rtt_us;
		t->rttvar_us = rtt_us / 2;
	} else {                                 /* (2.3) alpha 1/8, beta 1/4 */
		uint32_t diff = t->srtt_us > rtt_us ? t->srtt_us - rtt_us : rtt_us - t->srtt_us;
		t->rttvar_us = (3 * t->rttvar_us + diff) / 4;
		t->srtt_us = (7 * t->srtt_us + rtt_us) / 8;
	}
	/* G (clock granularity) is 1 µs here: 4*RTTVAR dominates */
	uint64_t var4 = (uint64_t)4 * t->rttvar_us;
	t->rto_us = clamp_rto(e, (uint64_t)t->srtt_us + (var4 > 1 ? var4 : 1));
}

/* (5.1)/(5.3): restart the timer with the current (backed-off) RTO. */
void tcp_rearm_rto(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	uint64_t us = (uint64_t)t->rto_us << (t->backoff < 16 ? t->backoff : 16);
	tcb_timer_set(e, t, XC_T_RTO, now_ns + (uint64_t)clamp_rto(e, us) * 1000);
}

/* RFC 8985 §7.2: a probe 2*SRTT after the last send while the flight is
 * open, so a lost tail is found by SACK, not by a 200 ms+ RTO.  One
 * segment in flight may wait for a delayed ACK: add the RTO floor. */
void tcp_arm_tlp(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!(t->flags & XC_TF_SACK_OK) || !t->srtt_us || t->snd_una == t->snd_max ||
	    (t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY | XC_TF_TLP_OUT))) {
		t->timer_due[XC_T_TLP] = 0;
		return;
	}
	uint64_t us = 2ull * t->srtt_us;
	if (us < 10000)
		us = 10000;
	if (tcb_flight(t) <= t->mss)
		us += e->cfg.rto_min_us;
	if (us >= t->rto_us) {             /* the RTO would come first anyway */
		t->timer_due[XC_T_TLP] = 0;
		return;
	}
	tcb_timer_set(e, t, XC_T_TLP, now_ns + us * 1000);
}

uint64_t tcb_next_deadline(const struct xc_tcb *t)
{
	uint64_t best = 0;
	for (int k = 0; k < XC_T_COUNT; k++)
		if (t->timer_due[k] && (!best || t->timer_due[k] < best))
			best = t->timer_due[k];
	return best;
}

void tcp_timers_clear(struct xc_tcb *t)
{
	for (int k = 0; k < XC_T_COUNT; k++)
		t->timer_due[k] = 0;
}

void xc_tcp_orphan(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	e->now_ns = now_ns;
	t->flags |= XC_TF_ORPHAN;
	if (t->state == XC_TCP_FIN_WAIT_2)
		tcb_timer_set(e, t, XC_T_TIMEWAIT, now_ns + ms_ns(e->cfg.fin_wait2_ms));
}

void xc_tcp_set_keepalive(struct xc_tcp_engine *e, struct xc_tcb *t, int on, uint32_t idle_ms,
			  uint32_t intvl_ms, uint32_t cnt, uint64_t now_ns)
{
	t->keepalive_idle_ms = idle_ms ? idle_ms : 1;
	t->keepalive_intvl_ms = intvl_ms ? intvl_ms : 1;
	t->keepalive_cnt = cnt;
	t->probes = 0;
	t->timer_due[XC_T_KEEPALIVE] = 0;
	if (!on) {
		t->flags &= ~XC_TF_KEEPALIVE;
		return;
	}
	t->flags |= XC_TF_KEEPALIVE;
	if (tcb_synchronized(t) && t->state != XC_TCP_TIME_WAIT)
		tcb_timer_set(e, t, XC_T_KEEPALIVE, now_ns + ms_ns(t->keepalive_idle_ms));
}
