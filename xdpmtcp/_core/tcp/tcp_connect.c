/* Active open in C: the SYN, SYN-SENT (RFC 9293 §3.10.7.3) and the
 * simultaneous open's way through SYN-RECEIVED.  Python opens the block
 * (port, next hop: xc_tcp_open), sets the socket options and calls
 * xc_tcp_connect once; the rest of the handshake never reaches it. */
#include "tcp_internal.h"

void xc_tcp_connect(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	xc_tcp_init_conn(e, t, now_ns);   /* after the options set since xc_tcp_open */
	e->now_ns = now_ns;
	t->state = XC_TCP_SYN_SENT;
	t->hs_start_ns = now_ns;
	tcp_queue_ctl(e, t, XC_CTL_SYN, now_ns);   /* sent by the batch's flush */
}

/* Keep the options both sides offered (s is the peer's SYN or SYN-ACK). */
void tcp_negotiate(struct xc_tcb *t, const struct tcp_opts *o)
{
	uint32_t keep = 0;
	if (o->has_ts && (t->flags & XC_TF_TS_OK)) {
		keep |= XC_TF_TS_OK;
		t->ts_recent = o->tsval;
	}
	if (o->sack_ok && (t->flags & XC_TF_SACK_OK))
		keep |= XC_TF_SACK_OK;
	if (o->has_wscale && (t->flags & XC_TF_WS_OK)) {
		keep |= XC_TF_WS_OK;
		t->snd_wscale = o->wscale < 14 ? o->wscale : 14;
	}
	t->flags = (t->flags & ~(XC_TF_TS_OK | XC_TF_SACK_OK | XC_TF_WS_OK)) | keep;
	t->peer_mss = o->has_mss && o->mss ? o->mss : 536;   /* RFC 9293 §3.7.1 default */
}

/* The connection never came up: CLOSED with why (XC_EV_REFUSED). */
void tcp_refused(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	tcb_event(e, t, XC_EV_REFUSED);
	tcb_set_state(e, t, XC_TCP_CLOSED);
}

void tcp_syn_sent_input(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
			uint64_t now_ns)
{
	t->c.segs_in++;
	tcp_history_in(t, s);
	if (s->flags & TCP_ACK) {
		if (s->ack != t->snd_nxt) {
			/* not for our SYN: RST it, unless it is one (§3.10.7.3) */
			e->stats.syn_sent_bad_ack++;
			if (!(s->flags & TCP_RST))
				tcp_queue_reset_for(e, s);
			return;
		}
		if (s->flags & TCP_RST) {
			tcp_refused(e, t);
			return;
		}
	} else if (s->flags & TCP_RST) {
		return;
	}
	if (!(s->flags & TCP_SYN))
		return;
	tcp_negotiate(t, &s->opt);
	t->irs = s->seq;
	t->rcv_nxt = s->seq + 1;
	t->rcv_adv = t->rcv_nxt;
	t->last_recv_ns = now_ns;
	if (s->flags & TCP_ACK) {
		uint64_t rtt_ns = t->c.retrans_segs ? 0 : now_ns - t->hs_start_ns;   /* Karn */
		tcp_establish(e, t, s, (uint32_t)(rtt_ns / 1000), now_ns);
		tcp_queue_ctl(e, t, XC_CTL_ACK, now_ns);
		tcb_event(e, t, XC_EV_WRITABLE);
	} else {
		/* simultaneous open: SYN-RECEIVED, our SYN again with an ACK */
		tcb_set_state(e, t, XC_TCP_SYN_RCVD);
		tcp_queue_ctl(e, t, XC_CTL_SYNACK, now_ns);
	}
}
