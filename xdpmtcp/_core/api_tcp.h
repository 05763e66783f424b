/* Public API of the TCP engine's C half: the connection control block both
 * C and Python use, the per-batch entry points, and the counters.
 *
 * Split of work (docs/architecture.md has the picture):
 *  - C: every segment of a connection in a synchronized state (ESTABLISHED
 *    and the closing states): sequence and RST/SYN checks (RFC 9293
 *    §3.10.7.4, RFC 5961), PAWS, ACK processing, RTT samples, congestion
 *    control, SACK and NewReno loss recovery, reassembly, the FIN and
 *    ACK-of-FIN state transitions, and building every segment sent.
 *  - C also owns every timer: a heap of connections by earliest deadline,
 *    run by xc_engine_timers; retransmission, delayed ACK, persist, tail
 *    loss probe, keepalive, TIME-WAIT, orphaned FIN-WAIT-2 and the idle
 *    timeout all fire and act here.  Python learns only the next wake-up
 *    time (xc_engine_next_timer).
 *  - C owns passive opens: listeners with their SYN and accept queues, SYN
 *    cookies, SYN-RECEIVED, and the answer to every segment of no
 *    connection.  Python meets a passive connection once, at accept.
 *  - C owns active opens after xc_tcp_connect: SYN-SENT and the way of a
 *    simultaneous open through SYN-RECEIVED.
 *  - Python: making a block for connect (port, next hop, options), a SYN
 *    that reuses a TIME-WAIT tuple, what the application sees (errors,
 *    wakeups, close, teardown).
 * C reports what Python must react to as per-connection event bits, once
 * per batch.
 */
#ifndef XC_API_TCP_H
#define XC_API_TCP_H
#include <stdint.h>
#include "api.h"
#include "api_cc.h"
#include "api_ring.h"
#include "api_sack.h"

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
#define XC_TF_RTO_RECOVERY 0x1000 /* retransmitting after an RTO (go-back-N) */
#define XC_TF_FIN_OOO 0x2000     /* peer's FIN seen, not yet consumed: rcv_fin_seq */
#define XC_TF_WND_PROBE 0x4000   /* the next segment may exceed the window by a byte */
#define XC_TF_TLP_OUT 0x8000     /* a tail loss probe is unanswered (until tlp_high_seq is acked) */
#define XC_TF_TLP_NEW 0x10000    /* the next new segment may exceed cwnd (the probe itself) */
#define XC_TF_DSACK 0x20000      /* the next ACK reports dsack_start..end as a D-SACK */
#define XC_TF_ORPHAN 0x40000     /* the application closed it: C may end it alone */
#define XC_TF_RCVBUF_FIXED 0x80000 /* SO_RCVBUF set: no autotuning, window scale of this size */
#define XC_TF_SNDBUF_FIXED 0x100000 /* SO_SNDBUF set: no send-buffer autotuning */

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

/* Timers: deadlines in CLOCK_MONOTONIC ns, 0 = not armed. */
#define XC_T_RTO 0               /* retransmission (and SYN/SYN-ACK/FIN) */
#define XC_T_DELACK 1
#define XC_T_PERSIST 2           /* zero-window probe */
#define XC_T_KEEPALIVE 3         /* SO_KEEPALIVE probes (xc_tcp_set_keepalive) */
#define XC_T_TIMEWAIT 4          /* TIME-WAIT, orphaned FIN-WAIT-2, or the idle timeout */
#define XC_T_TLP 5               /* tail loss probe (RFC 8985 §7) */
#define XC_T_COUNT 6


/* xc_tcp_send_ctl kinds: control segments built in C. */
#define XC_CTL_SYN 1
#define XC_CTL_SYNACK 2
#define XC_CTL_ACK 3
#define XC_CTL_RST 4             /* RST with seq = snd_nxt (abort) */
#define XC_CTL_KEEPALIVE 5       /* seq = snd_una - 1, no data */

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
};

struct xc_ep_entry;

