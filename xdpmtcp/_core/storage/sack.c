/* SACK scoreboard (api_sack.h): a small sorted array of merged ranges.
 * 32 ranges and at most 4 blocks per ACK make linear scans the fast way;
 * no allocation, so the board lives inside the connection block. */
#include <string.h>
#include "api_sack.h"
#include "wire/seq.h"

/* Bytes [a, b) and [c, d) share; 0 if none. */
static uint32_t overlap(uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	uint32_t lo = seq_max(a, c), hi = seq_min(b, d);
	return seq_lt(lo, hi) ? hi - lo : 0;
}

static void set_high_sacked(struct xc_sack_board *b)
{
	b->high_sacked = b->n ? b->r[b->n - 1].end : b->snd_una;
}

void xc_sack_reset(struct xc_sack_board *b, uint32_t snd_una)
{
	memset(b, 0, sizeof *b);
	b->snd_una = snd_una;
	b->high_rxt = snd_una;
	b->rescue_rxt = snd_una;
	b->high_sacked = snd_una;
}

void xc_sack_advance(struct xc_sack_board *b, uint32_t snd_una)
{
	uint32_t i = 0;

	if (seq_lt(snd_una, b->snd_una))
		return;
	b->snd_una = snd_una;
	while (i < b->n && seq_leq(b->r[i].end, snd_una)) {
		b->sacked_bytes -= b->r[i].end - b->r[i].start;
		i++;
	}
	if (i) {
		memmove(b->r, b->r + i, (b->n - i) * sizeof b->r[0]);
		b->n -= i;
	}
	if (b->n && seq_lt(b->r[0].start, snd_una)) {
		b->sacked_bytes -= snd_una - b->r[0].start;
		b->r[0].start = snd_una;
	}
	/* Keep every remembered edge at or above snd_una so none can age past
	 * 2^31 and flip its comparisons. */
	if (seq_lt(b->high_rxt, snd_una))
		b->high_rxt = snd_una;
	if (b->rescue_valid && seq_gt(snd_una, b->rescue_rxt))
		b->rescue_valid = 0;            /* HighACK > RescueRxt: rule 4 allowed again */
	set_high_sacked(b);
}

/* Add [s, e) (already inside (snd_una, snd_max]); returns bytes new. */
static uint32_t insert(struct xc_sack_board *b, uint32_t s, uint32_t e)
{
	uint32_t i = 0, j, covered = 0, fresh;

	while (i < b->n && seq_lt(b->r[i].end, s))
		i++;
	/* r[i .. j-1] overlap or touch [s, e): they merge into one. */
	for (j = i; j < b->n && seq_leq(b->r[j].start, e); j++)
		covered += overlap(b->r[j].start, b->r[j].end, s, e);
	fresh = (e - s) - covered;
	if (j > i) {
		b->r[i].start = seq_min(s, b->r[i].start);
		b->r[i].end = seq_max(e, b->r[j - 1].end);
		memmove(b->r + i + 1, b->r + j, (b->n - j) * sizeof b->r[0]);
		b->n -= j - i - 1;
	} else {
		if (b->n == XC_SACK_MAX_RANGES) {
			b->cap_drops++;
			if (i == b->n)
				return 0;       /* the new range is the highest: it goes */
			b->n--;
			b->sacked_bytes -= b->r[b->n].end - b->r[b->n].start;
		}
		memmove(b->r + i + 1, b->r + i, (b->n - i) * sizeof b->r[0]);
		b->r[i].start = s;
		b->r[i].end = e;
		b->n++;
	}
	b->sacked_bytes += fresh;
	return fresh;
}

uint32_t xc_sack_update(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max,
			const uint32_t *blocks, uint32_t nblocks)
{
	uint32_t added = 0;

	xc_sack_advance(b, snd_una);
	if (nblocks > XC_SACK_MAX_BLOCKS) {
		b->ignored_blocks += nblocks - XC_SACK_MAX_BLOCKS;
		nblocks = XC_SACK_MAX_BLOCKS;
	}
	for (uint32_t k = 0; k < nblocks; k++) {
		uint32_t s = blocks[2 * k], e = blocks[2 * k + 1];

		if (!seq_lt(s, e)) {            /* empty, reversed or >= 2^31 long */
			b->ignored_blocks++;
			continue;
		}
		/* RFC 2883 §4: only the first block can be a D-SACK; it reports
		 * data that arrived twice, so it says nothing about holes. */
		if (k == 0 && (seq_lt(s, snd_una) ||
			       (nblocks > 1 && seq_geq(s, blocks[2]) && seq_leq(e, blocks[3])))) {
			b->dsack_count++;
			continue;
		}
		if (seq_gt(e, snd_max) || seq_leq(e, b->snd_una)) {
			b->ignored_blocks++;    /* never sent (bogus), or acked since */
			continue;
		}
		added += insert(b, seq_max(s, b->snd_una), e);
	}
	set_high_sacked(b);
	return added;
}

int xc_sack_is_sacked(const struct xc_sack_board *b, uint32_t seq)
{
	for (uint32_t i = 0; i < b->n; i++) {
		if (seq_lt(seq, b->r[i].start))
			return 0;
		if (seq_lt(seq, b->r[i].end))
			return 1;
	}
	return 0;
}

static int lost_given(uint32_t ranges_above, uint64_t bytes_above, uint32_t mss)
{
	return ranges_above >= XC_DUPTHRESH || bytes_above > (uint64_t)(XC_DUPTHRESH - 1) * mss;
}

