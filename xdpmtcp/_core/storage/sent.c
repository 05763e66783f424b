/* The segments in flight (tcp_sent.h): a ring in sequence order plus a
 * list in transmit order, so RACK's loss detection visits only segments
 * awaiting news, oldest first. */
#include <stdlib.h>
#include <string.h>
#include "api_sent.h"
#include "wire/seq.h"

static inline uint32_t slot_of(const struct xc_sent_map *m, uint32_t i)
{
	return (m->head + i) & (m->cap - 1);
}

static inline uint32_t start_of(const struct xc_sent_map *m, uint32_t i)
{
	return i ? m->seg[slot_of(m, i - 1)].end : m->una;
}

static inline uint32_t index_of_slot(const struct xc_sent_map *m, uint32_t slot)
{
	return (slot - m->head) & (m->cap - 1);
}

uint32_t xc_sent_end(const struct xc_sent_map *m)
{
	return m->n ? m->seg[slot_of(m, m->n - 1)].end : m->una;
}

uint32_t xc_sent_pipe(const struct xc_sent_map *m)
{
	return xc_sent_end(m) - m->una - m->sacked - m->lost + m->retrans;
}

int xc_sent_head_sacked(const struct xc_sent_map *m)
{
	return m->n && (m->seg[m->head].flags & XC_SENT_SACKED);
}

int xc_sent_is_dsack(const uint32_t *blocks, uint32_t nblocks, uint32_t ack)
{
	if (!nblocks || !seq_lt(blocks[0], blocks[1]))
		return 0;
	return seq_lt(blocks[0], ack) ||
	       (nblocks > 1 && seq_geq(blocks[0], blocks[2]) && seq_leq(blocks[1], blocks[3]));
}

void xc_sent_init(struct xc_sent_map *m, uint32_t una)
{
	free(m->seg);
	memset(m, 0, sizeof *m);
	m->una = una;
	m->lost_scan = una;
	m->fack = una;
}

void xc_sent_free(struct xc_sent_map *m)
{
	free(m->seg);
	m->seg = NULL;
	m->cap = m->n = m->head = 0;
	m->thead = m->ttail = 0;
}

/* --- the time list ----------------------------------------------------------- */

static void unlink_time(struct xc_sent_map *m, uint32_t slot)
{
	struct xc_sent_seg *s = &m->seg[slot];
	if (!(s->flags & XC_SENT_LISTED))
		return;
	if (s->tprev)
		m->seg[s->tprev - 1].tnext = s->tnext;
	else
		m->thead = s->tnext;
	if (s->tnext)
		m->seg[s->tnext - 1].tprev = s->tprev;
	else
		m->ttail = s->tprev;
	s->tprev = s->tnext = 0;
	s->flags &= ~XC_SENT_LISTED;
}

static void link_tail(struct xc_sent_map *m, uint32_t slot)
{
	struct xc_sent_seg *s = &m->seg[slot];
	unlink_time(m, slot);
	s->tprev = m->ttail;
	s->tnext = 0;
	if (m->ttail)
		m->seg[m->ttail - 1].tnext = slot + 1;
	else
		m->thead = slot + 1;
	m->ttail = slot + 1;
	s->flags |= XC_SENT_LISTED;
}

/* Put a listed-to-be entry where its xmit_ns belongs (walking from the
 * tail: an undo relinks old entries, the only caller). */
static void link_sorted(struct xc_sent_map *m, uint32_t slot)
{
	struct xc_sent_seg *s = &m->seg[slot];
	uint32_t after = m->ttail;
	while (after && m->seg[after - 1].xmit_ns > s->xmit_ns)
		after = m->seg[after - 1].tprev;
	s->tprev = after;
	s->tnext = after ? m->seg[after - 1].tnext : m->thead;
	if (s->tnext)
		m->seg[s->tnext - 1].tprev = slot + 1;
	else
		m->ttail = slot + 1;
	if (after)
		m->seg[after - 1].tnext = slot + 1;
	else
		m->thead = slot + 1;
	s->flags |= XC_SENT_LISTED;
}

/* --- storage ------------------------------------------------------------------ */

