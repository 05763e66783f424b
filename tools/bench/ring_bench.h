/* The ring benchmark's one function (ring_bench.c); ring_bench.py gives
 * this file to cffi as its cdef, so keep it to the declaration. */

/* A stream of total bytes in seg-byte segments, reorder_pm per mille of
 * them swapped with the next one, inserted into a ring of cap bytes and
 * read whenever half full.  Returns nanoseconds spent, 0 on error;
 * out_bytes gets the bytes read. */
uint64_t xc_ring_bench_run(uint32_t cap, uint32_t policy, uint32_t seg,
			   uint64_t total, uint32_t reorder_pm, uint64_t seed,
			   uint64_t *out_bytes);