int xc_sack_is_lost(const struct xc_sack_board *b, uint32_t seq, uint32_t mss)
{
	uint32_t count = 0;
	uint64_t bytes = 0;

	/* Octets strictly above seq, scanning down from the top. */
	for (uint32_t i = b->n; i-- > 0;) {
		if (seq_leq(b->r[i].end, seq + 1))
			break;
		bytes += b->r[i].end - seq_max(b->r[i].start, seq + 1);
		count++;
	}
	return lost_given(count, bytes, mss);
}

/* The holes: unsacked stretches of [una, snd_max).  Every octet of hole i
 * (the one just below range i; i == n for the one above the top range)
 * has exactly ranges i..n-1 above it, so IsLost is the same for the whole
 * hole and one pass computes it for all. */
struct hole {
	uint32_t start, end;
	int lost;
};

static uint32_t holes(const struct xc_sack_board *b, uint32_t una, uint32_t snd_max,
		      uint32_t mss, struct hole *out)
{
	uint32_t nh = 0, cur = una, count = b->n;
	uint64_t bytes = b->sacked_bytes;

	for (uint32_t i = 0; i <= b->n; i++) {
		uint32_t edge = i < b->n ? b->r[i].start : snd_max;
		if (seq_lt(cur, edge)) {
			out[nh].start = cur;
			out[nh].end = edge;
			out[nh].lost = lost_given(count, bytes, mss);
			nh++;
		}
		if (i < b->n) {
			bytes -= b->r[i].end - b->r[i].start;
			count--;
			cur = seq_max(cur, b->r[i].end);
		}
	}
	return nh;
}

uint32_t xc_sack_pipe(const struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max, uint32_t mss)
{
	struct hole h[XC_SACK_MAX_RANGES + 1];
	uint32_t nh = holes(b, snd_una, snd_max, mss, h);
	uint64_t pipe = 0;

	for (uint32_t i = 0; i < nh; i++) {
		if (!h[i].lost)
			pipe += h[i].end - h[i].start;
		pipe += overlap(h[i].start, h[i].end, snd_una, b->high_rxt);
	}
	return pipe > UINT32_MAX ? UINT32_MAX : (uint32_t)pipe;
}

int xc_sack_enter_recovery(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max,
			   uint32_t mss, uint32_t *seq, uint32_t *len)
{
	uint32_t end;

	xc_sack_advance(b, snd_una);
	b->high_rxt = b->snd_una;
	b->rescue_pending = 0;
	b->rescue_valid = 0;
	if (!seq_lt(b->snd_una, snd_max) || !mss)
		return XC_SACK_NONE;
	end = b->n && seq_gt(b->r[0].start, b->snd_una) ? b->r[0].start : snd_max;
	*seq = b->snd_una;
	*len = end - b->snd_una < mss ? end - b->snd_una : mss;
	/* (4.3): both to the retransmitted segment, against repeats and a
	 * premature rescue. */
	b->high_rxt = b->rescue_rxt = *seq + *len;
	b->rescue_valid = 1;
	return XC_SACK_RXT;
}

int xc_sack_next_seg(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_nxt, uint32_t snd_max,
		     uint32_t mss, uint32_t recovery_point, int have_new_data,
		     uint32_t *seq, uint32_t *len)
{
	struct hole h[XC_SACK_MAX_RANGES + 1];
	uint32_t nh, from, r3_start = 0, r3_end = 0;
	int have_r3 = 0;

	xc_sack_advance(b, snd_una);
	b->rescue_pending = 0;
	if (!mss)
		return XC_SACK_NONE;
	nh = holes(b, b->snd_una, snd_max, mss, h);
	from = seq_max(b->snd_una, b->high_rxt);
	/* Rules 1 and 3: the first unsacked octets above HighRxt and below
	 * the highest SACK; rule 1 wants them lost as well. */
	for (uint32_t i = 0; i < nh; i++) {
		uint32_t s = seq_max(h[i].start, from);
		uint32_t e = seq_min(h[i].end, b->high_sacked);
		if (!seq_lt(s, e))
			continue;
		if (h[i].lost) {
			*seq = s;
			*len = e - s < mss ? e - s : mss;
			return XC_SACK_RXT;
		}
		if (!have_r3) {
			have_r3 = 1;
			r3_start = s;
			r3_end = e;
		}
	}
	if (have_new_data) {
		*seq = snd_nxt;
		*len = mss;
		return XC_SACK_NEW;
	}
	if (have_r3) {
		*seq = r3_start;
		*len = r3_end - r3_start < mss ? r3_end - r3_start : mss;
		return XC_SACK_RXT;
	}
	/* Rule 4: one rescue per recovery, ending at the highest unsacked
	 * octet (the top of the top hole). */
	if (!b->rescue_valid && nh) {
		struct hole *top = &h[nh - 1];
		uint32_t n = top->end - top->start < mss ? top->end - top->start : mss;
		*seq = top->end - n;
		*len = n;
		b->rescue_rxt = recovery_point;
		b->rescue_valid = 1;
		b->rescue_pending = 1;
		b->rescue_seq = *seq;
		return XC_SACK_RXT;
	}
	return XC_SACK_NONE;
}

void xc_sack_mark_rxt(struct xc_sack_board *b, uint32_t seq, uint32_t len)
{
	if (b->rescue_pending && seq == b->rescue_seq) {
		b->rescue_pending = 0;          /* rule 4: HighRxt MUST NOT move */
		return;
	}
	if (seq_gt(seq + len, b->high_rxt))
		b->high_rxt = seq + len;
}