static uint32_t remap(uint32_t link, uint32_t head, uint32_t mask)
{
	return link ? ((link - 1 - head) & mask) + 1 : 0;
}

static int grow(struct xc_sent_map *m, uint32_t need)
{
	uint32_t cap = m->cap ? m->cap : XC_SENT_MIN;
	while (cap < need && cap < XC_SENT_MAX)
		cap *= 2;
	if (cap <= m->cap)
		return -1;
	struct xc_sent_seg *seg = malloc((size_t)cap * sizeof *seg);
	if (!seg)
		return -1;
	uint32_t mask = m->cap ? m->cap - 1 : 0;
	for (uint32_t i = 0; i < m->n; i++) {
		seg[i] = m->seg[slot_of(m, i)];
		seg[i].tprev = remap(seg[i].tprev, m->head, mask);
		seg[i].tnext = remap(seg[i].tnext, m->head, mask);
	}
	m->thead = remap(m->thead, m->head, mask);
	m->ttail = remap(m->ttail, m->head, mask);
	free(m->seg);
	m->seg = seg;
	m->cap = cap;
	m->head = 0;
	return 0;
}

uint32_t xc_sent_reserve(struct xc_sent_map *m, uint32_t want)
{
	if (m->cap - m->n < want)
		grow(m, m->n + want);
	uint32_t room = m->cap - m->n;
	if (room < want)
		m->full++;
	return room;
}

void xc_sent_append(struct xc_sent_map *m, uint32_t seq, uint32_t len, uint32_t mss, uint64_t now_ns)
{
	if (!m->n) {
		m->una = seq;
		if (seq_lt(m->lost_scan, seq))
			m->lost_scan = seq;
		if (seq_lt(m->fack, seq))
			m->fack = seq;
	}
	while (len && m->n < m->cap) {
		uint32_t piece = len < mss ? len : mss;
		uint32_t slot = slot_of(m, m->n++);
		struct xc_sent_seg *s = &m->seg[slot];
		seq += piece;
		len -= piece;
		s->end = seq;
		s->flags = 0;
		s->tprev = s->tnext = 0;
		s->xmit_ns = now_ns;
		link_tail(m, slot);
	}
}

/* --- news from the peer ---------------------------------------------------- */

/* The state counts an entry leaves as it is delivered. */
static void settle(struct xc_sent_map *m, struct xc_sent_seg *s, uint32_t bytes)
{
	if (s->flags & XC_SENT_LOST)
		m->lost -= bytes;
	if (s->flags & XC_SENT_RETRANS)
		m->retrans -= bytes;
}

/* RFC 8985 §6.2 steps 2 and 3 for one delivered segment. */
static void delivered(struct xc_sent_map *m, const struct xc_sent_seg *s, struct xc_sent_news *n)
{
	if (s->flags & XC_SENT_EVER_RETRANS) {
		/* the ACK may answer the original: an RTT below the least ever
		 * seen says it does (Linux's test; the echoed timestamp cannot
		 * tell, since a receiver echoes the last in-order segment's).
		 * Not for a tail loss probe: everything before it left with
		 * its original, a probe timeout earlier, so whichever copy
		 * arrived, what is still missing is overdue. */
		if (!(s->flags & XC_SENT_PROBE) &&
		    n->now_ns - s->xmit_ns < (uint64_t)n->min_rtt_us * 1000)
			goto fack;
	} else {
		if (!n->rtt_valid || s->xmit_ns > n->rtt_xmit_ns) {
			n->rtt_valid = 1;
			n->rtt_xmit_ns = s->xmit_ns;
		}
		if (seq_lt(s->end, m->fack))
			n->reordered = 1;
		if (seq_leq(s->end, n->orig_limit))
			n->orig_delivered = 1;
	}
	if (!n->newest_valid || s->xmit_ns > n->newest_xmit_ns ||
	    (s->xmit_ns == n->newest_xmit_ns && seq_gt(s->end, n->newest_end))) {
		n->newest_valid = 1;
		n->newest_xmit_ns = s->xmit_ns;
		n->newest_end = s->end;
	}
fack:
	if (seq_gt(s->end, m->fack))
		m->fack = s->end;
}

