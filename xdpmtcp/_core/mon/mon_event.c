/* What the monitor reports: event records (mon_emit, into the caller's
 * array during a call, of the kinds the flow's listeners want) and each flow's Zeek-like history string.  Every
 * other monitor file reports through here. */
#include "mon_internal.h"

struct xc_mon_event *mon_emit(struct xc_mon *m, uint32_t kind, const struct xc_mon_flow *f,
			      int side, int hook, uint16_t code, uint64_t arg, uint64_t val)
{
	/* first: a flow's listeners are chosen at its first event, wanted or not */
	if (f && !(mon_flow_events(m, &m->flows[f->id]) & kind))
		return NULL;
	if (!(m->cfg.event_mask & kind))
		return NULL;
	if (f) {
		uint32_t a = f->side[0].sflags, b = f->side[1].sflags;
		if (side < 2 ? (f->side[side].sflags & XC_MON_SF_STOPPED)
			     : (a & b & XC_MON_SF_STOPPED))
			return NULL;
	}
	if (!m->ev)
		return NULL;                   /* outside a call (application-side calls) */
	if (m->nev >= m->maxev) {
		m->st.events_lost++;
		return NULL;
	}
	struct xc_mon_event *e = &m->ev[m->nev++];
	e->kind = kind;
	e->flow = f ? f->id : 0;
	e->pkt = m->cur_pkt;
	e->side = (uint8_t)side;
	e->hook = (uint8_t)hook;
	e->code = code;
	e->arg = arg;
	e->val = val;
	e->pos = 0;
	e->pad = 0;
	m->st.events++;
	return e;
}

/* ---- history: s h a d f r once per direction; t g w at 1, 10, 100... ---- */

void mon_hist(struct xc_mon_flow *f, int sender, char letter)
{
	static const char letters[] = "shadfrtgw";
	const char *p = strchr(letters, letter);
	if (!p || !letter)
		return;
	uint32_t idx = (uint32_t)(p - letters), dir = sender == XC_MON_CLI ? 0 : 1;
	if (idx >= 6) {
		uint32_t c = ++f->hist_cnt[(idx - 6) + 3 * dir];
		while (c % 10 == 0)
			c /= 10;
		if (c != 1)
			return;
	} else {
		uint32_t bit = 1u << (idx + 9 * dir);
		if (f->hist_seen & bit)
			return;
		f->hist_seen |= bit;
	}
	if (f->nhist < XC_MON_HISTORY_MAX) {
		f->history[f->nhist++] = dir == 0 ? (char)(letter - 'a' + 'A') : letter;
		f->history[f->nhist] = 0;
	}
}
