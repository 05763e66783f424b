/* The TCP engine's boundary: everything Python may call on it, and
 * nothing more.  The connection block (struct xc_tcb) is opaque here:
 * Python holds a pointer, reads one value with xc_tcp_getopt or a
 * tcp_info-shaped snapshot with xc_tcp_info, and changes the block only
 * through the calls below.
 *
 * Split of work (docs/architecture.md has the picture):
 *  - C owns every connection's whole life: every segment (sequence and
 *    RST/SYN checks, PAWS, ACKs, RTT, congestion control, SACK recovery,
 *    reassembly), passive opens (listeners, SYN and accept queues, SYN
 *    cookies), active opens after xc_tcp_connect, every state transition,
 *    every timer (Python learns only the next wake-up time), and readiness
 *    (api_epoll.h).
 *  - Python: configuration, the descriptor table, socket-option semantics
 *    (validation and errnos, then one xc_tcp_setopt), the next hop and
 *    local port of an active open, the one segment C hands back (a SYN
 *    that reuses a TIME-WAIT tuple), and what the application sees.
 * C reports what Python must react to as per-connection event bits, once
 * per batch (xc_engine_poll, xc_engine_events).
 */
#ifndef XC_API_TCP_H
#define XC_API_TCP_H
#include <stdint.h>
#include "api.h"
#include "api_cc.h"
#include "api_bufpool.h"

/* RFC 9293 states; the values are mOS's enum tcpstate (mos_getsockopt.3). */
#define XC_TCP_CLOSED 0
#define XC_TCP_LISTEN 1
#define XC_TCP_SYN_SENT 2
#define XC_TCP_SYN_RCVD 3
#define XC_TCP_ESTABLISHED 4
#define XC_TCP_FIN_WAIT_1 5
#define XC_TCP_FIN_WAIT_2 6
#define XC_TCP_CLOSE_WAIT 7
#define XC_TCP_CLOSING 8
#define XC_TCP_LAST_ACK 9
#define XC_TCP_TIME_WAIT 10

/* xc_tcb.flags */
#define XC_TF_SACK_OK 0x1        /* both sides sent SACK-permitted */
#define XC_TF_TS_OK 0x2          /* both sides sent timestamps */
#define XC_TF_WS_OK 0x4          /* both sides sent window scale */
#define XC_TF_NODELAY 0x8        /* Nagle off */
#define XC_TF_FIN_QUEUED 0x10    /* application closed: FIN after the data */
#define XC_TF_FIN_SENT 0x20      /* our FIN has a sequence number (fin_seq) */
#define XC_TF_FIN_RCVD 0x40      /* peer's FIN consumed (rcv_nxt counts it) */
#define XC_TF_IN_RECOVERY 0x80   /* fast recovery until snd_una >= recover */
#define XC_TF_ACK_NOW 0x100      /* send an ACK at the next flush */
#define XC_TF_RTT_TIMING 0x200   /* Karn: timing rtt_seq since rtt_start_ns */
#define XC_TF_RCV_SHUT 0x400     /* application will read no more (SHUT_RD): readable at once */
#define XC_TF_KEEPALIVE 0x800    /* SO_KEEPALIVE */
#define XC_TF_RTO_RECOVERY 0x1000 /* after an RTO until recover is acked: the loss state (SACK) or go-back-N */
#define XC_TF_FIN_OOO 0x2000     /* peer's FIN seen, not yet consumed: rcv_fin_seq */
#define XC_TF_WND_PROBE 0x4000   /* the next segment may exceed the window by a byte */
#define XC_TF_TLP_OUT 0x8000     /* a tail loss probe is unanswered (until tlp_high_seq is acked) */
#define XC_TF_TLP_NEW 0x10000    /* the next new segment may exceed cwnd (the probe itself) */
#define XC_TF_DSACK 0x20000      /* the next ACK reports dsack_start..end as a D-SACK */
#define XC_TF_ORPHAN 0x40000     /* the application closed it: C may end it alone */
#define XC_TF_RCVBUF_FIXED 0x80000 /* SO_RCVBUF set: no autotuning, window scale of this size */
#define XC_TF_SNDBUF_FIXED 0x100000 /* SO_SNDBUF set: no send-buffer autotuning */
#define XC_TF_FRTO 0x200000      /* F-RTO (RFC 5682) watches the ACKs after an RTO */
#define XC_TF_FRTO_NEW 0x400000  /* F-RTO step 2b: new data before retransmissions */
#define XC_TF_RENEGED 0x800000   /* the peer dropped data it had SACKed: the next RTO forgets SACKs */

