/* Private to the TCP engine's C files: the engine, and the functions the
 * files share.  Sequence arithmetic and the parsed view of a segment are
 * the wire's (wire/frame.h).  The files call each other in one direction
 * only, engine at the top, timers at the bottom (docs/architecture.md;
 * tools/check_core_layers.py checks it). */
#ifndef XC_TCP_INTERNAL_H
#define XC_TCP_INTERNAL_H
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include "api.h"
#include "api_tcp.h"
#include "api_epoll.h"
#include "wire/frame.h"
#include "api_ring.h"
#include "api_isn.h"
#include "api_sent.h"

/* --- the connection block: C's alone (api_tcp.h keeps it opaque) --- */
/* Timers: deadlines in CLOCK_MONOTONIC ns, 0 = not armed. */
#define XC_T_RTO 0               /* retransmission (and SYN/SYN-ACK/FIN) */
#define XC_T_DELACK 1
#define XC_T_PERSIST 2           /* zero-window probe */
#define XC_T_KEEPALIVE 3         /* SO_KEEPALIVE probes (xc_tcp_set_keepalive) */
#define XC_T_TIMEWAIT 4          /* TIME-WAIT, orphaned FIN-WAIT-2, or the idle timeout */
#define XC_T_TLP 5               /* tail loss probe (RFC 8985 §7) */
#define XC_T_REO 6               /* RACK's reordering window ran out (RFC 8985 §6.2) */
#define XC_T_PACE 7              /* the pacing delay is over: send what waits */
#define XC_T_COUNT 8


/* xc_tcp_send_ctl kinds: control segments built in C. */
#define XC_CTL_SYN 1
#define XC_CTL_SYNACK 2
#define XC_CTL_ACK 3
#define XC_CTL_RST 4             /* RST with seq = snd_nxt (abort) */
#define XC_CTL_KEEPALIVE 5       /* seq = snd_una - 1, no data */

struct xc_ep_entry;

/* RACK (RFC 8985 §6): the newest delivered segment and the reordering
 * window (tcp_rack.c). */
