/* Passive TCP flow monitor (the mOS role): the C half.
 *
 * Frames come in bursts (from a capture file, a port, or an inline pair of
 * ports), IPv4 or IPv6 (extension headers walked, as wire/frame.h does);
 * per frame the core finds the flow (symmetric 4-tuple), runs two
 * emulated TCP endpoints, reassembles each direction into the receiving
 * endpoint's xc_ring (api_ring.h, the engine's ring), and writes event
 * records for Python: one xc_mon_process call per burst, never one per
 * packet.  Public header: fed to cffi's cdef (declarations, structs,
 * integer #defines only).
 *
 * Sides and buffers.  The client is the endpoint that sent the first SYN
 * (with mid-stream pickup: see XC_MON_F_MIDSTREAM).  side[XC_MON_CLI] and
 * side[XC_MON_SVR] are the two emulated endpoints.  As in mOS, an
 * endpoint's ring is its *receive* buffer: side[CLI].rcv holds the bytes
 * the server sent (s2c), side[SVR].rcv the bytes the client sent (c2s).
 *
 * Stream offsets.  Offset 0 of a ring is the first byte after the SYN that
 * opened that byte stream: offset = seq - (ISN + 1), unwrapped to 64 bits
 * (data on a SYN starts at offset 0).  So for side[SVR].rcv (c2s) offsets
 * count from the client's SYN, for side[CLI].rcv from the server's.  With
 * mid-stream pickup the ISN is inferred (XC_MON_SF_ISN_GUESSED): the first
 * byte seen (or the peer's ACK number) is offset 0.
 *
 * Emulated state.  tcpstate values are XC_TCP_* (api_tcp.h, mOS's 0..10).
 * Each packet updates its sender first ("as the sender would be after
 * sending it", hook XC_MON_HK_SND) and then its receiver ("after receiving
 * it", hook XC_MON_HK_RCV).  A FIN counts as received once every byte
 * before it is there, or once the receiver acknowledges it (the capture
 * may lack bytes the receiver got).  A flow ends when both endpoints are
 * in TIME_WAIT or CLOSED (FIN/FIN and the last ACK), on an acceptable RST,
 * on an idle timeout, when evicted, or at xc_mon_flush.
 *
 * Events.  Per packet, in this order: for the sender (hook SND) PKT_IN,
 * CONN_START, STATE, REXMIT; then for the receiver (hook RCV) PKT_IN,
 * CONN_START, NEW_DATA, OVERLAP, ERROR, STATE; then CONN_END (side BOTH,
 * hook NULL) if the packet ended the flow.  GAP comes where a hole is
 * given up (the receiver's ACK: hook SND; its ring: RCV; flow end: NULL).
 * DATA (draining) comes before any GAP of the same ring and before the
 * flow's CONN_END, otherwise at the end of the call.  Kinds not in
 * config.event_mask are not written; events of a stopped side are not
 * written.  ORPHAN has flow 0.  TIMEOUT precedes its CONN_END.
 *
 * Draining (XC_MON_F_DRAIN).  The core consumes in-order bytes itself:
 * with an output buffer (out_cap > 0) each ring's readable block is copied
 * there and reported as a DATA event (at most one per ring per call, plus
 * one around every gap), otherwise it is discarded (counted).  A hole the
 * receiver has acknowledged (so the capture lacks it), a fragment list
 * that is full, and the end of the flow make the core skip the hole: a GAP
 * event (offset, length) and side.gap_bytes.  Without DRAIN the bytes stay
 * until the application consumes them (xc_mon_consume); overflow then
 * drops the oldest (XC_RING_DROP_OLDEST): ERROR/XC_MON_ERR_OUTRUN with
 * the bytes lost.
 *
 * Lifetime.  Events and flow pointers stay valid until the next
 * xc_mon_process/xc_mon_flush call: an ended flow's rings are freed at the
 * start of the next call, so drain DATA and read the flow first.  An ended
 * flow then lingers (linger_ns) to absorb late packets (late_pkts), unless
 * its slot is needed.  A call may stop early (room for events or output
 * ran short, or XC_MON_F_STEP); xc_mon_busy() says so: handle the events
 * and call again with the same burst.
 *
 * Caps and their policies (each hit is counted in xc_mon_stats):
 *   flows      max_flows live flows; full: XC_MON_TABLE_EVICT evicts the
 *              least recently active one (closing flows first; CONN_END
 *              with XC_MON_END_EVICTED), XC_MON_TABLE_REFUSE ignores the
 *              new flow (flows_refused).
 *   per side   buf_cap bytes of ring (grown on demand from XC_MON_BUF_MIN,
 *              doubling); beyond it: drop oldest (XC_RING_DROP_OLDEST).
 *   global     mem_max bytes of rings together; a ring that cannot grow
 *              stays as it is (ERROR/XC_MON_ERR_MEMORY once per side,
 *              mem_denied); a ring that has no buffer yet tracks offsets
 *              only and its bytes count in side.unbuffered.
 *   fragments  frag_cap per ring; full: with DRAIN the lowest hole is
 *              skipped (GAP) and the segment stored; otherwise refused
 *              (ERROR/XC_MON_ERR_FRAGS).
 *   history    XC_MON_HISTORY_MAX letters; further ones are not recorded.
 * Malformed frames are counted and dropped, never trusted.
 */