/* Event bits for Python, collected per connection and drained per batch. */
#define XC_EV_READABLE 0x1       /* new in-order data */
#define XC_EV_WRITABLE 0x2       /* send-buffer space was freed */
#define XC_EV_STATE 0x4          /* C changed the state (FIN in, FIN acked) */
#define XC_EV_RESET 0x8          /* an acceptable RST: connection is CLOSED */
#define XC_EV_TIMEDOUT 0x10      /* C gave up (retries, keepalive, idle): CLOSED, ETIMEDOUT */
#define XC_EV_RELEASE 0x20       /* C is done with the block (TIME-WAIT over, orphan closed) */
#define XC_EV_REFUSED 0x100      /* the handshake was reset: CLOSED, ECONNREFUSED */
#define XC_EV_SYN_IN_TW 0x40     /* SYN on a TIME-WAIT connection (Python may reuse) */
#define XC_EV_ACKED 0x80         /* snd_una advanced */

struct xc_tcp_counters {
	uint64_t segs_in;
	uint64_t segs_out;
	uint64_t data_segs_in;
	uint64_t data_segs_out;
	uint64_t bytes_received;     /* in-order payload bytes (tcpi_bytes_received) */
	uint64_t bytes_acked;        /* our bytes acknowledged (tcpi_bytes_acked) */
	uint64_t bytes_sent;         /* payload bytes sent, retransmissions included */
	uint64_t bytes_retrans;
	uint64_t retrans_segs;       /* all retransmitted segments */
	uint64_t fast_retrans;       /* segments retransmitted by fast retransmit/recovery */
	uint64_t sack_retrans;       /* of those, chosen by the SACK scoreboard (RFC 6675) */
	uint64_t rto_retrans;        /* segments retransmitted after a timeout */
	uint64_t rto_events;
	uint64_t recoveries;         /* entries into fast recovery */
	uint64_t dupacks_in;
	uint64_t ooo_segs_in;        /* data beyond rcv_nxt */
	uint64_t dup_segs_in;        /* data entirely below rcv_nxt */
	uint64_t out_of_window;      /* unacceptable segments (answered with an ACK) */
	uint64_t paws_rejected;
	uint64_t challenge_acks;     /* RFC 5961 */
	uint64_t challenge_acks_skipped; /* not sent: this connection's interval or the engine's budget */
	uint64_t oow_acks_skipped;   /* ACKs to unacceptable segments not sent (interval) */
	uint64_t rst_ignored;        /* RST outside the window */
	uint64_t zero_window_probes;
	uint64_t keepalive_probes;
	uint64_t delayed_acks;       /* ACKs sent by the delayed-ACK timer */
	uint64_t acks_sent;          /* pure ACKs */
	uint64_t sacks_sent;         /* ACKs carrying SACK blocks */
	uint64_t dsacks_sent;        /* of those, reporting duplicate data first (RFC 2883) */
	uint64_t sack_blocks_in;
	uint64_t dsacks_in;
	uint64_t rcv_dropped;        /* bytes beyond the receive buffer */
	uint64_t tx_no_room;         /* segments the port refused (retried later) */
	uint64_t max_flight;         /* most bytes ever in flight (window scaling at work) */
	uint64_t tlp_probes;         /* tail loss probes sent (RFC 8985 §7) */
	uint64_t early_retrans;      /* fast retransmits with a lowered threshold (RFC 5827) */
	uint64_t limited_transmits;  /* new segments sent on the first dupACKs (RFC 3042) */
	uint64_t lost_retrans;       /* retransmissions found lost by later SACKs (RACK-like) */
	uint64_t undos;              /* recoveries undone: D-SACKs proved them spurious (RFC 3708) */
	uint64_t rcv_dropped_memory; /* data segments dropped: no buffer storage (buffer_memory_max) */
	uint64_t snd_refused_memory; /* writes that took 0 bytes: no buffer storage (buffer_memory_max) */
	/* RACK-TLP (RFC 8985), PRR (RFC 6937) and undo; Linux's TcpExt name after each */
	uint64_t rack_lost;          /* segments RACK marked lost by time */
	uint64_t reo_timeouts;       /* reordering-window timer expiries that marked losses */
	uint64_t sack_reorder;       /* deliveries below the highest SACK of never-resent data (TCPSACKReorder) */
	uint64_t tlp_recoveries;     /* losses a tail loss probe uncovered (TCPLossProbeRecovery) */
	uint64_t spurious_rtos;      /* RTOs F-RTO found spurious, undone (TCPSpuriousRTOs) */
	uint64_t loss_undos;         /* RTO recoveries undone, by timestamps or F-RTO (TCPLossUndo) */
	uint64_t ts_undos;           /* fast recoveries undone by timestamps (TCPPartialUndo + TCPFullUndo) */
	uint64_t sack_reneging;      /* the peer dropped SACKed data (TCPSACKReneging) */
	uint64_t sent_map_full;      /* sends held: the per-segment map at its cap or without storage */
	uint64_t paced;              /* sends held until the pacing timer (pacing on) */
};


