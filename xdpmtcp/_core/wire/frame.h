/* Ethernet/IPv4/TCP as the core reads them: one parser for the endpoint,
 * the monitor, the port and the classifier, in two steps.
 *
 *   wire_ipv4   Ethernet (and, with WIRE_VLAN, up to two 802.1Q/802.1ad
 *               tags), then the IPv4 header: the view the checksums and
 *               the packet filter need, whatever the protocol.  With
 *               WIRE_IPV6 (the monitor) an IPv6 header and its extension
 *               headers too (wire_ipv6_hdr).
 *   wire_parse  wire_ipv4, then TCP: the header, its options and where
 *               the payload is.
 *
 * By default the whole packet must be in the frame (what the endpoint
 * receives).  With WIRE_SNAPPED a capture may hold less (snaplen): the
 * headers must be there, the payload may be cut, and len (from the IPv4
 * total length) is then more than caplen (what the frame holds).  After a
 * result of WIRE_OK every pointer and length is inside the frame.
 *
 * Both are inline, so a caller's constant flags fold away: the endpoint's
 * tcp_seg_parse (tcp/tcp_internal.h) compiles to the checks it needs and
 * no more. */
#ifndef XC_WIRE_FRAME_H
#define XC_WIRE_FRAME_H
#include <stdint.h>
#include <string.h>
#include "seq.h"

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define IPPROTO_TCP_NUM 6

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

#define TCP_HDR_LEN 20
#define TCP_MAX_SACK_IN 4

/* Network-order fields. */
static inline uint16_t wire_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t wire_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse flags. */
#define WIRE_VLAN 1              /* up to two VLAN tags before IPv4 */
#define WIRE_SNAPPED 2           /* a capture: the payload may be cut short */
#define WIRE_NO_OPTS 4           /* wire_parse leaves the TCP options (opt) unread */
#define WIRE_IPV6 8              /* IPv6 too (WIRE_NOT_IPV4 then means neither) */

/* IPv6 header and extension headers the parser walks (hop-by-hop,
 * routing, fragment, destination options, AH): at most this many, and at
 * most this many bytes in all (tcp_seg.ihl is a byte). */
#define WIRE_IPV6_HDR_LEN 40
#define WIRE_IPV6_EXT_MAX 8
#define WIRE_IPV6_L3_MAX 255

/* Results, in the order they are checked. */
enum wire_result {
	WIRE_OK = 0,
	WIRE_NOT_IPV4 = 1,       /* not our business: left alone */
	WIRE_MALFORMED = 2,      /* Ethernet/IPv4 cut short, or lengths that do not add up */
	WIRE_NOT_TCP = 3,
	WIRE_FRAGMENT = 4,       /* MF set or offset non-zero: no TCP header to read */
	WIRE_BAD_TCP = 5         /* the TCP header cut short, or its offset out of range */
};

struct wire_ipv4 {
	const uint8_t *ip;
	uint32_t l2_len;         /* Ethernet (+VLAN) header bytes */
	uint32_t ihl;            /* header bytes */
	uint32_t tot;            /* total length */
	const uint8_t *l4;
	uint32_t l4_len;         /* from the total length, not the frame */
	uint32_t l4_cap;         /* of those, in the frame (l4_len unless snapped) */
	int fragment;            /* MF set or offset non-zero */
	/* with WIRE_IPV6 only: */
	uint8_t v6;              /* an IPv6 packet: ihl covers its extension headers */
	uint8_t proto;           /* the upper-layer protocol (IPv4: ip[9]) */
};

/* The view of a checked layer-3 header: hdr bytes of header (IPv4 IHL,
 * or IPv6 with its extension headers), tot bytes in all, avail captured;
 * Ethernet padding past tot is not payload. */
static inline void wire_set_l3(struct wire_ipv4 *v, const uint8_t *ip, uint32_t l2, uint32_t hdr,
			       uint32_t tot, uint32_t avail, int fragment)
{
	v->ip = ip;
	v->l2_len = l2;
	v->ihl = hdr;
	v->tot = tot;
	v->l4 = ip + hdr;
	v->l4_len = tot - hdr;
	v->l4_cap = (avail < tot ? avail : tot) - hdr;
	v->fragment = fragment;
}

