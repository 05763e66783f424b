/* RTT estimation (RFC 6298) and every timer: the deadlines live in the
 * tcb, a heap of blocks by earliest deadline says which to look at, and
 * xc_engine_timers runs what is due. */
#include "tcp_internal.h"

/* What a deadline's handler asks of xc_engine_timers. */
#define XC_TV_NONE 0
#define XC_TV_GIVE_UP 1          /* retries or probes exhausted: ETIMEDOUT */

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

static int on_tlp(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT || t->snd_una == t->snd_max ||
	    (t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY | XC_TF_TLP_OUT)))
		return XC_TV_NONE;
	uint32_t data_end = snd_data_end(t);
	t->flags |= XC_TF_TLP_OUT;
	t->tlp_high_seq = t->snd_max;
	t->c.tlp_probes++;
	if (seq_lt(t->snd_nxt, data_end) && seq_lt(t->snd_nxt, t->snd_una + t->snd_wnd)) {
		t->flags |= XC_TF_TLP_NEW;      /* new data is the best probe */
		tcb_output(e, t);
	} else {
		/* resend the last segment of the flight */
		uint32_t end = seq_lt(data_end, t->snd_max) ? data_end : t->snd_max;
		uint32_t len = end - t->snd_una < t->mss ? end - t->snd_una : t->mss;
		if (len && (int32_t)len > 0 && tcp_send_segment(e, t, end - len, len, 0, now_ns) == 0) {
			t->c.retrans_segs++;
			t->c.bytes_retrans += len;
		}
	}
	tcp_rearm_rto(e, t, now_ns);
	return XC_TV_NONE;
}

uint64_t tcb_next_deadline(const struct xc_tcb *t)
{
	uint64_t best = 0;
	for (int k = 0; k < XC_T_COUNT; k++)
		if (t->timer_due[k] && (!best || t->timer_due[k] < best))
			best = t->timer_due[k];
	return best;
}

static int on_rto(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (t->state == XC_TCP_SYN_SENT || t->state == XC_TCP_SYN_RCVD) {
		if (t->retries >= e->cfg.syn_retries)
			return XC_TV_GIVE_UP;
		t->retries++;
		t->backoff++;
		t->c.retrans_segs++;
		t->c.rto_events++;
		/* the SYN's RTT is ambiguous now (Karn) */
		xc_tcp_send_ctl(e, t, t->state == XC_TCP_SYN_SENT ? XC_CTL_SYN : XC_CTL_SYNACK, now_ns);
		return XC_TV_NONE;
	}
	if (!tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT || t->snd_una == t->snd_max)
		return XC_TV_NONE;
	if (t->retries >= e->cfg.max_retries)
		return XC_TV_GIVE_UP;
	t->retries++;
	t->backoff++;
	t->c.rto_events++;
	if (t->retries == 1)        /* once per episode: ssthresh keeps the first cut */
		xc_cc_on_rto(&t->cc, tcb_flight(t), now_ns);
	else
		t->cc.cwnd = t->mss;
	/* RFC 6675 §5.1 / RFC 6582: leave fast recovery; go back to snd_una.
	 * The scoreboard is dropped: the receiver may renege (RFC 2018 §8). */
	t->flags &= ~(XC_TF_IN_RECOVERY | XC_TF_RTT_TIMING | XC_TF_WND_PROBE | XC_TF_TLP_OUT);
	t->timer_due[XC_T_TLP] = 0;
	t->flags |= XC_TF_RTO_RECOVERY;
	t->recover = t->snd_max;
	t->dupacks = 0;
	xc_sack_reset(&t->sack, t->snd_una);
	t->snd_nxt = t->snd_una;
	if (!t->snd_wnd) {          /* a zero window: the retransmission is the probe */
		t->flags |= XC_TF_WND_PROBE;
		t->c.zero_window_probes++;
	}
	tcp_rearm_rto(e, t, now_ns);
	tcb_output(e, t);
	return XC_TV_NONE;
}

static int on_persist(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT)
		return XC_TV_NONE;
	if (t->snd_una != t->snd_max)   /* data in flight: the RTO timer covers it */
		return XC_TV_NONE;
	if (t->snd_wnd) {
		/* a window too small for SWS avoidance: send what fits now */
		t->flags |= XC_TF_WND_PROBE;
		tcb_output(e, t);
		return XC_TV_NONE;
	}
	if (t->probes >= e->cfg.max_retries)
		return XC_TV_GIVE_UP;
	t->probes++;
	t->c.zero_window_probes++;
	/* RFC 9293 §3.8.6.1: probe with one byte of new data beyond the
	 * window; it stays outstanding, so the RTO timer repeats it */
	t->flags |= XC_TF_WND_PROBE;
	tcb_output(e, t);
	return XC_TV_NONE;
}

void tcp_timers_clear(struct xc_tcb *t)
{
	for (int k = 0; k < XC_T_COUNT; k++)
		t->timer_due[k] = 0;
}

void tcp_timed_out(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	e->stats.timeouts++;
	tcp_timers_clear(t);
	tcb_event(e, t, XC_EV_TIMEDOUT);
	tcb_set_state(e, t, XC_TCP_CLOSED);
}

/* SO_KEEPALIVE: after keepalive_idle_ms of silence a probe every
 * keepalive_intvl_ms; keepalive_cnt unanswered ones end the connection. */
