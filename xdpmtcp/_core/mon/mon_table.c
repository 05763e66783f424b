/* The monitor's flow table: slots, the symmetric 4-tuple hash, the lists
 * that order flows by last activity (for timeouts and eviction), creation,
 * eviction, the end of a flow, reaping and expiry.
 *
 * Every flow is on exactly one list, named by its status:
 *   ACTIVE, CLOSING   live flows, least recently active first;
 *   ENDED             CONN_END written during the current call: rings kept
 *                     until the next call so the caller can read them;
 *   LINGER            rings gone, still hashed so late packets of the
 *                     tuple are recognised (late_pkts), until linger_ns
 *                     passes or the slot is needed.
 * Slots: max_flows live + XC_MON_ENDED_MAX ended + a quarter of max_flows
 * lingering, so a live flow always finds a slot (a lingering one is
 * recycled when none is free). */
#include <stdlib.h>
#include "mon_internal.h"

#define FF_HASHED 0x80000000u   /* private flow flag: in the hash table */

/* ---- hash ---- */

static void canon(uint32_t a1, uint16_t p1, uint32_t a2, uint16_t p2, struct mon_slot *k)
{
	if (a1 < a2 || (a1 == a2 && p1 <= p2)) {
		k->a_lo = a1; k->p_lo = p1; k->a_hi = a2; k->p_hi = p2;
	} else {
		k->a_lo = a2; k->p_lo = p2; k->a_hi = a1; k->p_hi = p1;
	}
}

static uint32_t home_of(const struct xc_mon *m, const struct mon_slot *k)
{
	return xm_flow_hash(k->a_lo, k->a_hi, k->p_lo, k->p_hi) & m->mask;
}

static int same_key(const struct mon_slot *a, const struct mon_slot *b)
{
	return a->a_lo == b->a_lo && a->a_hi == b->a_hi && a->p_lo == b->p_lo && a->p_hi == b->p_hi;
}

/* The key matched: is it the flow of these addresses (IPv6: s6, d6 in
 * either direction; IPv4: NULL)? */
static int same_addrs(const struct xc_mon_flow *f, const uint8_t *s6, const uint8_t *d6)
{
	if (!s6)
		return !f->v6;
	return f->v6 && ((!memcmp(f->cli_ip6, s6, 16) && !memcmp(f->svr_ip6, d6, 16)) ||
			 (!memcmp(f->cli_ip6, d6, 16) && !memcmp(f->svr_ip6, s6, 16)));
}

struct xc_mon_flow *mon_table_lookup(struct xc_mon *m, uint32_t a1, uint16_t p1,
				     uint32_t a2, uint16_t p2, const uint8_t *s6,
				     const uint8_t *d6)
{
	struct mon_slot k;
	canon(a1, p1, a2, p2, &k);
	for (uint32_t i = home_of(m, &k);; i = (i + 1) & m->mask) {
		struct mon_slot *s = &m->table[i];
		if (!s->id)
			return NULL;
		if (same_key(s, &k) && same_addrs(&m->flows[s->id], s6, d6))
			return &m->flows[s->id];
	}
}

static void table_insert(struct xc_mon *m, struct xc_mon_flow *f)
{
	struct mon_slot k;
	canon(f->cli_addr, f->cli_port, f->svr_addr, f->svr_port, &k);
	k.id = f->id;
	uint32_t i = home_of(m, &k);
	while (m->table[i].id)           /* never full: twice the slots */
		i = (i + 1) & m->mask;
	m->table[i] = k;
	f->fflags |= FF_HASHED;
}

/* Backward-shift deletion: no tombstones. */
void mon_table_unhash(struct xc_mon *m, struct xc_mon_flow *f)
{
	if (!(f->fflags & FF_HASHED))
		return;
	f->fflags &= ~FF_HASHED;
	struct mon_slot k;
	canon(f->cli_addr, f->cli_port, f->svr_addr, f->svr_port, &k);
	uint32_t i = home_of(m, &k);
	for (;; i = (i + 1) & m->mask) {
		if (!m->table[i].id)
			return;
		if (m->table[i].id == f->id)
			break;
	}
	uint32_t hole = i;
	for (uint32_t j = (hole + 1) & m->mask; m->table[j].id; j = (j + 1) & m->mask) {
		uint32_t home = home_of(m, &m->table[j]);
		if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
			m->table[hole] = m->table[j];
			hole = j;
		}
	}
	m->table[hole].id = 0;
}