#ifndef XC_API_MON_H
#define XC_API_MON_H
#include <stdint.h>
#include "api.h"
#include "api_ring.h"
#include "api_filter.h"

#define XC_MON_CLI 0
#define XC_MON_SVR 1
#define XC_MON_BOTH 2             /* events about the flow as a whole */
#define XC_MON_NOSIDE 3           /* ORPHAN */

/* Hooks (mOS: MOS_NULL, MOS_HK_RCV, MOS_HK_SND). */
#define XC_MON_HK_NULL 0
#define XC_MON_HK_RCV 1
#define XC_MON_HK_SND 2

/* Event kinds: mOS's MOS_ON_* bit values, then the monitor's own. */
#define XC_MON_EV_PKT_IN 0x1
#define XC_MON_EV_CONN_START 0x4  /* client: state set to SYN_SENT; server: SYN_RCVD (or pickup) */
#define XC_MON_EV_NEW_DATA 0x10   /* side's ring has new in-order bytes: arg = offset, val = count */
#define XC_MON_EV_ERROR 0x20      /* code = XC_MON_ERR_*, val = bytes concerned */
#define XC_MON_EV_TIMEOUT 0x40    /* idle timeout; CONN_END follows */
#define XC_MON_EV_STATE 0x80      /* arg = old state, code = new state */
#define XC_MON_EV_ORPHAN 0x100    /* a packet of no flow (not a SYN, no pickup) */
#define XC_MON_EV_REXMIT 0x200    /* side retransmitted: arg = offset (or seq for SYN/FIN), val = bytes */
#define XC_MON_EV_CONN_END 0x400  /* code = XC_MON_END_* */
#define XC_MON_EV_DATA 0x1000     /* DRAIN: arg = offset, val = length, pos = where in the output buffer */
#define XC_MON_EV_GAP 0x2000      /* bytes the capture lacks: arg = offset, val = length */
#define XC_MON_EV_OVERLAP 0x4000  /* overlapping bytes differed: arg = offset, val = bytes differing */
#define XC_MON_EV_ALL 0x77f5

/* ERROR codes. */
#define XC_MON_ERR_OUTRUN 1       /* unread bytes dropped to make room (val) */
#define XC_MON_ERR_MEMORY 2       /* global cap or malloc: ring not grown */
#define XC_MON_ERR_FRAGS 3        /* fragment list full: segment refused (val) */
#define XC_MON_ERR_BAD_RST 4      /* RST outside the receiver's window: ignored */
#define XC_MON_ERR_BAD_SYN 5      /* SYN with another ISN on a live flow: ignored */

/* CONN_END reasons. */
#define XC_MON_END_FIN 1
#define XC_MON_END_RST 2
#define XC_MON_END_TIMEOUT 3
#define XC_MON_END_EVICTED 4
#define XC_MON_END_FLUSH 5        /* end of input (xc_mon_flush) */
#define XC_MON_END_REUSED 6       /* a new SYN took the 4-tuple of a closing flow */

/* config.flags */
#define XC_MON_F_MIDSTREAM 0x1    /* non-SYN packets of unknown flows start a flow */
#define XC_MON_F_DRAIN 0x2        /* the core consumes in-order bytes (DATA events) */
#define XC_MON_F_VERIFY_CSUM 0x4  /* drop frames with bad IPv4/TCP checksums (bad_csum) */
#define XC_MON_F_STEP 0x8         /* return after each frame that wrote an event */
#define XC_MON_F_NO_ACK_GAPS 0x10 /* do not skip holes the receiver acknowledged */

