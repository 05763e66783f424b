/* In-memory link: two ports, what one sends the other receives.  For unit
 * tests of everything above the device layer, without privileges. */
#include <stdlib.h>
#include <string.h>
#include "port.h"

struct memlink_queue {
	uint32_t depth, head, count;
	uint32_t *lens;
	uint8_t *data;             /* depth * XC_FRAME_MAX */
};

struct memlink_shared {
	struct memlink_queue q[2];
	int refs;
};

struct memlink_end {
	struct memlink_shared *sh;
	int side;                  /* receives from q[side], sends to q[!side] */
};

static int memlink_recv(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	struct memlink_end *e = port->backend;
	struct memlink_queue *q = &e->sh->q[e->side];
	uint32_t n = 0;
	while (n < max && q->count) {
		uint8_t *frame = q->data + (size_t)q->head * XC_FRAME_MAX;
		struct xc_pkt pkt = { 0 };
		xc_port_ingest(port, b, frame, q->lens[q->head], &pkt);
		q->head = (q->head + 1) % q->depth;
		q->count--;
		n++;
	}
	return (int)n;
}

static int memlink_send(struct xc_port *port, const uint8_t *const *frames,
			const uint32_t *lens, uint32_t n)
{
	struct memlink_end *e = port->backend;
	struct memlink_queue *q = &e->sh->q[!e->side];
	uint32_t i;
	for (i = 0; i < n && q->count < q->depth; i++) {
		uint32_t slot = (q->head + q->count) % q->depth;
		memcpy(q->data + (size_t)slot * XC_FRAME_MAX, frames[i], lens[i]);
		q->lens[slot] = lens[i];
		q->count++;
	}
	return (int)i;
}

static int memlink_kick(struct xc_port *port)
{
	(void)port;
	return 0;
}

static void memlink_close(struct xc_port *port)
{
	struct memlink_end *e = port->backend;
	if (--e->sh->refs == 0) {
		for (int i = 0; i < 2; i++) {
			free(e->sh->q[i].lens);
			free(e->sh->q[i].data);
		}
		free(e->sh);
	}
	free(e);
}

static const struct xc_backend_ops memlink_ops = {
	.recv = memlink_recv,
	.send = memlink_send,
	.kick = memlink_kick,
	.close = memlink_close,
};

int xc_memlink_open(uint32_t depth, struct xc_port **a, struct xc_port **b)
{
	struct memlink_shared *sh = calloc(1, sizeof(*sh));
	struct memlink_end *ea = calloc(1, sizeof(*ea)), *eb = calloc(1, sizeof(*eb));
	if (!sh || !ea || !eb || !depth)
		goto fail;
	for (int i = 0; i < 2; i++) {
		sh->q[i].depth = depth;
		sh->q[i].lens = calloc(depth, sizeof(uint32_t));
		sh->q[i].data = malloc((size_t)depth * XC_FRAME_MAX);
		if (!sh->q[i].lens || !sh->q[i].data)
			goto fail;
	}
	sh->refs = 2;
	ea->sh = eb->sh = sh;
	ea->side = 0;
	eb->side = 1;
	*a = xc_port_new(&memlink_ops, ea);
	*b = xc_port_new(&memlink_ops, eb);
	if (*a && *b)
		return 0;
	free(*a);
	free(*b);
fail:
	if (sh)
		for (int i = 0; i < 2; i++) {
			free(sh->q[i].lens);
			free(sh->q[i].data);
		}
	free(sh);
	free(ea);
	free(eb);
	return -1;
}
