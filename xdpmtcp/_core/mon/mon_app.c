/* What the application calls on the monitor's flows between batches:
 * reading them (the output buffer, a flow by id or by its 4-tuple, IPv4 or
 * IPv6, the ids in the table, the counters) and steering them (buffer
 * sizes, the event mask, overlap policy, stop, consume). */
#include "mon_internal.h"

/* ---- reading flows ---- */

const uint8_t *xc_mon_out(struct xc_mon *m)
{
	return m ? m->out : NULL;
}

struct xc_mon_flow *xc_mon_flow_get(struct xc_mon *m, uint32_t id)
{
	if (!m || !id || id > m->nslots)
		return NULL;
	struct xc_mon_flow *f = &m->flows[id];
	return f->status == XC_MON_FS_FREE ? NULL : f;
}

static struct xc_mon_flow *live_only(struct xc_mon_flow *f)
{
	return f && (f->status == XC_MON_FS_ACTIVE || f->status == XC_MON_FS_CLOSING ||
		     f->status == XC_MON_FS_ENDED) ? f : NULL;
}

struct xc_mon_flow *xc_mon_lookup(struct xc_mon *m, uint32_t a1, uint16_t p1,
				  uint32_t a2, uint16_t p2)
{
	return m ? live_only(mon_table_lookup(m, a1, p1, a2, p2, NULL, NULL)) : NULL;
}

struct xc_mon_flow *xc_mon_lookup6(struct xc_mon *m, const uint8_t *a1, uint16_t p1,
				   const uint8_t *a2, uint16_t p2)
{
	if (!m || !a1 || !a2)
		return NULL;
	return live_only(mon_table_lookup(m, wire_fold6(a1), p1, wire_fold6(a2), p2, a1, a2));
}

void xc_mon_get_stats(struct xc_mon *m, struct xc_mon_stats *out)
{
	m->st.flows_live = mon_live(m);
	*out = m->st;
}

uint32_t xc_mon_flow_count(struct xc_mon *m)
{
	return m ? mon_live(m) : 0;
}

uint32_t xc_mon_flow_ids(struct xc_mon *m, uint32_t *cursor, uint32_t *ids, uint32_t max)
{
	uint32_t n = 0, id = *cursor ? *cursor : 1;
	for (; m && id <= m->nslots && n < max; id++)
		if (m->flows[id].status != XC_MON_FS_FREE)
			ids[n++] = id;
	*cursor = id;
	return n;
}

/* ---- steering a flow ---- */

static struct xc_mon_flow *live_flow(struct xc_mon *m, uint32_t id)
{
	struct xc_mon_flow *f = xc_mon_flow_get(m, id);
	return f && (f->status == XC_MON_FS_ACTIVE || f->status == XC_MON_FS_CLOSING) ? f : NULL;
}

int xc_mon_set_buf(struct xc_mon *m, uint32_t id, int side, uint32_t cap)
{
	struct xc_mon_flow *f = live_flow(m, id);
	if (!f || side < 0 || side > 1 || cap > (1u << 30))
		return -1;
	if (m->out && 4ull * cap + 4ull * XC_FRAME_MAX + (1u << 16) > m->cfg.out_cap)
		return -1;                     /* DRAIN output sized for the configured caps */
	struct xc_mon_side *s = &f->side[side];
	struct xc_ring *r = &s->rcv;
	if (cap < r->cap) {
		if (cap == 0 && (m->cfg.flags & XC_MON_F_DRAIN))
			mon_stream_drain(m, f, side, 1);
		uint32_t old = r->cap;
		if (xc_ring_resize(r, cap) < 0)
			return -1;
		m->st.mem_used -= old - cap;
	}
	s->buf_want = cap;
	if (cap > m->buf_max)
		m->buf_max = cap;
	return 0;
}

void xc_mon_set_event_mask(struct xc_mon *m, uint32_t mask)
{
	if (m)
		m->cfg.event_mask = mask;
}

int xc_mon_set_overlap(struct xc_mon *m, uint32_t id, int side, uint32_t policy)
{
	struct xc_mon_flow *f = live_flow(m, id);
	if (!f || side < 0 || side > 1)
		return -1;
	return xc_ring_set_policy(&f->side[side].rcv, policy);
}

int xc_mon_stop(struct xc_mon *m, uint32_t id, int side)
{
	struct xc_mon_flow *f = live_flow(m, id);
	if (!f || side < 0 || side > XC_MON_BOTH)
		return -1;
	for (int s = 0; s < 2; s++) {
		if (side != XC_MON_BOTH && side != s)
			continue;
		struct xc_ring *r = &f->side[s].rcv;
		m->st.mem_used -= r->cap;
		xc_ring_resize(r, 0);
		f->side[s].buf_want = 0;
		f->side[s].sflags = (f->side[s].sflags | XC_MON_SF_STOPPED) & ~SF_DIRTY;
	}
	return 0;
}

int64_t xc_mon_consume(struct xc_mon *m, uint32_t id, int side, uint64_t n)
{
	struct xc_mon_flow *f = xc_mon_flow_get(m, id);
	if (!f || side < 0 || side > 1 || f->status == XC_MON_FS_LINGER)
		return -1;
	struct xc_ring *r = &f->side[side].rcv;
	uint32_t k = xc_ring_consume(r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	f->side[side].delivered += k;
	if (f->status != XC_MON_FS_ENDED)
		mon_stream_settle(m, f, side, XC_MON_HK_NULL);
	return k;
}