/* config.table_policy */
#define XC_MON_TABLE_EVICT 0
#define XC_MON_TABLE_REFUSE 1

#define XC_MON_BUF_MIN 16384      /* first allocation of a ring */
#define XC_MON_HISTORY_MAX 24
#define XC_MON_ENDED_MAX 1024     /* flows ended in one call; more: the call stops early */
#define XC_MON_NO_PKT 0xffffffff

/* side.sflags */
#define XC_MON_SF_SYN 0x1         /* sent a SYN (iss valid) */
#define XC_MON_SF_ISN_GUESSED 0x2 /* iss inferred (pickup, lost SYN) */
#define XC_MON_SF_FIN 0x4         /* sent a FIN (fin_seq valid) */
#define XC_MON_SF_FIN_RCVD 0x8    /* took the peer's FIN */
#define XC_MON_SF_RST 0x10        /* sent an acceptable RST */
#define XC_MON_SF_SENT 0x20       /* sent anything (snd_max valid) */
#define XC_MON_SF_ESTAB 0x40      /* reached ESTABLISHED once */
#define XC_MON_SF_MEM_ERR 0x80    /* ERROR/MEMORY already reported */
#define XC_MON_SF_STOPPED 0x100   /* no more events or buffering for this side */
#define XC_MON_SF_ACKED 0x200     /* sent an ACK (ack_off valid) */
#define XC_MON_SF_BASE 0x400      /* rcv base known (peer's ISN) */
#define XC_MON_SF_FIN_OFF 0x800   /* fin_off valid (the peer's FIN placed in rcv) */

/* flow.fflags */
#define XC_MON_FF_MIDSTREAM 0x1   /* picked up without a SYN */
#define XC_MON_FF_ROLES_GUESSED 0x2 /* client/server chosen by heuristic */

/* flow.status */
#define XC_MON_FS_FREE 0
#define XC_MON_FS_ACTIVE 1
#define XC_MON_FS_CLOSING 2       /* a FIN was sent or the handshake never finished */
#define XC_MON_FS_ENDED 3         /* CONN_END written; rings freed at the next call */
#define XC_MON_FS_LINGER 4

struct xc_mon_config {
	uint32_t max_flows;         /* live flows (default 65536) */
	uint32_t table_policy;      /* XC_MON_TABLE_* */
	uint32_t buf_cap;           /* ring bytes per side (default 8 MiB: above Linux's default largest window, 6 MiB; 0 = no buffering) */
	uint32_t frag_cap;          /* out-of-order fragments per ring (default 256) */
	uint64_t mem_max;           /* all rings together (default 1 GiB) */
	uint32_t overlap;           /* XC_OVERLAP_* of new flows */
	uint32_t flags;             /* XC_MON_F_* */
	uint32_t event_mask;        /* XC_MON_EV_* written */
	uint32_t out_cap;           /* DRAIN output buffer (default 40 MiB, at least 4 buf_cap + 64 KiB; 0 = discard) */
	uint64_t idle_timeout_ns;   /* no packet for this long: TIMEOUT (default 300 s) */
	uint64_t close_timeout_ns;  /* the same for closing flows (default 10 s) */
	uint64_t linger_ns;         /* ended flows absorb late packets (default 2 s) */
};

