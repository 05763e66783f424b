/* Reassembly ring buffer: one byte stream, stored by 64-bit stream offset.
 *
 * Used by the TCP engine (receive buffer; send buffer as a plain FIFO via
 * xc_ring_append) and by the monitor (one per side, with an overlap policy).
 * Public header: build_core.py feeds it to cffi's cdef, so it holds only
 * declarations, structs and integer #defines.
 *
 * Model.  Byte at offset o lives at buf[o % cap]; the window is
 * [read_off, read_off + cap).  [read_off, next_off) is the contiguous,
 * readable block; frags lists the out-of-order blocks above next_off;
 * high_off is the end of the highest stored byte.  Offsets, segment ends
 * included, must stay below 2^63 (xc_ring_insert returns -1 otherwise, so
 * its advance always fits an int64_t).
 *
 * Overlaps.  Offered bytes that are already stored and not yet consumed are
 * resolved by the ring's policy:
 *   FIRST    stored bytes win.
 *   LAST     new bytes win.
 *   BSD, WINDOWS  new bytes win over a stored segment only when the new
 *            segment starts before that segment's original start.
 *   LINUX    as BSD, and also when both start at the same offset and the new
 *            segment ends after the stored one.
 * The target-based rules are those of Novak & Sturges, "Target-Based TCP
 * Stream Reassembly" (2007) as implemented by Snort stream5 (StreamQueue:
 * BSD and Windows grouped together) and Suricata (DoHandleDataOverlap in
 * stream-tcp-list.c).  They are judged per stored byte against every stored
 * segment covering it (original boundaries, kept in segs): the new byte wins
 * only if every covering segment yields.  A stored byte covered by no known
 * segment (its record was evicted, or it was stored under another policy)
 * keeps its old value.  Exact duplicates (same start and end) add no record.
 * Records leave once their data is consumed (lowest start first); the list
 * holds at most seg_cap of them, and when full the one with the lowest
 * start is evicted (seg_evicted).
 *
 * Window overflow.  Without XC_RING_DROP_OLDEST bytes at or beyond
 * read_off + cap are trimmed (bytes_beyond).  With it the window slides to
 * end at the segment's end: every offset read_off passes over is counted
 * once, in bytes_lost if data for it had been seen (stored, or in the
 * segment itself when it is longer than cap) and in gap_bytes otherwise.
 * If read_off passes next_off, reading resumes at the first byte stored at
 * or after the new read_off (the hole before it counts in gap_bytes).  So for
 * a ring that always had cap > 0:
 *     read_off == bytes consumed + stats.bytes_lost + stats.gap_bytes
 * which is how a monitor's reader learns what it missed.
 *
 * Fragment cap.  A segment that would need a new entry in frags when
 * nfrags == frag_cap is refused whole (frag_overflow, nothing else counted
 * but bytes_in).
 *
 * cap 0.  Nothing is stored and nothing is readable; read_off == next_off ==
 * high_off.  In-order data (starting at or below next_off) still advances
 * next_off (bytes_new), so sequence tracking continues.  Data starting above
 * next_off is counted in bytes_beyond, or with XC_RING_DROP_OLDEST next_off
 * jumps to its end and the hole counts in gap_bytes.
 *
 * Storage.  A ring made by xc_ring_init mallocs its cap bytes at once and
 * keeps them (the monitor's rings).  One made by xc_ring_init_pooled holds
 * storage only while it holds data, sized to what it holds: at the first
 * byte stored it takes a block from the pool (api_bufpool.h) of the
 * smallest power of two from XC_RING_STORE_MIN that covers
 * [read_off, high_off), at most cap; when more must be stored the data
 * moves to a block twice as large; as soon as the ring is empty again
 * (read_off == next_off, no fragments) after a read, consume or skip the
 * block goes back.  The next block starts at the size of the last one
 * (halved if that was used to a quarter or less), so a ring that empties
 * every batch does not grow through every size each time.  When the pool refuses, an insert stores nothing
 * (no_storage, returns 0; the ring is unchanged but for its counters) and
 * an append takes only what the block held has room for (no_storage when
 * that is 0 bytes).  cap stays the window: xc_ring_free_space does not
 * depend on storage.  Resizing a pooled ring moves storage only when its
 * block is larger than the new cap.
 *
 * xc_ring_skip_gap.  Only when nothing unread precedes the hole
 * (read_off == next_off): read_off and next_off jump to the first fragment,
 * which becomes the readable block; the hole counts in gap_bytes and is
 * returned.  With unread bytes before the hole it returns 0 and changes
 * nothing: consume them first.
 */