static int on_keepalive(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!(t->flags & XC_TF_KEEPALIVE) || !tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT)
		return XC_TV_NONE;
	uint64_t idle = ms_ns(t->keepalive_idle_ms), intvl = ms_ns(t->keepalive_intvl_ms);
	if (!t->probes && now_ns - t->last_recv_ns < idle) {
		tcb_timer_set(e, t, XC_T_KEEPALIVE, t->last_recv_ns + idle);
		return XC_TV_NONE;
	}
	if (t->probes && t->last_recv_ns + intvl * t->probes > now_ns) {
		t->probes = 0;                    /* the peer answered a probe */
		tcb_timer_set(e, t, XC_T_KEEPALIVE, now_ns + idle);
		return XC_TV_NONE;
	}
	if (t->probes >= t->keepalive_cnt)
		return XC_TV_GIVE_UP;
	t->probes++;
	xc_tcp_send_ctl(e, t, XC_CTL_KEEPALIVE, now_ns);
	tcb_timer_set(e, t, XC_T_KEEPALIVE, now_ns + intvl);
	return XC_TV_NONE;
}

/* One slot, three lifetimes: TIME-WAIT's 2MSL, an orphaned FIN-WAIT-2,
 * and the idle timeout of a synchronized connection. */
static int on_lifetime(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (t->state == XC_TCP_TIME_WAIT || (t->state == XC_TCP_FIN_WAIT_2 && (t->flags & XC_TF_ORPHAN))) {
		if (t->state == XC_TCP_TIME_WAIT)
			e->stats.timewait_expired++;
		tcp_timers_clear(t);
		tcb_event(e, t, XC_EV_RELEASE);
		tcb_set_state(e, t, XC_TCP_CLOSED);
		return XC_TV_NONE;
	}
	if (!e->cfg.idle_timeout_ms || !tcb_synchronized(t))
		return XC_TV_NONE;
	uint64_t limit = ms_ns(e->cfg.idle_timeout_ms);
	if (now_ns - t->last_recv_ns < limit) {
		tcb_timer_set(e, t, XC_T_TIMEWAIT, t->last_recv_ns + limit);
		return XC_TV_NONE;
	}
	xc_tcp_send_ctl(e, t, XC_CTL_RST, now_ns);
	return XC_TV_GIVE_UP;
}

static int run_timer(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns)
{
	t->timer_due[kind] = 0;
	switch (kind) {
	case XC_T_RTO:
		return on_rto(e, t, now_ns);
	case XC_T_DELACK:
		if (t->ack_pending || (t->flags & XC_TF_ACK_NOW)) {
			t->flags |= XC_TF_ACK_NOW;
			t->c.delayed_acks++;
			tcb_output(e, t);
		}
		return XC_TV_NONE;
	case XC_T_PERSIST:
		return on_persist(e, t, now_ns);
	case XC_T_TLP:
		return on_tlp(e, t, now_ns);
	case XC_T_KEEPALIVE:
		return on_keepalive(e, t, now_ns);
	default:
		return on_lifetime(e, t, now_ns);
	}
}

uint32_t xc_engine_timers(struct xc_tcp_engine *e, uint64_t now_ns)
{
	uint32_t fired = 0;
	e->now_ns = now_ns;
	while (e->nheap && heap_key(e, 0) <= now_ns) {
		struct xc_tcb *t = e->tcbs[e->theap[0]];
		timer_heap_remove(e, t);
		for (int k = 0; k < XC_T_COUNT && t->state != XC_TCP_CLOSED; k++) {
			if (!t->timer_due[k] || t->timer_due[k] > now_ns)
				continue;
			fired++;
			e->stats.timers_fired++;
			if (run_timer(e, t, k, now_ns) == XC_TV_GIVE_UP)
				tcp_timed_out(e, t);
		}
		uint64_t next = tcb_next_deadline(t);
		if (next && t->state != XC_TCP_CLOSED)
			timer_heap_schedule(e, t, next);
	}
	tcp_listen_reap(e);
	return fired;
}

void tcp_state_entered(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	switch (t->state) {
	case XC_TCP_TIME_WAIT:
		t->timer_due[XC_T_RTO] = t->timer_due[XC_T_TLP] = t->timer_due[XC_T_PERSIST] = 0;
		t->timer_due[XC_T_KEEPALIVE] = 0;
		if (!e->cfg.timewait_ms) {
			/* no TIME-WAIT: the ACK of the peer's FIN leaves now, before
			 * the block goes (the peer's FIN retransmission would draw a RST) */
			if (t->last_ack_sent != t->rcv_nxt || (t->flags & XC_TF_ACK_NOW))
				xc_tcp_send_ctl(e, t, XC_CTL_ACK, e->now_ns);
			tcp_timers_clear(t);
			tcb_event(e, t, XC_EV_RELEASE);
			t->state = XC_TCP_CLOSED;
			return;
		}
		tcb_timer_set(e, t, XC_T_TIMEWAIT, e->now_ns + ms_ns(e->cfg.timewait_ms));
		break;
	case XC_TCP_FIN_WAIT_2:
		if (t->flags & XC_TF_ORPHAN)
			tcb_timer_set(e, t, XC_T_TIMEWAIT, e->now_ns + ms_ns(e->cfg.fin_wait2_ms));
		break;
	case XC_TCP_CLOSED:
		tcp_timers_clear(t);
		if (t->listen_id)
			tcp_listen_child_closed(e, t);   /* never accepted: C frees it */
		else if (t->flags & XC_TF_ORPHAN)
			tcb_event(e, t, XC_EV_RELEASE);
		break;
	}
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