struct xc_mon_stats {
	uint64_t frames;            /* frames offered */
	uint64_t bytes;             /* their bytes */
	uint64_t tcp_frames;        /* IPv4 or IPv6 TCP frames parsed */
	uint64_t not_ipv4;          /* neither IPv4 nor IPv6 (ARP, ...) */
	uint64_t not_tcp;
	uint64_t ip_fragments;      /* IPv4 or IPv6 fragments: not reassembled, dropped */
	uint64_t malformed;         /* lengths or flags impossible: dropped */
	uint64_t bad_csum;          /* XC_MON_F_VERIFY_CSUM: dropped */
	uint64_t snapped;           /* captured short: headers used, missing payload is a gap */
	uint64_t bad_options;       /* malformed TCP option list (segment still used) */
	uint64_t flows_created;
	uint64_t flows_midstream;   /* of those, picked up without a SYN */
	uint64_t flows_ended;
	uint64_t end_fin, end_rst, end_timeout, end_evicted, end_flush, end_reused;
	uint64_t flows_refused;     /* table full with XC_MON_TABLE_REFUSE */
	uint64_t flows_filtered;    /* rejected by the flow filter: tracked silently */
	uint64_t flows_live;        /* gauge: active + closing */
	uint64_t flows_peak;
	uint64_t orphans;
	uint64_t late_pkts;         /* packets of ended (lingering) flows */
	uint64_t rst_ignored;       /* outside the window */
	uint64_t syn_ignored;       /* another ISN on a live flow */
	uint64_t mem_used;          /* bytes of ring buffers now */
	uint64_t mem_peak;
	uint64_t mem_denied;        /* ring growths refused (mem_max or malloc) */
	uint64_t events;            /* written */
	uint64_t out_bytes;         /* DATA bytes copied out */
	uint64_t discarded_bytes;   /* DRAIN without output buffer: consumed unseen */
	uint64_t early_returns;     /* calls that stopped before the end of their burst */
	uint64_t events_lost;       /* safety net: ev array shorter than xc_mon_events_min */
	uint64_t out_lost;          /* safety net: output buffer too small for a forced drain */
	uint64_t gap_bytes;         /* bytes the ended flows lacked (their sides' gap_bytes) */
	uint64_t flows_gapped;      /* ended flows with gap bytes */
	uint64_t ipv6_frames;       /* of tcp_frames, IPv6 ones */
	uint64_t flows_ipv6;        /* of flows_created, IPv6 ones */
};

struct xc_mon_event {
	uint32_t kind;              /* one XC_MON_EV_* */
	uint32_t flow;              /* flow id (slot), 0 for ORPHAN */
	uint32_t pkt;               /* frame index in the burst, XC_MON_NO_PKT if none */
	uint8_t side;               /* XC_MON_CLI/SVR/BOTH/NOSIDE */
	uint8_t hook;               /* XC_MON_HK_* */
	uint16_t code;              /* ERROR: XC_MON_ERR_*, CONN_END: XC_MON_END_*, STATE: new state */
	uint64_t arg;
	uint64_t val;
	uint32_t pos;               /* DATA: offset in the output buffer */
	uint32_t pad;
};

/* One emulated endpoint. Sequence numbers are this endpoint's (what it
 * sends); *_off fields are offsets in rcv (what it receives). */
struct xc_mon_side {
	uint32_t state;             /* XC_TCP_* */
	uint32_t sflags;            /* XC_MON_SF_* */
	uint32_t iss;               /* its ISN */
	uint32_t snd_max;           /* highest seq it sent + length (+SYN/FIN) */
	uint32_t fin_seq;           /* seq of its FIN */
	uint32_t wnd;               /* last window it advertised (scaled once both sent wscale) */
	uint8_t wscale;             /* from its SYN; 0xff = none */
	uint8_t hist_mask_pad[3];
	uint32_t buf_want;          /* ring cap it may grow to (MOS_*BUF) */
	uint64_t ack_off;           /* highest offset of rcv it acknowledged */
	uint64_t seen_end;          /* highest end offset of rcv data seen */
	uint64_t fin_off;           /* offset of the peer's FIN in rcv (valid with the peer's SF_FIN) */
	/* what it sent */
	uint64_t pkts;
	uint64_t ip_bytes;
	uint64_t payload_bytes;
	uint64_t rexmit_pkts;
	uint64_t rexmit_bytes;
	/* what it received, as the monitor saw it */
	uint64_t delivered;         /* bytes drained in order (DATA or discarded) */
	uint64_t gap_bytes;         /* bytes skipped as missing (GAP), trailing ones included */
	uint64_t unbuffered;        /* bytes not stored: no ring memory */
	uint64_t overlaps;          /* OVERLAP events */
	uint64_t overlap_bytes;     /* bytes that differed */
	uint64_t outrun_bytes;      /* unread bytes dropped (not DRAIN) */
	struct xc_ring rcv;
};