struct tcp_rack {
	uint64_t xmit_ns;            /* RACK.xmit_ts, 0 = nothing delivered yet */
	uint32_t end_seq;            /* RACK.end_seq */
	uint32_t rtt_us;             /* RACK.rtt */
	uint32_t reord;              /* RACK.reordering_seen */
	uint32_t steps;              /* RACK.reo_wnd_mult (0 counts as 1) */
	uint32_t persist;            /* recoveries left before steps returns to 1 */
	uint32_t dsack_round;        /* snd_max when steps last grew: one step per round trip */
};

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
	uint64_t timer_due[XC_T_COUNT];
	uint64_t timer_queued_ns;    /* this block's key in the engine's timer heap (0: not in it) */
	uint32_t timer_heap_pos;     /* 1-based slot in the timer heap, 0 = none */
	uint64_t last_recv_ns;       /* for keepalive and idle timeout */
	uint64_t last_send_ns;       /* for restart after idle */
	/* loss recovery and congestion */
	struct xc_cc cc;
	/* buffers: receive (reassembly) and send (FIFO from snd_una) */
	struct xc_ring rcv;
	struct xc_ring snd;
	struct xc_tcp_counters c;
	/* engine bookkeeping */
	uint32_t queued;             /* bit 0: in the event list; bit 1: in the output list */
	/* where the latest out-of-order segments landed, newest first, one
	 * per block: the SACK blocks we report, in this order (RFC 2018 §4:
	 * the newest segment's block first, then the most recently reported) */
	uint64_t sack_recent[XC_SACK_MAX_BLOCKS];
	uint32_t nsack_recent;
	uint32_t prior_cwnd;         /* before the last fast recovery cut: undone if ... */
	uint32_t prior_ssthresh;
	uint32_t undo_retrans;       /* ... D-SACKs show all its retransmissions were needless */
	uint32_t undo_marker;        /* snd_una when that recovery began */
	uint32_t dsack_start;        /* duplicate data to report (RFC 2883), with XC_TF_DSACK */
	uint32_t dsack_end;
	uint32_t undo_tsval;         /* TSval of the episode's first retransmission (Eifel), ... */
	uint32_t undo_ts_set;        /* ... once one left */
	/* with SACK: every segment in flight (api_sent.h), RACK's state
	 * (RFC 8985) and PRR's (RFC 6937) */
	struct xc_sent_map sent;
	struct tcp_rack rack;
	uint32_t prr_delivered;      /* bytes delivered since recovery began */
	uint32_t prr_out;            /* bytes sent since recovery began */
	uint32_t prr_recover_fs;     /* cwnd when it began (Linux's prior_cwnd) */
	uint64_t pace_next_ns;       /* with pacing: the next burst leaves no earlier */
	/* passive opens until accepted: the listener (id + 1, 0 = none), the
	 * accept queue's links, and when our SYN-ACK first left */
	uint32_t listen_id;
	uint32_t q_prev;
	uint32_t q_next;
	uint64_t hs_start_ns;
	/* zero-window probes sent in a row without an answer, the last one's time */
	uint32_t zwp_unanswered;
	uint64_t zwp_sent_ns;
	/* Zeek-style history (tcp_history.c) */
	uint32_t hist_seen;          /* letters noted, by side; bit 16: we sent the first SYN */
	uint8_t nhist;
	char history[XC_TCP_HISTORY_MAX + 1];
	/* readiness (api_epoll.h): the epoll entries watching this block, the
	 * pending error, the socket's low-water marks, and the events Python
	 * need not hear of (C's epoll sees them all) */
	struct xc_ep_entry *watch;
	uint32_t so_error;           /* SO_ERROR: ECONNRESET, ETIMEDOUT or ECONNREFUSED; Python clears it */
	uint32_t rcvlowat;           /* SO_RCVLOWAT (0 counts as 1) */
	uint32_t sndlowat;           /* SO_SNDLOWAT */
	uint32_t ev_quiet;           /* XC_EV_* bits kept from xc_engine_events for this block */
};

/* Entry points the engine's files share (not part of the boundary). */
/* A block's readiness as epoll reports it (every bit, before the mask of
 * what an entry asked for): xc_tcp_getopt(XC_OPT_POLL_MASK). */
uint32_t xc_tcb_poll_mask(const struct xc_tcb *t);
/* Process a received batch.  Segments for connections in synchronized
 * states are handled here; the indexes (into in->pkts) of all others are
 * written to slow[] for Python (at most slow_max; the rest are counted in
 * slow_path and dropped: size slow[] as in->cap).  Returns the slow count. */
int xc_engine_rx(struct xc_tcp_engine *e, struct xc_burst *in, uint32_t *slow,
		 uint32_t slow_max, uint64_t now_ns);
/* Run every deadline due by now_ns (events say what changed); returns how
 * many fired. */
uint32_t xc_engine_timers(struct xc_tcp_engine *e, uint64_t now_ns);
/* Connection blocks: allocated zeroed with id set, buffers sized (their
 * storage comes from the engine's pool at the first byte held, and goes
 * back when they are empty); the 4-tuple is entered in the lookup table by
 * xc_tcb_bind (-1: tuple in use or table full). */
struct xc_tcb *xc_tcb_alloc(struct xc_tcp_engine *e, uint32_t rcvbuf, uint32_t sndbuf);
int xc_tcb_bind(struct xc_tcp_engine *e, struct xc_tcb *t);
/* Before our SYN: with addressing, iss and the offered options filled in,
 * set up what we advertise (MSS, window scale), the RTO and the send space. */
