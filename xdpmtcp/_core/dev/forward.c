/* xc_port_forward: receive on one port, send on another, batch by batch. */
#include "api_forward.h"
#include "port.h"

int xc_port_forward(struct xc_port *from, struct xc_port *to, uint32_t max)
{
	uint8_t *frames[XC_FORWARD_BATCH];
	uint32_t lens[XC_FORWARD_BATCH];
	uint32_t received = 0;
	int sent = 0;

	if (!from->fwd && !(from->fwd = xc_burst_new(XC_FORWARD_BATCH)))
		return -1;
	struct xc_burst *b = from->fwd;
	/* A forwarder judges nothing: bad checksums and ARP go through too. */
	uint32_t saved = from->flags;
	from->flags = 0;
	while (received < max) {
		uint32_t want = max - received < b->cap ? max - received : b->cap;
		b->n = 0;
		int n = xc_port_rx(from, b, want);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			frames[i] = b->frames + b->pkts[i].off;
			lens[i] = b->pkts[i].len;
		}
		/* What to cannot take is lost, as on a wire (tx_no_room). */
		sent += xc_port_send_inplace(to, frames, lens, (uint32_t)n);
		/* No early stop on n < want: drops and the room kept for
		 * duplicates make short batches while frames still wait. */
		received += (uint32_t)n;
	}
	from->flags = saved;
	return sent;
}
