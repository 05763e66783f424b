/* Internet checksums (RFC 1071): of any buffer, of IPv4 headers and TCP
 * segments, and of whole frames (verify, fill). */
#include <string.h>
#include <arpa/inet.h>
#include "api.h"
#include "csum.h"
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

/* Source, destination, zero, protocol and the TCP length: in the sum of
 * every TCP checksum. */
static uint64_t pseudo_sum(const uint8_t *ip, uint32_t l4_len)
{
	uint64_t sum = csum_add(ip + 12, 8, 0);
	sum += htons(ip[9]);
	sum += htons((uint16_t)l4_len);
	return sum;
}

static uint64_t pseudo_sum6(const uint8_t *ip6, uint32_t l4_len)
{
	uint64_t sum = csum_add(ip6 + 8, 32, 0);
	sum += htonl(l4_len);
	sum += htonl(IPPROTO_TCP_NUM);
	return sum;
}

int wire_tcp6_csum_ok(const uint8_t *ip6, const uint8_t *tcp, uint32_t l4_len)
{
	return csum_fold(csum_add(tcp, l4_len, pseudo_sum6(ip6, l4_len))) == 0;
}

void wire_fill_csum6(const uint8_t *ip6, uint8_t *tcp, uint32_t l4_len)
{
	tcp[16] = tcp[17] = 0;
	uint16_t c = csum_fold(csum_add(tcp, l4_len, pseudo_sum6(ip6, l4_len)));
	memcpy(tcp + 16, &c, 2);
}

int wire_ipv4_csum_ok(const uint8_t *ip, uint32_t ihl)
{
	return xc_inet_csum(ip, ihl) == 0;
}

int wire_tcp_csum_ok(const uint8_t *ip, const uint8_t *tcp, uint32_t l4_len)
{
	return csum_fold(csum_add(tcp, l4_len, pseudo_sum(ip, l4_len))) == 0;
}

uint16_t wire_csum_pseudo(const uint8_t *ip, uint32_t l4_len)
{
	return (uint16_t)~csum_fold(pseudo_sum(ip, l4_len));
}

int xc_frame_verify(const uint8_t *frame, uint32_t len)
{
	struct tcp_seg s;
	switch (wire_parse(frame, len, &s, WIRE_NO_OPTS)) {
	case WIRE_NOT_IPV4:
		return XC_FRAME_NOT_IPV4;
	case WIRE_MALFORMED:
		return XC_FRAME_MALFORMED;
	case WIRE_NOT_TCP:
	case WIRE_FRAGMENT:                          /* no TCP header to check */
		return wire_ipv4_csum_ok(s.ip, s.ihl) ? XC_FRAME_OK : XC_FRAME_BAD_IP_CSUM;
	case WIRE_BAD_TCP:
		return wire_ipv4_csum_ok(s.ip, s.ihl) ? XC_FRAME_MALFORMED : XC_FRAME_BAD_IP_CSUM;
	}
	if (!wire_ipv4_csum_ok(s.ip, s.ihl))
		return XC_FRAME_BAD_IP_CSUM;
	if (!wire_tcp_csum_ok(s.ip, s.tcp, s.ip_len - s.ihl))
		return XC_FRAME_BAD_TCP_CSUM;
	return XC_FRAME_OK;
}

void wire_fill_csums(uint8_t *ip, uint32_t ihl, uint32_t l4_len)
{
	uint16_t c;
	ip[10] = ip[11] = 0;
	c = xc_inet_csum(ip, ihl);
	memcpy(ip + 10, &c, 2);
	uint8_t *tcp = ip + ihl;
	tcp[16] = tcp[17] = 0;
	c = csum_fold(csum_add(tcp, l4_len, pseudo_sum(ip, l4_len)));
	memcpy(tcp + 16, &c, 2);
}

int xc_frame_fill_csum(uint8_t *frame, uint32_t len)
{
	struct wire_ipv4 v;
	uint16_t c;
	if (wire_ipv4(frame, len, 0, &v) != WIRE_OK)
		return -1;
	uint8_t *ip = (uint8_t *)v.ip;
	if (ip[9] != IPPROTO_TCP_NUM || v.l4_len < 20) {
		ip[10] = ip[11] = 0;
		c = xc_inet_csum(ip, v.ihl);
		memcpy(ip + 10, &c, 2);
		return -1;
	}
	wire_fill_csums(ip, v.ihl, v.l4_len);
	return 0;
}