void xc_tcp_init_conn(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* Run the synchronized-state input on one frame. */
int xc_tcp_input(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *frame,
		 uint32_t len, uint64_t now_ns);
/* Build and send a control segment now (XC_CTL_*). */
int xc_tcp_send_ctl(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns);
/* RST in answer to a segment that has no connection (RFC 9293 §3.10.7.1). */
int xc_tcp_send_reset_for(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len);
void xc_tcp_shutdown_send(struct xc_tcp_engine *e, struct xc_tcb *t);   /* queue FIN */
void xc_tcp_mark_output(struct xc_tcp_engine *e, struct xc_tcb *t);
/* The application closed the connection (it may now end without Python:
 * orphaned FIN-WAIT-2 timeout, release after CLOSED). */
void xc_tcp_orphan(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL (ms) and TCP_KEEPCNT; armed
 * once synchronized. */
void xc_tcp_set_keepalive(struct xc_tcp_engine *e, struct xc_tcb *t, int on, uint32_t idle_ms,
			  uint32_t intvl_ms, uint32_t cnt, uint64_t now_ns);
int xc_tcp_set_rcvbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes);
int xc_tcp_set_sndbuf(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bytes);
/* The listener of a segment for no connection, run on one frame. */
int xc_listen_input(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len, uint64_t now_ns);

/* A segment for the endpoint: no VLAN tag, the whole packet in the frame.
 * 0 on success; -1 if not an IPv4/TCP segment that makes sense. */
static inline int tcp_seg_parse(const uint8_t *frame, uint32_t len, struct tcp_seg *s)
{
	return wire_parse(frame, len, s, 0) == WIRE_OK ? 0 : -1;
}

/* Open-addressing table from the 4-tuple to a tcb id (linear probing with
 * backward-shift deletion: no tombstones to age). */
struct flow_slot {
	uint32_t local_addr, remote_addr;
	uint16_t local_port, remote_port;
	uint32_t id;                 /* 0 = empty */
};

#define TX_BATCH 64
/* the TX batch's bytes: 64 full frames, or 7 super-segments */
#define TX_BUF_BYTES (512 * 1024)

struct xc_tcp_engine {
	struct xc_port *port;
	struct xc_tcp_config cfg;
	struct xc_tcp_stats stats;
	struct xc_tcb **tcbs;        /* [max_tcbs + 1], index = id */
	uint32_t *free_ids;          /* stack of free ids */
	uint32_t nfree;
	uint32_t ntcbs;
	struct flow_slot *flows;
	uint32_t flow_mask;
	uint32_t *ev_list;           /* ids with pending events (each at most once) */
	uint32_t nev;
	uint32_t *out_list;          /* ids to visit at the next flush */
	uint32_t nout;
	/* timers: a binary min-heap of tcb ids keyed by timer_queued_ns, one
	 * entry per block at most (tcb->timer_heap_pos); later deadlines
	 * are found lazily when the entry fires */
	uint32_t *theap;             /* [max_tcbs], 0-based; pos = index + 1 */
	uint32_t nheap;
	uint64_t now_ns;             /* clock of the call in progress */
	/* listeners (tcp_listen.c): slots by id, a hash of (addr, port) -> id + 1 */
	struct tcp_listener *listeners;
	uint32_t *listen_hash;
	uint32_t listen_mask;
	uint32_t *lev_list;          /* listener ids with a new connection to accept */
	uint32_t nlev;
	uint32_t *reap_list;         /* unaccepted blocks that closed: freed after the batch */
	uint32_t nreap;
	/* buffer storage (api_bufpool.h); writers refused for want of it wait
	 * in mem_wait (Q_MEMWAIT) until storage in use drops below the mark */
	struct xc_bufpool *pool;
	uint32_t *mem_wait;          /* [max_tcbs] */
	uint32_t nmem_wait;
	uint64_t mem_wait_mark;
	/* RFC 5961 §7 challenge-ACK budget, refilled at random each second */
	uint64_t challenge_epoch_ns;
	uint32_t challenge_left;
	/* frames built, waiting for one xc_port_tx_gso call; tx_gso[i] is
	 * the segment size of a super-segment, 0 for a plain frame */
	uint32_t ntx;
	uint32_t tx_used;
	uint32_t tx_lens[TX_BATCH];
	uint16_t tx_gso[TX_BATCH];
	uint8_t tx_nsegs[TX_BATCH];
	uint8_t tx_buf[TX_BUF_BYTES];
};

#define Q_EVENT 1
#define Q_OUTPUT 2
#define Q_REAP 4
#define Q_MEMWAIT 8

/* A listening endpoint (tcp_listen.c). */
struct tcp_listener {
	uint32_t used;
	uint32_t addr;               /* network order; 0 = any */
	uint16_t port;
	uint8_t event_queued;
	struct xc_listen_conf conf;
	struct xc_listen_stats st;
	uint32_t nsyn;               /* SYN-RECEIVED children */
	uint32_t naccept;            /* established, not accepted */
	uint32_t q_head, q_tail;     /* accept queue (tcb ids), oldest first */
};

/* epoll.c: list the block's epoll entries; hand them to Python (freeing). */
void tcb_watchers_notify(struct xc_tcb *t);
void tcb_watchers_detach(struct xc_tcb *t);

/* Something the application may care about happened: the block's epoll
 * entries are listed, the pending error is set, and Python hears of the
 * bits it did not ask C to keep. */
static inline void tcb_event(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t bits)
{
	if (bits & (XC_EV_RESET | XC_EV_TIMEDOUT | XC_EV_REFUSED))
		t->so_error = bits & XC_EV_REFUSED ? ECONNREFUSED :
			      bits & XC_EV_TIMEDOUT ? ETIMEDOUT : ECONNRESET;
	if (t->watch)
		tcb_watchers_notify(t);
	bits &= ~t->ev_quiet;
	if (!bits)
		return;
	t->events |= bits;
	if (!(t->queued & Q_EVENT)) {
		t->queued |= Q_EVENT;
		e->ev_list[e->nev++] = t->id;
	}
}

static inline void tcb_output(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (!(t->queued & Q_OUTPUT)) {
		t->queued |= Q_OUTPUT;
		e->out_list[e->nout++] = t->id;
	}
}

static inline uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000u;
}

