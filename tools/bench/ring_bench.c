/* Micro-benchmark driver for the ring (ring_bench.py, which builds it with
 * the core's ring): the loop runs in C so the numbers are the ring's, not
 * Python's.  Not part of the core library. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api_ring.h"
#include "ring_bench.h"

static uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

uint64_t xc_ring_bench_run(uint32_t cap, uint32_t policy, uint32_t seg,
			   uint64_t total, uint32_t reorder_pm, uint64_t seed,
			   uint64_t *out_bytes)
{
	struct xc_ring r;
	if (seg == 0 || cap < 4 * (uint64_t)seg || xc_ring_init(&r, cap, policy) < 0)
		return 0;
	uint8_t *src = malloc(seg), *dst = malloc(cap);
	if (!src || !dst) {
		free(src);
		free(dst);
		xc_ring_free(&r);
		return 0;
	}
	memset(src, 'x', seg);
	uint64_t rng = seed | 1, got = 0, nseg = total / seg;
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < nseg; i++) {
		if (i + 1 < nseg && xorshift(&rng) % 1000 < reorder_pm) {
			xc_ring_insert(&r, (i + 1) * seg, src, seg, 0);  /* overtaken */
			xc_ring_insert(&r, i * seg, src, seg, 0);
			i++;
		} else {
			xc_ring_insert(&r, i * seg, src, seg, 0);
		}
		if (xc_ring_readable(&r) >= cap / 2)
			got += xc_ring_read(&r, dst, cap);
	}
	got += xc_ring_read(&r, dst, cap);
	uint64_t dt = bench_now_ns() - t0;
	free(src);
	free(dst);
	xc_ring_free(&r);
	if (out_bytes)
		*out_bytes = got;
	return dt ? dt : 1;
}
