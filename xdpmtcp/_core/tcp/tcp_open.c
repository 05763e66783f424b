/* Connection set-up both opens share: what we advertise before the first
 * SYN or SYN-ACK, and the move to ESTABLISHED once the handshake is done
 * (the negotiated options give the segment size, the windows and the
 * congestion controller its start). */
#include "tcp_internal.h"

/* Before the first SYN or SYN-ACK: what we will advertise. */
void xc_tcp_init_conn(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!t->rcv_mss)
		t->rcv_mss = 1460;
	/* scale for the largest the buffer may grow to (autotuning); a buffer
	 * the application fixed gets the scale of its own size, as in Linux */
	if (t->flags & XC_TF_RCVBUF_FIXED)
		t->rcv_wscale = tcp_wscale_for(t->rcv.cap);
	else
		t->rcv_wscale = tcp_wscale_for(t->rcv.cap > e->cfg.rcvbuf_max ? t->rcv.cap : e->cfg.rcvbuf_max);
	t->rto_us = e->cfg.rto_initial_us;
	t->recover = t->iss + 1;
	t->snd_una = t->iss;
	t->snd_nxt = t->iss;
	t->snd_max = t->iss;
	t->last_recv_ns = now_ns;
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
	xc_sent_init(&t->sent, t->snd_una);
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
