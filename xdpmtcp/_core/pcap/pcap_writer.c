#include <time.h>
#include "pcap_writer.h"

#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_SNAPLEN 65535

struct pcap_file_header {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record_header {
	uint32_t ts_sec, ts_nsec, incl_len, orig_len;
};

int xc_pcap_open(struct xc_pcap_writer *w, const char *path, uint64_t max_bytes)
{
	struct pcap_file_header h = { PCAP_MAGIC_NSEC, 2, 4, 0, 0, PCAP_SNAPLEN,
				      PCAP_LINKTYPE_ETHERNET };
	xc_pcap_close(w);
	w->f = fopen(path, "wb");
	if (!w->f)
		return -1;
	if (fwrite(&h, sizeof(h), 1, w->f) != 1) {
		xc_pcap_close(w);
		return -1;
	}
	w->written = sizeof(h);
	w->max_bytes = max_bytes;
	return 0;
}

int xc_pcap_write(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len)
{
	struct timespec ts;
	struct pcap_record_header r;
	if (!w->f)
		return -1;
	if (w->max_bytes && w->written + sizeof(r) + len > w->max_bytes)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	r.ts_sec = (uint32_t)ts.tv_sec;
	r.ts_nsec = (uint32_t)ts.tv_nsec;
	r.incl_len = r.orig_len = len;
	if (fwrite(&r, sizeof(r), 1, w->f) != 1 || fwrite(frame, 1, len, w->f) != len)
		return 0;
	w->written += sizeof(r) + len;
	return 1;
}

void xc_pcap_flush(struct xc_pcap_writer *w)
{
	if (w->f)
		fflush(w->f);
}

void xc_pcap_close(struct xc_pcap_writer *w)
{
	if (w->f)
		fclose(w->f);
	w->f = NULL;
	w->written = 0;
}
