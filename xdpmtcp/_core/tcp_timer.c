/* RTT estimation (RFC 6298) and the C half of every timer: the
 * deadlines live in the tcb, Python's heap decides when to call here. */
#include "tcp_internal.h"

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

void xc_tcp_rtt_sample(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t rtt_us)
{
	tcp_rtt_sample(e, t, rtt_us);
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

uint64_t xc_tcb_next_deadline(const struct xc_tcb *t)
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

int xc_tcp_timer(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns)
{
	if (kind < 0 || kind >= XC_T_COUNT)
		return XC_TV_NONE;
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
	default:
		return XC_TV_EXPIRED;
	}
}
