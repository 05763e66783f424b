/* Capture file writer: classic pcap (nanosecond timestamps, Ethernet) or,
 * for a path ending in ".pcapng", pcapng with each frame's direction.  One
 * writer (pcap/pcap_writer.c) for the port's pcap tap and for what an
 * inline monitor forwards, written offline (the mOS dialect's pcap_out).
 *
 * A frame carries its own timestamp here (a capture's packet time), or 0
 * for the time of writing.  max_bytes caps the file (0 = no cap): at the
 * cap frames are counted in `capped`, not written. */
#ifndef XC_API_PCAPWRITE_H
#define XC_API_PCAPWRITE_H
#include "api.h"

#define XC_PCAP_DIR_NONE 0
#define XC_PCAP_DIR_IN 1       /* pcapng epb_flags directions */
#define XC_PCAP_DIR_OUT 2

struct xc_pcap_writer;

/* NULL with a one-line message in err when the file cannot be created. */
struct xc_pcap_writer *xc_pcap_writer_new(const char *path, uint64_t max_bytes,
					  char *err, size_t errlen);
/* 1 written, 0 not written (cap or write error). */
int xc_pcap_writer_frame(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len,
			 uint64_t ts_ns, int dir);
/* Frames first..end-1 of a burst whose verdict is not 0 (verdict NULL:
 * every one), each with its ts_ns; returns how many were written. */
uint32_t xc_pcap_writer_burst(struct xc_pcap_writer *w, const struct xc_burst *b,
			      const uint8_t *verdict, uint32_t first, uint32_t end, int dir);
/* Frames not written so far: over the cap, or a failed write. */
uint64_t xc_pcap_writer_capped(const struct xc_pcap_writer *w);
/* Flushes, closes and frees; 0, or -1 when the file did not close cleanly. */
int xc_pcap_writer_free(struct xc_pcap_writer *w);

#endif
