/* The options of a TCP segment, for the endpoint and the monitor alike
 * (wire_parse in frame.h calls this). */
#include "frame.h"

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
			o->mss = wire_rd16(v);
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
				o->sack[2 * o->nsack] = wire_rd32(v + 8 * b);
				o->sack[2 * o->nsack + 1] = wire_rd32(v + 8 * b + 4);
				o->nsack++;
			}
			break;
		case 8:
			if (olen != 10) { o->bad = 1; return; }
			o->has_ts = 1;
			o->tsval = wire_rd32(v);
			o->tsecr = wire_rd32(v + 4);
			break;
		}
		i += olen;
	}
}