/* The window scale that lets a window of bytes be advertised. */
static inline uint8_t tcp_wscale_for(uint32_t bytes)
{
	uint8_t s = 0;
	while (s < 14 && (bytes >> s) > 65535)
		s++;
	return s;
}

/* tcp_buffer.c: grow the receive buffer when the sender is limited by it;
 * grow the send buffer for a writer that wants more room than it has. */
void tcp_rcvbuf_autotune(struct xc_tcp_engine *e, struct xc_tcb *t);
void tcp_sndbuf_expand(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t want);
int tcp_buffers_fit(struct xc_tcp_engine *e, const struct xc_tcb *t, uint64_t rcv, uint64_t snd);

/* tcp_timer.c: the heap entry of t fires no later than due. */
void timer_heap_schedule(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t due);
void timer_heap_remove(struct xc_tcp_engine *e, struct xc_tcb *t);
/* tcp_close.c: what entering a state starts (TIME-WAIT, orphan ends). */
void tcp_state_entered(struct xc_tcp_engine *e, struct xc_tcb *t);

/* Arm a timer.  Moving a deadline later costs nothing: the heap entry
 * fires early, finds nothing due and is pushed back at the real one. */
static inline void tcb_timer_set(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t due)
{
	t->timer_due[kind] = due;
	if (due && (t->timer_queued_ns == 0 || due < t->timer_queued_ns))
		timer_heap_schedule(e, t, due);
}

static inline void tcb_set_state(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t state)
{
	if (t->state != state) {
		t->state = state;
		tcb_event(e, t, XC_EV_STATE);
		if (state == XC_TCP_TIME_WAIT || state == XC_TCP_FIN_WAIT_2 || state == XC_TCP_CLOSED)
			tcp_state_entered(e, t);
	}
}

