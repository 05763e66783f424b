/* The mOS dialect's raw packets: a frame's layout for mtcp_getlastpkt and
 * mtcp_setlastpkt, read by the same parser as the monitor's own (no
 * second parser in Python), and checksums refreshed after an edit by the
 * wire's one checksum routine. */
#include "mon_internal.h"
#include "wire/csum.h"

int xc_mon_pkt_layout(const uint8_t *frame, uint32_t len, struct xc_mon_pkt_layout *out)
{
	struct tcp_seg s;
	memset(out, 0, sizeof(*out));
	out->ip_off = out->l4_off = out->payload_off = len;
	int r = wire_parse(frame, len, &s, MON_WIRE_FLAGS | WIRE_NO_OPTS);
	if (r == WIRE_NOT_IPV4 || r == WIRE_MALFORMED)
		return -1;
	out->ip_off = s.l2_len;
	out->l4_off = (uint32_t)(s.tcp - frame);
	out->ip_len = s.ip_len;
	out->proto = s.ip[9];
	memcpy(&out->saddr, s.ip + 12, 4);
	memcpy(&out->daddr, s.ip + 16, 4);
	if (r != WIRE_OK) {
		out->payload_off = out->l4_off;
		uint32_t l4_cap = len - out->l4_off < s.ip_len - s.ihl ? len - out->l4_off
								     : s.ip_len - s.ihl;
		if (r != WIRE_FRAGMENT && out->proto == 17 && l4_cap >= 4) {
			out->sport = wire_rd16(s.tcp);
			out->dport = wire_rd16(s.tcp + 2);
		}
		return 1;
	}
	out->payload_off = (uint32_t)(s.payload - frame);
	out->payload_len = s.caplen;
	out->sport = wire_rd16(s.tcp);
	out->dport = wire_rd16(s.tcp + 2);
	out->seq = s.seq;
	out->ack = s.ack;
	out->window = (uint16_t)s.wnd;
	out->tcp_flags = s.flags;
	return 0;
}

int xc_mon_pkt_csum(uint8_t *frame, uint32_t len, uint32_t which)
{
	struct wire_ipv4 v;
	uint16_t c;
	if (wire_ipv4(frame, len, WIRE_VLAN, &v) != WIRE_OK)
		return -1;
	uint8_t *ip = (uint8_t *)v.ip;
	if (which & XC_MON_CSUM_IP) {
		ip[10] = ip[11] = 0;
		c = xc_inet_csum(ip, v.ihl);
		memcpy(ip + 10, &c, 2);
	}
	if (!(which & XC_MON_CSUM_TCP))
		return 0;
	if (ip[9] != IPPROTO_TCP_NUM || v.fragment || v.l4_len < TCP_HDR_LEN)
		return -1;
	/* the pseudo-header's sum in the field, then the segment's sum over it */
	uint8_t *tcp = (uint8_t *)v.l4;
	c = wire_csum_pseudo(ip, v.l4_len);
	memcpy(tcp + 16, &c, 2);
	c = xc_inet_csum(tcp, v.l4_len);
	memcpy(tcp + 16, &c, 2);
	return 0;
}
