/* RACK (RFC 8985 §6): a segment is lost when one sent after it was
 * delivered and it is overdue by the delivered one's RTT plus a
 * reordering window.  Time, not a count of duplicate ACKs, decides, so
 * a lost retransmission or a lost tail is found like any other loss.
 * The window follows Linux's: zero until reordering is seen (in recovery,
 * or with DupThresh segments SACKed), then min_rtt/4 times a multiplier
 * that grows by one per round trip with D-SACKs and falls back after 16
 * recoveries without. */
#include "tcp_internal.h"

#define RACK_PERSIST 16          /* Linux's TCP_RACK_RECOVERY_THRESH */
#define RACK_STEPS_MAX 255

void tcp_rack_update(struct xc_tcb *t, const struct xc_sent_news *n)
{
	struct tcp_rack *r = &t->rack;
	if (n->reordered) {
		r->reord = 1;
		t->c.sack_reorder++;
	}
	/* every ACK of never-resent data is an RTT sample: min_rtt, which
	 * sizes the window and tells ambiguous deliveries, follows the path
	 * closer than one timed segment per round trip would */
	if (n->rtt_valid) {
		uint32_t rtt = (uint32_t)((n->now_ns - n->rtt_xmit_ns) / 1000);
		if (!rtt)
			rtt = 1;
		if (!t->min_rtt_us || rtt < t->min_rtt_us)
			t->min_rtt_us = rtt;
	}
	if (!n->newest_valid)
		return;
	r->rtt_us = (uint32_t)((n->now_ns - n->newest_xmit_ns) / 1000);
	if (n->newest_xmit_ns > r->xmit_ns ||
	    (n->newest_xmit_ns == r->xmit_ns && seq_gt(n->newest_end, r->end_seq))) {
		r->xmit_ns = n->newest_xmit_ns;
		r->end_seq = n->newest_end;
	}
}

void tcp_rack_dsack(struct xc_tcb *t)
{
	struct tcp_rack *r = &t->rack;
	if (r->dsack_round && seq_lt(t->snd_una, r->dsack_round))
		return;                          /* one step per round trip */
	if (r->steps < RACK_STEPS_MAX)
		r->steps = (r->steps ? r->steps : 1) + 1;
	r->dsack_round = t->snd_max;
	r->persist = RACK_PERSIST;
}

void tcp_rack_recovery_done(struct xc_tcb *t)
{
	struct tcp_rack *r = &t->rack;
	if (r->persist && !--r->persist)
		r->steps = 1;
}

static uint32_t reo_wnd_us(const struct xc_tcb *t)
{
	const struct tcp_rack *r = &t->rack;
	if (!r->reord) {
		if (t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY))
			return 0;
		if (t->sent.sacked >= XC_DUPTHRESH * (uint32_t)t->mss)
			return 0;
	}
	uint64_t w = (uint64_t)(t->min_rtt_us / 4) * (r->steps ? r->steps : 1);
	return w < t->srtt_us ? (uint32_t)w : t->srtt_us;
}

uint32_t tcp_rack_detect_loss(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	struct tcp_rack *r = &t->rack;
	uint64_t next_ns = 0;
	uint32_t lost_retrans = 0, marked = 0;
	if (r->xmit_ns && t->sent.thead) {
		uint64_t wait_ns = ((uint64_t)r->rtt_us + reo_wnd_us(t)) * 1000;
		marked = xc_sent_mark_overdue(&t->sent, r->xmit_ns, r->end_seq, wait_ns, now_ns,
					      &next_ns, &lost_retrans);
	}
	t->c.rack_lost += marked;
	t->c.lost_retrans += lost_retrans;
	/* the reordering timer: when the last of the waiting ones is due */
	if (next_ns)
		tcb_timer_set(e, t, XC_T_REO, next_ns);
	else
		t->timer_due[XC_T_REO] = 0;
	return marked;
}