/* Engine-wide settings; Python fills them from Tunables. */
struct xc_tcp_config {
	uint32_t max_tcbs;
	uint32_t delack_us;          /* delayed-ACK timeout (RFC 1122: < 500 ms) */
	uint32_t rto_initial_us;     /* RFC 6298: 1 s */
	uint32_t rto_min_us;         /* 200 ms as Linux (RFC 6298 says 1 s) */
	uint32_t rto_max_us;         /* 120 s */
	uint32_t max_retries;        /* timeouts before giving up (tcp_retries2) */
	uint32_t syn_retries;        /* SYN / SYN-ACK retransmissions */
	uint32_t initial_window;     /* segments (RFC 6928: 10) */
	uint32_t challenge_ack_limit; /* per second, engine-wide, randomized (RFC 5961 §7); 0 = none */
	uint32_t invalid_ratelimit_us; /* per connection: challenge ACKs and ACKs to unacceptable segments */
	uint32_t quickack_segs;      /* segments ACKed immediately at start */
	uint32_t gso_max_segs;       /* new data leaves in super-segments of up to this many
				      * segments (xc_port_tx_gso); 0 or 1: one segment a frame */
	uint32_t sndbuf_max;         /* send-buffer autotuning ceiling; sndbuf or less: off */
	uint32_t persist_min_us;
	uint32_t persist_max_us;
	uint32_t ttl;
	uint32_t rcvbuf_max;         /* autotuning ceiling: the window scale allows it */
	uint32_t timewait_ms;        /* TIME-WAIT length; 0: none (the block goes at once) */
	uint32_t fin_wait2_ms;       /* orphaned FIN-WAIT-2 lifetime */
	uint32_t idle_timeout_ms;    /* synchronized connection silent this long: RST; 0 = none */
	uint64_t buffer_memory_max;  /* storage allocated to all connection buffers together (bufpool limit) */
	uint64_t buffer_pool_cache;  /* free storage blocks kept for reuse, bytes */
	uint32_t syn_backlog;        /* half-open connections per listener; beyond: cookies or drop */
	uint32_t syncookies;         /* 1: answer SYNs beyond syn_backlog with cookies */
	uint32_t max_listeners;
	uint32_t pacing;             /* 1: new data and retransmissions leave at the connection's rate */
	uint8_t local_mac[6];        /* source MAC of what the engine sends on its own */
};

