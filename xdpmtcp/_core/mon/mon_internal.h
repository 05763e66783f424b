/* Private to the monitor's C files (mon_*.c): the monitor object and the
 * functions the files share.  A frame is read by the wire's parser. */
#ifndef XC_MON_INTERNAL_H
#define XC_MON_INTERNAL_H
#include <stdint.h>
#include <string.h>
#include "api.h"
#include "api_mon.h"
#include "api_tcp.h"          /* the XC_TCP_* states the endpoints go through */
#include "wire/frame.h"

/* Private side flag: on the drain list. */
#define SF_DIRTY 0x10000

/* How the monitor reads a frame (wire_parse): VLAN tags allowed, IPv6
 * beside IPv4, and a capture may hold less than the packet (snaplen); the
 * missing payload bytes become a gap in the stream. */
#define MON_WIRE_FLAGS (WIRE_VLAN | WIRE_SNAPPED | WIRE_IPV6)

/* ---- the monitor ---- */

struct mon_slot {               /* hash table entry: canonical 4-tuple -> flow id */
	uint32_t a_lo, a_hi;
	uint16_t p_lo, p_hi;
	uint32_t id;                /* 0 = empty */
};

struct mon_list {
	uint32_t head, tail, n;
};

struct xc_mon {
	struct xc_mon_config cfg;
	struct xc_mon_stats st;
	struct xc_mon_flow *flows;  /* [nslots + 1], index = id */
	uint32_t nslots;
	uint32_t *free_ids;
	uint32_t nfree;
	struct mon_slot *table;
	uint32_t mask;
	struct mon_list lists[5];   /* by XC_MON_FS_* (0 unused) */
	uint64_t next_uid;
	uint64_t clock_ns;          /* latest packet timestamp */
	uint32_t buf_max;           /* largest per-side cap in use: output reserve */
	/* the call in progress */
	struct xc_mon_event *ev;
	uint32_t nev, maxev;
	uint32_t cur_pkt;
	uint32_t cursor;            /* next frame of the burst being processed */
	int busy;
	uint32_t ev_reserve;        /* events one frame may need at most */
	uint8_t *out;
	uint32_t out_used;
	uint32_t *dirty;            /* (id << 1 | side) with readable bytes to drain */
	uint32_t ndirty, dirty_cap;
	struct xc_filter filter;
	uint32_t has_filter;	/* the mOS dialect's listeners (mon_filter.c) */
	uint32_t listen_used;       /* bit per slot */
	uint32_t listen_has_syn;    /* bit per slot with a SYN filter */
	uint32_t listen_gen;        /* bumped when a slot is taken */
	uint32_t listen_events_gen; /* bumped when any listener's events change */
	uint32_t listen_only;       /* xc_mon_listen_only: listeners or not */
	uint32_t listen_since[XC_MON_MAX_LISTENERS];
	uint32_t listen_events[XC_MON_MAX_LISTENERS];
	struct xc_filter listen_syn[XC_MON_MAX_LISTENERS];
};

/* ---- the flow filter (mon_filter.c) ---- */

/* The --filter's verdict (1 without one): on a flow, its client as src;
 * on an orphan segment, its sender as src. */
int mon_filter_pass_flow(const struct xc_mon *m, const struct xc_mon_flow *f);
int mon_filter_pass_seg(const struct xc_mon *m, const struct tcp_seg *g);
/* The event kinds wanted for a flow (its listeners', its own sockets');
 * every kind when no listener is registered.  At the flow's first call
 * its listeners are chosen (and a flow none takes is stopped). */
uint32_t mon_flow_events(struct xc_mon *m, struct xc_mon_flow *f);

/* ---- what the monitor reports (mon_event.c) ---- */

struct xc_mon_event *mon_emit(struct xc_mon *m, uint32_t kind, const struct xc_mon_flow *f, int side,
	      int hook, uint16_t code, uint64_t arg, uint64_t val);
