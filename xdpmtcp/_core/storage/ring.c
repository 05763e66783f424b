/* Reassembly ring buffer (see api_ring.h for the model and the policies). */
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "api_ring.h"

#define OFF_LIMIT (1ULL << 63)

static inline uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static inline uint64_t frag_end(const struct xc_ring_frag *f) { return f->offset + f->len; }

static inline int is_target(uint32_t policy)
{
	return policy == XC_OVERLAP_LINUX || policy == XC_OVERLAP_BSD ||
	       policy == XC_OVERLAP_WINDOWS;
}

/* ---- circular byte access (n <= cap) ---- */

static void ring_put(struct xc_ring *r, uint64_t off, const uint8_t *src, uint64_t n)
{
	uint32_t pos = (uint32_t)(off % r->store_cap);
	uint64_t first = r->store_cap - pos;
	if (n <= first) {
		memcpy(r->buf + pos, src, n);
	} else {
		memcpy(r->buf + pos, src, first);
		memcpy(r->buf, src + first, n - first);
	}
}

static void ring_get(const struct xc_ring *r, uint64_t off, uint8_t *dst, uint64_t n)
{
	uint32_t pos = (uint32_t)(off % r->store_cap);
	uint64_t first = r->store_cap - pos;
	if (n <= first) {
		memcpy(dst, r->buf + pos, n);
	} else {
		memcpy(dst, r->buf + pos, first);
		memcpy(dst + first, r->buf, n - first);
	}
}

