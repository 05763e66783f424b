/* Passive open, all in C: a SYN to a listener makes a child in
 * SYN-RECEIVED (SYN queue capped by syn_backlog; SYN cookies beyond it;
 * SYNs dropped when the accept queue is full, as Linux does), a cookie's
 * ACK makes one ESTABLISHED, SYN-RECEIVED itself, and the answer to
 * segments that match a listener but no connection.  The listeners, their
 * queues and the reaping of children are tcp_listener.c's.
 *
 * A child belongs to its listener (tcb->listen_id) until accepted. */
#include "tcp_internal.h"
#include "xdpmtcp_syncookie.h"

/* Address t as the answer to s: its tuple seen from our side. */
static void address_reply(const struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s)
{
	t->local_addr = s->daddr;
	t->remote_addr = s->saddr;
	t->local_port = s->dport;
	t->remote_port = s->sport;
	memcpy(t->local_mac, e->cfg.local_mac, 6);
	memcpy(t->remote_mac, s->frame + 6, 6);
}

/* A block for the tuple of s, seen from our side, with the listener's
 * options; NULL (counted) at max_concurrency, or when the child's buffers,
 * filled, would not fit beside the storage allocated now: buffers cost
 * only what they hold, so idle connections never refuse a SYN. */
static struct xc_tcb *new_child(struct xc_tcp_engine *e, struct tcp_listener *l,
				const struct tcp_seg *s)
{
	const struct xc_listen_conf *c = &l->conf;
	if (e->ntcbs >= e->cfg.max_tcbs) {
		e->stats.refused_cap++;
		l->st.refused_no_memory++;
		return NULL;
	}
	if (!tcp_buffers_fit(e, NULL, c->rcvbuf, c->sndbuf)) {
		e->stats.refused_memory++;
		l->st.refused_no_memory++;
		return NULL;
	}
	struct xc_tcb *t = xc_tcb_alloc(e, c->rcvbuf, c->sndbuf);
	if (!t) {
		e->stats.refused_memory++;
		l->st.refused_no_memory++;
		return NULL;
	}
	address_reply(e, t, s);
	t->rcv_mss = c->rcv_mss;
	t->cc_algo = c->cc_algo;
	t->flags = c->flags;
	t->keepalive_idle_ms = c->keepalive_idle_ms;
	t->keepalive_intvl_ms = c->keepalive_intvl_ms;
	t->keepalive_cnt = c->keepalive_cnt;
	if (xc_tcb_bind(e, t) < 0) {
		xc_tcb_free(e, t);
		return NULL;
	}
	t->listen_id = (uint32_t)(l - e->listeners) + 1;
	return t;
}

static void on_syn(struct xc_tcp_engine *e, struct tcp_listener *l, const struct tcp_seg *s,
		   uint64_t now_ns)
{
	l->st.syns++;
	if (l->naccept >= l->conf.backlog) {
		l->st.accept_overflow++;
		return;
	}
	if (l->nsyn >= e->cfg.syn_backlog) {
		l->st.syn_queue_overflow++;
		if (!e->cfg.syncookies)
			return;
		/* stateless answer from a block on the stack: no options a cookie
		 * cannot remember, nothing armed, nothing kept */
		struct xc_tcb t;
		memset(&t, 0, sizeof(t));
		uint32_t peer_mss = s->opt.has_mss && s->opt.mss ? s->opt.mss : XM_COOKIE_MSS_NONE;
		uint32_t index = xm_cookie_mss_index(peer_mss);
		address_reply(e, &t, s);
		t.iss = xc_syncookie_make(s->daddr, s->saddr, s->dport, s->sport, s->seq, index, now_ns);
		t.irs = s->seq;
		t.rcv_nxt = s->seq + 1;
		uint16_t our_mss = l->conf.rcv_mss;
		t.rcv_mss = our_mss < xm_cookie_mss(index) ? our_mss : xm_cookie_mss(index);
		t.rcv.cap = l->conf.rcvbuf;       /* the window offered (no storage: nothing is received) */
		xc_tcp_init_conn(e, &t, now_ns);
		tcp_queue_ctl(e, &t, XC_CTL_SYNACK, now_ns);
		l->st.cookies_sent++;
		return;
	}
	struct xc_tcb *t = new_child(e, l, s);
	if (!t)
		return;
	t->iss = xc_isn(t->local_addr, t->remote_addr, t->local_port, t->remote_port, now_ns);
	tcp_negotiate(t, &s->opt);
	t->irs = s->seq;
	t->rcv_nxt = s->seq + 1;
	xc_tcp_init_conn(e, t, now_ns);
	t->state = XC_TCP_SYN_RCVD;
	t->hs_start_ns = now_ns;
	tcp_history_in(t, s);
	l->nsyn++;
	tcp_queue_ctl(e, t, XC_CTL_SYNACK, now_ns);
	l->st.synacks++;
}

/* The child is ESTABLISHED: from the SYN queue to the accept queue. */
static void child_established(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t)
{
	l->st.established++;
	tcp_accept_push(e, l, t);
}

/* t's handshake as the cookie's that s acknowledges: our ISN is the cookie,
 * and of the peer's options only the MSS a cookie keeps.  SYN-RECEIVED. */