struct xc_mon_flow {
	uint32_t id;                /* slot, 1..; reused after the flow is gone */
	uint32_t status;            /* XC_MON_FS_* */
	uint64_t uid;               /* serial number, never reused */
	uint32_t cli_addr, svr_addr;  /* network order (IPv6: folds, see v6) */
	uint16_t cli_port, svr_port;  /* network order */
	/* An IPv6 flow (v6 = 1): its addresses; cli_addr and svr_addr then
	 * hold 32-bit folds of them, for the table's hash only. */
	uint32_t v6;
	uint8_t cli_ip6[16], svr_ip6[16];   /* network order */
	uint32_t fflags;            /* XC_MON_FF_* */
	uint32_t end_reason;        /* XC_MON_END_* once ended */
	uint64_t first_ns, last_ns; /* packet timestamps */
	uint64_t uctx;              /* for the application */
	uint32_t nhist;
	char history[XC_MON_HISTORY_MAX + 1];  /* Zeek-like: upper case = client */
	uint8_t pad[3];
	uint32_t hist_seen;         /* letters recorded (bit per letter and side) */
	uint32_t hist_cnt[6];       /* t, g, w counts (client, then server): logged at 1, 10, 100... */
	struct xc_mon_side side[2];
	/* private: list links */
	uint32_t lprev, lnext;
	uint32_t list;
	uint32_t pad2;	/* the mOS dialect's listeners (xc_mon_listen): chosen at the flow's
	 * first event */
	uint32_t listeners;         /* bit per listener slot whose SYN filter took it */
	uint32_t watch_events;      /* its own sockets' events (xc_mon_flow_events) */
	/* private: the listeners' events, cached */
	uint32_t listen_gen;        /* listener generation it was chosen at; 0: not yet */
	uint32_t listen_events;
	uint32_t events_gen;
	uint32_t pad3;
};

struct xc_mon;

void xc_mon_config_default(struct xc_mon_config *cfg);
/* NULL if the config is impossible or memory is short. */
struct xc_mon *xc_mon_new(const struct xc_mon_config *cfg);
void xc_mon_free(struct xc_mon *m);
/* Process the frames of b (from where the previous call stopped if it was
 * busy); returns the number of events written to ev (at most max). */
int xc_mon_process(struct xc_mon *m, struct xc_burst *b, struct xc_mon_event *ev,
		   uint32_t max, uint64_t now_ns);
/* 1 when the last call stopped before the end of its burst (or flush). */
int xc_mon_busy(struct xc_mon *m);
/* Events one frame may write at most: an ev array this long per call
 * (twice is better: fewer early returns) never loses one. */
uint32_t xc_mon_events_min(struct xc_mon *m);
/* Timeouts only (live input with no frames); now_ns 0 = the packet clock. */
int xc_mon_expire(struct xc_mon *m, struct xc_mon_event *ev, uint32_t max, uint64_t now_ns);
/* End every live flow (XC_MON_END_FLUSH): call until it returns 0. */
int xc_mon_flush(struct xc_mon *m, struct xc_mon_event *ev, uint32_t max);
/* The output buffer DATA events point into (valid until the next call). */
const uint8_t *xc_mon_out(struct xc_mon *m);
struct xc_mon_flow *xc_mon_flow_get(struct xc_mon *m, uint32_t id);  /* NULL if free */
/* The live IPv4 flow of a 4-tuple (network order, either direction), or NULL. */
struct xc_mon_flow *xc_mon_lookup(struct xc_mon *m, uint32_t a1, uint16_t p1,
				  uint32_t a2, uint16_t p2);
/* The same for an IPv6 flow: addresses of 16 bytes as on the wire. */
struct xc_mon_flow *xc_mon_lookup6(struct xc_mon *m, const uint8_t *a1, uint16_t p1,
				   const uint8_t *a2, uint16_t p2);
void xc_mon_get_stats(struct xc_mon *m, struct xc_mon_stats *out);
uint32_t xc_mon_flow_count(struct xc_mon *m);   /* live flows */
/* Ids of the flows in the table from slot *cursor on, at most max; *cursor
 * moves past the last (operator views: xdpmtcp trace). Returns how many. */
uint32_t xc_mon_flow_ids(struct xc_mon *m, uint32_t *cursor, uint32_t *ids, uint32_t max);
/* Application-side calls (mOS sockets); -1 on a bad id/side/value. */
int xc_mon_set_buf(struct xc_mon *m, uint32_t id, int side, uint32_t cap);  /* 0 disables */
int xc_mon_set_overlap(struct xc_mon *m, uint32_t id, int side, uint32_t policy);
int xc_mon_stop(struct xc_mon *m, uint32_t id, int side);    /* side or BOTH */
/* Inline forwarding: send the frames of b whose verdict is non-zero
 * (verdict NULL: all) out of port, in order, one xc_port_tx per 64 frames;
 * returns how many the port took (the rest count in its tx_no_room).
 * flags: XC_TX_FILL_CSUM to recompute checksums. */
