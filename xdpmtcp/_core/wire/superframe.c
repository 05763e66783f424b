/* Super-frames cut into the segments they stand for: see superframe.h. */
#include <string.h>
#include "csum.h"
#include "frame.h"
#include "superframe.h"

#define TCP_CWR 0x80
#define IPV4_MAX_TOT 65535

static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v);
}

/* The IP header's bytes (IPv6: extension headers included) and the
 * packet's total length; 0 when it is no unfragmented TCP segment. */
static uint32_t ip_view(const uint8_t *net, uint32_t net_cap, uint32_t *tot, uint8_t *v6)
{
	if (net_cap >= 1 && (net[0] >> 4) == 6) {
		struct wire_ipv4 v;
		if (wire_ipv6_hdr(net, 0, net_cap, WIRE_SNAPPED, &v) != WIRE_OK ||
		    v.proto != IPPROTO_TCP_NUM || v.fragment)
			return 0;
		*tot = v.tot;
		*v6 = 1;
		return v.ihl;
	}
	if (net_cap < 20 || (net[0] >> 4) != 4)
		return 0;
	uint32_t ihl = (net[0] & 0x0f) * 4u;
	if (ihl < 20 || net_cap < ihl || net[9] != IPPROTO_TCP_NUM ||
	    (wire_rd16(net + 6) & 0x3fff))
		return 0;
	*tot = wire_rd16(net + 2);
	if (*tot == 0 && net_cap > IPV4_MAX_TOT)
		*tot = net_cap;                       /* BIG TCP: the frame's length */
	*v6 = 0;
	return ihl;
}

int wire_super_plan(struct wire_super *s, const uint8_t *l2, uint32_t l2_len,
		    const uint8_t *net, uint32_t net_cap, uint32_t max)
{
	uint32_t tot;
	uint8_t v6;
	uint32_t ihl = ip_view(net, net_cap, &tot, &v6);
	if (!ihl || net_cap < ihl + TCP_HDR_LEN)
		return 0;
	const uint8_t *tcp = net + ihl;
	uint32_t hl = ihl + (uint32_t)(tcp[12] >> 4) * 4;
	if (hl < ihl + TCP_HDR_LEN || hl > net_cap || hl > tot || l2_len + hl >= max)
		return 0;
	s->l2 = l2;
	s->l2_len = l2_len;
	s->net = net;
	s->net_cap = net_cap;
	s->ihl = ihl;
	s->hl = hl;
	s->pay = (net_cap < tot ? net_cap : tot) - hl;   /* Ethernet padding is not payload */
	s->len = tot - hl;
	s->chunk = max - l2_len - hl;
	s->pieces = s->pay ? (s->pay + s->chunk - 1) / s->chunk : 1;
	s->seq = wire_rd32(tcp + 4);
	s->flags = tcp[13];
	s->v6 = v6;
	return 1;
}

int wire_super_plan_eth(struct wire_super *s, const uint8_t *frame, uint32_t caplen,
			uint32_t max)
{
	uint32_t l2 = ETH_HDR_LEN;
	if (caplen < l2)
		return 0;
	uint16_t et = wire_rd16(frame + 12);
	for (int tags = 0; (et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ) && tags < 2; tags++) {
		if (caplen < l2 + 4)
			return 0;
		et = wire_rd16(frame + l2 + 2);
		l2 += 4;
	}
	if (et != ETHERTYPE_IPV4 && et != ETHERTYPE_IPV6)
		return 0;
	return wire_super_plan(s, frame, l2, frame + l2, caplen - l2, max);
}

uint32_t wire_super_piece(const struct wire_super *s, uint32_t k, uint8_t *out)
{
	uint32_t off = k * s->chunk;
	uint32_t n = s->pay - off < s->chunk ? s->pay - off : s->chunk;
	int first = k == 0, last = k + 1 == s->pieces;
	uint32_t claim = last ? s->len - off : n;    /* a snapped last piece claims the rest */
	memcpy(out, s->l2, s->l2_len);
	uint8_t *ip = out + s->l2_len;
	memcpy(ip, s->net, s->hl);
	memcpy(ip + s->hl, s->net + s->hl + off, n);
	if (s->v6) {
		wr16(ip + 4, s->hl + claim - WIRE_IPV6_HDR_LEN);
	} else {
		wr16(ip + 2, s->hl + claim);
		wr16(ip + 4, wire_rd16(s->net + 4) + k);
	}
	uint8_t *tcp = ip + s->ihl;
	uint8_t flags = s->flags;
	if (!first)
		flags &= (uint8_t)~(TCP_SYN | TCP_CWR);
	if (!last)
		flags &= (uint8_t)~(TCP_FIN | TCP_PSH | TCP_RST);
	tcp[13] = flags;
	/* a SYN takes the sequence number before the first payload byte */
	wr32(tcp + 4, s->seq + off + (!first && (s->flags & TCP_SYN) ? 1 : 0));
	if (claim == n && s->v6)
		wire_fill_csum6(ip, tcp, s->hl - s->ihl + n);
	else if (claim == n)
		wire_fill_csums(ip, s->ihl, s->hl - s->ihl + n);
	return s->l2_len + s->hl + n;
}