void xc_sent_ack(struct xc_sent_map *m, uint32_t ack, struct xc_sent_news *n)
{
	while (m->n && seq_gt(ack, m->una)) {
		uint32_t slot = m->head;
		struct xc_sent_seg *s = &m->seg[slot];
		int whole = !seq_lt(ack, s->end);   /* else acknowledged in part: trimmed */
		uint32_t bytes = (whole ? s->end : ack) - m->una;
		if (s->flags & XC_SENT_SACKED) {
			m->sacked -= bytes;
		} else {
			settle(m, s, bytes);
			n->newly_acked += bytes;
			n->delivered += bytes;
			if (whole)
				delivered(m, s, n);
		}
		if (!whole) {
			m->una = ack;
			break;
		}
		unlink_time(m, slot);
		m->una = s->end;
		m->head = (m->head + 1) & (m->cap - 1);
		m->n--;
	}
	if (seq_gt(ack, m->una))
		m->una = ack;
	if (seq_lt(m->lost_scan, m->una))
		m->lost_scan = m->una;
	if (seq_lt(m->fack, m->una))
		m->fack = m->una;
	if (!m->n && m->seg)
		xc_sent_free(m);
}

/* First entry ending above seq (m->n if none). */
static uint32_t find(const struct xc_sent_map *m, uint32_t seq)
{
	uint32_t lo = 0, hi = m->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (seq_gt(m->seg[slot_of(m, mid)].end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void xc_sent_sack(struct xc_sent_map *m, uint32_t start, uint32_t end, struct xc_sent_news *n)
{
	if (!m->n || !seq_lt(start, end))
		return;
	for (uint32_t i = find(m, start); i < m->n; i++) {
		uint32_t slot = slot_of(m, i);
		struct xc_sent_seg *s = &m->seg[slot];
		uint32_t from = start_of(m, i);
		if (!seq_lt(from, end))
			break;
		if (seq_lt(from, start) || seq_gt(s->end, end) || (s->flags & XC_SENT_SACKED))
			continue;               /* covered in part: judged whole, later */
		uint32_t bytes = s->end - from;
		settle(m, s, bytes);
		s->flags = (s->flags & ~(XC_SENT_LOST | XC_SENT_RETRANS)) | XC_SENT_SACKED;
		unlink_time(m, slot);
		m->sacked += bytes;
		n->newly_sacked += bytes;
		n->delivered += bytes;
		delivered(m, s, n);
	}
}

/* --- loss -------------------------------------------------------------------- */

static void mark_lost(struct xc_sent_map *m, uint32_t slot, uint32_t *lost_retrans)
{
	struct xc_sent_seg *s = &m->seg[slot];
	uint32_t i = index_of_slot(m, slot);
	uint32_t from = start_of(m, i), bytes = s->end - from;
	if (s->flags & XC_SENT_RETRANS) {
		s->flags &= ~XC_SENT_RETRANS;  /* the retransmission is lost too */
		m->retrans -= bytes;
		if (lost_retrans)
			(*lost_retrans)++;
	}
	if (!(s->flags & XC_SENT_LOST)) {
		s->flags |= XC_SENT_LOST;
		m->lost += bytes;
	}
	unlink_time(m, slot);
	if (seq_lt(from, m->lost_scan))
		m->lost_scan = from;
}

uint32_t xc_sent_mark_overdue(struct xc_sent_map *m, uint64_t xmit_ns, uint32_t end,
			      uint64_t wait_ns, uint64_t now_ns, uint64_t *next_ns,
			      uint32_t *lost_retrans)
{
	uint32_t marked = 0;
	*next_ns = 0;
	for (uint32_t link = m->thead; link;) {
		struct xc_sent_seg *s = &m->seg[link - 1];
		uint32_t next = s->tnext;
		/* RFC 8985 RACK_sent_after(RACK.xmit_ts, RACK.end_seq, seg) */
		if (!(xmit_ns > s->xmit_ns || (xmit_ns == s->xmit_ns && seq_gt(end, s->end))))
			break;                  /* the rest left later still */
		if (s->xmit_ns + wait_ns <= now_ns) {
			mark_lost(m, link - 1, lost_retrans);
			marked++;
		} else if (s->xmit_ns + wait_ns > *next_ns) {
			*next_ns = s->xmit_ns + wait_ns;
		}
		link = next;
	}
	return marked;
}

uint32_t xc_sent_mark_all_lost(struct xc_sent_map *m)
{
	uint32_t before = m->lost;
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t slot = slot_of(m, i);
		if (!(m->seg[slot].flags & XC_SENT_SACKED))
			mark_lost(m, slot, NULL);
	}
	m->lost_scan = m->una;
	return m->lost - before;
}

void xc_sent_unmark_lost(struct xc_sent_map *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t slot = slot_of(m, i);
		struct xc_sent_seg *s = &m->seg[slot];
		if ((s->flags & (XC_SENT_LOST | XC_SENT_RETRANS)) != XC_SENT_LOST)
			continue;
		s->flags &= ~XC_SENT_LOST;
		m->lost -= s->end - start_of(m, i);
		link_sorted(m, slot);
	}
}

void xc_sent_forget_sacks(struct xc_sent_map *m)
{
	for (uint32_t i = 0; i < m->n; i++)
		m->seg[slot_of(m, i)].flags &= ~XC_SENT_SACKED;
	m->sacked = 0;
}

int xc_sent_next_lost(struct xc_sent_map *m, uint32_t max, uint32_t *seq, uint32_t *len)
{
	const uint32_t want = XC_SENT_LOST;
	const uint32_t mask = XC_SENT_LOST | XC_SENT_RETRANS | XC_SENT_SACKED;
	if (!m->lost)
		return 0;
	for (uint32_t i = find(m, m->lost_scan); i < m->n; i++) {
		if ((m->seg[slot_of(m, i)].flags & mask) != want)
			continue;
		uint32_t from = start_of(m, i), to = m->seg[slot_of(m, i)].end;
		m->lost_scan = from;
		while (++i < m->n) {
			const struct xc_sent_seg *s = &m->seg[slot_of(m, i)];
			if ((s->flags & mask) != want || s->end - from > max)
				break;
			to = s->end;
		}
		*seq = from;
		*len = to - from;
		return 1;
	}
	m->lost_scan = xc_sent_end(m);
	return 0;
}

void xc_sent_retransmitted(struct xc_sent_map *m, uint32_t seq, uint32_t len, uint64_t now_ns)
{
	uint32_t stop = seq + len;
	for (uint32_t i = find(m, seq); i < m->n; i++) {
		uint32_t slot = slot_of(m, i);
		struct xc_sent_seg *s = &m->seg[slot];
		uint32_t from = start_of(m, i);
		if (!seq_lt(from, stop))
			break;
		if (!(s->flags & XC_SENT_RETRANS) && !(s->flags & XC_SENT_SACKED))
			m->retrans += s->end - from;
		s->flags &= ~XC_SENT_PROBE;
		if (!(s->flags & XC_SENT_SACKED)) {
			s->flags |= XC_SENT_RETRANS;
			link_tail(m, slot);     /* its new transmission is the newest */
		}
		s->flags |= XC_SENT_EVER_RETRANS;
		s->xmit_ns = now_ns;
	}
	if (seq_lt(m->lost_scan, stop))
		m->lost_scan = stop;
}

int xc_sent_last(const struct xc_sent_map *m, uint32_t *seq, uint32_t *len)
{
	if (!m->n)
		return 0;
	*seq = start_of(m, m->n - 1);
	*len = m->seg[slot_of(m, m->n - 1)].end - *seq;
	return 1;
}

void xc_sent_probed(struct xc_sent_map *m, uint64_t now_ns)
{
	if (!m->n)
		return;
	uint32_t slot = slot_of(m, m->n - 1);
	struct xc_sent_seg *s = &m->seg[slot];
	s->xmit_ns = now_ns;
	s->flags |= XC_SENT_EVER_RETRANS | XC_SENT_PROBE;
	if (s->flags & XC_SENT_LISTED)
		link_tail(m, slot);
}