struct xc_tcp_stats {
	uint64_t segs_in;            /* frames given to xc_engine_rx */
	uint64_t fast_path;          /* handled entirely in C */
	uint64_t slow_path;          /* handed to Python */
	uint64_t not_tcp;            /* not IPv4/TCP for us: counted, dropped */
	uint64_t malformed;
	uint64_t segs_out;
	uint64_t tx_no_room;
	uint64_t challenge_acks;
	uint64_t challenge_acks_limited;      /* refused by the engine-wide budget */
	uint64_t challenge_acks_conn_limited; /* refused by the connection's interval */
	uint64_t oow_acks_limited;            /* ACKs to unacceptable segments refused by the interval */
	uint64_t tcbs_alloc_failed;
	uint64_t flow_table_full;
	uint64_t timers_fired;       /* deadlines run by xc_engine_timers */
	uint64_t timewait_expired;
	uint64_t timeouts;           /* connections ended with ETIMEDOUT */
	uint64_t rst_sent;           /* answers to segments for no connection */
	uint64_t refused_cap;        /* SYNs dropped: max_concurrency blocks in use */
	uint64_t refused_memory;     /* SYNs dropped: the child's buffers, full, would pass buffer_memory_max */
	uint64_t buffer_bytes;       /* storage allocated to buffers now: what buffer_memory_max caps (idle: 0) */
	uint64_t buffer_capacity;    /* receive + send buffer sizes of every block: what windows promise */
	uint64_t buffer_cached;      /* free storage blocks the pool keeps for reuse */
	uint64_t buffer_peak;        /* highest buffer_bytes seen */
	uint64_t rcv_dropped_memory; /* data segments dropped: no storage (the peer retransmits) */
	uint64_t write_refused_memory; /* writes that took 0 bytes: no storage (EAGAIN) */
	uint64_t listen_segments;    /* segments a listener handled (SYN, cookie ACK, probe) */
	uint64_t handshake_segments; /* segments of connections in SYN-SENT or SYN-RECEIVED */
	uint64_t syn_sent_bad_ack;   /* SYN-SENT got an ACK that is not for our SYN (RST sent) */
	uint64_t rcvbuf_grown;       /* autotuning doubled a receive buffer */
	uint64_t rcvbuf_grow_refused; /* ... or would have, past buffer_memory_max */
	uint64_t tcbs;               /* connection blocks in use (unaccepted passive opens too) */
	uint64_t tcb_size;           /* bytes of one block (opaque to Python; for memory accounting) */
};

/* A listener: what its connections inherit (the listening socket's
 * options), and its counters.  Ids are small ints, 0..max_listeners-1. */
struct xc_listen_conf {
	uint32_t backlog;            /* established connections waiting for accept */
	uint32_t rcvbuf;
	uint32_t sndbuf;
	uint32_t flags;              /* XC_TF_NODELAY, _KEEPALIVE, _RCVBUF_FIXED, _SNDBUF_FIXED, the offered TS/SACK/WS */
	uint16_t rcv_mss;
	uint16_t cc_algo;
	uint32_t keepalive_idle_ms;
	uint32_t keepalive_intvl_ms;
	uint32_t keepalive_cnt;
};

struct xc_listen_stats {
	uint64_t syns;
	uint64_t synacks;
	uint64_t syn_retransmits_seen;
	uint64_t accept_overflow;    /* SYN dropped: accept queue full */
	uint64_t syn_queue_overflow; /* SYN answered with a cookie (or dropped without cookies) */
	uint64_t cookies_sent;
	uint64_t cookies_accepted;
	uint64_t cookies_rejected;
	uint64_t refused_no_memory;  /* SYN dropped: connection or buffer cap reached */
	uint64_t established;
	uint64_t half_open_failed;   /* SYN-RECEIVED ended by RST or timeout */
	uint64_t probes_dropped;     /* FIN/NULL/Xmas and other no-ACK segments (RFC 9293 §3.10.7.2) */
	uint64_t aborted_unaccepted; /* established, then reset or timed out before accept */
};

/* Listener events come out of xc_engine_events with this bit on the id. */
#define XC_LISTEN_EVENT 0x80000000

/* A block for an active open (xc_tcp_open): addressing in network order,
 * what our SYN offers, the buffers.  The source MAC is the engine's; the
 * ISN is C's (RFC 6528). */
struct xc_tcp_open {
	uint32_t local_addr;
	uint32_t remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t remote_mac[6];
	uint16_t rcv_mss;            /* MSS we advertise */
	uint32_t rcvbuf;
	uint32_t sndbuf;
	uint32_t flags;              /* the offered XC_TF_TS_OK, _SACK_OK, _WS_OK */
	uint32_t cc_algo;
};

