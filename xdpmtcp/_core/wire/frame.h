/* Bounds-checked views of the Ethernet/IPv4 headers of a frame, for the
 * C core.  After a successful parse every pointer and length is in range. */
#ifndef XC_FRAME_H
#define XC_FRAME_H
#include <stdint.h>
#include <string.h>

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define IPPROTO_TCP_NUM 6

enum xc_parse {
	XC_PARSE_OK = 0,
	XC_PARSE_NOT_IPV4 = 1,   /* not our business: left alone */
	XC_PARSE_MALFORMED = 2   /* IPv4 whose lengths do not add up */
};

struct xc_ipv4_view {
	const uint8_t *ip;
	uint32_t ihl;            /* header bytes */
	const uint8_t *l4;
	uint32_t l4_len;         /* from the total length, not the frame */
	int fragment;            /* MF set or offset non-zero */
};

static inline int xc_ipv4_parse(const uint8_t *frame, uint32_t len,
				struct xc_ipv4_view *v)
{
	if (len < ETH_HDR_LEN)
		return XC_PARSE_MALFORMED;
	if (frame[12] != (ETHERTYPE_IPV4 >> 8) || frame[13] != (ETHERTYPE_IPV4 & 0xff))
		return XC_PARSE_NOT_IPV4;
	if (len < ETH_HDR_LEN + 20)
		return XC_PARSE_MALFORMED;
	const uint8_t *ip = frame + ETH_HDR_LEN;
	uint32_t ihl = (ip[0] & 0x0f) * 4;
	uint32_t tot = ((uint32_t)ip[2] << 8) | ip[3];
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - ETH_HDR_LEN)
		return XC_PARSE_MALFORMED;
	v->ip = ip;
	v->ihl = ihl;
	v->l4 = ip + ihl;
	v->l4_len = tot - ihl;
	v->fragment = (((ip[6] & 0x3f) << 8) | ip[7]) != 0;
	return XC_PARSE_OK;
}

#endif
