/* The monitor's view of a frame: Ethernet (up to two VLAN tags), IPv4, TCP.
 *
 * Unlike the endpoint's tcp_seg_parse, a capture may hold less than the
 * packet (snaplen): the headers must be there, the payload may be cut.
 * The payload length then comes from the IPv4 total length and the
 * missing bytes become a gap in the stream.  Everything else that does
 * not add up is MALFORMED. */
#include "mon_internal.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int mon_parse(const uint8_t *frame, uint32_t len, struct mon_seg *s)
{
	uint32_t l2 = ETH_HDR_LEN;
	if (len < ETH_HDR_LEN)
		return MON_P_MALFORMED;
	uint16_t et = rd16(frame + 12);
	for (int tags = 0; (et == 0x8100 || et == 0x88a8) && tags < 2; tags++) {
		if (len < l2 + 4)
			return MON_P_MALFORMED;
		et = rd16(frame + l2 + 2);
		l2 += 4;
	}
	if (et != ETHERTYPE_IPV4)
		return MON_P_NOT_IPV4;
	if (len < l2 + 20)
		return MON_P_MALFORMED;
	const uint8_t *ip = frame + l2;
	uint32_t ihl = (ip[0] & 0x0f) * 4u;
	uint32_t tot = rd16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || len < l2 + ihl)
		return MON_P_MALFORMED;
	if (ip[9] != IPPROTO_TCP_NUM)
		return MON_P_NOT_TCP;
	if ((rd16(ip + 6) & 0x3fff) != 0)
		return MON_P_FRAGMENT;
	uint32_t avail = len - l2;                   /* captured IP bytes */
	if (tot < ihl + TCP_HDR_LEN || avail < ihl + TCP_HDR_LEN)
		return MON_P_MALFORMED;
	const uint8_t *tcp = ip + ihl;
	uint32_t doff = (uint32_t)(tcp[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || ihl + doff > tot || ihl + doff > avail)
		return MON_P_MALFORMED;
	memcpy(&s->saddr, ip + 12, 4);
	memcpy(&s->daddr, ip + 16, 4);
	memcpy(&s->sport, tcp, 2);
	memcpy(&s->dport, tcp + 2, 2);
	s->seq = rd32(tcp + 4);
	s->ack = rd32(tcp + 8);
	s->flags = tcp[13];
	s->wnd = rd16(tcp + 14);
	s->l2_len = (uint16_t)l2;
	s->ip_len = tot;
	s->payload = tcp + doff;
	s->len = tot - ihl - doff;
	uint32_t have = avail > tot ? tot : avail;   /* Ethernet padding is not payload */
	s->caplen = have - ihl - doff;
	s->snapped = s->caplen < s->len;
	tcp_opts_parse(tcp + TCP_HDR_LEN, doff - TCP_HDR_LEN, &s->opt);
	return MON_P_OK;
}
