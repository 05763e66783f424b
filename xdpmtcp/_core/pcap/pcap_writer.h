/* Private: classic pcap file (nanosecond timestamps, Ethernet link type). */
#ifndef XC_PCAP_WRITER_H
#define XC_PCAP_WRITER_H
#include <stdint.h>
#include <stdio.h>

struct xc_pcap_writer {
	FILE *f;
	uint64_t written;      /* bytes in the file so far */
	uint64_t max_bytes;    /* 0 = no cap; at the cap, frames are counted, not written */
};

int xc_pcap_open(struct xc_pcap_writer *w, const char *path, uint64_t max_bytes);
/* 1 written, 0 not written (cap or error), -1 not open. */
int xc_pcap_write(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len);
void xc_pcap_flush(struct xc_pcap_writer *w);
void xc_pcap_close(struct xc_pcap_writer *w);

#endif
