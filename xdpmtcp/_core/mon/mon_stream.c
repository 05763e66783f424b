/* One emulated endpoint's receive stream: the xc_ring (api_ring.h) that
 * holds what the peer sent, grown on demand under the per-side and global
 * caps, drained to the output buffer, and its holes skipped when the
 * capture proves it lacks them. */
#include <stdlib.h>
#include "mon_internal.h"

int mon_side_init(struct xc_mon *m, struct xc_mon_flow *f, int side)
{
	struct xc_mon_side *s = &f->side[side];
	s->wscale = 0xff;
	s->buf_want = m->cfg.buf_cap;
	/* cap 0 until the first byte: no memory for flows that carry none */
	if (xc_ring_init(&s->rcv, 0, m->cfg.overlap) < 0)
		return -1;
	xc_ring_set_caps(&s->rcv, m->cfg.frag_cap, XC_RING_MAX_SEGS);
	return 0;
}

void mon_side_release(struct xc_mon *m, struct xc_mon_flow *f, int side)
{
	struct xc_ring *r = &f->side[side].rcv;
	if (r->buf || r->frags || r->segs) {
		m->st.mem_used -= r->cap;
		/* keep the offsets and counters for the application to read */
		struct xc_ring keep = *r;
		xc_ring_free(r);
		r->read_off = keep.read_off;
		r->next_off = keep.next_off;
		r->high_off = keep.high_off;
		r->policy = keep.policy;
		r->stats = keep.stats;
	}
	f->side[side].sflags &= ~SF_DIRTY;
}

/* Make room for `need` bytes past read_off, within buf_want and mem_max.
 * Returns 1 if the ring can now hold them. */
int mon_grow(struct xc_mon *m, struct xc_mon_flow *f, int side, uint64_t need)
{
	struct xc_mon_side *s = &f->side[side];
	struct xc_ring *r = &s->rcv;
	if (need <= r->cap)
		return 1;
	if (r->cap >= s->buf_want)
		return 0;
	uint64_t target = r->cap ? 2ull * r->cap : XC_MON_BUF_MIN;
	while (target < need)
		target *= 2;
	if (target > s->buf_want)
		target = s->buf_want;
	uint64_t delta = target - r->cap;
	if (m->st.mem_used + delta > m->cfg.mem_max || xc_ring_resize(r, (uint32_t)target) < 0) {
		m->st.mem_denied++;
		if (!(s->sflags & XC_MON_SF_MEM_ERR)) {
			s->sflags |= XC_MON_SF_MEM_ERR;
			mon_emit(m, XC_MON_EV_ERROR, f, side, XC_MON_HK_RCV, XC_MON_ERR_MEMORY,
				 r->read_off, need);
		}
		return need <= r->cap;
	}
	m->st.mem_used += delta;
	if (m->st.mem_used > m->st.mem_peak)
		m->st.mem_peak = m->st.mem_used;
	return need <= r->cap;
}

static void mark_dirty(struct xc_mon *m, struct xc_mon_flow *f, int side)
{
	struct xc_mon_side *s = &f->side[side];
	if (s->sflags & SF_DIRTY)
		return;
	if (m->ndirty == m->dirty_cap) {      /* cannot happen: one entry per side */
		mon_stream_drain(m, f, side, 1);
		return;
	}
	s->sflags |= SF_DIRTY;
	m->dirty[m->ndirty++] = f->id << 1 | (uint32_t)side;
}