static inline int tcb_synchronized(const struct xc_tcb *t)
{
	return t->state >= XC_TCP_ESTABLISHED;
}

/* Buffer offsets and sequence numbers: offset 0 of the send ring is the
 * sequence number iss + 1, of the receive ring irs + 1 (the first data
 * byte after the SYN).  64-bit offsets never wrap; mapping a sequence
 * number back picks the offset nearest a reference. */
static inline uint32_t snd_seq_of(const struct xc_tcb *t, uint64_t off)
{
	return t->iss + 1 + (uint32_t)off;
}

static inline uint64_t snd_off_of(const struct xc_tcb *t, uint32_t seq)
{
	return t->snd.read_off + (int64_t)(int32_t)(seq - snd_seq_of(t, t->snd.read_off));
}

static inline uint32_t snd_data_end(const struct xc_tcb *t)   /* seq after the last queued byte */
{
	return snd_seq_of(t, t->snd.next_off);
}

static inline uint32_t rcv_seq_of(const struct xc_tcb *t, uint64_t off)
{
	return t->irs + 1 + (uint32_t)off;
}

static inline uint64_t rcv_off_of(const struct xc_tcb *t, uint32_t seq)
{
	return t->rcv.next_off + (int64_t)(int32_t)(seq - rcv_seq_of(t, t->rcv.next_off));
}

/* A resend of [seq, seq + len) carries the FIN again when our FIN came
 * right after it, as the segment it rode on did. */
static inline uint8_t tcb_fin_after(const struct xc_tcb *t, uint32_t seq, uint32_t len)
{
	return (t->flags & XC_TF_FIN_SENT) && seq + len == t->fin_seq ? TCP_FIN : 0;
}

/* MSS-sized segments len bytes leave as (a super-segment is cut into them). */
static inline uint32_t tcb_segs(const struct xc_tcb *t, uint32_t len)
{
	return len > t->mss ? (len + t->mss - 1) / t->mss : 1;
}

static inline uint32_t tcb_flight(const struct xc_tcb *t)
{
	return t->snd_max - t->snd_una;
}

/* tcp_history.c: note a segment sent (ours) or received; retrans: it
 * carries data sent before */
void tcp_history(struct xc_tcb *t, uint8_t flags, uint32_t len, uint32_t wnd, int ours, int retrans);
void tcp_history_in(struct xc_tcb *t, const struct tcp_seg *s);

/* tcp_isn.c */
uint32_t tcp_ts_offset(const struct xc_tcb *t);
uint16_t tcp_ip_id_start(const struct xc_tcb *t);
uint32_t tcp_random_u32(uint64_t now_ns);

/* A connection's TSval offset and first IP ID, chosen when its first
 * segment is built (the tuple and ISS are known by then). */
static inline void tcb_ids_init(struct xc_tcb *t)
{
	if (!t->ts_offset) {
		t->ts_offset = tcp_ts_offset(t);
		t->ip_id = tcp_ip_id_start(t);
	}
}

static inline uint32_t ts_now(const struct xc_tcb *t, uint64_t now_ns)
{
	return (uint32_t)(now_ns / 1000000u) + t->ts_offset;  /* 1 ms clock */
}

/* tcp_output.c */
/* an out-of-order segment landed at receive offset off: its block goes
 * first in the SACK blocks we send */
