/* The wire's one frame parser (wire/frame.h) and its readers: the
 * classifier and verifier (wire/classify.c, wire/csum.c), the endpoint's
 * segment view (tcp_seg_parse: no VLAN tag, the whole packet, what
 * tcp_input.c reads), the monitor's (MON_WIRE_FLAGS: VLAN tags, a payload
 * the capture cut short, IPv6 with its extension headers) with its
 * checksum checks, and the TCP option parser (wire/tcp_opts.c).
 *
 * Input: one frame, Ethernet header first, copied into a buffer of exactly
 * its size so ASan sees any read past it.  Checked: the readers agree with
 * each other (the endpoint takes exactly the segments whose headers the
 * classifier accepts, the monitor reads those the same way, and whatever
 * IPv4 the monitor reads untagged and whole the endpoint takes; a VLAN tag
 * or a cut payload changes only what it should; WIRE_IPV6 changes nothing
 * on IPv4 and only IPv6 frames, which the endpoint refuses), every length
 * returned stays inside the frame, the monitor's checksum check is the
 * verifier's, and a frame whose checksums were just filled in (IPv4 or
 * IPv6) verifies. */
#include "fuzz_common.h"
#include "mon/mon_internal.h"
#include "tcp/tcp_internal.h"
#include "wire/csum.h"

static void check_opts(const struct tcp_opts *o)
{
	CHECK(o->nsack <= TCP_MAX_SACK_IN, "nsack %u", o->nsack);
	CHECK(!o->has_wscale || o->wscale <= 14, "wscale %u", o->wscale);
}

static void check_inside(const struct tcp_seg *s, const uint8_t *f, uint32_t len)
{
	CHECK(s->caplen <= s->len, "caplen %u > len %u", s->caplen, s->len);
	CHECK(s->snapped == (s->caplen < s->len), "snapped flag");
	CHECK(s->payload >= f && s->payload + s->caplen <= f + len, "payload outside");
	CHECK(s->doff >= 20 && s->tcp + s->doff == s->payload, "doff %u", s->doff);
	CHECK(s->ip == f + s->l2_len && s->tcp == s->ip + s->ihl, "header offsets");
	check_opts(&s->opt);
}

/* The ethertype after up to two VLAN tags (0 when the frame is shorter). */
static uint16_t inner_ethertype(const uint8_t *f, uint32_t len)
{
	uint32_t l2 = 12;
	for (int tags = 0; tags <= 2; tags++, l2 += 4) {
		if (len < l2 + 2)
			return 0;
		uint16_t et = wire_rd16(f + l2);
		if ((et != ETHERTYPE_VLAN && et != ETHERTYPE_QINQ) || tags == 2)
			return et;
	}
	return 0;
}

/* An IPv6 segment the monitor read: its headers within their caps, its
 * folds from its addresses, and its checksum, once filled (on a copy),
 * verifying. */
static void check_ipv6(const struct tcp_seg *s, const uint8_t *f, uint32_t len)
{
	CHECK(s->ihl >= WIRE_IPV6_HDR_LEN && s->ihl <= WIRE_IPV6_L3_MAX, "IPv6 ihl %u", s->ihl);
	CHECK(s->saddr == wire_fold6(s->ip + 8) && s->daddr == wire_fold6(s->ip + 24),
	      "IPv6 folds");
	CHECK(s->ip_len >= s->ihl + s->doff, "IPv6 ip_len %u < headers", s->ip_len);
	if (s->snapped)
		return;
	uint8_t *c = malloc(len);
	memcpy(c, f, len);
	uint8_t *ip = c + (s->ip - f), *tcp = c + (s->tcp - f);
	uint32_t l4 = s->ip_len - s->ihl;
	wire_fill_csum6(ip, tcp, l4);
	CHECK(wire_tcp6_csum_ok(ip, tcp, l4), "a filled IPv6 checksum does not verify");
	free(c);
}