void mon_stream_drain(struct xc_mon *m, struct xc_mon_flow *f, int side, int force)
{
	struct xc_mon_side *s = &f->side[side];
	struct xc_ring *r = &s->rcv;
	uint32_t n = xc_ring_readable(r);
	if (!n) {
		s->sflags &= ~SF_DIRTY;
		return;
	}
	if (!m->out || !mon_wants(m, XC_MON_EV_DATA)) {
		xc_ring_consume(r, n);
		s->delivered += n;
		m->st.discarded_bytes += n;
		s->sflags &= ~SF_DIRTY;
		return;
	}
	uint32_t room = m->cfg.out_cap - m->out_used;
	uint32_t k = n < room ? n : room;
	if (m->nev >= m->maxev)
		k = 0;                         /* no event to report it: later */
	if (k) {
		uint64_t off = r->read_off;
		xc_ring_peek(r, off, m->out + m->out_used, k);
		struct xc_mon_event *e = mon_emit(m, XC_MON_EV_DATA, f, side, XC_MON_HK_NULL, 0, off, k);
		if (e)
			e->pos = m->out_used;
		m->out_used += k;
		m->st.out_bytes += k;
		xc_ring_consume(r, k);
		s->delivered += k;
	}
	if (k == n) {
		s->sflags &= ~SF_DIRTY;
	} else if (force) {
		xc_ring_consume(r, n - k);     /* safety net: sizing prevents it */
		m->st.out_lost += n - k;
		s->sflags &= ~SF_DIRTY;
	}
}

void mon_drain_dirty(struct xc_mon *m)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < m->ndirty; i++) {
		uint32_t e = m->dirty[i];
		struct xc_mon_flow *f = &m->flows[e >> 1];
		int side = e & 1;
		if (!(f->side[side].sflags & SF_DIRTY) || f->status == XC_MON_FS_FREE)
			continue;
		mon_stream_drain(m, f, side, 0);
		if (f->side[side].sflags & SF_DIRTY)
			m->dirty[keep++] = e;      /* out of room: next call */
	}
	m->ndirty = keep;
}

static void note_gap(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook,
		     uint64_t off, uint64_t len)
{
	if (!len)
		return;
	f->side[side].gap_bytes += len;
	mon_emit(m, XC_MON_EV_GAP, f, side, hook, 0, off, len);
	mon_hist(f, side ^ 1, 'g');    /* the sender's data is missing */
}

/* DRAIN: the hole before the first fragment goes (GAP), the fragment
 * becomes readable.  Returns 0 if there was nothing to skip. */
static int skip_one(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook)
{
	struct xc_ring *r = &f->side[side].rcv;
	if (!r->nfrags)
		return 0;
	mon_stream_drain(m, f, side, 1);
	uint64_t at = r->next_off;
	uint64_t gap = xc_ring_skip_gap(r);
	if (!gap)
		return 0;
	note_gap(m, f, side, hook, at, gap);
	mark_dirty(m, f, side);
	return 1;
}

void mon_stream_settle(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook)
{
	struct xc_mon_side *s = &f->side[side];
	struct xc_ring *r = &s->rcv;
	if ((m->cfg.flags & XC_MON_F_NO_ACK_GAPS) || !(s->sflags & XC_MON_SF_ACKED))
		return;
	while (r->nfrags && s->ack_off >= r->frags[0].offset) {
		if (!(m->cfg.flags & XC_MON_F_DRAIN) && r->read_off != r->next_off)
			return;                /* the application has unread bytes first */
		if (!(m->cfg.flags & XC_MON_F_DRAIN)) {
			uint64_t at = r->next_off;
			note_gap(m, f, side, hook, at, xc_ring_skip_gap(r));
		} else if (!skip_one(m, f, side, hook)) {
			return;
		}
	}
}