#ifndef XC_API_RING_H
#define XC_API_RING_H
#include <stdint.h>
#include "api_bufpool.h"

/* Overlap policies: which bytes win when a new segment overlaps bytes
 * already stored and not yet consumed. */
#define XC_OVERLAP_FIRST 0    /* old bytes win (mOS MOS_OVERLAP_POLICY_FIRST) */
#define XC_OVERLAP_LAST 1     /* new bytes win (mOS MOS_OVERLAP_POLICY_LAST) */
#define XC_OVERLAP_LINUX 2    /* target-based, as Linux reassembles */
#define XC_OVERLAP_BSD 3
#define XC_OVERLAP_WINDOWS 4

/* xc_ring_insert flags */
#define XC_RING_DROP_OLDEST 1 /* data beyond the window: drop the oldest unread
                                 bytes to make room (monitor policy), count them
                                 in bytes_lost; without it, trim the new data
                                 (endpoint policy), count in bytes_beyond */

#define XC_RING_MAX_FRAGS 64  /* default cap of out-of-order fragments */
#define XC_RING_MAX_SEGS 256  /* default and largest cap of segment records */
#define XC_RING_STORE_MIN 4096 /* smallest storage block of a pooled ring */

struct xc_ring_frag {         /* same layout as mOS's struct tcp_ring_fragment */
	uint64_t offset;
	uint32_t len;
};

/* Original boundaries of a stored segment (target-based policies only). */
struct xc_ring_seg {
	uint64_t start;
	uint64_t end;
};

struct xc_ring_stats {
	uint64_t bytes_in;          /* payload bytes offered to insert */
	uint64_t bytes_new;         /* bytes stored that were not present before */
	uint64_t bytes_dup;         /* offered bytes already present (retransmits, overlaps) */
	uint64_t overlap_conflicts; /* inserts whose overlapping bytes differed from stored ones */
	uint64_t conflict_bytes;    /* how many overlapping bytes differed */
	uint64_t bytes_old;         /* offered bytes below read_off (already consumed): ignored */
	uint64_t bytes_beyond;      /* trimmed: beyond read_off + cap */
	uint64_t frag_overflow;     /* inserts refused: fragment list full */
	uint64_t bytes_lost;        /* unread bytes dropped by XC_RING_DROP_OLDEST (and resize to 0) */
	uint64_t gap_bytes;         /* holes skipped by xc_ring_skip_gap (and XC_RING_DROP_OLDEST) */
	uint64_t seg_evicted;       /* segment records evicted: list full */
	uint64_t no_storage;        /* inserts and appends refused whole: the pool gave no storage */
};

struct xc_ring {
	uint8_t *buf;
	uint32_t cap;               /* bytes; 0 = buffering disabled (offsets still tracked, bytes counted, nothing stored) */
	uint32_t policy;            /* XC_OVERLAP_* */
	uint64_t read_off;          /* offset of the first byte not yet consumed */
	uint64_t next_off;          /* end of the contiguous data = first missing byte */
	uint64_t high_off;          /* end of the highest byte stored (>= next_off) */
	uint32_t nfrags;            /* out-of-order fragments (all start beyond next_off) */
	uint32_t frag_cap;
	struct xc_ring_frag *frags; /* sorted, non-overlapping, non-adjacent */
	/* Private bookkeeping. */
	uint32_t frag_alloc;        /* entries allocated in frags (grows to frag_cap) */
	uint32_t seg_cap;           /* <= XC_RING_MAX_SEGS */
	struct xc_ring_seg *segs;   /* live records are segs[seg_head..seg_tail), by (start, end) */
	uint32_t seg_head;
	uint32_t seg_tail;
	uint32_t seg_alloc;
	struct xc_ring_stats stats;
	struct xc_bufpool *pool;    /* storage comes from here while data is held; NULL: malloc at init */
	uint32_t store_cap;         /* bytes at buf: cap (unpooled), or what is held rounded up (pooled; 0: none) */
	uint32_t store_peak;        /* pooled: most bytes the block held (from read_off) */
	uint32_t store_hint;        /* pooled: size of the next block (the last one, halved if it was a quarter used) */
};

