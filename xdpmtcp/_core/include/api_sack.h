/* SACK scoreboard for the sender: RFC 2018 blocks in, RFC 6675 loss
 * recovery out (IsLost, SetPipe, NextSeg), RFC 2883 D-SACK recognised.
 * Public: given whole to cffi (see build_core.py).
 *
 * Every sequence comparison is modulo 2^32 (signed 32-bit difference), so
 * the board works across wraparound as long as everything it holds lies
 * within 2^31 bytes above snd_una, which TCP's window guarantees.
 * Ranges are half-open [start, end).  RFC 6675 names octets inclusively;
 * where this header stores one of its variables, it says which end.
 *
 * Call xc_sack_reset when the connection is set up (snd_una = ISS + 1):
 * a zeroed board is only valid for snd_una 0.
 */
#ifndef XC_API_SACK_H
#define XC_API_SACK_H
#include <stdint.h>

/* Cap: sacked ranges remembered.  Policy when full and a new range merges
 * with none: the highest range is dropped (or the new one, if it is the
 * highest) and cap_drops counts it.  The low ranges are the ones that
 * decide what to retransmit next, and the receiver reports the newest
 * (usually highest) blocks first, so a dropped range comes back. */
#define XC_SACK_MAX_RANGES 32
#define XC_DUPTHRESH 3
/* Cap: blocks read from one ACK.  A TCP option has room for at most 4
 * (RFC 2018 §3); further pairs are ignored. */
#define XC_SACK_MAX_BLOCKS 4

/* xc_sack_next_seg / xc_sack_enter_recovery results */
#define XC_SACK_NONE 0       /* nothing may be sent */
#define XC_SACK_RXT 1        /* retransmit *seq, *len, then xc_sack_mark_rxt */
#define XC_SACK_NEW 2        /* send new data at snd_nxt (rule 2) */

struct xc_sack_range { uint32_t start, end; };   /* sequence numbers, [start, end) */

struct xc_sack_board {
	uint32_t n;
	struct xc_sack_range r[XC_SACK_MAX_RANGES];   /* sorted, merged (touching ranges too), all >= snd_una */
	uint32_t sacked_bytes;   /* sum of the ranges */
	uint32_t high_rxt;       /* RFC 6675 HighRxt + 1: end of the highest retransmission, >= snd_una */
	uint32_t rescue_rxt;     /* RFC 6675 RescueRxt + 1; meaningful while rescue_valid */
	uint32_t high_sacked;    /* highest sacked sequence + 1 (end of r[n-1]); snd_una when n == 0 */
	uint64_t dsack_count;    /* D-SACK blocks seen (RFC 2883), for counters */
	uint32_t snd_una;        /* cumulative ACK the board was last advanced to */
	uint32_t rescue_valid;   /* 0: RescueRxt undefined or passed by the ACK, so rule 4 may fire */
	uint32_t rescue_pending; /* next_seg handed out a rescue at rescue_seq; mark_rxt must not raise high_rxt */
	uint32_t rescue_seq;
	uint64_t ignored_blocks; /* not folded in: empty/reversed, above snd_max, wholly acked, or beyond the 4th */
	uint64_t cap_drops;      /* ranges dropped because the board was full */
};

void xc_sack_reset(struct xc_sack_board *b, uint32_t snd_una);
/* Fold the blocks of one ACK into the board: blocks holds nblocks
 * [start, end) pairs in host order, as they came in the option.  snd_una:
 * the cumulative ACK of this segment (the board advances to it first);
 * snd_max: highest sequence sent + 1.  The first block is a D-SACK (RFC
 * 2883 §4) when it starts below snd_una or lies inside the second block: it
 * is counted in dsack_count and not folded in.  Other blocks must lie in
 * (snd_una, snd_max]; a block ending above snd_max is ignored whole, one
 * straddling snd_una is clipped.  Returns the bytes newly sacked. */
uint32_t xc_sack_update(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max,
			const uint32_t *blocks, uint32_t nblocks);
/* Drop everything below snd_una (the cumulative ACK advanced).  An
 * snd_una older than the board's is ignored (reordered ACK). */
void xc_sack_advance(struct xc_sack_board *b, uint32_t snd_una);
int xc_sack_is_sacked(const struct xc_sack_board *b, uint32_t seq);
/* RFC 6675 IsLost(seq): at least DupThresh discontiguous sacked ranges
 * above seq, or more than (DupThresh - 1) * mss sacked bytes above it. */
int xc_sack_is_lost(const struct xc_sack_board *b, uint32_t seq, uint32_t mss);
/* RFC 6675 SetPipe(): bytes in flight over [snd_una, snd_max): each
 * unsacked octet counts once unless IsLost, once more if retransmitted
 * (below high_rxt). */
uint32_t xc_sack_pipe(const struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max, uint32_t mss);
/* RFC 6675 (4.1)-(4.3) on entering loss recovery: returns XC_SACK_RXT with
 * the first segment to retransmit, [snd_una, +len) with len <= mss and
 * stopping at the first sacked range, and sets HighRxt and RescueRxt to
 * its end; XC_SACK_NONE if nothing is outstanding. */
int xc_sack_enter_recovery(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_max,
			   uint32_t mss, uint32_t *seq, uint32_t *len);
/* RFC 6675 NextSeg(), for when cwnd - pipe >= mss.  Returns XC_SACK_RXT
 * with *seq, *len (len <= mss, never covering sacked data) for rule 1 (lost,
 * above HighRxt, below high_sacked), rule 3 (the same without IsLost) or
 * rule 4 (one rescue per recovery, covering the highest unsacked octet;
 * RescueRxt := recovery_point here); XC_SACK_NEW for rule 2 when
 * have_new_data (the caller has checked the peer's window), with *seq =
 * snd_nxt, *len = mss; XC_SACK_NONE otherwise.  recovery_point: snd_max
 * when recovery began.  After sending an XC_SACK_RXT segment call
 * xc_sack_mark_rxt; until then next_seg returns the same rule 1/3 segment
 * (a rescue is handed out once). */
int xc_sack_next_seg(struct xc_sack_board *b, uint32_t snd_una, uint32_t snd_nxt, uint32_t snd_max,
		     uint32_t mss, uint32_t recovery_point, int have_new_data,
		     uint32_t *seq, uint32_t *len);
/* A retransmission of [seq, seq + len) was sent: HighRxt rises to its end,
 * except for the rescue segment (rule 4: "HighRxt MUST NOT be updated"). */
void xc_sack_mark_rxt(struct xc_sack_board *b, uint32_t seq, uint32_t len);

#endif
