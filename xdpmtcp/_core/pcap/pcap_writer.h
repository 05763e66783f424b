/* Private: the pcap tap's file (the public face, api_pcapwrite.h, is the
 * same writer), classic pcap (nanosecond timestamps,
 * Ethernet) or, for a path ending in ".pcapng", pcapng with each frame's
 * direction (epb_flags inbound/outbound). */
#ifndef XC_PCAP_WRITER_H
#define XC_PCAP_WRITER_H
#include <stdint.h>
#include <stdio.h>
#include "api_pcapwrite.h"

#define XC_PCAP_IN XC_PCAP_DIR_IN       /* directions, as pcapng's epb_flags count them */
#define XC_PCAP_OUT XC_PCAP_DIR_OUT

struct xc_pcap_writer {
	FILE *f;
	int ng;                /* pcapng blocks, not classic records */
	uint64_t written;      /* bytes in the file so far */
	uint64_t max_bytes;    /* 0 = no cap; at the cap, frames are counted, not written */
	uint64_t capped;       /* the public writer's frames not written (api_pcapwrite.h) */
};

int xc_pcap_open(struct xc_pcap_writer *w, const char *path, uint64_t max_bytes);
/* 1 written, 0 not written (cap or error), -1 not open. */
int xc_pcap_write(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len, int dir);
void xc_pcap_flush(struct xc_pcap_writer *w);
void xc_pcap_close(struct xc_pcap_writer *w);

#endif
