/* The reassembly ring (ring.c) under a sequence of operations decoded from
 * the input: inserts at (offset, length) relative to the read position,
 * appends, reads, peeks, consumes, gap skips, resizes, policy and cap
 * changes.
 *
 * Input: a header byte (initial capacity, policy, whether contents may
 * conflict), then operations of 6 bytes each.  Unless the header allows
 * conflicting contents, every byte written at stream offset o is content(o),
 * so every byte read or peeked must be content(o) whatever the policy and
 * however the window slid.  After every operation the ring's invariants
 * (api_ring.h) are checked, and for a ring that always had a buffer:
 * read_off == bytes consumed + bytes_lost + gap_bytes. */
#include "fuzz_common.h"
#include "api_ring.h"

#define MAX_LEN 8192

static const uint32_t caps[8] = { 0, 1, 7, 64, 1000, 4096, 16384, 65536 };

static uint8_t content(uint64_t off, int variant)
{
	return (uint8_t)(off * 131 + (off >> 8) * 7 + (off >> 16) * 3 + variant * 101);
}

HARNESS_ONLY static void fill(uint8_t *buf, uint64_t off, uint32_t len, int variant)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = content(off + i, variant);
}

HARNESS_ONLY static void check_ring(const struct xc_ring *r)
{
	CHECK(r->read_off <= r->next_off && r->next_off <= r->high_off,
	      "read %llu next %llu high %llu", (unsigned long long)r->read_off,
	      (unsigned long long)r->next_off, (unsigned long long)r->high_off);
	if (r->cap)
		CHECK(r->high_off - r->read_off <= r->cap, "stored span %llu > cap %u",
		      (unsigned long long)(r->high_off - r->read_off), r->cap);
	else
		CHECK(r->read_off == r->high_off && r->nfrags == 0, "cap 0 keeps data");
	CHECK(r->nfrags <= r->frag_cap || r->frag_cap == 0, "nfrags %u > cap %u",
	      r->nfrags, r->frag_cap);
	uint64_t prev_end = r->next_off;
	for (uint32_t i = 0; i < r->nfrags; i++) {
		const struct xc_ring_frag *f = &r->frags[i];
		CHECK(f->len > 0, "empty fragment %u", i);
		CHECK(f->offset > prev_end, "fragment %u at %llu not beyond %llu", i,
		      (unsigned long long)f->offset, (unsigned long long)prev_end);
		prev_end = f->offset + f->len;
	}
	CHECK(prev_end <= r->high_off, "fragments end past high_off");
	CHECK(r->nfrags == 0 || prev_end == r->high_off, "high_off is not the last fragment's end");
	CHECK(xc_ring_readable(r) == r->next_off - r->read_off, "readable");
	CHECK(xc_ring_free_space(r) == r->cap - (r->next_off - r->read_off), "free space");
}

HARNESS_ONLY static void check_bytes(const uint8_t *got, uint64_t off, uint32_t n, int oracle)
{
	if (!oracle)
		return;
	for (uint32_t i = 0; i < n; i++)
		CHECK(got[i] == content(off + i, 0), "byte at %llu is %u, written %u",
		      (unsigned long long)(off + i), got[i], content(off + i, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t hdr = in_u8(&in);
	int oracle = !(hdr & 0x80);
	struct xc_ring r;
	if (xc_ring_init(&r, caps[hdr & 7], (hdr >> 3) % 5) < 0)
		return 0;
	int always_buffered = r.cap != 0;
	uint64_t consumed = 0;
	uint8_t *buf = malloc(MAX_LEN);
	uint8_t *out = malloc(MAX_LEN);
	struct xc_ring_frag frags[80];

	for (int steps = 0; !in_empty(&in) && steps < 2000; steps++) {
		uint8_t op = in_u8(&in);
		uint8_t a = in_u8(&in);
		uint16_t b = in_u16(&in);
		uint16_t c = in_u16(&in);
		switch (op % 12) {
		case 0: case 1: case 2: {      /* insert near the read position */
			uint64_t off = r.read_off + b;
			off = off >= 512 ? off - 512 : 0;
			uint32_t len = c % MAX_LEN;
			int variant = !oracle && (a & 1);
			fill(buf, off, len, variant);
			int64_t adv = xc_ring_insert(&r, off, buf, len, a & 2 ? XC_RING_DROP_OLDEST : 0);
			CHECK(adv >= 0 || off + len >= (1ull << 63), "insert refused valid arguments");
			break;
		}
		case 3: {                      /* insert far away, or at the offset limit */
			uint64_t off = (a & 1) ? (1ull << 63) - c : r.read_off + ((uint64_t)b << 12);
			uint32_t len = c % MAX_LEN;
			fill(buf, off, len, 0);
			int64_t adv = xc_ring_insert(&r, off, buf, len, a & 2 ? XC_RING_DROP_OLDEST : 0);
			CHECK(adv >= -1, "insert result %lld", (long long)adv);
			break;
		}
		case 4: {                      /* append (the send-buffer use) */
			uint32_t len = c % MAX_LEN;
			fill(buf, r.next_off, len, 0);
			xc_ring_append(&r, buf, len);
			break;
		}
		case 5: {
			uint64_t at = r.read_off;
			uint32_t n = xc_ring_read(&r, out, c % MAX_LEN);
			check_bytes(out, at, n, oracle);
			consumed += n;
			break;
		}
		case 6: {
			uint64_t at = r.read_off + b;
			uint32_t n = xc_ring_peek(&r, at, out, c % MAX_LEN);
			CHECK(n == 0 || (at >= r.read_off && at + n <= r.next_off), "peek range");
			check_bytes(out, at, n, oracle);
			break;
		}
		case 7:
			consumed += xc_ring_consume(&r, c);
			break;
		case 8: {
			uint64_t before = r.next_off;
			uint64_t hole = xc_ring_skip_gap(&r);
			CHECK(!hole || r.read_off == before + hole, "skip_gap moved by %llu",
			      (unsigned long long)hole);
			break;
		}
		case 9: {
			uint32_t cap = caps[a & 7] + (a & 8 ? b : 0);
			if (xc_ring_resize(&r, cap) == 0 && cap == 0)
				always_buffered = 0;
			break;
		}
		case 10:
			xc_ring_set_policy(&r, a % 6);   /* 5 is refused */
			break;
		case 11: {
			if (a & 1) {
				xc_ring_set_caps(&r, b % 80, c % (XC_RING_MAX_SEGS + 2));
			} else {
				uint32_t n = xc_ring_fragments(&r, frags, b % 80);
				uint64_t prev = 0;
				for (uint32_t i = 0; i < n; i++) {
					CHECK(frags[i].offset >= prev && frags[i].len, "fragments()");
					prev = frags[i].offset + frags[i].len;
				}
			}
			break;
		}
		}
		check_ring(&r);
		if (always_buffered)
			CHECK(r.read_off == consumed + r.stats.bytes_lost + r.stats.gap_bytes,
			      "read_off %llu != consumed %llu + lost %llu + gaps %llu",
			      (unsigned long long)r.read_off, (unsigned long long)consumed,
			      (unsigned long long)r.stats.bytes_lost,
			      (unsigned long long)r.stats.gap_bytes);
	}
	xc_ring_free(&r);
	free(buf);
	free(out);
	return 0;
}
