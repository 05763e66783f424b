/* The monitor object and its batch entry points: configuration, one call
 * per burst (frames -> flows -> emulated endpoints -> events), timeouts,
 * flush.  What the application calls on flows between batches is in
 * mon_app.c. */
#include <stdlib.h>
#include <arpa/inet.h>
#include "mon_internal.h"
#include "wire/csum.h"

#define DEF_MAX_FLOWS 65536
#define MAX_FLOWS_LIMIT (1u << 24)

void xc_mon_config_default(struct xc_mon_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_flows = DEF_MAX_FLOWS;
	c->table_policy = XC_MON_TABLE_EVICT;
	c->buf_cap = 8u << 20;
	c->frag_cap = 256;
	c->mem_max = 1ull << 30;
	c->overlap = XC_OVERLAP_FIRST;
	c->flags = 0;
	c->event_mask = XC_MON_EV_ALL;
	c->out_cap = 40u << 20;
	c->idle_timeout_ns = 300ull * 1000000000ull;
	c->close_timeout_ns = 10ull * 1000000000ull;
	c->linger_ns = 2ull * 1000000000ull;
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 16;
	while (p < n && p < (1u << 31))
		p <<= 1;
	return p;
}

static uint64_t out_reserve(const struct xc_mon *m)
{
	return 4ull * m->buf_max + 4ull * XC_FRAME_MAX;
}

struct xc_mon *xc_mon_new(const struct xc_mon_config *cfg)
{
	if (!cfg || !cfg->max_flows || cfg->max_flows > MAX_FLOWS_LIMIT || !cfg->frag_cap ||
	    cfg->frag_cap > 65536 || cfg->overlap > XC_OVERLAP_WINDOWS || cfg->buf_cap > (1u << 30) ||
	    cfg->table_policy > XC_MON_TABLE_REFUSE)
		return NULL;
	struct xc_mon *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cfg = *cfg;
	m->buf_max = cfg->buf_cap;
	m->nslots = cfg->max_flows + XC_MON_ENDED_MAX + cfg->max_flows / 4 + 16;
	uint32_t tslots = pow2_at_least(2ull * m->nslots);
	m->flows = calloc(m->nslots + 1, sizeof(*m->flows));
	m->free_ids = malloc(m->nslots * sizeof(uint32_t));
	m->table = calloc(tslots, sizeof(*m->table));
	m->dirty_cap = 2 * (m->nslots + 1);
	m->dirty = malloc(m->dirty_cap * sizeof(uint32_t));
	if ((cfg->flags & XC_MON_F_DRAIN) && cfg->out_cap) {
		if (m->cfg.out_cap < out_reserve(m) + (1u << 16))
			m->cfg.out_cap = (uint32_t)(out_reserve(m) + (1u << 16));
		m->out = malloc(m->cfg.out_cap);
	}
	if (!m->flows || !m->free_ids || !m->table || !m->dirty ||
	    ((cfg->flags & XC_MON_F_DRAIN) && cfg->out_cap && !m->out)) {
		xc_mon_free(m);
		return NULL;
	}
	m->mask = tslots - 1;
	for (uint32_t i = 0; i < m->nslots; i++)
		m->free_ids[i] = m->nslots - i;     /* lowest ids first: pages touched as needed */
	m->nfree = m->nslots;
	m->ev_reserve = 8 * cfg->frag_cap + 64;
	m->cur_pkt = XC_MON_NO_PKT;
	return m;
}

void xc_mon_free(struct xc_mon *m)
{
	if (!m)
		return;
	if (m->flows) {
		for (uint32_t i = 1; i <= m->nslots; i++) {
			xc_ring_free(&m->flows[i].side[0].rcv);
			xc_ring_free(&m->flows[i].side[1].rcv);
		}
	}
	free(m->flows);
	free(m->free_ids);
	free(m->table);
	free(m->dirty);
	free(m->out);
	free(m);
}

/* ---- one frame ---- */

static int done_or_closed(uint32_t s)
{
	return s == XC_TCP_TIME_WAIT || s == XC_TCP_CLOSED;
}

/* Roles for a flow picked up mid-stream: a SYN/ACK names its sender the
 * server; otherwise a low port is the server's; otherwise the first
 * sender is the client (flagged as a guess). */
