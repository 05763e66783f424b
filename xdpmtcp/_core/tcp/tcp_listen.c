/* Passive open, all in C: listeners, their SYN queue (half-open children,
 * capped by syn_backlog; SYN cookies beyond it) and accept queue (capped by
 * the backlog; SYNs dropped when full, as Linux does), SYN-RECEIVED, and
 * the answer to segments that match a listener but no connection.
 *
 * A child belongs to its listener (tcb->listen_id) until accepted; if it
 * closes before that (RST, SYN-ACK retries exhausted) it is freed here at
 * the end of the batch, so Python never sees it. */
#include <stdlib.h>
#include "tcp_internal.h"
#include "xdpmtcp_syncookie.h"

/* --- table ------------------------------------------------------------------ */

static uint32_t listen_slot(const struct xc_tcp_engine *e, uint32_t addr, uint16_t port)
{
	return xm_flow_hash(addr, 0, port, 0) & e->listen_mask;
}

static int listen_find(const struct xc_tcp_engine *e, uint32_t addr, uint16_t port)
{
	for (uint32_t i = listen_slot(e, addr, port);; i = (i + 1) & e->listen_mask) {
		uint32_t v = e->listen_hash[i];
		if (!v)
			return -1;
		const struct tcp_listener *l = &e->listeners[v - 1];
		if (l->addr == addr && l->port == port)
			return (int)v - 1;
	}
}

/* The listener for a segment to addr:port: that address first, then any. */
static struct tcp_listener *listener_for(struct xc_tcp_engine *e, uint32_t addr, uint16_t port)
{
	int id = listen_find(e, addr, port);
	if (id < 0)
		id = listen_find(e, 0, port);
	return id < 0 ? NULL : &e->listeners[id];
}

static void hash_remove(struct xc_tcp_engine *e, uint32_t id)
{
	const struct tcp_listener *l = &e->listeners[id];
	uint32_t i = listen_slot(e, l->addr, l->port);
	while (e->listen_hash[i] != id + 1)
		i = (i + 1) & e->listen_mask;
	/* backward shift, as the flow table does: no tombstones */
	uint32_t hole = i;
	for (uint32_t j = (hole + 1) & e->listen_mask; e->listen_hash[j]; j = (j + 1) & e->listen_mask) {
		const struct tcp_listener *m = &e->listeners[e->listen_hash[j] - 1];
		uint32_t home = listen_slot(e, m->addr, m->port);
		if (((j - home) & e->listen_mask) >= ((j - hole) & e->listen_mask)) {
			e->listen_hash[hole] = e->listen_hash[j];
			hole = j;
		}
	}
	e->listen_hash[hole] = 0;
}

int tcp_listen_init(struct xc_tcp_engine *e)
{
	uint32_t n = e->cfg.max_listeners ? e->cfg.max_listeners : 64;
	uint32_t slots = 16;
	while (slots < 2 * n)
		slots <<= 1;
	e->cfg.max_listeners = n;
	e->listeners = calloc(n, sizeof(*e->listeners));
	e->listen_hash = calloc(slots, sizeof(uint32_t));
	e->lev_list = calloc(n, sizeof(uint32_t));
	e->reap_list = calloc(e->cfg.max_tcbs, sizeof(uint32_t));
	e->listen_mask = slots - 1;
	return e->listeners && e->listen_hash && e->lev_list && e->reap_list ? 0 : -1;
}

void tcp_listen_free(struct xc_tcp_engine *e)
{
	free(e->listeners);
	free(e->listen_hash);
	free(e->lev_list);
	free(e->reap_list);
}

static struct tcp_listener *listener_get(struct xc_tcp_engine *e, int id)
{
	if (id < 0 || (uint32_t)id >= e->cfg.max_listeners || !e->listeners[id].used)
		return NULL;
	return &e->listeners[id];
}