static uint64_t count_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	if (memcmp(a, b, n) == 0)
		return 0;
	uint64_t d = 0;
	for (uint64_t i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

/* How many of the n bytes at src differ from the stored ones at off. */
static uint64_t ring_diff(const struct xc_ring *r, uint64_t off, const uint8_t *src, uint64_t n)
{
	uint32_t pos = (uint32_t)(off % r->store_cap);
	uint64_t first = r->store_cap - pos;
	if (n <= first)
		return count_diff(r->buf + pos, src, n);
	return count_diff(r->buf + pos, src, first) + count_diff(r->buf, src + first, n - first);
}

/* ---- storage ----
 * Unpooled rings hold store_cap == cap bytes from init.  Pooled rings hold
 * a block only while they hold data, sized to what they hold: a power of
 * two from XC_RING_STORE_MIN, capped at cap, doubled (data moved) when
 * more must be stored, given back when empty.  A ring that empties and
 * fills again (a bulk receiver reading every batch) starts at the size of
 * its last block (store_hint), halved each time a block was used to a
 * quarter or less, so it does not grow through every size per batch. */

static uint32_t store_size_for(const struct xc_ring *r, uint64_t span)
{
	uint64_t size = XC_RING_STORE_MIN;
	while (size < span)
		size <<= 1;
	return size < r->cap ? (uint32_t)size : r->cap;
}

/* Move what is stored, [read_off, high_off), to a block of size bytes
 * (at least that span); -1 if the pool refused (nothing changed). */
static int storage_move(struct xc_ring *r, uint32_t size)
{
	uint8_t *nb = r->buf ? xc_bufpool_get_replacing(r->pool, size, r->store_cap)
			     : xc_bufpool_get(r->pool, size);
	if (!nb)
		return -1;
	/* holes included: a few memcpy at most */
	for (uint64_t o = r->read_off; r->buf && o < r->high_off;) {
		uint64_t so = o % r->store_cap, dof = o % size;
		uint64_t n = min64(r->high_off - o, min64(r->store_cap - so, size - dof));
		memcpy(nb + dof, r->buf + so, n);
		o += n;
	}
	if (r->buf)
		xc_bufpool_put(r->pool, r->buf, r->store_cap);
	r->buf = nb;
	r->store_cap = size;
	return 0;
}

/* 0 when storage covers [read_off, end) (grown from the pool if need be;
 * end - read_off <= cap), -1 if the pool refused (not counted here). */
static int storage_fit(struct xc_ring *r, uint64_t end)
{
	if (!r->pool)
		return 0;                /* unpooled: all cap bytes from init */
	uint64_t span = max64(end, r->high_off) - r->read_off;
	if (r->buf && span <= r->store_cap) {
		if (span > r->store_peak)
			r->store_peak = (uint32_t)span;
		return 0;
	}
	uint32_t size = store_size_for(r, span);
	if (!r->buf && r->store_hint > size)
		size = r->store_hint < r->cap ? r->store_hint : r->cap;
	if (storage_move(r, size) < 0)
		return -1;
	r->store_peak = (uint32_t)span;
	return 0;
}

/* An empty pooled ring gives its block back. */
static void storage_release_if_empty(struct xc_ring *r)
{
	if (r->pool && r->buf && r->read_off == r->next_off && r->nfrags == 0) {
		r->store_hint = (uint64_t)r->store_peak * 4 <= r->store_cap ? r->store_cap / 2 : r->store_cap;
		xc_bufpool_put(r->pool, r->buf, r->store_cap);
		r->buf = NULL;
		r->store_cap = 0;
	}
}

/* ---- fragment list ---- */

static void frag_remove(struct xc_ring *r, uint32_t i, uint32_t n)
{
	if (n == 0)
		return;
	memmove(r->frags + i, r->frags + i + n, (r->nfrags - i - n) * sizeof(*r->frags));
	r->nfrags -= n;
}

/* First fragment whose end is >= x (touching counts: adjacent blocks merge). */
static uint32_t frag_find(const struct xc_ring *r, uint64_t x)
{
	uint32_t lo = 0, hi = r->nfrags;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (frag_end(&r->frags[mid]) < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Would storing [a, b) need an entry of its own in frags? */
static int needs_entry(const struct xc_ring *r, uint64_t a, uint64_t b)
{
	if (a <= r->next_off)
		return 0;
	uint32_t i = frag_find(r, a);
	return i == r->nfrags || r->frags[i].offset > b;
}

/* Room for one more fragment entry: 0, or -1 (cap reached, or no memory). */
static int frag_reserve(struct xc_ring *r)
{
	if (r->nfrags >= r->frag_cap)
		return -1;
	if (r->nfrags < r->frag_alloc)
		return 0;
	uint32_t n = r->frag_alloc ? r->frag_alloc * 2 : 4;
	if (n > r->frag_cap)
		n = r->frag_cap;
	struct xc_ring_frag *f = realloc(r->frags, (size_t)n * sizeof(*f));
	if (!f)
		return -1;
	r->frags = f;
	r->frag_alloc = n;
	return 0;
}

/* [a, b) now holds data: extend the contiguous block or the fragments.
 * The caller made room when needs_entry() said so. */
static void mark_stored(struct xc_ring *r, uint64_t a, uint64_t b)
{
	if (b > r->high_off)
		r->high_off = b;
	if (a <= r->next_off) {
		if (b <= r->next_off)
			return;
		r->next_off = b;
		uint32_t i = 0;
		while (i < r->nfrags && r->frags[i].offset <= r->next_off) {
			r->next_off = max64(r->next_off, frag_end(&r->frags[i]));
			i++;
		}
		frag_remove(r, 0, i);
		return;
	}
	uint32_t i = frag_find(r, a), j = i;
	while (j < r->nfrags && r->frags[j].offset <= b)
		j++;
	if (i == j) {
		memmove(r->frags + i + 1, r->frags + i, (r->nfrags - i) * sizeof(*r->frags));
		r->nfrags++;
		r->frags[i].offset = a;
		r->frags[i].len = (uint32_t)(b - a);
		return;
	}
	uint64_t s = min64(a, r->frags[i].offset), e = max64(b, frag_end(&r->frags[j - 1]));
	r->frags[i].offset = s;
	r->frags[i].len = (uint32_t)(e - s);
	frag_remove(r, i + 1, j - i - 1);
}

/* ---- segment records (target-based policies) ---- */

static void seg_clear(struct xc_ring *r)
{
	r->seg_head = r->seg_tail = 0;
}

/* Records are sorted by start, so those of consumed data leave from the
 * head; a nested one behind a longer record waits for it (harmless). */
static void seg_drop_consumed(struct xc_ring *r)
{
	while (r->seg_head < r->seg_tail && r->segs[r->seg_head].end <= r->read_off)
		r->seg_head++;
	if (r->seg_head == r->seg_tail)
		seg_clear(r);
}

static void seg_compact(struct xc_ring *r)
{
	memmove(r->segs, r->segs + r->seg_head, (r->seg_tail - r->seg_head) * sizeof(*r->segs));
	r->seg_tail -= r->seg_head;
	r->seg_head = 0;
}

/* Full: forget the oldest records (lowest start): their bytes fall back
 * to "old wins".  O(1) each, so a stream of tiny segments stays cheap. */
static void seg_evict(struct xc_ring *r, uint32_t keep)
{
	seg_drop_consumed(r);
	while (r->seg_tail - r->seg_head > keep) {
		r->seg_head++;
		r->stats.seg_evicted++;
		seg_drop_consumed(r);  /* uncovers records of consumed data */
	}
}

static int seg_cmp(const struct xc_ring_seg *s, uint64_t start, uint64_t end)
{
	if (s->start != start)
		return s->start < start ? -1 : 1;
	if (s->end != end)
		return s->end < end ? -1 : 1;
	return 0;
}

/* Index where (start, end) is or would go. */
static uint32_t seg_find(const struct xc_ring *r, uint64_t start, uint64_t end)
{
	uint32_t lo = r->seg_head, hi = r->seg_tail;
	if (lo < hi && seg_cmp(&r->segs[hi - 1], start, end) < 0)
		return hi;  /* in-order data: the usual case */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (seg_cmp(&r->segs[mid], start, end) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void seg_add(struct xc_ring *r, uint64_t start, uint64_t end)
{
	if (r->seg_cap == 0)
		return;
	uint32_t pos = seg_find(r, start, end);
	if (pos < r->seg_tail && seg_cmp(&r->segs[pos], start, end) == 0)
		return;  /* exact duplicate: its geometry is already known */
	if (r->seg_tail - r->seg_head >= r->seg_cap) {
		seg_evict(r, r->seg_cap - 1);
		pos = seg_find(r, start, end);
	}
	if (r->seg_tail == r->seg_alloc) {
		/* grow to twice the cap, then compact: with half the array
		 * free by then, compaction runs once per seg_cap records */
		struct xc_ring_seg *s = NULL;
		uint32_t n = r->seg_alloc ? r->seg_alloc * 2 : 16;
		if (n > 2 * r->seg_cap)
			n = 2 * r->seg_cap;
		if (n > r->seg_alloc && r->seg_head <= r->seg_alloc / 2)
			s = realloc(r->segs, (size_t)n * sizeof(*s));
		if (s) {
			r->segs = s;
			r->seg_alloc = n;
		} else if (r->seg_head > 0) {
			pos -= r->seg_head;
			seg_compact(r);
		} else {
			r->stats.seg_evicted++;  /* no memory: unrecorded, judged as FIRST */
			return;
		}
	}
	memmove(r->segs + pos + 1, r->segs + pos, (r->seg_tail - pos) * sizeof(*r->segs));
	r->segs[pos].start = start;
	r->segs[pos].end = end;
	r->seg_tail++;
}

/* Does a new segment [ns, ne) win over the stored segment s? */
static int new_wins(uint32_t policy, const struct xc_ring_seg *s, uint64_t ns, uint64_t ne)
{
	if (ns < s->start)
		return 1;  /* BSD, Windows, Linux: the new segment starts first */
	return policy == XC_OVERLAP_LINUX && ns == s->start && ne > s->end;
}

struct sweep_ev {
	uint64_t pos;
	int32_t dany, dold;
};

static int ev_cmp(const void *x, const void *y)
{
	const struct sweep_ev *a = x, *b = y;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Intervals of [a, b) where the new segment [ns, ne) wins over stored
 * bytes: covered by at least one record and by no record that holds. */
static uint32_t win_intervals(const struct xc_ring *r, uint64_t a, uint64_t b,
			      uint64_t ns, uint64_t ne, struct xc_ring_seg *out)
{
	struct sweep_ev ev[2 * XC_RING_MAX_SEGS];
	uint32_t k = 0, n = 0;
	for (uint32_t i = r->seg_head; i < r->seg_tail && r->segs[i].start < b; i++) {
		const struct xc_ring_seg *s = &r->segs[i];
		if (s->end <= a)
			continue;
		int32_t old = !new_wins(r->policy, s, ns, ne);
		ev[k++] = (struct sweep_ev){ max64(s->start, a), 1, old };
		ev[k++] = (struct sweep_ev){ min64(s->end, b), -1, -old };
	}
	qsort(ev, k, sizeof(ev[0]), ev_cmp);
	int32_t any = 0, old = 0;
	for (uint32_t i = 0; i < k;) {
		uint64_t p = ev[i].pos;
		for (; i < k && ev[i].pos == p; i++) {
			any += ev[i].dany;
			old += ev[i].dold;
		}
		uint64_t q = i < k ? ev[i].pos : b;
		if (any > 0 && old == 0 && q > p) {
			if (n && out[n - 1].end == p)
				out[n - 1].end = q;
			else
				out[n++] = (struct xc_ring_seg){ p, q };
		}
	}
	return n;
}

/* ---- storing ---- */

/* Bytes of [a, b) (inside the window, with room for a fragment entry if
 * needed) from src, which holds the data for offset a; [ns, ne) is the
 * segment as offered, for the target-based rules. */
static void store(struct xc_ring *r, uint64_t a, uint64_t b, const uint8_t *src,
		  uint64_t ns, uint64_t ne)
{
	uint64_t pos = a, diff_total = 0;
	struct xc_ring_seg win[XC_RING_MAX_SEGS + 1];
	uint32_t nwin = 0, wi = 0;
	int have_win = 0;
	uint32_t fi = r->nfrags ? frag_find(r, max64(a, r->next_off) + 1) : 0;

	while (pos < b) {
		/* next stored piece at or after pos */
		uint64_t ps, pe;
		if (pos < r->next_off) {
			ps = pos;
			pe = min64(b, r->next_off);
		} else if (fi < r->nfrags && r->frags[fi].offset < b) {
			ps = max64(pos, r->frags[fi].offset);
			pe = min64(b, frag_end(&r->frags[fi]));
			fi++;
		} else {
			ps = pe = b;
		}
		if (pos < ps) {  /* hole: new bytes */
			ring_put(r, pos, src + (pos - a), ps - pos);
			r->stats.bytes_new += ps - pos;
		}
		if (ps < pe) {
			const uint8_t *nsrc = src + (ps - a);
			uint64_t d = ring_diff(r, ps, nsrc, pe - ps);
			r->stats.bytes_dup += pe - ps;
			diff_total += d;
			if (d && r->policy == XC_OVERLAP_LAST) {
				ring_put(r, ps, nsrc, pe - ps);
			} else if (d && is_target(r->policy)) {
				if (!have_win) {
					nwin = win_intervals(r, a, b, ns, ne, win);
					have_win = 1;
				}
				while (wi < nwin && win[wi].end <= ps)
					wi++;
				for (uint32_t w = wi; w < nwin && win[w].start < pe; w++) {
					uint64_t s = max64(ps, win[w].start), e = min64(pe, win[w].end);
					ring_put(r, s, src + (s - a), e - s);
				}
			}
		}
		pos = pe;
	}
	if (diff_total) {
		r->stats.overlap_conflicts++;
		r->stats.conflict_bytes += diff_total;
	}
	mark_stored(r, a, b);
	if (is_target(r->policy))
		seg_add(r, ns, b);
}

/* XC_RING_DROP_OLDEST: move read_off up to r2 for a segment whose in-window
 * part starts at a (>= read_off) and at a2 = max(a, r2) after the slide.
 * Every offset passed counts once: bytes_lost if data for it was stored or
 * offered, gap_bytes if not.  Passing next_off resumes at the first byte
 * stored at or after r2 (a fragment, or the segment itself at a2). */
static void slide(struct xc_ring *r, uint64_t r2, uint64_t a, uint64_t a2)
{
	uint64_t R = r->read_off, N = r->next_off;
	if (r2 <= N) {
		r->stats.bytes_lost += r2 - R;
		r->read_off = r2;
		seg_drop_consumed(r);
		return;
	}
	/* the segment's own prefix that falls below r2, beyond the block */
	uint64_t ss = max64(a, N), se = r2;
	uint64_t covered = se > ss ? se - ss : 0;
	uint32_t i = 0;
	while (i < r->nfrags && r->frags[i].offset < r2) {
		struct xc_ring_frag *f = &r->frags[i];
		uint64_t fs = f->offset, fe = min64(frag_end(f), r2);
		covered += fe - fs;
		uint64_t os = max64(fs, ss), oe = min64(fe, se);
		if (oe > os)
			covered -= oe - os;
		if (frag_end(f) <= r2) {
			i++;
		} else {
			f->len = (uint32_t)(frag_end(f) - r2);
			f->offset = r2;
			break;
		}
	}
	frag_remove(r, 0, i);
	r->stats.bytes_lost += (N - R) + covered;
	r->stats.gap_bytes += (r2 - N) - covered;

	uint64_t resume = a2;
	if (r->nfrags && r->frags[0].offset < resume)
		resume = r->frags[0].offset;
	r->stats.gap_bytes += resume - r2;
	r->read_off = r->next_off = resume;
	if (r->high_off < resume)
		r->high_off = resume;
	if (r->nfrags && r->frags[0].offset == resume) {
		r->next_off = frag_end(&r->frags[0]);
		frag_remove(r, 0, 1);
	}
	seg_drop_consumed(r);
}

/* cap 0: track offsets only. */
static int64_t insert_unbuffered(struct xc_ring *r, uint64_t a, uint64_t ne, uint32_t flags)
{
	uint64_t old_next = r->next_off;
	if (a > r->next_off) {
		if (!(flags & XC_RING_DROP_OLDEST)) {
			r->stats.bytes_beyond += ne - a;
			return 0;
		}
		r->stats.gap_bytes += a - r->next_off;
	}
	r->stats.bytes_new += ne - a;
	r->read_off = r->next_off = r->high_off = ne;
	return (int64_t)(ne - old_next);
}

int64_t xc_ring_insert(struct xc_ring *r, uint64_t off, const uint8_t *data, uint32_t len, uint32_t flags)
{
	if (!r || (len && !data) || off >= OFF_LIMIT || len >= OFF_LIMIT - off)
		return -1;
	r->stats.bytes_in += len;
	if (len == 0)
		return 0;
	uint64_t ns = off, ne = off + len, old_next = r->next_off;
	if (ne <= r->read_off) {
		r->stats.bytes_old += len;
		return 0;
	}
	uint64_t a = max64(ns, r->read_off), b = ne;
	r->stats.bytes_old += a - ns;
	if (r->cap == 0)
		return insert_unbuffered(r, a, ne, flags);

	if (b - r->read_off > r->cap) {
		if (flags & XC_RING_DROP_OLDEST) {
			uint64_t r2 = b - r->cap, a2 = max64(a, r2);
			/* Passing next_off frees an entry (see slide); otherwise
			 * the fragments stay as they are: refuse before sliding. */
			if (r2 <= r->next_off && needs_entry(r, a2, b) && frag_reserve(r) < 0) {
				r->stats.frag_overflow++;
				return 0;
			}
			slide(r, r2, a, a2);
			a = a2;
		} else {
			uint64_t lim = r->read_off + r->cap;
			if (a >= lim) {
				r->stats.bytes_beyond += b - a;
				return 0;
			}
			b = lim;
		}
	}
	if (needs_entry(r, a, b) && frag_reserve(r) < 0) {
		r->stats.frag_overflow++;
		return 0;
	}
	if (storage_fit(r, b) < 0) {
		r->stats.no_storage++;   /* refused whole: the sender retransmits */
		return 0;
	}
	r->stats.bytes_beyond += ne - b;
	store(r, a, b, data + (a - ns), ns, ne);
	return (int64_t)(r->next_off - old_next);
}

/* ---- the rest of the API ---- */

int xc_ring_init_pooled(struct xc_ring *r, uint32_t cap, uint32_t policy, struct xc_bufpool *pool)
{
	if (!r)
		return -1;
	memset(r, 0, sizeof(*r));
	if (policy > XC_OVERLAP_WINDOWS)
		return -1;
	r->policy = policy;
	r->frag_cap = XC_RING_MAX_FRAGS;
	r->seg_cap = XC_RING_MAX_SEGS;
	r->pool = pool;
	if (cap && !pool) {
		r->buf = malloc(cap);
		if (!r->buf)
			return -1;
		r->store_cap = cap;
	}
	r->cap = cap;
	return 0;
}

int xc_ring_init(struct xc_ring *r, uint32_t cap, uint32_t policy)
{
	return xc_ring_init_pooled(r, cap, policy, NULL);
}

static void storage_free(struct xc_ring *r)
{
	if (r->pool)
		xc_bufpool_put(r->pool, r->buf, r->store_cap);
	else
		free(r->buf);
	r->buf = NULL;
	r->store_cap = 0;
}

void xc_ring_free(struct xc_ring *r)
{
	if (!r)
		return;
	storage_free(r);
	free(r->frags);
	free(r->segs);
	memset(r, 0, sizeof(*r));
}

int xc_ring_resize(struct xc_ring *r, uint32_t cap)
{
	if (!r)
		return -1;
	if (cap == r->cap)
		return 0;
	if (cap == 0) {
		r->stats.bytes_lost += r->next_off - r->read_off;
		storage_free(r);
		r->cap = 0;
		r->nfrags = 0;
		r->read_off = r->high_off = r->next_off;
		seg_clear(r);
		return 0;
	}
	if (r->high_off - r->read_off > cap)
		return -1;
	if (r->pool) {
		/* storage follows what is held, not cap: only a block now
		 * larger than the new cap moves */
		if (r->buf && r->store_cap > cap) {
			uint32_t old_cap = r->cap;
			r->cap = cap;
			if (storage_move(r, store_size_for(r, r->high_off - r->read_off)) < 0) {
				r->cap = old_cap;
				return -1;
			}
		}
		r->cap = cap;
		return 0;
	}
	uint8_t *nb = malloc(cap);
	if (!nb)
		return -1;
	/* copy [read_off, high_off), holes included: a few memcpy at most */
	for (uint64_t o = r->read_off; o < r->high_off;) {
		uint64_t so = o % r->store_cap, dof = o % cap;
		uint64_t n = min64(r->high_off - o, min64(r->store_cap - so, cap - dof));
		memcpy(nb + dof, r->buf + so, n);
		o += n;
	}
	storage_free(r);
	r->buf = nb;
	r->cap = r->store_cap = cap;
	return 0;
}

int xc_ring_set_policy(struct xc_ring *r, uint32_t policy)
{
	if (!r || policy > XC_OVERLAP_WINDOWS)
		return -1;
	if (!is_target(policy))
		seg_clear(r);
	r->policy = policy;
	return 0;
}

int xc_ring_set_caps(struct xc_ring *r, uint32_t frag_cap, uint32_t seg_cap)
{
	if (!r || frag_cap < r->nfrags || seg_cap > XC_RING_MAX_SEGS)
		return -1;
	r->frag_cap = frag_cap;
	r->seg_cap = seg_cap;
	seg_evict(r, seg_cap);
	return 0;
}

/* Bytes an append of len may store at next_off: free space, and storage
 * for it (at the pool's refusal, what the block held has room for). */
static uint32_t append_room(struct xc_ring *r, uint32_t len)
{
	uint32_t n = xc_ring_free_space(r);
	if (len < n)
		n = len;
	if (n && storage_fit(r, r->next_off + n) < 0) {
		/* no more storage: take what the block held already has room for */
		uint32_t room = r->buf ? r->store_cap - (uint32_t)(r->next_off - r->read_off) : 0;
		if (room < n)
			n = room;
		if (n == 0)
			r->stats.no_storage++;
	}
	return n;
}

int64_t xc_ring_append_fd(struct xc_ring *r, int fd, uint64_t off, uint32_t len)
{
	if (!r || r->nfrags || is_target(r->policy) || !r->cap)
		return -EINVAL;          /* the send-buffer case only */
	uint32_t n = append_room(r, len);
	uint32_t got = 0;
	while (got < n) {
		uint32_t pos = (uint32_t)((r->next_off + got) % r->store_cap);
		uint32_t piece = r->store_cap - pos < n - got ? r->store_cap - pos : n - got;
		ssize_t k = pread(fd, r->buf + pos, piece, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && !got)
			return -errno;
		if (k <= 0)
			break;                /* end of file (or an error after some bytes) */
		got += (uint32_t)k;
	}
	r->next_off += got;
	r->high_off = r->next_off;
	r->stats.bytes_in += got;
	r->stats.bytes_new += got;
	return got;
}

uint32_t xc_ring_append(struct xc_ring *r, const uint8_t *data, uint32_t len)
{
	if (!r || !data)
		return 0;
	uint32_t n = append_room(r, len);
	if (n == 0)
		return 0;
	if (r->nfrags == 0 && !is_target(r->policy)) {  /* the send-buffer case */
		ring_put(r, r->next_off, data, n);
		r->next_off += n;
		r->high_off = r->next_off;
		r->stats.bytes_in += n;
		r->stats.bytes_new += n;
		return n;
	}
	xc_ring_insert(r, r->next_off, data, n, 0);
	return n;
}

uint32_t xc_ring_read(struct xc_ring *r, uint8_t *dst, uint32_t n)
{
	if (!r || !dst)
		return 0;
	uint32_t k = xc_ring_readable(r);
	if (n < k)
		k = n;
	if (k) {
		ring_get(r, r->read_off, dst, k);
		xc_ring_consume(r, k);
	}
	return k;
}

uint32_t xc_ring_peek(const struct xc_ring *r, uint64_t off, uint8_t *dst, uint32_t n)
{
	if (!r || !dst || off < r->read_off || off >= r->next_off)
		return 0;
	uint64_t k = min64(n, r->next_off - off);
	ring_get(r, off, dst, k);
	return (uint32_t)k;
}

uint32_t xc_ring_consume(struct xc_ring *r, uint32_t n)
{
	if (!r)
		return 0;
	uint32_t k = xc_ring_readable(r);
	if (n < k)
		k = n;
	r->read_off += k;
	if (r->seg_tail)
		seg_drop_consumed(r);
	storage_release_if_empty(r);
	return k;
}

uint32_t xc_ring_fragments(const struct xc_ring *r, struct xc_ring_frag *out, uint32_t max)
{
	if (!r || !out)
		return 0;
	uint32_t n = 0;
	if (r->next_off > r->read_off && n < max) {
		out[n].offset = r->read_off;
		out[n].len = (uint32_t)(r->next_off - r->read_off);
		n++;
	}
	for (uint32_t i = 0; i < r->nfrags && n < max; i++)
		out[n++] = r->frags[i];
	return n;
}

uint64_t xc_ring_skip_gap(struct xc_ring *r)
{
	if (!r || r->nfrags == 0 || r->read_off != r->next_off)
		return 0;
	uint64_t hole = r->frags[0].offset - r->next_off;
	r->read_off = r->frags[0].offset;
	r->next_off = frag_end(&r->frags[0]);
	frag_remove(r, 0, 1);
	r->stats.gap_bytes += hole;
	if (r->seg_tail)
		seg_drop_consumed(r);
	storage_release_if_empty(r);
	return hole;
}

uint32_t xc_ring_free_space(const struct xc_ring *r)
{
	return r ? r->cap - (uint32_t)(r->next_off - r->read_off) : 0;
}

uint32_t xc_ring_readable(const struct xc_ring *r)
{
	return r ? (uint32_t)(r->next_off - r->read_off) : 0;
}