/* The same segment, read from two frames (b's headers shift of a's). */
static void check_same(const struct tcp_seg *a, const struct tcp_seg *b, const char *what)
{
	CHECK(a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport &&
	      a->dport == b->dport, "%s: addresses differ", what);
	CHECK(a->seq == b->seq && a->ack == b->ack && a->flags == b->flags && a->wnd == b->wnd &&
	      a->doff == b->doff && a->ihl == b->ihl && a->ip_len == b->ip_len,
	      "%s: header fields differ", what);
	CHECK(a->len == b->len, "%s: len %u vs %u", what, a->len, b->len);
	CHECK(memcmp(&a->opt, &b->opt, sizeof(a->opt)) == 0, "%s: options differ", what);
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
	struct tcp_seg ms;
	int mon = wire_parse(f, len, &ms, MON_WIRE_FLAGS);
	struct tcp_seg m4;
	int mon4 = wire_parse(f, len, &m4, MON_WIRE_FLAGS & ~WIRE_IPV6);
	int is_v6 = inner_ethertype(f, len) == ETHERTYPE_IPV6;

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
		CHECK(seg.caplen == seg.len && !seg.snapped && seg.l2_len == ETH_HDR_LEN,
		      "the endpoint's segment is whole and untagged");
		check_inside(&seg, f, len);
		/* Whatever the endpoint accepts the monitor reads the same way,
		 * and judges its checksums as the port's verifier does. */
		CHECK(mon == WIRE_OK, "monitor %d on a segment the endpoint takes", mon);
		check_same(&seg, &ms, "endpoint/monitor");
		CHECK(ms.caplen == seg.len && !ms.snapped, "monitor caplen %u vs %u", ms.caplen, seg.len);
		int sums_ok = wire_ipv4_csum_ok(ms.ip, ms.ihl) &&
			      wire_tcp_csum_ok(ms.ip, ms.tcp, ms.ip_len - ms.ihl);
		CHECK(sums_ok == (verdict == XC_FRAME_OK), "monitor checksum %d, verify %d",
		      sums_ok, verdict);
	}
	/* WIRE_IPV6 reads IPv6 frames only: IPv4 ones come out the same */
	if (is_v6) {
		CHECK(mon4 == WIRE_NOT_IPV4 && !seg_ok, "an IPv6 frame read without WIRE_IPV6");
		CHECK(mon == WIRE_OK ? ms.v6 : mon != WIRE_NOT_IPV4, "IPv6 frame: monitor %d", mon);
	} else {
		CHECK(mon4 == mon, "WIRE_IPV6 changed an IPv4 frame's verdict: %d vs %d", mon, mon4);
		if (mon == WIRE_OK)
			check_same(&ms, &m4, "with/without WIRE_IPV6");
	}
	if (mon == WIRE_OK) {
		check_inside(&ms, f, len);
		CHECK(ms.l2_len == 14 || ms.l2_len == 18 || ms.l2_len == 22, "l2_len %u", ms.l2_len);
		if (ms.v6)
			check_ipv6(&ms, f, len);
		/* IPv4, untagged and whole: a segment the endpoint takes */
		if (!ms.v6 && ms.l2_len == ETH_HDR_LEN && !ms.snapped)
			CHECK(seg_ok, "the endpoint refuses a whole untagged segment the monitor reads");
		/* the capture cut in the payload: the same segment, snapped */
		uint32_t hdrs = (uint32_t)(ms.payload - f);
		uint32_t cut = hdrs + ms.caplen / 2;
		struct tcp_seg cs;
		CHECK(wire_parse(f, cut, &cs, MON_WIRE_FLAGS) == WIRE_OK, "monitor refuses a cut copy");
		check_same(&ms, &cs, "cut");
		check_inside(&cs, f, cut);
		CHECK(cs.caplen == cut - hdrs, "cut caplen %u, want %u", cs.caplen, cut - hdrs);
		if (cs.snapped)
			CHECK(tcp_seg_parse(f, cut, &cs) < 0, "the endpoint takes a cut segment");
	}

	/* A VLAN tag in front of an untagged frame: the monitor reads the same
	 * thing 4 bytes further, the endpoint nothing. */
	if (len >= ETH_HDR_LEN && len + 4 <= XC_FRAME_MAX) {
		uint16_t et = wire_rd16(f + 12);
		if (et != ETHERTYPE_VLAN && et != ETHERTYPE_QINQ) {
			uint8_t *t = malloc(len + 4);
			memcpy(t, f, 12);
			t[12] = ETHERTYPE_VLAN >> 8; t[13] = ETHERTYPE_VLAN & 0xff; t[14] = 0; t[15] = 7;
			memcpy(t + 16, f + 12, len - 12);
			struct tcp_seg ts;
			int tr = wire_parse(t, len + 4, &ts, MON_WIRE_FLAGS);
			CHECK(tr == mon, "tagged: monitor %d, untagged %d", tr, mon);
			if (mon == WIRE_OK) {
				check_same(&ms, &ts, "tagged");
				CHECK(ts.l2_len == ms.l2_len + 4 && ts.caplen == ms.caplen, "tagged lengths");
			}
			CHECK(tcp_seg_parse(t, len + 4, &ts) < 0, "the endpoint takes a tagged frame");
			free(t);
		}
	}

	/* Options alone, on the raw input (any length, any content). */
	struct tcp_opts o;
	tcp_opts_parse(f, len, &o);
	check_opts(&o);

	/* Filled checksums verify (fragments are not checked past the IP
	 * header), and the pseudo-header sum a NIC or the kernel finishes
	 * (CHECKSUM_PARTIAL: super-segments) finishes as the filled one. */
	if (xc_frame_fill_csum(f, len) == 0) {
		int v = xc_frame_verify(f, len);
		CHECK(v == XC_FRAME_OK || v == XC_FRAME_MALFORMED, "verify %d after fill", v);
		struct wire_ipv4 ip;
		CHECK(wire_ipv4(f, len, 0, &ip) == WIRE_OK, "filled a frame wire_ipv4 refuses");
		uint8_t *tcp = (uint8_t *)ip.l4, filled[2];
		memcpy(filled, tcp + 16, 2);
		uint16_t c = wire_csum_pseudo(ip.ip, ip.l4_len);
		memcpy(tcp + 16, &c, 2);
		c = xc_inet_csum(tcp, ip.l4_len);
		CHECK(memcmp(&c, filled, 2) == 0, "partial checksum finishes as %04x, filled %02x%02x",
		      c, filled[0], filled[1]);
	}
	free(f);
	return 0;
}