static struct xc_mon_flow *pickup(struct xc_mon *m, const struct tcp_seg *g, uint64_t ts)
{
	int sender_is_server, guessed = 0;
	uint16_t sp = ntohs(g->sport), dp = ntohs(g->dport);
	if ((g->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
		sender_is_server = 1;
	} else {
		guessed = 1;
		sender_is_server = sp < 1024 && dp >= 1024;
	}
	struct xc_mon_flow *f = mon_flow_create(m, g, !sender_is_server, ts);
	if (!f)
		return NULL;
	f->fflags |= XC_MON_FF_MIDSTREAM | (guessed ? XC_MON_FF_ROLES_GUESSED : 0);
	m->st.flows_midstream++;
	if (g->flags & TCP_SYN) {
		/* SYN/ACK: the client's SYN is missing */
		struct xc_mon_side *c = &f->side[XC_MON_CLI];
		c->iss = g->ack - 1;
		c->sflags |= XC_MON_SF_ISN_GUESSED | XC_MON_SF_SENT;
		c->snd_max = g->ack;
		f->side[XC_MON_SVR].sflags |= XC_MON_SF_BASE;
		mon_emit(m, XC_MON_EV_CONN_START, f, XC_MON_CLI, XC_MON_HK_NULL, 0, 0, 0);
		c->state = XC_TCP_SYN_SENT;
		return f;
	}
	for (int s = 0; s < 2; s++) {
		mon_emit(m, XC_MON_EV_CONN_START, f, s, XC_MON_HK_NULL, 0, 0, 0);
		f->side[s].state = XC_TCP_ESTABLISHED;
		f->side[s].sflags |= XC_MON_SF_ESTAB;
	}
	return f;
}

static void mon_frame(struct xc_mon *m, const struct xc_pkt *p, const uint8_t *frame)
{
	struct tcp_seg g;
	m->st.frames++;
	m->st.bytes += p->len;
	switch (wire_parse(frame, p->len, &g, MON_WIRE_FLAGS)) {
	case WIRE_OK: break;
	case WIRE_NOT_IPV4: m->st.not_ipv4++; return;
	case WIRE_NOT_TCP: m->st.not_tcp++; return;
	case WIRE_FRAGMENT: m->st.ip_fragments++; return;
	default: m->st.malformed++; return;
	}
	m->st.tcp_frames++;
	m->st.ipv6_frames += g.v6;
	if (g.snapped)
		m->st.snapped++;
	if ((g.flags & TCP_SYN) && (g.flags & (TCP_FIN | TCP_RST))) {
		m->st.malformed++;
		return;
	}
	if (g.opt.bad)
		m->st.bad_options++;
	if ((m->cfg.flags & XC_MON_F_VERIFY_CSUM) && !g.snapped &&
	    !(g.v6 ? wire_tcp6_csum_ok(g.ip, g.tcp, g.ip_len - g.ihl)
		   : wire_ipv4_csum_ok(g.ip, g.ihl) &&
		     wire_tcp_csum_ok(g.ip, g.tcp, g.ip_len - g.ihl))) {
		m->st.bad_csum++;
		return;
	}
	uint64_t ts = p->ts_ns ? p->ts_ns : m->clock_ns;
	if (ts > m->clock_ns)
		m->clock_ns = ts;

	struct xc_mon_flow *f = mon_table_lookup(m, g.saddr, g.sport, g.daddr, g.dport,
						 g.v6 ? g.ip + 8 : NULL, g.v6 ? g.ip + 24 : NULL);
	int pure_syn = (g.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	if (f && (f->status == XC_MON_FS_ENDED || f->status == XC_MON_FS_LINGER)) {
		int same = mon_from_client(f, &g) &&
			   (f->side[XC_MON_CLI].sflags & XC_MON_SF_SYN) &&
			   g.seq == f->side[XC_MON_CLI].iss;
		if (!pure_syn || same) {
			m->st.late_pkts++;
			return;
		}
		mon_table_unhash(m, f);       /* a new connection on the tuple */
		f = NULL;
	}
	if (f && f->status != XC_MON_FS_ENDED && f->status != XC_MON_FS_LINGER &&
	    ts > f->last_ns + (f->status == XC_MON_FS_CLOSING ? m->cfg.close_timeout_ns
							      : m->cfg.idle_timeout_ns)) {
		/* timed out before this packet (inside a burst): end it first */
		mon_emit(m, XC_MON_EV_TIMEOUT, f, XC_MON_BOTH, XC_MON_HK_NULL, 0, f->last_ns,
			 ts - f->last_ns);
		mon_end(m, f, XC_MON_END_TIMEOUT);
		mon_table_unhash(m, f);
		f = NULL;
	}
	if (f && pure_syn) {
		int sd = mon_from_client(f, &g) ? XC_MON_CLI : XC_MON_SVR;
		const struct xc_mon_side *S = &f->side[sd];
		if ((S->sflags & XC_MON_SF_SYN) && g.seq != S->iss) {
			const struct xc_mon_side *c = &f->side[0], *s = &f->side[1];
			if (((c->sflags | s->sflags) & (XC_MON_SF_FIN | XC_MON_SF_RST)) ||
			    (done_or_closed(c->state) && done_or_closed(s->state))) {
				mon_end(m, f, XC_MON_END_REUSED);
				mon_table_unhash(m, f);
				f = NULL;
			} else {
				m->st.syn_ignored++;
				mon_emit(m, XC_MON_EV_ERROR, f, sd ^ 1, XC_MON_HK_RCV, XC_MON_ERR_BAD_SYN,
					 g.seq, 0);
				return;
			}
		}
	}
	if (!f) {
		if (pure_syn)
			f = mon_flow_create(m, &g, 1, ts);
		else if ((m->cfg.flags & XC_MON_F_MIDSTREAM) && !(g.flags & TCP_RST))
			f = pickup(m, &g, ts);
		else {
			m->st.orphans++;
			if (mon_filter_pass_seg(m, &g))
				mon_emit(m, XC_MON_EV_ORPHAN, NULL, XC_MON_NOSIDE, XC_MON_HK_NULL, 0, 0, 0);
			return;
		}
		if (!f)
			return;
	}
	int sd = mon_from_client(f, &g) ? XC_MON_CLI : XC_MON_SVR;
	mon_packet(m, f, sd, &g, ts);
}

/* ---- calls ---- */

static int room(const struct xc_mon *m)
{
	return m->nev + m->ev_reserve <= m->maxev &&
	       m->lists[XC_MON_FS_ENDED].n + 2 < XC_MON_ENDED_MAX &&
	       (!m->out || m->out_used + out_reserve(m) <= m->cfg.out_cap);
}

static void begin_call(struct xc_mon *m, struct xc_mon_event *ev, uint32_t max)
{
	m->ev = ev;
	m->nev = 0;
	m->maxev = ev ? max : 0;
	m->out_used = 0;
	m->cur_pkt = XC_MON_NO_PKT;
	mon_reap(m);
}

static int end_call(struct xc_mon *m)
{
	m->cur_pkt = XC_MON_NO_PKT;
	mon_drain_dirty(m);
	m->st.flows_live = mon_live(m);
	uint32_t n = m->nev;
	m->ev = NULL;
	m->maxev = 0;
	return (int)n;
}

int xc_mon_process(struct xc_mon *m, struct xc_burst *b, struct xc_mon_event *ev,
		   uint32_t max, uint64_t now_ns)
{
	if (!m || !b)
		return -1;
	begin_call(m, ev, max);
	uint64_t now = now_ns ? now_ns : m->clock_ns;
	if (!now_ns && m->cursor < b->n && b->pkts[m->cursor].ts_ns > now)
		now = b->pkts[m->cursor].ts_ns;   /* the packet clock: the burst's first packet */
	if (!mon_expire(m, now)) {
		m->busy = 1;
		m->st.early_returns++;
		return end_call(m);
	}
	uint32_t done = 0;
	for (uint32_t i = m->cursor; i < b->n; i++) {
		if (done && !room(m)) {
			m->cursor = i;
			m->busy = 1;
			m->st.early_returns++;
			return end_call(m);
		}
		const struct xc_pkt *p = &b->pkts[i];
		if (!now_ns && p->ts_ns > mon_next_deadline(m)) {
			/* the packet clock passed a timeout inside the burst */
			m->cur_pkt = XC_MON_NO_PKT;
			if (!mon_expire(m, p->ts_ns)) {
				m->cursor = i;
				m->busy = 1;
				m->st.early_returns++;
				return end_call(m);
			}
		}
		uint32_t before = m->nev;
		m->cur_pkt = i;
		mon_frame(m, p, b->frames + p->off);
		done++;
		if ((m->cfg.flags & XC_MON_F_STEP) && m->nev > before && i + 1 < b->n) {
			m->cursor = i + 1;
			m->busy = 1;
			return end_call(m);
		}
	}
	m->cursor = 0;
	m->busy = 0;
	return end_call(m);
}

int xc_mon_busy(struct xc_mon *m)
{
	return m ? m->busy : 0;
}

uint32_t xc_mon_events_min(struct xc_mon *m)
{
	return m ? m->ev_reserve : 0;
}

int xc_mon_expire(struct xc_mon *m, struct xc_mon_event *ev, uint32_t max, uint64_t now_ns)
{
	if (!m)
		return -1;
	begin_call(m, ev, max);
	m->busy = !mon_expire(m, now_ns ? now_ns : m->clock_ns);
	return end_call(m);
}

int xc_mon_flush(struct xc_mon *m, struct xc_mon_event *ev, uint32_t max)
{
	if (!m)
		return -1;
	begin_call(m, ev, max);
	m->busy = 0;
	m->cursor = 0;
	static const uint32_t lists[2] = { XC_MON_FS_CLOSING, XC_MON_FS_ACTIVE };
	for (int i = 0; i < 2; i++) {
		uint32_t id;
		while ((id = m->lists[lists[i]].head)) {
			if (m->nev && !room(m)) {
				m->busy = 1;
				return end_call(m);
			}
			mon_end(m, &m->flows[id], XC_MON_END_FLUSH);
		}
	}
	return end_call(m);
}
