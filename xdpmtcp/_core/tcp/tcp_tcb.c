/* Connection blocks: allocation (ids from a free stack, buffers from the
 * engine's pool), freeing, and the 4-tuple table that finds a block. */
#include <stdlib.h>
#include "tcp_internal.h"

/* --- 4-tuple table ------------------------------------------------------ */

static uint32_t flow_slot_of(const struct xc_tcp_engine *e, uint32_t la, uint32_t ra,
			     uint16_t lp, uint16_t rp)
{
	return xm_flow_hash(la, ra, lp, rp) & e->flow_mask;
}

static int slot_is(const struct flow_slot *f, uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp)
{
	return f->id && f->local_addr == la && f->remote_addr == ra && f->local_port == lp &&
	       f->remote_port == rp;
}

struct xc_tcb *tcb_lookup(struct xc_tcp_engine *e, uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp)
{
	for (uint32_t i = flow_slot_of(e, la, ra, lp, rp);; i = (i + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[i];
		if (!f->id)
			return NULL;
		if (slot_is(f, la, ra, lp, rp))
			return e->tcbs[f->id];
	}
}

int xc_tcb_bind(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	uint32_t i = flow_slot_of(e, t->local_addr, t->remote_addr, t->local_port, t->remote_port);
	for (uint32_t n = 0; n <= e->flow_mask; n++, i = (i + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[i];
		if (slot_is(f, t->local_addr, t->remote_addr, t->local_port, t->remote_port))
			return f->id == t->id ? 0 : -1;
		if (!f->id) {
			f->local_addr = t->local_addr;
			f->remote_addr = t->remote_addr;
			f->local_port = t->local_port;
			f->remote_port = t->remote_port;
			f->id = t->id;
			return 0;
		}
	}
	e->stats.flow_table_full++;   /* cannot happen: twice as many slots as tcbs */
	return -1;
}

/* Linear probing deletion by backward shift: later entries of the same
 * probe run move into the hole, so lookups never need tombstones. */
static void flow_unbind(struct xc_tcp_engine *e, const struct xc_tcb *t)
{
	uint32_t i = flow_slot_of(e, t->local_addr, t->remote_addr, t->local_port, t->remote_port);
	for (;; i = (i + 1) & e->flow_mask) {
		if (!e->flows[i].id)
			return;
		if (e->flows[i].id == t->id)
			break;
	}
	uint32_t hole = i;
	for (uint32_t j = (hole + 1) & e->flow_mask; e->flows[j].id; j = (j + 1) & e->flow_mask) {
		struct flow_slot *f = &e->flows[j];
		uint32_t home = flow_slot_of(e, f->local_addr, f->remote_addr, f->local_port, f->remote_port);
		/* move f if its home is not in (hole, j] cyclically */
		if (((j - home) & e->flow_mask) >= ((j - hole) & e->flow_mask)) {
			e->flows[hole] = *f;
			hole = j;
		}
	}
	e->flows[hole].id = 0;
}

/* --- connection blocks ----------------------------------------------------- */

struct xc_tcb *xc_tcb_alloc(struct xc_tcp_engine *e, uint32_t rcvbuf, uint32_t sndbuf)
{
	if (!e->nfree) {
		e->stats.tcbs_alloc_failed++;
		return NULL;
	}
	struct xc_tcb *t = calloc(1, sizeof(*t));
	if (!t || xc_ring_init_pooled(&t->rcv, rcvbuf, XC_OVERLAP_FIRST, e->pool) < 0 ||
	    xc_ring_init_pooled(&t->snd, sndbuf, XC_OVERLAP_FIRST, e->pool) < 0) {
		if (t) {
			xc_ring_free(&t->rcv);
			free(t);
		}
		e->stats.tcbs_alloc_failed++;
		return NULL;
	}
	t->id = e->free_ids[--e->nfree];
	e->tcbs[t->id] = t;
	e->ntcbs++;
	e->stats.buffer_capacity += (uint64_t)t->rcv.cap + t->snd.cap;
	return t;
}

static void list_remove(uint32_t *list, uint32_t *n, uint32_t id)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (list[i] == id) {
			list[i] = list[--*n];
			return;
		}
	}
}

void xc_tcb_free(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (!t || e->tcbs[t->id] != t)
		return;
	flow_unbind(e, t);
	timer_heap_remove(e, t);
	if (t->watch)
		tcb_watchers_detach(t);
	if (t->queued & Q_EVENT)
		list_remove(e->ev_list, &e->nev, t->id);
	if (t->queued & Q_OUTPUT)
		list_remove(e->out_list, &e->nout, t->id);
	if (t->queued & Q_MEMWAIT)
		list_remove(e->mem_wait, &e->nmem_wait, t->id);
	e->tcbs[t->id] = NULL;
	e->free_ids[e->nfree++] = t->id;
	e->ntcbs--;
	e->stats.buffer_capacity -= (uint64_t)t->rcv.cap + t->snd.cap;
	xc_ring_free(&t->rcv);
	xc_ring_free(&t->snd);
	xc_sent_free(&t->sent);
	free(t);
}