struct xc_tcb {
	uint32_t id;                 /* index in the engine, 1..max */
	uint32_t state;              /* XC_TCP_* */
	uint32_t flags;              /* XC_TF_* */
	uint32_t events;             /* XC_EV_* not yet drained */
	/* addressing, network byte order, as on the wire */
	uint32_t local_addr;
	uint32_t remote_addr;
	uint16_t local_port;
	uint16_t remote_port;
	uint8_t local_mac[6];
	uint8_t remote_mac[6];
	/* send sequence space (RFC 9293 §3.3.1) */
	uint32_t iss;
	uint32_t snd_una;
	uint32_t snd_nxt;            /* next to send (lowered to snd_una after an RTO) */
	uint32_t snd_max;            /* highest sequence sent + 1 */
	uint32_t snd_wnd;            /* peer's window, scaled, bytes */
	uint32_t snd_wl1;
	uint32_t snd_wl2;
	uint32_t max_snd_wnd;
	uint32_t fin_seq;            /* valid with XC_TF_FIN_SENT */
	uint32_t recover;            /* RFC 6582 */
	/* receive sequence space */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv;            /* right edge advertised: never moves left */
	uint32_t rcv_wnd_last;       /* window in the last segment sent, bytes */
	uint32_t tlp_high_seq;       /* snd_max when the last probe was sent */
	uint32_t rxt_una_seq;        /* last retransmission of the segment at snd_una ... */
	uint32_t rxt_una_mark;       /* ... and snd_max when it was sent */
	uint32_t rcv_fin_seq;        /* sequence number of the peer's FIN, with XC_TF_FIN_OOO */
	/* options */
	uint16_t mss;                /* payload bytes per segment we send (options excluded) */
	uint16_t rcv_mss;            /* MSS we advertise */
	uint16_t peer_mss;           /* MSS the peer advertised */
	uint8_t snd_wscale;          /* shift for the windows the peer advertises */
	uint8_t rcv_wscale;          /* shift for the windows we advertise */
	uint32_t ts_recent;          /* RFC 7323 TS.Recent */
	uint32_t ts_offset;          /* per-connection random offset of our TSval */
	uint16_t ip_id;              /* IPv4 ID of our next segment: counts from a random start */
	uint64_t oow_ack_ns;         /* last challenge ACK or ACK to an unacceptable segment */
	uint32_t last_ack_sent;      /* RFC 7323 Last.ACK.sent */
	/* RTT (RFC 6298), microseconds */
	uint32_t srtt_us;            /* 0 = no sample yet */
	uint32_t rttvar_us;
	uint32_t rto_us;
	uint32_t min_rtt_us;
	uint32_t last_rtt_us;
	uint32_t rtt_seq;            /* Karn timing without timestamps */
	uint64_t rtt_start_ns;
	uint32_t backoff;            /* RTO doublings so far */
	uint32_t retries;            /* consecutive timeouts without progress */
	uint32_t dupacks;
	uint32_t ack_pending;        /* full-size segments received and not acknowledged */
	uint32_t quickacks;          /* ACK every segment while > 0 (start, after idle) */
	uint32_t probes;             /* zero-window or keepalive probes unanswered */
	uint32_t cc_algo;
	uint32_t keepalive_idle_ms;  /* TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT */
	uint32_t keepalive_intvl_ms;
	uint32_t keepalive_cnt;
	/* timers */
	uint64_t timer_due[6];        /* XC_T_COUNT */
	uint64_t timer_queued_ns;    /* this block's key in the engine's timer heap (0: not in it) */
	uint32_t timer_heap_pos;     /* 1-based slot in the timer heap, 0 = none */
	uint64_t last_recv_ns;       /* for keepalive and idle timeout */
	uint64_t last_send_ns;       /* for restart after idle */
	/* loss recovery and congestion */
	struct xc_cc cc;
	struct xc_sack_board sack;
	/* buffers: receive (reassembly) and send (FIFO from snd_una) */
	struct xc_ring rcv;
	struct xc_ring snd;
	struct xc_tcp_counters c;
	/* engine bookkeeping */
	uint32_t queued;             /* bit 0: in the event list; bit 1: in the output list */
	uint32_t last_ooo_len;       /* latest out-of-order segment: first SACK block (RFC 2018 §4) */
	uint64_t last_ooo_off;
	uint32_t prior_cwnd;         /* before the last fast recovery cut: undone if ... */
	uint32_t prior_ssthresh;
	uint32_t undo_retrans;       /* ... D-SACKs show all its retransmissions were needless */
	uint32_t undo_marker;        /* snd_una when that recovery began */
	uint32_t dsack_start;        /* duplicate data to report (RFC 2883), with XC_TF_DSACK */
	uint32_t dsack_end;
	/* passive opens until accepted: the listener (id + 1, 0 = none), the
	 * accept queue's links, and when our SYN-ACK first left */
	uint32_t listen_id;
	uint32_t q_prev;
	uint32_t q_next;
	uint64_t hs_start_ns;
	/* readiness (api_epoll.h): the epoll entries watching this block, the
	 * pending error, the socket's low-water marks, and the events Python
	 * need not hear of (C's epoll sees them all) */
	struct xc_ep_entry *watch;
	uint32_t so_error;           /* SO_ERROR: ECONNRESET, ETIMEDOUT or ECONNREFUSED; Python clears it */
	uint32_t rcvlowat;           /* SO_RCVLOWAT (0 counts as 1) */
	uint32_t sndlowat;           /* SO_SNDLOWAT */
	uint32_t ev_quiet;           /* XC_EV_* bits kept from xc_engine_events for this block */
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

struct xc_tcp_engine;

struct xc_tcp_engine *xc_engine_new(struct xc_port *port, const struct xc_tcp_config *cfg);
void xc_engine_free(struct xc_tcp_engine *e);
void xc_engine_get_stats(struct xc_tcp_engine *e, struct xc_tcp_stats *out);
/* The buffer pool behind every connection's rings (api_bufpool.h). */
void xc_engine_get_pool_stats(struct xc_tcp_engine *e, struct xc_bufpool_stats *out);
/* Process a received batch.  Segments for connections in synchronized
 * states are handled here; the indexes (into in->pkts) of all others are
 * written to slow[] for Python (at most slow_max; the rest are counted in
 * slow_path and dropped — size slow[] as in->cap).  Returns the slow count. */
int xc_engine_rx(struct xc_tcp_engine *e, struct xc_burst *in, uint32_t *slow,
		 uint32_t slow_max, uint64_t now_ns);
/* Drain events: ids and their XC_EV_* bits; returns the count. */
uint32_t xc_engine_events(struct xc_tcp_engine *e, uint32_t *ids, uint32_t *bits, uint32_t max);
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
/* Send what every connection marked for output may send (ACKs, data, FIN)
 * and push the port's TX ring. Returns segments sent. */
int xc_engine_flush(struct xc_tcp_engine *e, uint64_t now_ns);

/* Connection blocks: allocated zeroed with id set, buffers sized (their
 * storage comes from the engine's pool at the first byte held, and goes
 * back when they are empty); the 4-tuple is entered in the lookup table by
 * xc_tcb_bind. */
struct xc_tcb *xc_tcb_alloc(struct xc_tcp_engine *e, uint32_t rcvbuf, uint32_t sndbuf);
int xc_tcb_bind(struct xc_tcp_engine *e, struct xc_tcb *t);   /* -1: tuple in use or table full */
void xc_tcb_free(struct xc_tcp_engine *e, struct xc_tcb *t);    /* unbinds too */
uint32_t xc_engine_tcb_count(struct xc_tcp_engine *e);

/* Before our SYN: with addressing, iss and the offered options filled in,
 * set up what we advertise (MSS, window scale), the RTO and the send space. */
void xc_tcp_init_conn(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* Active open: SYN-SENT and the SYN now; C runs the rest of the handshake
 * (XC_EV_STATE + WRITABLE when established, REFUSED or TIMEDOUT if not). */
void xc_tcp_connect(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* Run the synchronized-state input on one frame (Python uses it for the
 * segment that completes a handshake and carries data). */
int xc_tcp_input(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *frame,
		 uint32_t len, uint64_t now_ns);
/* Build and send a control segment now (XC_CTL_*). */
int xc_tcp_send_ctl(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns);
/* RST in answer to a segment that has no connection (RFC 9293 §3.10.7.1);
 * frame is the offending segment, our_mac the source MAC to use. */
int xc_tcp_send_reset_for(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len);
/* Application side. */
uint32_t xc_tcp_write(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len);
/* xc_tcp_write from a file: up to count bytes read (pread) from fd at
 * offset straight into the send buffer; bytes taken (0 at end of file or
 * when there is no room), or -errno when the read failed. */
int64_t xc_tcp_write_fd(struct xc_tcp_engine *e, struct xc_tcb *t, int fd, uint64_t offset,
			uint32_t count);
uint32_t xc_tcp_read(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n, int peek);
void xc_tcp_shutdown_send(struct xc_tcp_engine *e, struct xc_tcb *t);   /* queue FIN */
/* The socket calls' common case in one call each.  recv: bytes read (> 0),
 * -EAGAIN when the connection is open and holds none, -1 when the socket
 * layer must decide (end of stream, an error, not synchronized).  send:
 * bytes taken (> 0), -EAGAIN when fewer than min(sndlowat, len) fit, -1
 * when the socket layer must decide (not open for sending, an error). */
int32_t xc_tcp_recv(struct xc_tcp_engine *e, struct xc_tcb *t, uint8_t *dst, uint32_t n);
int32_t xc_tcp_send(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *data, uint32_t len);
void xc_tcp_mark_output(struct xc_tcp_engine *e, struct xc_tcb *t);
/* Run every deadline due by now_ns (events say what changed); returns how
 * many fired.  xc_engine_next_timer: the earliest deadline, 0 if none. */
uint32_t xc_engine_timers(struct xc_tcp_engine *e, uint64_t now_ns);
uint64_t xc_engine_next_timer(struct xc_tcp_engine *e);
/* The application closed the connection (it may now end without Python:
 * orphaned FIN-WAIT-2 timeout, release after CLOSED). */
void xc_tcp_orphan(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL (ms) and TCP_KEEPCNT; armed
 * once synchronized. */
void xc_tcp_set_keepalive(struct xc_tcp_engine *e, struct xc_tcb *t, int on, uint32_t idle_ms,
			  uint32_t intvl_ms, uint32_t cnt, uint64_t now_ns);
int xc_tcp_set_rcvbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes);
int xc_tcp_set_sndbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes);

/* Listeners.  Addresses and ports in network order; addr 0 = every local
 * address.  open: the id, or -1 (that address and port listen already, or
 * max_listeners).  close resets what is not accepted.  accept: the next
 * established connection (then Python's), NULL when none. */
int xc_listen_open(struct xc_tcp_engine *e, uint32_t addr, uint16_t port,
		   const struct xc_listen_conf *conf);
void xc_listen_configure(struct xc_tcp_engine *e, int id, const struct xc_listen_conf *conf);
void xc_listen_close(struct xc_tcp_engine *e, int id, uint64_t now_ns);
struct xc_tcb *xc_listen_accept(struct xc_tcp_engine *e, int id);
uint32_t xc_listen_pending(struct xc_tcp_engine *e, int id);
void xc_listen_get_stats(struct xc_tcp_engine *e, int id, struct xc_listen_stats *out);
/* The listener of a segment for no connection, run on one frame: a SYN
 * that reuses a TIME-WAIT tuple, once Python released the old block. */
int xc_listen_input(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len, uint64_t now_ns);
/* Move a handshaking block to ESTABLISHED on the segment frame that
 * acknowledged our SYN (rtt_us 0: no sample, the SYN was retransmitted). */
void xc_tcp_establish(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *frame, uint32_t len,
		      uint32_t rtt_us, uint64_t now_ns);

/* RFC 6528 ISN: keyed hash of the 4-tuple plus a 4 µs clock. */
void xc_isn_set_key(const uint8_t *key16);
uint32_t xc_isn(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		uint16_t remote_port, uint64_t now_ns);
/* SYN cookies: ISN encoding an MSS index and a minute counter, keyed hash. */
uint32_t xc_syncookie_make(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
			   uint16_t remote_port, uint32_t peer_isn, uint32_t mss_index, uint64_t now_ns);
/* Returns the MSS index (0..3), or -1 if the cookie (= ack - 1) is not valid. */
int xc_syncookie_check(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		       uint16_t remote_port, uint32_t peer_isn, uint32_t cookie, uint64_t now_ns);
/* The cookies' key (derived from the ISN key), for the XDP program's copy. */
void xc_syncookie_key(uint8_t *out16);

#endif
