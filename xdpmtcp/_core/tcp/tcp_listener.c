/* The listeners: their table (addr:port, or any address), their accept
 * queues, the children that die before accept (freed here at the end of
 * the batch, so Python never sees them), the SYN cookies a tuple in
 * TIME-WAIT may be acknowledging, and closing a listener.  What arrives
 * for a listener is tcp_listen.c's (passive open). */
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
struct tcp_listener *tcp_listener_for(struct xc_tcp_engine *e, uint32_t addr, uint16_t port)
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

void tcp_accept_push(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t)
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

/* --- cookies ------------------------------------------------------------------------ */

/* The MSS index of the SYN cookie s acknowledges (ack - 1, for the SYN
 * seq - 1), or -1: not a cookie of ours (the C listener's or the XDP
 * program's, bpf/xdpmtcp_syncookie.h). */
int tcp_cookie_acked(const struct tcp_seg *s, uint64_t now_ns)
{
	if ((s->flags & (TCP_SYN | TCP_RST | TCP_ACK)) != TCP_ACK)
		return -1;
	return xc_syncookie_check(s->daddr, s->saddr, s->dport, s->sport, s->seq - 1, s->ack - 1,
				  now_ns);
}

/* A segment for a tuple in TIME-WAIT that acknowledges a SYN cookie: the
 * peer opened a new connection and the XDP program, which cannot know the
 * tuple, answered its SYN.  Python releases the old block and hands the
 * segment to the listener (Engine._slow_path), as for a SYN in TIME-WAIT. */
int tcp_listen_cookie_in_timewait(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns)
{
	if (!e->cfg.syncookies || !tcp_listener_for(e, s->daddr, s->dport))
		return 0;
	return tcp_cookie_acked(s, now_ns) >= 0;
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
