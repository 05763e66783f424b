/* The monitor's flow filter: the packet-filter VM (filter.c) run on a
 * flow's 4-tuple once per new flow and per orphan, never per packet of a
 * known flow. */
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

int mon_filter_pass(const struct xc_mon *m, uint32_t a1, uint16_t p1, uint32_t a2, uint16_t p2)
{
	return !m->has_filter || xc_filter_match_tuple(&m->filter, a1, p1, a2, p2);
}
