/* Congestion control for the sender: NewReno (RFC 5681, RFC 6582, RFC 3465)
 * and CUBIC (RFC 9438).  Public: given whole to cffi (see build_core.py),
 * so only declarations, structs and integer #defines here.
 *
 * Units: windows are bytes in struct fields and arguments; CUBIC keeps its
 * own state in segments (doubles), as RFC 9438 writes it.  Times are
 * CLOCK_MONOTONIC nanoseconds from the caller, RTTs microseconds.
 *
 * The engine owns loss detection and recovery (dupacks, SACK, NewReno
 * partial ACKs, any cwnd inflation); this module only answers "how big is
 * cwnd and ssthresh" at the events below.  Adding an algorithm is one new
 * cc_<name>.c plus one line in cc.c's table; it is then reachable by name
 * (xc_cc_by_name) even before it gets an XC_CC_* constant here.
 */
#ifndef XC_API_CC_H
#define XC_API_CC_H
#include <stdint.h>

#define XC_CC_NEWRENO 0
#define XC_CC_CUBIC 1
#define XC_CC_COUNT 2             /* built-ins named here; xc_cc_count() is the live table size */

#define XC_CC_SSTHRESH_INF 0x7fffffff   /* initial ssthresh: "arbitrarily high" (RFC 5681 §3.1) */
/* Cap on cwnd: 2^30 bytes, the largest window a peer can offer (65535 << 14,
 * RFC 7323 §2.3), so more could never be used.  Policy: growth stops there. */
#define XC_CC_CWND_MAX 0x40000000
#define XC_CC_DEFAULT_MSS 536     /* used when mss 0 is passed (RFC 9293 default send MSS) */

struct xc_cc {
	uint32_t algo;
	uint32_t mss;          /* sender MSS in bytes (SMSS) */
	uint32_t cwnd;         /* bytes */
	uint32_t ssthresh;     /* bytes; XC_CC_SSTHRESH_INF initially */
	uint32_t bytes_acked;  /* RFC 3465 byte counting accumulator (congestion avoidance) */
	uint32_t loss_events;  /* on_loss + on_rto calls */
	/* CUBIC state (RFC 9438), windows in segments */
	uint64_t epoch_start_ns;  /* t_epoch; meaningful only while epoch_valid */
	double w_max;          /* W_max; 0 after an RTO: the next epoch then uses
	                          K = 0, W_max = cwnd_epoch (RFC 9438 §4.8) */
	double k;              /* K, seconds */
	double w_est;          /* W_est, the Reno-friendly estimate */
	double cwnd_prior;     /* cwnd just before the last reduction */
	double cwnd_epoch;     /* cwnd at t_epoch */
	double ca_frac;        /* growth owed in fractions of a byte, carried between ACKs */
	uint64_t last_ack_ns;  /* last growth-eligible ACK: app-limited time is cut out of t */
	uint32_t epoch_valid;  /* 0: the epoch starts at the next congestion-avoidance ACK */
	uint32_t fast_convergence;  /* RFC 9438 §4.7; 1 by default, 0 for a lone flow */
	/* common */
	uint32_t iw;           /* initial window, bytes; also the restart window cap */
	uint32_t rto_events;   /* on_rto calls */
	uint32_t app_limited_acks;  /* ACKs that did not grow cwnd: flight < cwnd/2 */
};

/* algo: XC_CC_*; unknown ids fall back to NewReno (algo then says so).
 * mss: SMSS bytes (0 = XC_CC_DEFAULT_MSS).  initial_window_segments: the
 * caller's IW, normally 10 (RFC 6928); 0 = RFC 6928's min(10, max(2,
 * 14600/mss)). */
void xc_cc_init(struct xc_cc *cc, uint32_t algo, uint32_t mss, uint32_t initial_window_segments);
/* New data acknowledged outside loss recovery.  acked: bytes newly acked;
 * flight: bytes in flight before this ACK (so including acked); srtt_us,
 * min_rtt_us: 0 if unknown.  Slow start (cwnd < ssthresh) grows by
 * min(acked, 2*mss) (RFC 3465 L = 2), stopping at ssthresh and handing the
 * rest to congestion avoidance.  cwnd only grows when it is being used:
 * flight >= cwnd/2 (RFC 7661's validated window; this also keeps a batch
 * of ACKs processed before any refill growing); flight 0 means "not known"
 * and skips the check. */
void xc_cc_on_ack(struct xc_cc *cc, uint32_t acked, uint32_t flight, uint64_t now_ns,
		  uint32_t srtt_us, uint32_t min_rtt_us);
/* Entering loss recovery (fast retransmit / SACK loss).  NewReno: ssthresh
 * = max(flight/2, 2*mss).  CUBIC: ssthresh = max(flight*0.7, 2*mss), W_max
 * with fast convergence (RFC 9438 §4.6-4.7).  Both: cwnd = ssthresh; any
 * inflation during recovery is the engine's. */
void xc_cc_on_loss(struct xc_cc *cc, uint32_t flight, uint64_t now_ns);
/* Retransmission timeout: ssthresh as in on_loss, cwnd = 1 mss (RFC 5681
 * §3.1, RFC 9438 §4.8).  Call once per timeout episode (not per backoff)
 * if ssthresh should keep the first reduction, as RFC 5681 eq. 4 intends. */
void xc_cc_on_rto(struct xc_cc *cc, uint32_t flight, uint64_t now_ns);
/* Leaving fast recovery: cwnd = min(ssthresh, max(flight, mss) + mss)
 * (RFC 6582 §3.2 step 6, option 1: no burst).  flight: bytes in flight
 * after the full ACK.  CUBIC starts its epoch here if that leaves cwnd at
 * ssthresh, otherwise when slow start reaches it. */
void xc_cc_on_recovery_exit(struct xc_cc *cc, uint32_t flight, uint64_t now_ns);
/* Restart after an idle period longer than an RTO (the caller decides):
 * ssthresh = max(ssthresh, 3/4 cwnd) keeps the old operating point (RFC
 * 2861/7661), then cwnd = min(cwnd, iw) (RFC 5681 §4.1 restart window).
 * CUBIC's epoch ends: idle time must not count in t (RFC 9438 §5.8). */
void xc_cc_on_idle(struct xc_cc *cc, uint64_t now_ns);
/* "newreno", "cubic"; NULL if unknown. */
const char *xc_cc_name(uint32_t algo);
/* Algorithm id for a name (exact, lower case), or -1. */
int xc_cc_by_name(const char *name);
/* Algorithms in the table (ids 0 .. count-1). */
uint32_t xc_cc_count(void);

#endif
