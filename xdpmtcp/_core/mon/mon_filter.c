/* The monitor's flow filters: the packet-filter VM (filter.c) run on a
 * flow's 4-tuple once per new flow and per orphan, never per packet of a
 * known flow: the --filter, and the SYN filters of the mOS dialect's
 * listeners (which pick the events a flow raises, api_mon.h). */
#include "mon_internal.h"

int xc_mon_set_filter(struct xc_mon *m, const struct xc_filter *filter)
{
	if (!m || (filter && xc_filter_check(filter) < 0))
		return -1;
	if (filter)
		m->filter = *filter;
	m->has_filter = filter != NULL;
	return 0;
}

/* A flow filter's verdict on a flow, its client as src, IPv4 or IPv6. */
static int match_flow(const struct xc_filter *flt, const struct xc_mon_flow *f)
{
	if (f->v6)
		return xc_filter_match_tuple6(flt, 6, f->cli_ip6, f->cli_port, f->svr_ip6, f->svr_port);
	return xc_filter_match_tuple(flt, f->cli_addr, f->cli_port, f->svr_addr, f->svr_port);
}

int mon_filter_pass_flow(const struct xc_mon *m, const struct xc_mon_flow *f)
{
	return !m->has_filter || match_flow(&m->filter, f);
}

int mon_filter_pass_seg(const struct xc_mon *m, const struct tcp_seg *g)
{
	if (!m->has_filter)
		return 1;
	if (g->v6)
		return xc_filter_match_tuple6(&m->filter, 6, g->ip + 8, g->sport, g->ip + 24, g->dport);
	return xc_filter_match_tuple(&m->filter, g->saddr, g->sport, g->daddr, g->dport);
}

int xc_mon_listen(struct xc_mon *m, uint32_t slot, const struct xc_filter *syn, uint32_t events)
{
	if (!m || slot >= XC_MON_MAX_LISTENERS || (syn && xc_filter_check(syn) < 0))
		return -1;
	uint32_t bit = 1u << slot;
	if (!(m->listen_used & bit)) {
		m->listen_used |= bit;
		m->listen_since[slot] = ++m->listen_gen;
	}
	m->listen_has_syn &= ~bit;
	if (syn) {
		m->listen_syn[slot] = *syn;
		m->listen_has_syn |= bit;
	}
	m->listen_events[slot] = events;
	m->listen_events_gen++;
	return 0;
}

int xc_mon_listen_only(struct xc_mon *m)
{
	if (!m)
		return -1;
	m->listen_only = 1;
	m->listen_gen += !m->listen_gen;     /* flows are chosen (for none) from now on */
	m->listen_events_gen++;
	return 0;
}

int xc_mon_unlisten(struct xc_mon *m, uint32_t slot)
{
	if (!m || slot >= XC_MON_MAX_LISTENERS)
		return -1;
	m->listen_used &= ~(1u << slot);
	m->listen_events_gen++;
	return 0;
}

int xc_mon_flow_events(struct xc_mon *m, uint32_t id, uint32_t events)
{
	if (!m || !id || id > m->nslots || m->flows[id].status == XC_MON_FS_FREE)
		return -1;
	m->flows[id].watch_events = events;
	return 0;
}

static void choose_listeners(struct xc_mon *m, struct xc_mon_flow *f)
{
	f->listen_gen = m->listen_gen;
	for (uint32_t s = 0; s < XC_MON_MAX_LISTENERS; s++) {
		uint32_t bit = 1u << s;
		if ((m->listen_used & bit) &&
		    (!(m->listen_has_syn & bit) || match_flow(&m->listen_syn[s], f)))
			f->listeners |= bit;
	}
	if (f->listeners)
		return;
	/* nobody watches it: tracked silently from here on (its first event:
	 * nothing is buffered yet, so there is no ring to release) */
	for (int s = 0; s < 2; s++) {
		f->side[s].buf_want = 0;
		f->side[s].sflags |= XC_MON_SF_STOPPED;
	}
}

uint32_t mon_flow_events(struct xc_mon *m, struct xc_mon_flow *f)
{
	if (!m->listen_used && !m->listen_only)
		return XC_MON_EV_ALL;
	if (!f->listen_gen)
		choose_listeners(m, f);
	if (f->events_gen != m->listen_events_gen) {
		/* listeners closed since, or slots taken again by newer ones, go */
		uint32_t ev = 0, valid = 0;
		for (uint32_t s = 0; s < XC_MON_MAX_LISTENERS; s++)
			if ((m->listen_used & (1u << s)) && m->listen_since[s] <= f->listen_gen)
				valid |= 1u << s;
		f->listeners &= valid;
		for (uint32_t s = 0; s < XC_MON_MAX_LISTENERS; s++)
			if (f->listeners & (1u << s))
				ev |= m->listen_events[s];
		f->listen_events = ev;
		f->events_gen = m->listen_events_gen;
	}
	return f->listen_events | f->watch_events;
}
