/* The sender's scoreboard: the segments in flight, one entry per segment
 * sent, with what RACK-TLP (RFC 8985) needs of each: where it ends, when
 * it last left, and what is known of it (SACKed, lost, its retransmission
 * out).  Linux keeps the same per skb.  SACK blocks (RFC 2018) come in,
 * D-SACKs (RFC 2883) are told apart, and the pipe (RFC 6675) comes out.
 * Public: given whole to cffi (see build_core.py).
 *
 * Every sequence comparison is modulo 2^32, so the map works across
 * wraparound: everything it holds lies within 2^31 bytes above una, which
 * TCP's window guarantees.
 *
 * Entries sit in a ring in sequence order, from snd_una to the end of
 * the data sent.  Those still awaiting news (neither SACKed nor marked
 * lost) are also linked in the order they last left, so loss detection
 * walks oldest first and stops at the first too young to judge.
 *
 * Cap: XC_SENT_MAX entries per connection (24 bytes each, grown by
 * doubling, freed when the flight empties).  Policy when full, or when
 * storage cannot be had: no new data leaves until ACKs free entries (the
 * flight is capped in segments, as Linux's is by its skbs), counted in
 * xc_sent_map.full.  At any MSS of 1,000 bytes or more the cap is above
 * the largest send buffer, so only storage failure can reach it.
 */
#ifndef XC_API_SENT_H
#define XC_API_SENT_H
#include <stdint.h>

#define XC_SENT_MAX 65536
#define XC_SENT_MIN 16           /* first allocation, entries */
/* RFC 5681's duplicate-ACK threshold (NewReno; RACK's window rule) */
#define XC_DUPTHRESH 3
/* Cap: blocks read from one ACK.  A TCP option has room for at most 4
 * (RFC 2018 §3); further pairs are ignored. */
#define XC_SACK_MAX_BLOCKS 4

#define XC_SENT_SACKED 0x1       /* the peer holds it (SACK) */
#define XC_SENT_LOST 0x2         /* judged lost; stays set while its retransmission is out */
#define XC_SENT_RETRANS 0x4      /* a retransmission is in flight */
#define XC_SENT_EVER_RETRANS 0x8 /* resent at least once: its RTT is ambiguous */
#define XC_SENT_LISTED 0x10      /* in the time list: awaiting news (not SACKed; not lost, or resent) */
#define XC_SENT_PROBE 0x20       /* last sent as a tail loss probe */

struct xc_sent_seg {
	uint32_t end;                /* sequence number after it; it starts where the previous ends */
	uint32_t flags;              /* XC_SENT_* */
	uint32_t tprev, tnext;       /* time order: ring slot + 1, 0 = none */
	uint64_t xmit_ns;            /* when it (last) left */
};

struct xc_sent_map {
	struct xc_sent_seg *seg;     /* ring of cap slots (a power of two), NULL when empty */
	uint32_t cap;
	uint32_t head;               /* slot of the entry at una */
	uint32_t n;                  /* entries */
	uint32_t una;                /* where the head entry starts */
	uint32_t thead, ttail;       /* time list (slot + 1), oldest first */
	/* bytes by state, as Linux's counts of packets: in flight is
	 * (end - una) - sacked - lost + retrans */
	uint32_t sacked;
	uint32_t lost;
	uint32_t retrans;
	uint32_t lost_scan;          /* no entry below it needs resending */
	uint32_t fack;               /* highest end delivered (SACKed or acked), RFC 8985 RACK.fack */
	uint64_t full;               /* sends held back: the cap, or no storage */
};

