/* Inline mode's forwarding step: a processed burst (frames possibly
 * edited, some dropped by verdict) goes out of the other port in batches,
 * so Python makes one call per burst, not one per frame. */
#include <string.h>
#include "mon_internal.h"

#define TXB 64

int xc_mon_tx_burst(struct xc_port *port, const struct xc_burst *b, const uint8_t *verdict,
		    uint32_t flags)
{
	static __thread uint8_t buf[TXB * XC_FRAME_MAX];
	uint32_t lens[TXB], n = 0, used = 0;
	int sent = 0;
	if (!port || !b)
		return -1;
	for (uint32_t i = 0; i < b->n; i++) {
		const struct xc_pkt *p = &b->pkts[i];
		if ((verdict && !verdict[i]) || !p->len || p->len > XC_FRAME_MAX)
			continue;
		memcpy(buf + used, b->frames + p->off, p->len);
		used += p->len;
		lens[n++] = p->len;
		if (n == TXB) {
			sent += xc_port_tx(port, buf, lens, n, flags);
			n = used = 0;
		}
	}
	if (n)
		sent += xc_port_tx(port, buf, lens, n, flags);
	return sent;
}