/* One letter of the flow's history, from sender's side. */
void mon_hist(struct xc_mon_flow *f, int sender, char letter);

/* ---- flow table (mon_table.c) ---- */

/* The flow (any status) of a 4-tuple, either direction: IPv4 (s6, d6
 * NULL) or IPv6 (a1, a2 the wire_fold6 of s6, d6). */
struct xc_mon_flow *mon_table_lookup(struct xc_mon *m, uint32_t a1, uint16_t p1,
				     uint32_t a2, uint16_t p2, const uint8_t *s6,
				     const uint8_t *d6);
/* A flow of g's 4-tuple whose client is g's sender (cli_is_sender) or its
 * receiver, or NULL (table full and REFUSE, or no memory). */
struct xc_mon_flow *mon_flow_create(struct xc_mon *m, const struct tcp_seg *g,
				    int cli_is_sender, uint64_t ts);
void mon_table_unhash(struct xc_mon *m, struct xc_mon_flow *f);
void mon_list_move(struct xc_mon *m, struct xc_mon_flow *f, uint32_t list);
/* Rings of flows ended by the previous call go; lingering ones expire. */
void mon_reap(struct xc_mon *m);
/* Idle timeouts; returns 0 if it stopped for lack of room. */
int mon_expire(struct xc_mon *m, uint64_t now);
uint64_t mon_next_deadline(const struct xc_mon *m);   /* earliest timeout, UINT64_MAX if none */
uint32_t mon_live(const struct xc_mon *m);
/* The flow ends (reason XC_MON_END_*): CONN_END, onto the ENDED list. */
void mon_end(struct xc_mon *m, struct xc_mon_flow *f, uint32_t reason);

/* ---- one endpoint's receive stream (mon_stream.c) ---- */

int mon_side_init(struct xc_mon *m, struct xc_mon_flow *f, int side);
void mon_side_release(struct xc_mon *m, struct xc_mon_flow *f, int side);
/* Store payload at offset off of side's ring (the receiver's). */
void mon_stream_insert(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook,
		       int64_t off, const uint8_t *data, uint32_t caplen, uint32_t len);
/* Skip holes the side has acknowledged (the capture lacks them). */
void mon_stream_settle(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook);
/* Copy out / discard the readable block; force: even without room. */
void mon_stream_drain(struct xc_mon *m, struct xc_mon_flow *f, int side, int force);
/* The flow ends: everything stored becomes DATA/GAP; trailing gap. */
void mon_stream_finish(struct xc_mon *m, struct xc_mon_flow *f, int side);
void mon_drain_dirty(struct xc_mon *m);
int mon_grow(struct xc_mon *m, struct xc_mon_flow *f, int side, uint64_t need);

/* ---- emulated endpoints (mon_state.c) ---- */

void mon_packet(struct xc_mon *m, struct xc_mon_flow *f, int sender, const struct tcp_seg *s,
		uint64_t ts);

/* Offset in side's ring of sequence number seq (of the peer's stream);
 * may be negative (before the first byte). */
static inline int64_t mon_rcv_off(const struct xc_mon_flow *f, int side, uint32_t seq)
{
	const struct xc_ring *r = &f->side[side].rcv;
	uint32_t base = f->side[side ^ 1].iss + 1;
	uint64_t ref = r->next_off;
	return (int64_t)ref + (int32_t)(seq - (base + (uint32_t)ref));
}

/* 1 when g was sent by f's client. */
static inline int mon_from_client(const struct xc_mon_flow *f, const struct tcp_seg *g)
{
	return g->saddr == f->cli_addr && g->sport == f->cli_port &&
	       (!f->v6 || !memcmp(g->ip + 8, f->cli_ip6, 16));
}

static inline int mon_wants(const struct xc_mon *m, uint32_t kind)
{
	return (m->cfg.event_mask & kind) != 0;
}

#endif