void tcp_sack_note(struct xc_tcb *t, uint64_t off);
/* bytes per second the connection is paced at (0: no RTT yet) */
uint64_t tcp_pacing_rate(const struct xc_tcb *t);
/* the persist timer, backed off by the probes sent (probes a zero window) */
void tcp_arm_persist(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
int tcp_output(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
int tcp_send_segment(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t seq, uint32_t len,
		     uint8_t flags, uint64_t now_ns);
void tcp_send_ack(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
int tcp_fast_retransmit(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t seq, uint32_t len,
			uint64_t now_ns);
void tcp_tx_flush(struct xc_tcp_engine *e);
uint32_t tcp_rcv_window(const struct xc_tcb *t);
/* tcp_timer.c */
void tcp_rtt_sample(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t rtt_us);
void tcp_rearm_rto(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
void tcp_arm_tlp(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
void tcp_timers_clear(struct xc_tcb *t);
uint64_t tcb_next_deadline(const struct xc_tcb *t);   /* earliest armed, 0 if none */
/* tcp_close.c: the connection is dead by timeout: CLOSED, timers off,
 * XC_EV_TIMEDOUT. */
void tcp_timed_out(struct xc_tcp_engine *e, struct xc_tcb *t);
/* tcp_input.c */
int tcp_challenge_ack(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
int tcp_input_seg(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s, uint64_t now_ns);
/* tcp_output.c: control segments queued for the batch's transmit */
void tcp_queue_ctl(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns);
int tcp_queue_reset_for(struct xc_tcp_engine *e, const struct tcp_seg *s);
/* tcp_rack.c: RACK (RFC 8985 §6) */
void tcp_rack_update(struct xc_tcb *t, const struct xc_sent_news *n);
void tcp_rack_dsack(struct xc_tcb *t);
void tcp_rack_recovery_done(struct xc_tcb *t);
/* Mark what is overdue lost, arm the reordering timer; returns how many. */
uint32_t tcp_rack_detect_loss(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* tcp_recovery.c: loss recovery with SACK (RACK-TLP, PRR, undo) */
void tcp_recovery_ack(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		      const struct xc_sent_news *n, int dupack, uint64_t now_ns);
void tcp_recovery_dsack(struct xc_tcb *t, uint32_t start, uint32_t end);
void tcp_recovery_reo_timeout(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* an RTO with segments in the map (the caller counted it in retries) */
void tcp_recovery_rto(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
/* tcp_tcb.c */
struct xc_tcb *tcb_lookup(struct xc_tcp_engine *e, uint32_t local_addr, uint32_t remote_addr,
			  uint16_t local_port, uint16_t remote_port);
/* tcp_open.c */
void tcp_init_established(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns);
void tcp_establish(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		   uint32_t rtt_us, uint64_t now_ns);
/* tcp_listener.c */
int tcp_listen_init(struct xc_tcp_engine *e);
void tcp_listen_free(struct xc_tcp_engine *e);
/* the listener for a segment to addr:port: that address first, then any */
struct tcp_listener *tcp_listener_for(struct xc_tcp_engine *e, uint32_t addr, uint16_t port);
/* a child is ESTABLISHED: onto its listener's accept queue */
void tcp_accept_push(struct xc_tcp_engine *e, struct tcp_listener *l, struct xc_tcb *t);
uint32_t tcp_listen_events(struct xc_tcp_engine *e, uint32_t *ids, uint32_t *bits, uint32_t max);
/* an unaccepted block closed: it goes at the end of the batch */
void tcp_listen_child_closed(struct xc_tcp_engine *e, struct xc_tcb *t);
void tcp_listen_reap(struct xc_tcp_engine *e);
/* the MSS index of the SYN cookie s acknowledges, or -1 */
int tcp_cookie_acked(const struct tcp_seg *s, uint64_t now_ns);
/* 1: s, for a tuple in TIME-WAIT, acknowledges a SYN cookie of a listener */
int tcp_listen_cookie_in_timewait(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns);
/* tcp_listen.c */
/* 1: a listener took the segment (no connection of that tuple) */
int tcp_listen_input(struct xc_tcp_engine *e, const struct tcp_seg *s, uint64_t now_ns);
/* a block in SYN-RECEIVED: a listener's child or a simultaneous open */
void tcp_syn_rcvd_input(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
			uint64_t now_ns);
/* tcp_connect.c */
void tcp_negotiate(struct xc_tcb *t, const struct tcp_opts *o);
void tcp_syn_sent_input(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
			uint64_t now_ns);
void tcp_refused(struct xc_tcp_engine *e, struct xc_tcb *t);

#endif