/* ---- lists ---- */

static void list_remove(struct xc_mon *m, struct xc_mon_flow *f)
{
	if (!f->list)
		return;
	struct mon_list *l = &m->lists[f->list];
	if (f->lprev)
		m->flows[f->lprev].lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext)
		m->flows[f->lnext].lprev = f->lprev;
	else
		l->tail = f->lprev;
	l->n--;
	f->list = 0;
	f->lprev = f->lnext = 0;
}

/* To the tail of list (also "touch": most recently active last). */
void mon_list_move(struct xc_mon *m, struct xc_mon_flow *f, uint32_t list)
{
	if (f->list == list && m->lists[list].tail == f->id)
		return;
	list_remove(m, f);
	struct mon_list *l = &m->lists[list];
	f->list = list;
	f->lprev = l->tail;
	f->lnext = 0;
	if (l->tail)
		m->flows[l->tail].lnext = f->id;
	else
		l->head = f->id;
	l->tail = f->id;
	l->n++;
	f->status = list;
}

uint32_t mon_live(const struct xc_mon *m)
{
	return m->lists[XC_MON_FS_ACTIVE].n + m->lists[XC_MON_FS_CLOSING].n;
}

/* ---- slots ---- */

static void flow_free(struct xc_mon *m, struct xc_mon_flow *f)
{
	mon_table_unhash(m, f);
	mon_side_release(m, f, XC_MON_CLI);
	mon_side_release(m, f, XC_MON_SVR);
	list_remove(m, f);
	f->status = XC_MON_FS_FREE;
	m->free_ids[m->nfree++] = f->id;
}

static uint32_t take_slot(struct xc_mon *m)
{
	if (!m->nfree) {
		uint32_t old = m->lists[XC_MON_FS_LINGER].head;
		if (!old)
			return 0;
		flow_free(m, &m->flows[old]);
	}
	return m->free_ids[--m->nfree];
}

struct xc_mon_flow *mon_flow_create(struct xc_mon *m, const struct tcp_seg *g,
				    int cli_is_sender, uint64_t ts)
{
	if (mon_live(m) >= m->cfg.max_flows) {
		uint32_t victim = m->lists[XC_MON_FS_CLOSING].head;
		if (!victim)
			victim = m->lists[XC_MON_FS_ACTIVE].head;
		if (m->cfg.table_policy == XC_MON_TABLE_REFUSE || !victim) {
			m->st.flows_refused++;
			return NULL;
		}
		mon_end(m, &m->flows[victim], XC_MON_END_EVICTED);
	}
	uint32_t id = take_slot(m);
	if (!id) {
		m->st.flows_refused++;
		return NULL;
	}
	struct xc_mon_flow *f = &m->flows[id];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->uid = ++m->next_uid;
	f->cli_addr = cli_is_sender ? g->saddr : g->daddr;
	f->cli_port = cli_is_sender ? g->sport : g->dport;
	f->svr_addr = cli_is_sender ? g->daddr : g->saddr;
	f->svr_port = cli_is_sender ? g->dport : g->sport;
	if (g->v6) {
		f->v6 = 1;
		memcpy(f->cli_ip6, g->ip + (cli_is_sender ? 8 : 24), 16);
		memcpy(f->svr_ip6, g->ip + (cli_is_sender ? 24 : 8), 16);
		m->st.flows_ipv6++;
	}
	f->first_ns = f->last_ns = ts;
	mon_side_init(m, f, XC_MON_CLI);
	mon_side_init(m, f, XC_MON_SVR);
	f->side[XC_MON_CLI].state = XC_TCP_CLOSED;
	f->side[XC_MON_SVR].state = XC_TCP_LISTEN;
	if (!mon_filter_pass_flow(m, f)) {
		/* tracked silently: its packets are its own, not orphans */
		for (int s = 0; s < 2; s++) {
			f->side[s].buf_want = 0;
			f->side[s].sflags |= XC_MON_SF_STOPPED;
		}
		m->st.flows_filtered++;
	}
	table_insert(m, f);
	mon_list_move(m, f, XC_MON_FS_CLOSING);    /* no handshake yet */
	m->st.flows_created++;
	uint32_t live = mon_live(m);
	m->st.flows_live = live;
	if (live > m->st.flows_peak)
		m->st.flows_peak = live;
	return f;
}