static void cookie_handshake(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t,
			     const struct tcp_seg *s, int index, uint64_t now_ns)
{
	t->iss = s->ack - 1;
	t->irs = s->seq - 1;
	t->rcv_nxt = s->seq;
	t->flags &= ~(XC_TF_TS_OK | XC_TF_SACK_OK | XC_TF_WS_OK);   /* a cookie keeps none */
	t->peer_mss = xm_cookie_mss((uint32_t)index);
	xc_tcp_init_conn(e, t, now_ns);
	t->rcv_wscale = 0;
	/* the window the stateless SYN-ACK offered (unscaled, as in any SYN) */
	t->rcv_adv = t->rcv_nxt + (l->conf.rcvbuf < 65535 ? l->conf.rcvbuf : 65535);
	t->state = XC_TCP_SYN_RCVD;
	/* the SYN and the cookie SYN-ACK happened without a block */
	tcp_history(t, TCP_SYN, 0, 1, 0, 0);
	tcp_history(t, TCP_SYN | TCP_ACK, 0, 1, 1, 0);
}

/* An ACK for no connection: the end of a cookie handshake, or nothing. */
static int on_bare_ack(struct xc_tcp_engine *e, struct tcp_listener *l, const struct tcp_seg *s,
		       uint64_t now_ns)
{
	if (!e->cfg.syncookies)
		return 0;
	int index = tcp_cookie_acked(s, now_ns);
	if (index < 0) {
		l->st.cookies_rejected++;
		return 0;
	}
	if (l->naccept >= l->conf.backlog) {
		l->st.accept_overflow++;
		return 1;                           /* dropped: the peer retransmits */
	}
	struct xc_tcb *t = new_child(e, l, s);
	if (!t)
		return 1;
	cookie_handshake(e, l, t, s, index, now_ns);
	l->nsyn++;
	tcp_establish(e, t, s, 0, now_ns);
	l->nsyn--;
	l->st.cookies_accepted++;
	child_established(e, l, t);
	if (s->len || (s->flags & TCP_FIN))
		tcp_input_seg(e, t, s, now_ns);
	return 1;
}

int tcp_listen_input(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns)
{
	struct tcp_listener *l = tcp_listener_for(e, s->daddr, s->dport);
	if (!l)
		return 0;
	uint8_t f = s->flags;
	if (f & TCP_RST)
		return 1;                           /* RFC 9293 §3.10.7.2: ignore */
	if ((f & TCP_SYN) && !(f & (TCP_ACK | TCP_FIN))) {
		on_syn(e, l, s, now_ns);
		return 1;
	}
	if (f & TCP_ACK) {
		if (!(f & TCP_SYN) && on_bare_ack(e, l, s, now_ns))
			return 1;
		return 0;                           /* any other ACK draws a RST */
	}
	/* no SYN, ACK or RST (FIN, NULL and Xmas scans): dropped, as Linux
	 * does, so a scan cannot tell a listening port from a filtered one */
	l->st.probes_dropped++;
	return 1;
}

int xc_listen_input(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
	struct tcp_seg s;
	if (tcp_seg_parse(frame, len, &s) < 0 || s.opt.bad)
		return -1;
	e->now_ns = now_ns;
	int took = tcp_listen_input(e, &s, now_ns);
	if (!took && !(s.flags & TCP_RST))
		tcp_queue_reset_for(e, &s);
	return took;
}

/* RFC 9293 §3.10.7.4 for SYN-RECEIVED: a listener's child, or an active
 * open after a simultaneous open (no listener). */
void tcp_syn_rcvd_input(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
			uint64_t now_ns)
{
	struct tcp_listener *l = t->listen_id ? &e->listeners[t->listen_id - 1] : NULL;
	uint32_t space = t->rcv.cap ? t->rcv.cap : 1;
	int in_window = (uint32_t)(s->seq - t->rcv_nxt) < space;
	t->c.segs_in++;
	tcp_history_in(t, s);
	if (s->flags & TCP_RST) {
		if (!in_window)
			return;
		if (l)
			tcb_set_state(e, t, XC_TCP_CLOSED);    /* reaped after the batch */
		else
			tcp_refused(e, t);
		return;
	}
	if (s->flags & TCP_SYN) {
		if (s->seq == t->irs && !(s->flags & TCP_ACK)) {
			if (l)
				l->st.syn_retransmits_seen++;
			tcp_queue_ctl(e, t, XC_CTL_SYNACK, now_ns);
		} else if (!l && (s->flags & TCP_ACK) && s->ack == t->snd_nxt) {
			/* the peer's SYN-ACK crossing ours */
			t->rcv_adv = t->rcv_nxt;
			tcp_establish(e, t, s, 0, now_ns);
			tcp_queue_ctl(e, t, XC_CTL_ACK, now_ns);
			tcb_event(e, t, XC_EV_WRITABLE);
		}
		return;
	}
	if (!(s->flags & TCP_ACK))
		return;
	if (s->ack != t->snd_nxt) {
		/* the peer's retransmitted SYN was answered by the XDP program
		 * with a cookie (it cannot know this child): the peer took that
		 * handshake, so the child takes it too */
		int index = l && e->cfg.syncookies && s->seq - 1 == t->irs ?
			    tcp_cookie_acked(s, now_ns) : -1;
		if (index < 0) {
			tcp_queue_reset_for(e, s);
			return;
		}
		cookie_handshake(e, l, t, s, index, now_ns);
		l->st.cookies_accepted++;
	}
	if (!in_window)
		return;
	if ((t->flags & XC_TF_TS_OK) && s->opt.has_ts)
		t->ts_recent = s->opt.tsval;
	uint64_t rtt_ns = (t->c.retrans_segs || !l) ? 0 : now_ns - t->hs_start_ns;
	tcp_establish(e, t, s, (uint32_t)(rtt_ns / 1000), now_ns);
	if (l) {
		l->nsyn--;
		child_established(e, l, t);
	} else {
		tcb_event(e, t, XC_EV_WRITABLE);
	}
	if (s->len || (s->flags & TCP_FIN))
		tcp_input_seg(e, t, s, now_ns);
}

