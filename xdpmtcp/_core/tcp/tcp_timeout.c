/* What every timer does when it fires (RTO, delayed ACK, persist, TLP,
 * keepalive, the lifetimes of TIME-WAIT, an orphaned FIN-WAIT-2 and an
 * idle connection), and xc_engine_timers, which runs what is due.  The
 * deadlines are armed by tcp_timer.c. */
#include "tcp_internal.h"

/* What a deadline's handler asks of xc_engine_timers. */
#define XC_TV_NONE 0
#define XC_TV_GIVE_UP 1          /* retries or probes exhausted: ETIMEDOUT */

static int on_tlp(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT || t->snd_una == t->snd_max ||
	    (t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY | XC_TF_TLP_OUT)))
		return XC_TV_NONE;
	uint32_t data_end = snd_data_end(t), seq, len;
	t->flags |= XC_TF_TLP_OUT;
	t->tlp_high_seq = t->snd_max;
	t->c.tlp_probes++;
	if (seq_lt(t->snd_nxt, data_end) && seq_lt(t->snd_nxt, t->snd_una + t->snd_wnd)) {
		t->flags |= XC_TF_TLP_NEW;      /* new data is the best probe */
		tcb_output(e, t);
	} else if (xc_sent_last(&t->sent, &seq, &len)) {
		/* resend the last segment of the flight (with the FIN it
		 * carried): its SACK tells RACK what before it is lost */
		if (tcp_send_segment(e, t, seq, len, tcb_fin_after(t, seq, len), now_ns) == 0) {
			xc_sent_probed(&t->sent, now_ns);
			t->c.retrans_segs++;
			t->c.bytes_retrans += len;
		}
	} else if ((t->flags & XC_TF_FIN_SENT) && t->snd_una == t->fin_seq) {
		/* only our FIN is out: probe with it */
		if (tcp_send_segment(e, t, t->fin_seq, 0, TCP_FIN, now_ns) == 0)
			t->c.retrans_segs++;
	}
	tcp_rearm_rto(e, t, now_ns);
	return XC_TV_NONE;
}

/* RACK's reordering window ran out for a segment (RFC 8985 §6.3). */
static int on_reo(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (tcb_synchronized(t) && t->state != XC_TCP_TIME_WAIT && (t->flags & XC_TF_SACK_OK) &&
	    t->snd_una != t->snd_max)
		tcp_recovery_reo_timeout(e, t, now_ns);
	return XC_TV_NONE;
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
	/* with SACK and data in flight: the map marks it all lost and the
	 * lost segments leave under slow start (Linux's loss state) */
	if ((t->flags & XC_TF_SACK_OK) && t->sent.n) {
		tcp_recovery_rto(e, t, now_ns);
		return XC_TV_NONE;
	}
	if (t->retries == 1)        /* once per episode: ssthresh keeps the first cut */
		xc_cc_on_rto(&t->cc, tcb_flight(t), now_ns);
	else
		t->cc.cwnd = t->mss;
	/* Go back to snd_una (RFC 6582; only the FIN is outstanding with
	 * SACK).  The scoreboard is dropped: the receiver may renege. */
	t->flags &= ~(XC_TF_IN_RECOVERY | XC_TF_RTT_TIMING | XC_TF_WND_PROBE | XC_TF_TLP_OUT);
	t->timer_due[XC_T_TLP] = 0;
	t->flags |= XC_TF_RTO_RECOVERY;
	t->recover = t->snd_max;
	t->dupacks = 0;
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
	/* give up after max_retries probes in a row without an answer, never
	 * on a peer that answers with its window still closed (an application
	 * that does not read), as Linux (icsk_probes_out) */
	if (t->last_recv_ns > t->zwp_sent_ns)
		t->zwp_unanswered = 0;
	if (t->zwp_unanswered >= e->cfg.max_retries)
		return XC_TV_GIVE_UP;
	t->zwp_unanswered++;
	t->zwp_sent_ns = now_ns;
	if (t->probes < 64)
		t->probes++;                   /* the backoff's exponent (capped by persist_max_us) */
	t->c.zero_window_probes++;
	/* Probe as Linux does (tcp_xmit_probe_skb): a segment of no data
	 * below snd_una, which the receiver must answer with its window.
	 * Nothing goes outstanding, so a closed window is never taken for
	 * loss: no RTO, no cwnd collapse, no data sent twice (RFC 9293
	 * §3.8.6.1 allows this as well as a byte beyond the window). */
	tcp_send_segment(e, t, t->snd_una - 1, 0, 0, now_ns);
	tcp_arm_persist(e, t, now_ns);
	return XC_TV_NONE;
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
	case XC_T_REO:
		return on_reo(e, t, now_ns);
	case XC_T_PACE:
		tcb_output(e, t);
		return XC_TV_NONE;
	default:
		return on_lifetime(e, t, now_ns);
	}
}

uint32_t xc_engine_timers(struct xc_tcp_engine *e, uint64_t now_ns)
{
	uint32_t fired = 0;
	e->now_ns = now_ns;
	while (e->nheap && xc_engine_next_timer(e) <= now_ns) {
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