/* ---- the end of a flow ---- */

/* Its streams finished (everything stored becomes DATA/GAP), CONN_END,
 * and onto the ENDED list until the next call. */
void mon_end(struct xc_mon *m, struct xc_mon_flow *f, uint32_t reason)
{
	if (f->status != XC_MON_FS_ACTIVE && f->status != XC_MON_FS_CLOSING)
		return;
	mon_stream_finish(m, f, XC_MON_CLI);
	mon_stream_finish(m, f, XC_MON_SVR);
	uint64_t gaps = f->side[XC_MON_CLI].gap_bytes + f->side[XC_MON_SVR].gap_bytes;
	m->st.gap_bytes += gaps;
	m->st.flows_gapped += gaps != 0;
	f->end_reason = reason;
	mon_emit(m, XC_MON_EV_CONN_END, f, XC_MON_BOTH, XC_MON_HK_NULL, (uint16_t)reason, 0, 0);
	mon_list_move(m, f, XC_MON_FS_ENDED);
	m->st.flows_ended++;
	switch (reason) {
	case XC_MON_END_FIN: m->st.end_fin++; break;
	case XC_MON_END_RST: m->st.end_rst++; break;
	case XC_MON_END_TIMEOUT: m->st.end_timeout++; break;
	case XC_MON_END_EVICTED: m->st.end_evicted++; break;
	case XC_MON_END_FLUSH: m->st.end_flush++; break;
	case XC_MON_END_REUSED: m->st.end_reused++; break;
	}
	m->st.flows_live = mon_live(m);
}

/* ---- the start of every call ---- */

void mon_reap(struct xc_mon *m)
{
	uint32_t id;
	while ((id = m->lists[XC_MON_FS_ENDED].head)) {
		struct xc_mon_flow *f = &m->flows[id];
		mon_side_release(m, f, XC_MON_CLI);
		mon_side_release(m, f, XC_MON_SVR);
		if (f->fflags & FF_HASHED)
			mon_list_move(m, f, XC_MON_FS_LINGER);
		else
			flow_free(m, f);
	}
	while ((id = m->lists[XC_MON_FS_LINGER].head)) {
		struct xc_mon_flow *f = &m->flows[id];
		if (f->last_ns + m->cfg.linger_ns > m->clock_ns)
			break;
		flow_free(m, f);
	}
}

static int room_for_end(const struct xc_mon *m)
{
	return m->nev + m->ev_reserve <= m->maxev &&
	       m->lists[XC_MON_FS_ENDED].n + 2 < XC_MON_ENDED_MAX &&
	       (!m->out || m->out_used + 2ull * m->buf_max + XC_FRAME_MAX <= m->cfg.out_cap);
}

uint64_t mon_next_deadline(const struct xc_mon *m)
{
	uint64_t d = UINT64_MAX;
	uint32_t id = m->lists[XC_MON_FS_CLOSING].head;
	if (id)
		d = m->flows[id].last_ns + m->cfg.close_timeout_ns;
	id = m->lists[XC_MON_FS_ACTIVE].head;
	if (id && m->flows[id].last_ns + m->cfg.idle_timeout_ns < d)
		d = m->flows[id].last_ns + m->cfg.idle_timeout_ns;
	return d;
}

int mon_expire(struct xc_mon *m, uint64_t now)
{
	static const uint32_t lists[2] = { XC_MON_FS_CLOSING, XC_MON_FS_ACTIVE };
	for (int i = 0; i < 2; i++) {
		uint64_t limit = lists[i] == XC_MON_FS_CLOSING ? m->cfg.close_timeout_ns
							       : m->cfg.idle_timeout_ns;
		uint32_t id;
		while ((id = m->lists[lists[i]].head)) {
			struct xc_mon_flow *f = &m->flows[id];
			if (f->last_ns + limit > now)
				break;
			if (!room_for_end(m))
				return 0;
			mon_emit(m, XC_MON_EV_TIMEOUT, f, XC_MON_BOTH, XC_MON_HK_NULL, 0,
				 f->last_ns, now - f->last_ns);
			mon_end(m, f, XC_MON_END_TIMEOUT);
		}
	}
	return 1;
}