/* Who a connection is: its id (the one xc_engine_events names) and
 * 4-tuple in network order (xc_listen_accept fills it). */
struct xc_tcp_ident {
	uint32_t id;
	uint32_t local_addr;
	uint32_t remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
};

#define XC_TCP_HISTORY_MAX 15    /* letters of xc_tcp_info.history */

/* A snapshot of one connection, tcp_info-shaped (Linux's names and units
 * where one exists: times in µs, windows in bytes unless said), for
 * TCP_INFO, the operator's views and tests. */
struct xc_tcp_info {
	uint32_t state;              /* XC_TCP_* */
	uint32_t flags;              /* XC_TF_* */
	uint32_t ca_state;           /* Linux's: 0 open, 1 disorder, 3 recovery, 4 loss */
	uint32_t retransmits;        /* consecutive timeouts without progress */
	uint32_t probes;             /* zero-window or keepalive probes unanswered */
	uint32_t backoff;            /* RTO doublings */
	uint32_t snd_wscale;
	uint32_t rcv_wscale;
	uint32_t rto_us;
	uint32_t snd_mss;
	uint32_t rcv_mss;            /* the MSS we advertise (tcpi_advmss) */
	uint32_t peer_mss;
	uint32_t rtt_us;             /* smoothed, 0: no sample yet */
	uint32_t rttvar_us;
	uint32_t min_rtt_us;
	uint32_t cwnd;               /* bytes */
	uint32_t ssthresh;           /* bytes; XC_CC_SSTHRESH_INF before a loss */
	uint32_t cc_algo;
	uint32_t unacked;            /* bytes in flight or lost: snd_max - snd_una */
	uint32_t in_flight;          /* snd_nxt - snd_una */
	uint32_t snd_wnd;            /* the peer's window */
	uint32_t rcv_wnd;            /* what we advertised and is still open */
	uint32_t rcv_space;          /* free receive buffer */
	uint32_t rcvbuf;             /* buffer sizes */
	uint32_t sndbuf;
	uint32_t rcv_queued;         /* readable bytes (SIOCINQ) */
	uint32_t snd_queued;         /* written, not acknowledged (SIOCOUTQ) */
	uint32_t rcv_storage;        /* pool storage the buffers hold now */
	uint32_t snd_storage;
	uint32_t so_error;
	uint32_t iss, irs;           /* sequence numbers, for tools and tests */
	uint32_t snd_una, snd_nxt, snd_max, rcv_nxt;
	uint32_t ts_recent;          /* RFC 7323 TS.Recent */
	uint32_t ts_offset;          /* our TSval's per-connection offset */
	uint64_t last_data_recv_ms;  /* ago */
	uint64_t last_data_sent_ms;  /* ago, 0: never */
	char history[XC_TCP_HISTORY_MAX + 1];  /* Zeek-style (upper case: the originator), NUL-ended */
	/* loss recovery with SACK: the flight by state (bytes, as Linux's
	 * tcpi_sacked/lost/retrans count segments), RACK's reordering-window
	 * multiplier, and the last recovery's PRR (RFC 6937) accounting */
	uint32_t sacked;
	uint32_t lost;
	uint32_t retrans_out;
	uint32_t reo_wnd_steps;
	uint32_t prr_delivered;
	uint32_t prr_out;
	uint32_t prr_recover_fs;
	uint64_t pacing_rate;        /* bytes per second (tcpi_pacing_rate), 0: not paced */
	struct xc_tcp_counters c;
};

/* One connection as the operator's views show it (xdpmtcp trace, status,
 * metrics): who, whose (listen_id: the listener's id + 1 while it waits
 * in a SYN or accept queue, 0 once opened or accepted) and its info. */
struct xc_conn_row {
	struct xc_tcp_ident who;
	uint32_t listen_id;
	struct xc_tcp_info info;
};

/* Socket options and per-connection values set and read through one typed
 * call each (Python validates and maps errnos first). */
