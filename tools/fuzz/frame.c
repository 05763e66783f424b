/* Frame and segment parsers: the classifier and verifier of csum.c, the
 * engine's segment view and TCP option parser (tcp_segment.c, what
 * tcp_input.c reads), and the monitor's frame view (mon_parse.c).
 *
 * Input: one frame, Ethernet header first, copied into a buffer of exactly
 * its size so ASan sees any read past it.  Checked: the parsers agree with
 * each other, every length they return stays inside the frame, and a frame
 * whose checksums were just filled in verifies. */
#include "fuzz_common.h"
#include "mon/mon_internal.h"

static void check_opts(const struct tcp_opts *o)
{
	CHECK(o->nsack <= TCP_MAX_SACK_IN, "nsack %u", o->nsack);
	CHECK(!o->has_wscale || o->wscale <= 14, "wscale %u", o->wscale);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > XC_FRAME_MAX)
		return 0;
	uint32_t len = (uint32_t)size;
	uint8_t *f = malloc(size ? size : 1);
	memcpy(f, data, size);

	struct xc_pkt pkt;
	int cls = xc_frame_classify(f, len, &pkt);
	int verdict = xc_frame_verify(f, len);
	struct tcp_seg seg;
	int seg_ok = tcp_seg_parse(f, len, &seg) == 0;
	struct mon_seg ms;
	int mon = mon_parse(f, len, &ms);

	CHECK(pkt.payload_len <= len, "payload_len %u > frame %u", pkt.payload_len, len);
	/* The endpoint takes exactly the segments whose headers the classifier
	 * accepts; the classifier alone also refuses impossible flags. */
	if (seg_ok)
		CHECK(cls == 0 && pkt.seg_class == xm_classify(seg.flags, seg.len),
		      "classify %d/%u on a segment tcp_seg_parse takes", cls, pkt.seg_class);
	else
		CHECK(pkt.seg_class == XM_SEG_NONE || pkt.seg_class == XM_SEG_MALFORMED,
		      "class %u on a frame tcp_seg_parse refuses", pkt.seg_class);
	if (seg_ok) {
		CHECK(verdict != XC_FRAME_MALFORMED && verdict != XC_FRAME_NOT_IPV4,
		      "verify %d on a classified segment", verdict);
		CHECK(seg.len == pkt.payload_len, "payload %u vs %u", seg.len, pkt.payload_len);
		CHECK(seg.payload >= f && seg.payload + seg.len <= f + len, "payload outside");
		CHECK(seg.doff >= 20, "doff %u", seg.doff);
		check_opts(&seg.opt);
		/* Whatever the endpoint accepts the monitor reads the same way. */
		CHECK(mon == MON_P_OK, "mon_parse %d on a segment the endpoint takes", mon);
		CHECK(ms.len == seg.len && ms.caplen == seg.len && !ms.snapped,
		      "monitor len %u caplen %u vs %u", ms.len, ms.caplen, seg.len);
		CHECK(ms.seq == seg.seq && ms.ack == seg.ack && ms.flags == seg.flags,
		      "header fields differ");
	}
	if (mon == MON_P_OK) {
		CHECK(ms.caplen <= ms.len, "caplen %u > len %u", ms.caplen, ms.len);
		CHECK(ms.payload >= f && ms.payload + ms.caplen <= f + len, "monitor payload outside");
		CHECK(ms.snapped == (ms.caplen < ms.len), "snapped flag");
		check_opts(&ms.opt);
	}

	/* Options alone, on the raw input (any length, any content). */
	struct tcp_opts o;
	tcp_opts_parse(f, len, &o);
	check_opts(&o);

	/* Filled checksums verify (fragments are not checked past the IP header). */
	if (xc_frame_fill_csum(f, len) == 0) {
		int v = xc_frame_verify(f, len);
		CHECK(v == XC_FRAME_OK || v == XC_FRAME_MALFORMED, "verify %d after fill", v);
	}
	free(f);
	return 0;
}