/* An IPv6 header at ip (avail bytes captured, l2 bytes after the frame's
 * start) and its extension headers.  The payload length 0 of a jumbogram
 * (BIG TCP) means the captured length. */
static inline int wire_ipv6_hdr(const uint8_t *ip, uint32_t l2, uint32_t avail, unsigned flags,
				struct wire_ipv4 *v)
{
	if (avail < WIRE_IPV6_HDR_LEN || (ip[0] >> 4) != 6)
		return WIRE_MALFORMED;
	uint32_t tot = WIRE_IPV6_HDR_LEN + wire_rd16(ip + 4);
	if (tot == WIRE_IPV6_HDR_LEN && avail > WIRE_IPV6_HDR_LEN + 65535)
		tot = avail;
	if (!(flags & WIRE_SNAPPED) && tot > avail)
		return WIRE_MALFORMED;
	uint32_t off = WIRE_IPV6_HDR_LEN, fragment = 0;
	uint8_t nh = ip[6];
	for (int i = 0; i < WIRE_IPV6_EXT_MAX; i++) {
		uint32_t len;
		if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
			break;                       /* an upper layer (or ESP, no next header) */
		if (avail < off + 8 || tot < off + 8)
			return WIRE_MALFORMED;
		if (nh == 44) {                      /* fragment: offset, M */
			fragment = (wire_rd16(ip + off + 2) & 0xfff9) != 0;
			len = 8;
		} else {
			len = nh == 51 ? (ip[off + 1] + 2u) * 4 : (ip[off + 1] + 1u) * 8;
		}
		nh = ip[off];
		off += len;
	}
	if (off > WIRE_IPV6_L3_MAX || off > tot || off > avail)
		return WIRE_MALFORMED;
	wire_set_l3(v, ip, l2, off, tot, avail, (int)fragment);
	v->v6 = 1;
	v->proto = nh;
	return WIRE_OK;
}

static inline int wire_ipv4(const uint8_t *frame, uint32_t caplen, unsigned flags,
			    struct wire_ipv4 *v)
{
	uint32_t l2 = ETH_HDR_LEN;
	if (caplen < ETH_HDR_LEN)
		return WIRE_MALFORMED;
	uint16_t et = wire_rd16(frame + 12);
	if (flags & WIRE_VLAN) {
		for (int tags = 0; (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ) && tags < 2; tags++) {
			if (caplen < l2 + 4)
				return WIRE_MALFORMED;
			et = wire_rd16(frame + l2 + 2);
			l2 += 4;
		}
	}
	if ((flags & WIRE_IPV6) && et == ETHERTYPE_IPV6)
		return wire_ipv6_hdr(frame + l2, l2, caplen - l2, flags, v);
	if (et != ETHERTYPE_IPV4)
		return WIRE_NOT_IPV4;
	if (caplen < l2 + 20)
		return WIRE_MALFORMED;
	const uint8_t *ip = frame + l2;
	uint32_t ihl = (ip[0] & 0x0f) * 4u;
	uint32_t tot = wire_rd16(ip + 2);
	uint32_t avail = caplen - l2;                /* captured IP bytes */
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl ||
	    ((flags & WIRE_SNAPPED) ? avail < ihl : tot > avail))
		return WIRE_MALFORMED;
	wire_set_l3(v, ip, l2, ihl, tot, avail, (wire_rd16(ip + 6) & 0x3fff) != 0);
	if (flags & WIRE_IPV6) {
		v->v6 = 0;
		v->proto = ip[9];
	}
	return WIRE_OK;
}

/* Options of one segment (RFC 9293 §3.2, RFC 7323, RFC 2018). */
struct tcp_opts {
	uint16_t mss;
	uint8_t wscale;
	uint8_t has_mss, has_wscale, sack_ok, has_ts;
	uint8_t nsack;
	uint8_t bad;                 /* a malformed option list */
	uint32_t tsval, tsecr;
	uint32_t sack[2 * TCP_MAX_SACK_IN];  /* host order [start, end) pairs */
};