void mon_stream_insert(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook,
		       int64_t off, const uint8_t *data, uint32_t caplen, uint32_t len)
{
	struct xc_mon_side *s = &f->side[side];
	struct xc_ring *r = &s->rcv;
	int drain = (m->cfg.flags & XC_MON_F_DRAIN) != 0;
	if (off < 0) {                     /* starts before the stream: keep the rest */
		uint64_t skip = (uint64_t)-off;
		if (skip >= len)
			return;
		len -= (uint32_t)skip;
		if (skip >= caplen) {
			caplen = 0;
		} else {
			data += skip;
			caplen -= (uint32_t)skip;
		}
		off = 0;
	}
	uint64_t uoff = (uint64_t)off, end = uoff + len;
	if (end > s->seen_end)
		s->seen_end = end;
	if (!caplen || (s->sflags & XC_MON_SF_STOPPED))
		return;
	uint64_t cend = uoff + caplen;
	if (cend <= r->read_off)
		return;                        /* consumed already: a plain duplicate */
	if (s->buf_want)
		mon_grow(m, f, side, cend - r->read_off);
	if (drain && r->cap && cend - r->read_off > r->cap) {
		/* never let the window slide over stored bytes: the readable
		 * ones go out first; only if that is not enough, holes go */
		mon_stream_drain(m, f, side, 1);
		while (cend - r->read_off > r->cap && skip_one(m, f, side, hook))
			mon_stream_drain(m, f, side, 1);   /* what the skip made readable */
	}
	struct xc_ring_stats before;
	uint64_t old_next;
	for (;;) {
		before = r->stats;
		old_next = r->next_off;
		xc_ring_insert(r, uoff, data, caplen, XC_RING_DROP_OLDEST);
		if (r->stats.frag_overflow == before.frag_overflow)
			break;
		/* refused whole (nothing else changed): make room or report */
		if (!drain || !skip_one(m, f, side, hook)) {
			mon_emit(m, XC_MON_EV_ERROR, f, side, hook, XC_MON_ERR_FRAGS, uoff, caplen);
			break;
		}
	}
	const struct xc_ring_stats *now = &r->stats;
	if (now->gap_bytes != before.gap_bytes)
		note_gap(m, f, side, hook, old_next, now->gap_bytes - before.gap_bytes);
	if (!r->cap && now->bytes_new != before.bytes_new)
		s->unbuffered += now->bytes_new - before.bytes_new;
	if (now->bytes_lost != before.bytes_lost) {
		uint64_t lost = now->bytes_lost - before.bytes_lost;
		s->outrun_bytes += lost;
		mon_emit(m, XC_MON_EV_ERROR, f, side, hook, XC_MON_ERR_OUTRUN, r->read_off, lost);
	}
	if (now->overlap_conflicts != before.overlap_conflicts) {
		uint64_t d = now->conflict_bytes - before.conflict_bytes;
		s->overlaps++;
		s->overlap_bytes += d;
		mon_emit(m, XC_MON_EV_OVERLAP, f, side, hook, 0, uoff, d);
	}
	if (r->next_off > old_next && r->cap) {
		mon_emit(m, XC_MON_EV_NEW_DATA, f, side, hook, 0, old_next, r->next_off - old_next);
		if (drain)
			mark_dirty(m, f, side);
	}
}

/* Holes [next_off, end) of a finishing stream that nothing stored covers:
 * with DRAIN every stored fragment is delivered around GAPs, then a
 * trailing gap up to the last byte known to exist (seen, or acknowledged
 * by the receiver). */
void mon_stream_finish(struct xc_mon *m, struct xc_mon_flow *f, int side)
{
	struct xc_mon_side *s = &f->side[side];
	const struct xc_mon_side *peer = &f->side[side ^ 1];
	struct xc_ring *r = &s->rcv;
	uint64_t known = s->seen_end;
	if (s->sflags & XC_MON_SF_ACKED) {
		uint64_t acked = s->ack_off;
		if ((peer->sflags & XC_MON_SF_FIN) && acked > s->fin_off)
			acked = s->fin_off;        /* the FIN is not a byte */
		if (acked > known)
			known = acked;
	}
	if (m->cfg.flags & XC_MON_F_DRAIN) {
		while (skip_one(m, f, side, XC_MON_HK_NULL))
			;
		mon_stream_drain(m, f, side, 1);
		if (known > r->next_off && !(s->sflags & XC_MON_SF_STOPPED))
			note_gap(m, f, side, XC_MON_HK_NULL, r->next_off, known - r->next_off);
		return;
	}
	/* left for the application to read: count the holes, no events */
	uint64_t stored = xc_ring_readable(r);
	for (uint32_t i = 0; i < r->nfrags; i++)
		stored += r->frags[i].len;
	uint64_t top = known > r->high_off ? known : r->high_off;
	if (top > r->read_off + stored && !(s->sflags & XC_MON_SF_STOPPED))
		s->gap_bytes += top - r->read_off - stored;
}