#define XC_OPT_STATE 1           /* get: XC_TCP_* */
#define XC_OPT_ERROR 2           /* SO_ERROR: get, set (0 clears) */
#define XC_OPT_RCVBUF 3          /* get: size; set: resize (never below what it holds; -ENOBUFS) */
#define XC_OPT_SNDBUF 4
#define XC_OPT_RCVBUF_FIXED 5    /* 1: no autotuning (SO_RCVBUF set) */
#define XC_OPT_SNDBUF_FIXED 6
#define XC_OPT_NODELAY 7         /* Nagle off; on: what Nagle held leaves */
#define XC_OPT_MAXSEG 8          /* set: before the handshake the MSS we advertise, after a cap; get: MSS */
#define XC_OPT_CONGESTION 9      /* algorithm (api_cc.h); switching keeps cwnd and ssthresh */
#define XC_OPT_KEEPALIVE 10      /* on/off, with the idle, interval and count set before */
#define XC_OPT_KEEPIDLE_MS 11
#define XC_OPT_KEEPINTVL_MS 12
#define XC_OPT_KEEPCNT 13
#define XC_OPT_RCVLOWAT 14       /* what readiness (api_epoll.h) counts as readable, writable */
#define XC_OPT_SNDLOWAT 15
#define XC_OPT_RCV_SHUT 16       /* 1: SHUT_RD, readable at once */
#define XC_OPT_EV_QUIET 17       /* XC_EV_* bits xc_engine_events keeps for itself */
#define XC_OPT_FIN_RCVD 18       /* get: the peer's FIN is consumed */
#define XC_OPT_FIN_QUEUED 19     /* get: our side is shut (FIN after the data) */
#define XC_OPT_RCV_QUEUED 20     /* get: readable bytes */
#define XC_OPT_SND_QUEUED 21     /* get: written, not acknowledged */
#define XC_OPT_SND_FREE 22       /* get: free send-buffer bytes */
#define XC_OPT_SND_REFUSED 23    /* get: appends refused for want of storage, so far */
#define XC_OPT_POLL_MASK 24      /* get: EPOLLIN/OUT/RDHUP/HUP/ERR as epoll sees it */
#define XC_OPT_ID 25             /* get: the id events name */

struct xc_tcp_engine;
struct xc_tcb;                   /* opaque: C owns every field */

/* --- the engine ----------------------------------------------------------- */
struct xc_tcp_engine *xc_engine_new(struct xc_port *port, const struct xc_tcp_config *cfg);
void xc_engine_free(struct xc_tcp_engine *e);
/* Counters; pool (may be NULL) gets the buffer pool's (api_bufpool.h). */
void xc_engine_get_stats(struct xc_tcp_engine *e, struct xc_tcp_stats *out,
			 struct xc_bufpool_stats *pool);
/* Rows of the live connections with ids from *cursor on, at most max;
 * *cursor moves past the last one given. Returns how many (0: no more).
 * Reads only, so a snapshot may be taken in chunks between batches. */
int xc_engine_conns(struct xc_tcp_engine *e, uint32_t *cursor, struct xc_conn_row *out, int max,
		    uint64_t now_ns);
/* One batch, one call: receive up to a burst from the port, run every
 * segment C owns, the due timers, and (when Python has nothing to do)
 * send.  r says what Python must do: the slow segments (indexes in slow[],
 * sized as burst->cap; the burst keeps its frames until Python clears it),
 * events to drain; after either, Python calls xc_engine_flush. */
struct xc_poll_result {
	uint32_t frames;             /* received */
	uint32_t slow;               /* segments for Python */
	uint32_t events;             /* connections and listeners with events for Python */
};
void xc_engine_poll(struct xc_tcp_engine *e, struct xc_burst *burst, uint32_t *slow, uint64_t now_ns,
		    struct xc_poll_result *r);
/* Drain events: ids and their XC_EV_* bits; returns the count. */
uint32_t xc_engine_events(struct xc_tcp_engine *e, uint32_t *ids, uint32_t *bits, uint32_t max);
/* Send what every connection marked for output may send (ACKs, data, FIN)
 * and push the port's TX ring. Returns segments sent. */
int xc_engine_flush(struct xc_tcp_engine *e, uint64_t now_ns);
/* The earliest deadline C holds (CLOCK_MONOTONIC ns), 0 if none. */
uint64_t xc_engine_next_timer(struct xc_tcp_engine *e);
/* A slow segment, after Python's decision: a SYN that reuses a TIME-WAIT
 * tuple once Python released the old block, run by the listeners. */