/* tcp_opts.c: unknown options are skipped; a length that runs past the
 * end, or a known option with the wrong length, marks the list bad. */
void tcp_opts_parse(const uint8_t *p, uint32_t len, struct tcp_opts *o);

/* A checked TCP segment inside a frame, fields in host order. */
struct tcp_seg {
	const uint8_t *frame;
	uint32_t frame_len;          /* bytes in the frame */
	const uint8_t *ip;
	const uint8_t *tcp;
	const uint8_t *payload;
	uint32_t len;                /* payload bytes of the packet (IPv4 total length) */
	uint32_t caplen;             /* of those, in the frame: len unless snapped */
	uint32_t saddr, daddr;       /* network order; IPv6: wire_fold6 of the addresses */
	uint16_t sport, dport;       /* network order */
	uint32_t seq, ack;
	uint32_t wnd;                /* unscaled, as on the wire */
	uint8_t flags;
	uint8_t doff;
	uint8_t ihl;
	uint8_t snapped;             /* the frame holds less than the packet */
	uint16_t l2_len;             /* Ethernet (+VLAN) header bytes */
	uint8_t v6;                  /* WIRE_IPV6 only: an IPv6 packet (addresses at ip + 8, + 24;
				      * ihl: its header bytes, extension headers included) */
	uint32_t ip_len;             /* IPv4 total length (IPv6: header + payload length) */
	struct tcp_opts opt;
};

/* 32 bits standing for an IPv6 address where an IPv4 one goes (hashes,
 * the flow table's key): never trusted alone, full addresses compared. */
static inline uint32_t wire_fold6(const uint8_t *a)
{
	uint32_t w[4];
	memcpy(w, a, 16);
	return w[0] ^ w[1] ^ w[2] ^ (w[3] * 0x9e3779b1u);
}

/* From WIRE_NOT_TCP on, the IPv4 fields (frame, ip, ihl, ip_len, l2_len,
 * tcp: where the TCP header would start) are set. */
static inline int wire_parse(const uint8_t *frame, uint32_t caplen, struct tcp_seg *s,
			     unsigned flags)
{
	struct wire_ipv4 v;
	int r = wire_ipv4(frame, caplen, flags, &v);
	if (r != WIRE_OK)
		return r;
	const uint8_t *tcp = v.l4;
	s->frame = frame;
	s->frame_len = caplen;
	s->ip = v.ip;
	s->ihl = (uint8_t)v.ihl;
	s->ip_len = v.tot;
	s->l2_len = (uint16_t)v.l2_len;
	s->tcp = tcp;
	if (((flags & WIRE_IPV6) ? v.proto : v.ip[9]) != IPPROTO_TCP_NUM)
		return WIRE_NOT_TCP;
	if (v.fragment)
		return WIRE_FRAGMENT;
	if (v.l4_len < TCP_HDR_LEN || v.l4_cap < TCP_HDR_LEN)
		return WIRE_BAD_TCP;
	uint32_t doff = (uint32_t)(tcp[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > v.l4_cap)   /* l4_cap <= l4_len */
		return WIRE_BAD_TCP;
	s->payload = tcp + doff;
	s->len = v.l4_len - doff;
	s->caplen = v.l4_cap - doff;
	s->snapped = s->caplen < s->len;
	if ((flags & WIRE_IPV6) && (s->v6 = v.v6)) {
		s->saddr = wire_fold6(v.ip + 8);
		s->daddr = wire_fold6(v.ip + 24);
	} else {
		memcpy(&s->saddr, v.ip + 12, 4);
		memcpy(&s->daddr, v.ip + 16, 4);
	}
	memcpy(&s->sport, tcp, 2);
	memcpy(&s->dport, tcp + 2, 2);
	s->seq = wire_rd32(tcp + 4);
	s->ack = wire_rd32(tcp + 8);
	s->flags = tcp[13];
	s->doff = (uint8_t)doff;
	s->wnd = wire_rd16(tcp + 14);
	if (!(flags & WIRE_NO_OPTS))
		tcp_opts_parse(tcp + TCP_HDR_LEN, doff - TCP_HDR_LEN, &s->opt);
	return WIRE_OK;
}

#endif
