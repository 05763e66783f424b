/* Checked view of a TCP segment and its options, for the engine. */
#include <arpa/inet.h>
#include "tcp_internal.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Unknown options are skipped; a length that runs past the end, or a
 * known option with the wrong length, marks the list bad and stops. */
void tcp_opts_parse(const uint8_t *p, uint32_t len, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	uint32_t i = 0;
	while (i < len) {
		uint8_t kind = p[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || p[i + 1] < 2 || i + p[i + 1] > len) {
			o->bad = 1;
			return;
		}
		uint8_t olen = p[i + 1];
		const uint8_t *v = p + i + 2;
		switch (kind) {
		case 2:
			if (olen != 4) { o->bad = 1; return; }
			o->has_mss = 1;
			o->mss = rd16(v);
			break;
		case 3:
			if (olen != 3) { o->bad = 1; return; }
			o->has_wscale = 1;
			o->wscale = v[0] > 14 ? 14 : v[0];   /* RFC 7323 §2.3 */
			break;
		case 4:
			if (olen != 2) { o->bad = 1; return; }
			o->sack_ok = 1;
			break;
		case 5:
			if (olen < 10 || (olen - 2) % 8) { o->bad = 1; return; }
			for (uint32_t b = 0; b < (uint32_t)(olen - 2) / 8 && o->nsack < TCP_MAX_SACK_IN; b++) {
				o->sack[2 * o->nsack] = rd32(v + 8 * b);
				o->sack[2 * o->nsack + 1] = rd32(v + 8 * b + 4);
				o->nsack++;
			}
			break;
		case 8:
			if (olen != 10) { o->bad = 1; return; }
			o->has_ts = 1;
			o->tsval = rd32(v);
			o->tsecr = rd32(v + 4);
			break;
		}
		i += olen;
	}
}

int tcp_seg_parse(const uint8_t *frame, uint32_t len, struct tcp_seg *s)
{
	struct xc_ipv4_view v;
	if (xc_ipv4_parse(frame, len, &v) != XC_PARSE_OK || v.ip[9] != IPPROTO_TCP_NUM ||
	    v.fragment || v.l4_len < TCP_HDR_LEN)
		return -1;
	const uint8_t *tcp = v.l4;
	uint32_t doff = (uint32_t)(tcp[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > v.l4_len)
		return -1;
	s->frame = frame;
	s->frame_len = len;
	s->ip = v.ip;
	s->tcp = tcp;
	s->payload = tcp + doff;
	s->len = v.l4_len - doff;
	memcpy(&s->saddr, v.ip + 12, 4);
	memcpy(&s->daddr, v.ip + 16, 4);
	memcpy(&s->sport, tcp, 2);
	memcpy(&s->dport, tcp + 2, 2);
	s->seq = rd32(tcp + 4);
	s->ack = rd32(tcp + 8);
	s->flags = tcp[13];
	s->doff = (uint8_t)doff;
	s->wnd = rd16(tcp + 14);
	tcp_opts_parse(tcp + TCP_HDR_LEN, doff - TCP_HDR_LEN, &s->opt);
	return 0;
}