/* What one ACK told the map (filled by xc_sent_ack and xc_sent_sack). */
struct xc_sent_news {
	/* in: to tell an unambiguous delivery (RFC 8985 §6.2 step 2) */
	uint64_t now_ns;
	uint32_t min_rtt_us;
	uint32_t orig_limit;         /* F-RTO: snd_max at the RTO (see orig_delivered) */
	/* out */
	uint32_t delivered;          /* bytes newly acked or SACKed */
	uint32_t newly_sacked;
	uint32_t newly_acked;
	uint32_t newest_valid;       /* 1: the fields below are set */
	uint64_t newest_xmit_ns;     /* the most recently sent of the deliveries with a sure RTT */
	uint32_t newest_end;
	uint32_t reordered;          /* a never-resent segment delivered below fack */
	uint32_t orig_delivered;     /* a never-resent segment sent before orig_limit delivered */
	uint32_t rtt_valid;          /* a never-resent segment delivered, the newest sent ... */
	uint64_t rtt_xmit_ns;        /* ... left then: an RTT sample for min_rtt */
};

void xc_sent_init(struct xc_sent_map *m, uint32_t una);
void xc_sent_free(struct xc_sent_map *m);
/* Where the data in the map ends (una when it is empty). */
uint32_t xc_sent_end(const struct xc_sent_map *m);
/* Room for entries: grows the ring to hold want more if it can; returns
 * how many more it holds now (counts a shortfall in full). */
uint32_t xc_sent_reserve(struct xc_sent_map *m, uint32_t want);
/* New data [seq, seq + len) left at now (seq is the map's end): one entry
 * per mss; xc_sent_reserve has made room. */
void xc_sent_append(struct xc_sent_map *m, uint32_t seq, uint32_t len, uint32_t mss, uint64_t now_ns);
/* The cumulative ACK reached ack: entries below go (a partial one is
 * trimmed). */
void xc_sent_ack(struct xc_sent_map *m, uint32_t ack, struct xc_sent_news *news);
/* A SACK block [start, end): entries it covers whole are SACKed. */
void xc_sent_sack(struct xc_sent_map *m, uint32_t start, uint32_t end, struct xc_sent_news *news);
/* Bytes in flight (RFC 6675's pipe, Linux's tcp_packets_in_flight). */
uint32_t xc_sent_pipe(const struct xc_sent_map *m);
/* RFC 2883 §4: the first block of an ACK is a D-SACK when it starts below
 * the cumulative ACK or lies inside the second block. */
int xc_sent_is_dsack(const uint32_t *blocks, uint32_t nblocks, uint32_t ack);
/* RACK's walk: every entry sent before (xmit_ns, end) that is overdue by
 * now (sent more than wait_ns before now) is marked lost; returns how
 * many, and *next_ns the earliest time another would be (0: none). */
uint32_t xc_sent_mark_overdue(struct xc_sent_map *m, uint64_t xmit_ns, uint32_t end,
			      uint64_t wait_ns, uint64_t now_ns, uint64_t *next_ns,
			      uint32_t *lost_retrans);
/* After an RTO: every entry not SACKed is lost (a retransmission out
 * included); returns the bytes marked. */
uint32_t xc_sent_mark_all_lost(struct xc_sent_map *m);
/* A spurious loss episode: entries marked lost and not resent are
 * back in flight (Eifel / F-RTO undo). */
void xc_sent_unmark_lost(struct xc_sent_map *m);
/* The peer dropped what it SACKed (RFC 2018 §8): nothing counts as
 * SACKed any more. */
void xc_sent_forget_sacks(struct xc_sent_map *m);
int xc_sent_head_sacked(const struct xc_sent_map *m);
/* The lowest run of entries to resend (lost, no retransmission out):
 * [*seq, *seq + *len) of contiguous such entries, at most max bytes but
 * always the first entry whole; 0 if none. */
int xc_sent_next_lost(struct xc_sent_map *m, uint32_t max, uint32_t *seq, uint32_t *len);
/* [seq, seq + len), whole entries from xc_sent_next_lost, was resent at
 * now. */
void xc_sent_retransmitted(struct xc_sent_map *m, uint32_t seq, uint32_t len, uint64_t now_ns);
/* The last entry (for a tail loss probe): its start and length. */
int xc_sent_last(const struct xc_sent_map *m, uint32_t *seq, uint32_t *len);
/* A tail loss probe resent the last entry at now: it counts as sent
 * again (time order), not as a retransmission in flight. */
void xc_sent_probed(struct xc_sent_map *m, uint64_t now_ns);

#endif
