/* Ethernet/IPv4/TCP as the core reads them: one parser for the endpoint,
 * the monitor, the port and the classifier, in two steps.
 *
 *   wire_ipv4   Ethernet (and, with WIRE_VLAN, up to two 802.1Q/802.1ad
 *               tags), then the IPv4 header: the view the checksums and
 *               the packet filter need, whatever the protocol.
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
};

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
	v->ip = ip;
	v->l2_len = l2;
	v->ihl = ihl;
	v->tot = tot;
	v->l4 = ip + ihl;
	v->l4_len = tot - ihl;
	v->l4_cap = (avail < tot ? avail : tot) - ihl;   /* Ethernet padding is not payload */
	v->fragment = (wire_rd16(ip + 6) & 0x3fff) != 0;
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
	uint32_t saddr, daddr;       /* network order */
	uint16_t sport, dport;       /* network order */
	uint32_t seq, ack;
	uint32_t wnd;                /* unscaled, as on the wire */
	uint8_t flags;
	uint8_t doff;
	uint8_t ihl;
	uint8_t snapped;             /* the frame holds less than the packet */
	uint16_t l2_len;             /* Ethernet (+VLAN) header bytes */
	uint32_t ip_len;             /* IPv4 total length */
	struct tcp_opts opt;
};

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
	if (v.ip[9] != IPPROTO_TCP_NUM)
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
	memcpy(&s->saddr, v.ip + 12, 4);
	memcpy(&s->daddr, v.ip + 16, 4);
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