int xc_mon_tx_burst(struct xc_port *port, const struct xc_burst *b, const uint8_t *verdict,
		    uint32_t flags);
/* Follow only the flows filter accepts (api_filter.h, matched on the
 * client's 4-tuple once per flow, and on the sender's for orphans): the
 * others are tracked silently (both sides stopped: no events, no
 * buffering, flows_filtered); orphans it rejects raise no ORPHAN.  The
 * filter VM reads IPv4 only: with a filter set, IPv6 flows are among the
 * others.  NULL removes it; -1 if the program is malformed. */
int xc_mon_set_filter(struct xc_mon *m, const struct xc_filter *filter);
/* Which event kinds are written from now on. */
void xc_mon_set_event_mask(struct xc_mon *m, uint32_t mask);
/* Consume n readable bytes of side's ring, then skip holes the receiver
 * acknowledged; returns bytes consumed. */
int64_t xc_mon_consume(struct xc_mon *m, uint32_t id, int side, uint64_t n);

/* ---- the mOS dialect's raw packets (mon/mon_pkt.c) ---- */

/* Where a frame's parts lie, read by the shared parser (wire/frame.h; VLAN
 * tags allowed, the payload may be cut short by a capture's snaplen):
 * offsets from the frame's start; addresses in network order, as the
 * flows hold them; the rest in host order. */
struct xc_mon_pkt_layout {
	uint32_t ip_off;
	uint32_t l4_off;             /* where the TCP header is (would be) */
	uint32_t payload_off;
	uint32_t ip_len;             /* IPv4 total length */
	uint32_t payload_len;        /* payload bytes in the frame */
	uint32_t saddr, daddr;
	uint32_t seq, ack;
	uint16_t sport, dport;       /* 0 unless TCP or UDP with its ports there */
	uint16_t window;
	uint8_t proto;
	uint8_t tcp_flags;
};
/* 0: a TCP segment, every field set; 1: IPv4 but no TCP segment (the IPv4
 * fields set, payload_off = l4_off, payload_len 0); -1: not IPv4, or
 * malformed (ip_off = l4_off = payload_off = len). */
int xc_mon_pkt_layout(const uint8_t *frame, uint32_t len, struct xc_mon_pkt_layout *out);
#define XC_MON_CSUM_IP 1
#define XC_MON_CSUM_TCP 2
/* Recompute the IPv4 header's and/or the TCP segment's checksum of a frame
 * an application edited (mtcp_setlastpkt), with the wire's one checksum
 * routine; -1 when the frame is no whole IPv4 (TCP) packet. */
int xc_mon_pkt_csum(uint8_t *frame, uint32_t len, uint32_t which);

/* ---- the mOS dialect's listeners (mon/mon_filter.c) ---- */

/* Listener sockets registered in the core, so that it raises a flow's
 * events only when a callback wants them: at a flow's first event the
 * core picks the listeners whose SYN filter (NULL: every flow) takes its
 * client's 4-tuple (flow.listeners); a flow no listener takes is tracked
 * silently (both sides stopped, as xc_mon_stop).  From then on an event
 * of the flow is written only if one of its listeners registered its kind
 * (events, XC_MON_EV_*) or its own sockets did (xc_mon_flow_events), and
 * the config's event_mask allows it.  Flowless events (ORPHAN) follow the
 * event_mask alone.  With no listener registered every flow's events are
 * written (the CLI's monitor), unless xc_mon_listen_only was called (the
 * mOS dialect: no listener, no flow to watch).  A slot freed and used
 * again serves only flows chosen after. */
#define XC_MON_MAX_LISTENERS 32
/* Register or update listener slot (0..XC_MON_MAX_LISTENERS-1): its SYN
 * filter (copied; a changed one applies to flows chosen from now on) and
 * the events its callbacks need; -1 on a bad slot or program. */
int xc_mon_listen(struct xc_mon *m, uint32_t slot, const struct xc_filter *syn, uint32_t events);
int xc_mon_unlisten(struct xc_mon *m, uint32_t slot);
int xc_mon_listen_only(struct xc_mon *m);
/* The events a flow's own sockets need, beside its listeners'; -1 if the
 * flow is gone. */
int xc_mon_flow_events(struct xc_mon *m, uint32_t id, uint32_t events);

#endif