int xc_ring_init(struct xc_ring *r, uint32_t cap, uint32_t policy);  /* 0, -1 on ENOMEM/EINVAL; zeroes r first */
/* Same, with storage taken lazily from pool (see Storage above); pool NULL
 * is xc_ring_init. */
int xc_ring_init_pooled(struct xc_ring *r, uint32_t cap, uint32_t policy, struct xc_bufpool *pool);
void xc_ring_free(struct xc_ring *r);                               /* idempotent; storage back to its pool */
/* Change the capacity keeping the stored data; -1 if cap is smaller than
 * high_off - read_off (the data would not fit), or no storage. cap 0 discards everything
 * stored and disables (unread contiguous bytes count in bytes_lost). */
int xc_ring_resize(struct xc_ring *r, uint32_t cap);
int xc_ring_set_policy(struct xc_ring *r, uint32_t policy);
/* frag_cap: -1 if fewer than nfrags.  seg_cap: at most XC_RING_MAX_SEGS
 * (-1 otherwise); lowering it evicts the oldest records. */
int xc_ring_set_caps(struct xc_ring *r, uint32_t frag_cap, uint32_t seg_cap);
/* Store len bytes at stream offset off. Returns how far next_off advanced
 * (bytes newly readable in order; with XC_RING_DROP_OLDEST this includes
 * holes jumped over), >= 0; -1 only for bad arguments. */
int64_t xc_ring_insert(struct xc_ring *r, uint64_t off, const uint8_t *data, uint32_t len, uint32_t flags);
/* Append at next_off (send-buffer use); returns bytes taken (limited by free space). */
uint32_t xc_ring_append(struct xc_ring *r, const uint8_t *data, uint32_t len);
/* Append at next_off what pread(fd) gives from file offset off, up to len
 * bytes (send-buffer use: a file straight into the ring, no bounce
 * buffer); bytes taken (0 at end of file, or no room), or -errno when the
 * read failed before any byte. */
int64_t xc_ring_append_fd(struct xc_ring *r, int fd, uint64_t off, uint32_t len);
/* Copy up to n contiguous bytes and consume them. */
uint32_t xc_ring_read(struct xc_ring *r, uint8_t *dst, uint32_t n);
/* Copy up to n bytes starting at absolute offset off (read_off <= off < next_off) without consuming. */
uint32_t xc_ring_peek(const struct xc_ring *r, uint64_t off, uint8_t *dst, uint32_t n);
/* Consume n bytes (n <= next_off - read_off); returns bytes consumed. */
uint32_t xc_ring_consume(struct xc_ring *r, uint32_t n);
/* Fragments currently stored: the contiguous block [read_off, next_off) if non-empty, then the out-of-order ones; returns count written (<= max). */
uint32_t xc_ring_fragments(const struct xc_ring *r, struct xc_ring_frag *out, uint32_t max);
/* Skip the hole before the first out-of-order fragment; returns its size
 * (0 if none, or if unread bytes precede it). See the top of this file. */
uint64_t xc_ring_skip_gap(struct xc_ring *r);
uint32_t xc_ring_free_space(const struct xc_ring *r);  /* cap - (next_off - read_off): what an endpoint may advertise as its window */
uint32_t xc_ring_readable(const struct xc_ring *r);    /* next_off - read_off */

#endif