int xc_listen_open(struct xc_tcp_engine *e, uint32_t addr, uint16_t port,
		   const struct xc_listen_conf *conf)
{
	if (listen_find(e, addr, port) >= 0)
		return -1;
	for (uint32_t id = 0; id < e->cfg.max_listeners; id++) {
		struct tcp_listener *l = &e->listeners[id];
		if (l->used)
			continue;
		memset(l, 0, sizeof(*l));
		l->used = 1;
		l->addr = addr;
		l->port = port;
		l->conf = *conf;
		uint32_t i = listen_slot(e, addr, port);
		while (e->listen_hash[i])
			i = (i + 1) & e->listen_mask;
		e->listen_hash[i] = id + 1;
		return (int)id;
	}
	return -1;
}

void xc_listen_configure(struct xc_tcp_engine *e, int id, const struct xc_listen_conf *conf)
{
	struct tcp_listener *l = listener_get(e, id);
	if (l)
		l->conf = *conf;
}

void xc_listen_get_stats(struct xc_tcp_engine *e, int id, struct xc_listen_stats *out)
{
	struct tcp_listener *l = listener_get(e, id);
	if (l)
		*out = l->st;
	else
		memset(out, 0, sizeof(*out));
}

uint32_t xc_listen_pending(struct xc_tcp_engine *e, int id)
{
	struct tcp_listener *l = listener_get(e, id);
	return l ? l->naccept : 0;
}

/* --- accept queue ----------------------------------------------------------------- */

static void accept_push(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t)
{
	t->q_next = 0;
	t->q_prev = l->q_tail;
	if (l->q_tail)
		e->tcbs[l->q_tail]->q_next = t->id;
	else
		l->q_head = t->id;
	l->q_tail = t->id;
	l->naccept++;
	if (!l->event_queued) {
		l->event_queued = 1;
		e->lev_list[e->nlev++] = (uint32_t)(l - e->listeners);
	}
}

static void accept_unlink(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t)
{
	if (t->q_prev)
		e->tcbs[t->q_prev]->q_next = t->q_next;
	else
		l->q_head = t->q_next;
	if (t->q_next)
		e->tcbs[t->q_next]->q_prev = t->q_prev;
	else
		l->q_tail = t->q_prev;
	t->q_prev = t->q_next = 0;
	l->naccept--;
}

struct xc_tcb *xc_listen_accept(struct xc_tcp_engine *e, int id, struct xc_tcp_ident *who)
{
	struct tcp_listener *l = listener_get(e, id);
	if (!l || !l->q_head)
		return NULL;
	struct xc_tcb *t = e->tcbs[l->q_head];
	accept_unlink(e, l, t);
	t->listen_id = 0;                 /* Python's from now on */
	who->id = t->id;
	who->local_addr = t->local_addr;
	who->remote_addr = t->remote_addr;
	who->local_port = t->local_port;
	who->remote_port = t->remote_port;
	return t;
}

/* Drained by xc_engine_events after the connections' own events. */
uint32_t tcp_listen_events(struct xc_tcp_engine *e, uint32_t *ids, uint32_t *bits, uint32_t max)
{
	uint32_t n = e->nlev < max ? e->nlev : max;
	for (uint32_t i = 0; i < n; i++) {
		ids[i] = e->lev_list[i] | XC_LISTEN_EVENT;
		bits[i] = XC_EV_READABLE;
		e->listeners[e->lev_list[i]].event_queued = 0;
	}
	memmove(e->lev_list, e->lev_list + n, (e->nlev - n) * sizeof(uint32_t));
	e->nlev -= n;
	return n;
}

/* --- children ---------------------------------------------------------------------- */

void tcp_listen_child_closed(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (t->queued & Q_REAP)
		return;
	t->queued |= Q_REAP;
	e->reap_list[e->nreap++] = t->id;
}

