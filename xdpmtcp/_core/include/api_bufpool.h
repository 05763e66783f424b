/* Buffer pool: the storage behind the TCP engine's receive and send rings.
 *
 * A ring made with a pool (xc_ring_init_pooled) holds no storage while it
 * is empty: it takes a block sized to what it holds at the first byte it
 * stores (4 KiB and up, doubling, at most its capacity) and gives it back
 * once nothing is readable and no out-of-order fragment is held (see
 * api_ring.h).  So an idle connection costs no buffer memory, a busy one
 * about what it holds, as in the kernel; what is charged is what is
 * allocated.
 *
 * Two caps, each with its policy:
 *   limit      bytes of blocks held by rings (bytes_in_use) never pass it;
 *              a request that would is refused (NULL, counted in refused):
 *              the ring refuses the store (a TCP receiver drops the segment,
 *              a writer gets 0 bytes).  Cached blocks count against it too:
 *              they are given back to the system first when a new block
 *              would pass it (released), so in_use + cached <= limit.
 *   cache_max  bytes of free blocks kept for reuse (a keep-alive exchange
 *              empties its buffers every request: no malloc/free each time).
 *              A block put back when the cache is full, or whose size has
 *              no class left (XC_BUFPOOL_CLASSES sizes at most), goes back
 *              to the system (released).
 * Blocks are reused only at the exact size asked for.  Blocks of 64 KiB
 * and more are mapped on their own (mmap), so a released block leaves the
 * process's memory at once; smaller ones come from malloc.
 */
#ifndef XC_API_BUFPOOL_H
#define XC_API_BUFPOOL_H
#include <stdint.h>

#define XC_BUFPOOL_CLASSES 16     /* distinct block sizes kept on free lists */

struct xc_bufpool_stats {
	uint64_t limit;               /* bytes_in_use never passes this */
	uint64_t cache_max;           /* bytes_cached never passes this */
	uint64_t bytes_in_use;        /* blocks held by rings now */
	uint64_t blocks_in_use;
	uint64_t bytes_cached;        /* free blocks kept for reuse */
	uint64_t blocks_cached;
	uint64_t peak_in_use;         /* highest bytes_in_use seen */
	uint64_t gets;                /* blocks handed out */
	uint64_t reused;              /* ... of which from a free list (no malloc) */
	uint64_t refused;             /* requests refused: bytes_in_use would pass limit */
	uint64_t alloc_failed;        /* requests refused: the system had no memory */
	uint64_t released;            /* blocks given back to the system (cache full, or evicted for limit) */
};

struct xc_bufpool;

struct xc_bufpool *xc_bufpool_new(uint64_t limit, uint64_t cache_max);
/* Frees the cached blocks and the pool; blocks still held by rings are the
 * caller's to put back first (they would leak otherwise). */
void xc_bufpool_free(struct xc_bufpool *p);
void xc_bufpool_get_stats(const struct xc_bufpool *p, struct xc_bufpool_stats *out);
/* A block of size bytes (uninitialized), or NULL: refused or no memory. */
uint8_t *xc_bufpool_get(struct xc_bufpool *p, uint32_t size);
/* A block of size bytes that will replace one of old_size still held (a
 * resize): the limit is checked as if the old one were already back. */
uint8_t *xc_bufpool_get_replacing(struct xc_bufpool *p, uint32_t size, uint32_t old_size);
void xc_bufpool_put(struct xc_bufpool *p, uint8_t *block, uint32_t size);
/* Give every cached block back to the system. */
void xc_bufpool_trim(struct xc_bufpool *p);

#endif