int xc_engine_slow_input(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len, uint64_t now_ns);

/* --- connections ------------------------------------------------------------ */
/* A block for an active open, entered in the 4-tuple table: NULL with *err
 * -EAGAIN (max_tcbs in use), -ENOBUFS (its buffers, full, would pass
 * buffer_memory_max) or -EADDRINUSE (tuple taken). */
struct xc_tcb *xc_tcp_open(struct xc_tcp_engine *e, const struct xc_tcp_open *o, uint64_t now_ns,
			   int32_t *err);
/* SYN-SENT, the SYN queued with the options set since open (it leaves
 * with the batch's frames at the next xc_engine_flush or xc_engine_poll:
 * a burst of connects costs one kick); C runs the handshake (XC_EV_STATE + WRITABLE when established, REFUSED or TIMEDOUT
 * if not). */
void xc_tcp_connect(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* The socket calls' common case in one call each.  recv: bytes read (> 0),
 * -EAGAIN when the connection is open and holds none, -1 when the socket
 * layer must decide (end of stream, an error, not synchronized).  send:
 * bytes taken (> 0), -EAGAIN when fewer than min(sndlowat, len) fit, -1
 * when the socket layer must decide (not open for sending, an error). */
int32_t xc_tcp_recv(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n);
int32_t xc_tcp_send(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len);
/* What the socket layer does once it decided: copy out (peek: leave it),
 * append, append from a file (pread at offset straight into the send
 * buffer: bytes taken, 0 at end of file or when full, -errno when the read
 * failed). */
uint32_t xc_tcp_read(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n, int peek);
uint32_t xc_tcp_write(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len);
int64_t xc_tcp_write_fd(struct xc_tcp_engine *e, struct xc_tcb *t, int fd, uint64_t offset,
			uint32_t count);
/* Half-close: FIN after the queued data (ESTABLISHED, SYN-RECEIVED ->
 * FIN-WAIT-1; CLOSE-WAIT -> LAST-ACK); 0 when the state has no FIN to send. */
int xc_tcp_shutdown(struct xc_tcp_engine *e, struct xc_tcb *t);
/* The application let go: shutdown, then C ends it alone (orphaned
 * FIN-WAIT-2 timeout, TIME-WAIT, XC_EV_RELEASE). */
void xc_tcp_close(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* RST now if the state calls for one (SO_LINGER 0, mtcp_abort); the block
 * stays until xc_tcb_free. */
void xc_tcp_abort(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* Forget a block: tuple, timers, watchers, buffers. */
void xc_tcb_free(struct xc_tcp_engine *e, struct xc_tcb *t);
/* XC_OPT_*: set returns 0 or -errno; get returns the value. */
int xc_tcp_setopt(struct xc_tcp_engine *e, struct xc_tcb *t, int opt, uint64_t value, uint64_t now_ns);
int64_t xc_tcp_getopt(const struct xc_tcb *t, int opt);
void xc_tcp_info(const struct xc_tcb *t, uint64_t now_ns, struct xc_tcp_info *out);

/* --- listeners ------------------------------------------------------------------ */
/* Addresses and ports in network order; addr 0 = every local address.
 * open: the id, or -1 (that address and port listen already, or
 * max_listeners).  close resets what is not accepted.  accept: the next
 * established connection (then Python's) and who it is; NULL when none. */
int xc_listen_open(struct xc_tcp_engine *e, uint32_t addr, uint16_t port,
		   const struct xc_listen_conf *conf);
void xc_listen_configure(struct xc_tcp_engine *e, int id, const struct xc_listen_conf *conf);
void xc_listen_close(struct xc_tcp_engine *e, int id, uint64_t now_ns);
struct xc_tcb *xc_listen_accept(struct xc_tcp_engine *e, int id, struct xc_tcp_ident *who);
uint32_t xc_listen_pending(struct xc_tcp_engine *e, int id);
void xc_listen_get_stats(struct xc_tcp_engine *e, int id, struct xc_listen_stats *out);

#endif
