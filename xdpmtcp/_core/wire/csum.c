/* Internet checksums (RFC 1071) and frame-level verify/fill/classify. */
#include <string.h>
#include <arpa/inet.h>
#include "api.h"
#include "frame.h"

static uint64_t csum_add(const uint8_t *p, uint32_t len, uint64_t sum)
{
	/* 32-bit loads into a 64-bit accumulator: carries fold at the end. */
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;
		memcpy(&w, p, 1);   /* odd byte is the high-order byte on the wire */
		sum += w;
	}
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t xc_inet_csum(const uint8_t *buf, uint32_t len)
{
	return csum_fold(csum_add(buf, len, 0));
}

static uint64_t pseudo_sum(const struct xc_ipv4_view *v)
{
	uint64_t sum = 0;
	sum = csum_add(v->ip + 12, 8, sum);          /* source, destination */
	sum += htons(v->ip[9]);                      /* zero, protocol */
	sum += htons((uint16_t)v->l4_len);
	return sum;
}

int xc_frame_verify(const uint8_t *frame, uint32_t len)
{
	struct xc_ipv4_view v;
	switch (xc_ipv4_parse(frame, len, &v)) {
	case XC_PARSE_NOT_IPV4:
		return XC_FRAME_NOT_IPV4;
	case XC_PARSE_MALFORMED:
		return XC_FRAME_MALFORMED;
	}
	if (xc_inet_csum(v.ip, v.ihl) != 0)
		return XC_FRAME_BAD_IP_CSUM;
	if (v.ip[9] != IPPROTO_TCP_NUM || v.fragment)
		return XC_FRAME_OK;
	if (v.l4_len < 20 || (uint32_t)(v.l4[12] >> 4) * 4 < 20 ||
	    (uint32_t)(v.l4[12] >> 4) * 4 > v.l4_len)
		return XC_FRAME_MALFORMED;
	if (csum_fold(csum_add(v.l4, v.l4_len, pseudo_sum(&v))) != 0)
		return XC_FRAME_BAD_TCP_CSUM;
	return XC_FRAME_OK;
}

int xc_frame_fill_csum(uint8_t *frame, uint32_t len)
{
	struct xc_ipv4_view v;
	uint16_t c;
	if (xc_ipv4_parse(frame, len, &v) != XC_PARSE_OK)
		return -1;
	uint8_t *ip = (uint8_t *)v.ip;
	ip[10] = ip[11] = 0;
	c = xc_inet_csum(ip, v.ihl);
	memcpy(ip + 10, &c, 2);
	if (ip[9] != IPPROTO_TCP_NUM || v.l4_len < 20)
		return -1;
	uint8_t *tcp = (uint8_t *)v.l4;
	tcp[16] = tcp[17] = 0;
	c = csum_fold(csum_add(tcp, v.l4_len, pseudo_sum(&v)));
	memcpy(tcp + 16, &c, 2);
	return 0;
}

int xc_frame_classify(const uint8_t *frame, uint32_t len, struct xc_pkt *out)
{
	struct xc_ipv4_view v;
	out->seg_class = XM_SEG_NONE;
	out->payload_len = 0;
	out->flow_hash = 0;
	if (xc_ipv4_parse(frame, len, &v) != XC_PARSE_OK || v.ip[9] != IPPROTO_TCP_NUM)
		return -1;
	if (v.l4_len < 20) {
		out->seg_class = XM_SEG_MALFORMED;
		return 0;
	}
	uint32_t doff = (v.l4[12] >> 4) * 4;
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	memcpy(&saddr, v.ip + 12, 4);
	memcpy(&daddr, v.ip + 16, 4);
	memcpy(&sport, v.l4, 2);
	memcpy(&dport, v.l4 + 2, 2);
	out->flow_hash = xm_flow_hash(saddr, daddr, sport, dport);
	if (doff < 20 || doff > v.l4_len || v.fragment) {
		out->seg_class = XM_SEG_MALFORMED;
		return 0;
	}
	out->payload_len = (uint16_t)(v.l4_len - doff);
	out->seg_class = xm_classify(v.l4[13], out->payload_len);
	return 0;
}
