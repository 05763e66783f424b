/* Seeded fault injection: drop, duplicate, corrupt, delay, reorder.
 * These kernels have no netem, so impairment lives in the device layer. */
#include <stdlib.h>
#include <string.h>
#include "faults.h"

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: fast, seedable, good enough for fault decisions. */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int chance(struct xc_faults *f, double p)
{
	return p > 0 && rng_unit(&f->rng) < p;
}

int xc_faults_configure(struct xc_faults *f, const struct xc_fault_cfg *cfg,
			uint64_t seed)
{
	if (!cfg) {
		f->enabled = 0;
		return 0;
	}
	const double *p[] = { &cfg->drop, &cfg->duplicate, &cfg->reorder,
			      &cfg->corrupt, &cfg->delay };
	for (unsigned i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (!(*p[i] >= 0 && *p[i] <= 1))
			return -1;
	if (!f->held) {
		f->held = calloc(XC_HOLD_CAP, sizeof(*f->held));
		if (!f->held)
			return -1;
	}
	f->cfg = *cfg;
	f->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	f->enabled = 1;
	return 0;
}

void xc_faults_release(struct xc_faults *f)
{
	free(f->held);
	memset(f, 0, sizeof(*f));
}

static int hold(struct xc_faults *f, const uint8_t *frame, uint32_t len,
		const struct xc_pkt *pkt, uint64_t due)
{
	if (f->n_held >= XC_HOLD_CAP)
		return -1;
	struct xc_held_frame *h = &f->held[f->n_held++];
	h->due_ns = due;
	h->order = f->next_order++;
	h->len = len;
	if (pkt)
		h->pkt = *pkt;
	else
		memset(&h->pkt, 0, sizeof(h->pkt));
	memcpy(h->data, frame, len);
	return 0;
}

enum xc_fault_verdict xc_faults_apply(struct xc_faults *f, uint8_t *frame,
				      uint32_t len, const struct xc_pkt *pkt,
				      struct xc_port_stats *st,
				      int dir, uint64_t now_ns)
{
	if (!f->enabled)
		return XC_FAULT_PASS;
	if (chance(f, f->cfg.drop)) {
		st->fault_dropped[dir]++;
		return XC_FAULT_DROP;
	}
	if (len > 14 && chance(f, f->cfg.corrupt)) {
		uint64_t r = rng_next(&f->rng);
		uint32_t at = 14 + (uint32_t)(r % (len - 14));
		frame[at] ^= (uint8_t)(1u << ((r >> 32) & 7));
		st->fault_corrupted[dir]++;
	}
	int dup = chance(f, f->cfg.duplicate);
	if (dup)
		st->fault_duplicated[dir]++;
	uint64_t hold_ns = 0;
	if (chance(f, f->cfg.delay)) {
		hold_ns = (uint64_t)f->cfg.delay_us * 1000;
		st->fault_delayed[dir]++;
	} else if (chance(f, f->cfg.reorder)) {
		hold_ns = (uint64_t)f->cfg.reorder_us * 1000;
		st->fault_reordered[dir]++;
	}
	if (hold_ns) {
		/* A duplicate of a held frame goes on now: the copy overtakes. */
		if (hold(f, frame, len, pkt, now_ns + hold_ns) == 0)
			return dup ? XC_FAULT_PASS : XC_FAULT_HELD;
		st->fault_hold_overflow[dir]++;
	}
	return dup ? XC_FAULT_DUPLICATE : XC_FAULT_PASS;
}

struct xc_held_frame *xc_faults_pop_due(struct xc_faults *f, uint64_t now_ns,
					struct xc_held_frame *out)
{
	uint32_t best = UINT32_MAX;
	for (uint32_t i = 0; i < f->n_held; i++) {
		struct xc_held_frame *h = &f->held[i];
		if (h->due_ns > now_ns)
			continue;
		if (best == UINT32_MAX || h->due_ns < f->held[best].due_ns ||
		    (h->due_ns == f->held[best].due_ns && h->order < f->held[best].order))
			best = i;
	}
	if (best == UINT32_MAX)
		return NULL;
	struct xc_held_frame *h = &f->held[best];
	out->due_ns = h->due_ns;
	out->order = h->order;
	out->pkt = h->pkt;
	out->len = h->len;
	memcpy(out->data, h->data, h->len);
	f->held[best] = f->held[--f->n_held];
	return out;
}

uint64_t xc_faults_next_due(const struct xc_faults *f)
{
	uint64_t due = 0;
	for (uint32_t i = 0; i < f->n_held; i++)
		if (!due || f->held[i].due_ns < due)
			due = f->held[i].due_ns;
	return due;
}