void tcp_listen_reap(struct xc_tcp_engine *e)
{
	for (uint32_t i = 0; i < e->nreap; i++) {
		struct xc_tcb *t = e->tcbs[e->reap_list[i]];
		if (!t || !t->listen_id)
			continue;
		struct tcp_listener *l = &e->listeners[t->listen_id - 1];
		if (t->q_prev || t->q_next || l->q_head == t->id) {
			accept_unlink(e, l, t);
			l->st.aborted_unaccepted++;
		} else {
			l->nsyn--;
			l->st.half_open_failed++;
		}
		t->listen_id = 0;
		xc_tcb_free(e, t);
	}
	e->nreap = 0;
}

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
	struct xc_bufpool_stats pool;
	xc_bufpool_get_stats(e->pool, &pool);
	if (pool.bytes_in_use + c->rcvbuf + c->sndbuf > e->cfg.buffer_memory_max) {
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
	l->nsyn++;
	tcp_queue_ctl(e, t, XC_CTL_SYNACK, now_ns);
	l->st.synacks++;
}

/* The child is ESTABLISHED: from the SYN queue to the accept queue. */
static void child_established(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t)
{
	l->st.established++;
	accept_push(e, l, t);
}

/* The MSS index of the SYN cookie s acknowledges (ack - 1, for the SYN
 * seq - 1), or -1: not a cookie of ours (the C listener's or the XDP
 * program's, bpf/xdpmtcp_syncookie.h). */
static int cookie_acked(const struct tcp_seg *s, uint64_t now_ns)
{
	if ((s->flags & (TCP_SYN | TCP_RST | TCP_ACK)) != TCP_ACK)
		return -1;
	return xc_syncookie_check(s->daddr, s->saddr, s->dport, s->sport, s->seq - 1, s->ack - 1,
				  now_ns);
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
}

/* An ACK for no connection: the end of a cookie handshake, or nothing. */
static int on_bare_ack(struct xc_tcp_engine *e, struct tcp_listener *l, const struct tcp_seg *s,
		       uint64_t now_ns)
{
	if (!e->cfg.syncookies)
		return 0;
	int index = cookie_acked(s, now_ns);
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

/* A segment for a tuple in TIME-WAIT that acknowledges a SYN cookie: the
 * peer opened a new connection and the XDP program, which cannot know the
 * tuple, answered its SYN.  Python releases the old block and hands the
 * segment to the listener (Engine._slow_path), as for a SYN in TIME-WAIT. */
int tcp_listen_cookie_in_timewait(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns)
{
	if (!e->cfg.syncookies || !listener_for(e, s->daddr, s->dport))
		return 0;
	return cookie_acked(s, now_ns) >= 0;
}

int tcp_listen_input(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns)
{
	struct tcp_listener *l = listener_for(e, s->daddr, s->dport);
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
		int index = l && e->cfg.syncookies && s->seq - 1 == t->irs ? cookie_acked(s, now_ns) : -1;
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

void xc_listen_close(struct xc_tcp_engine *e, int id, uint64_t now_ns)
{
	struct tcp_listener *l = listener_get(e, id);
	if (!l)
		return;
	e->now_ns = now_ns;
	/* every child not accepted is reset: SYN-RECEIVED ones and the queue */
	for (uint32_t i = 1; i <= e->cfg.max_tcbs; i++) {
		struct xc_tcb *t = e->tcbs[i];
		if (!t || t->listen_id != (uint32_t)id + 1)
			continue;
		tcp_queue_ctl(e, t, XC_CTL_RST, now_ns);
		t->listen_id = 0;
		xc_tcb_free(e, t);
	}
	for (uint32_t i = 0; i < e->nlev; i++) {
		if (e->lev_list[i] == (uint32_t)id) {
			e->lev_list[i] = e->lev_list[--e->nlev];
			break;
		}
	}
	hash_remove(e, (uint32_t)id);
	l->used = 0;
	tcp_tx_flush(e);
	xc_port_flush(e->port);
}
