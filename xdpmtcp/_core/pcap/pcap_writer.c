#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api_pcapwrite.h"
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

/* pcapng (draft-ietf-opsawg-pcapng): a section header, one Ethernet
 * interface with nanosecond timestamps, then an enhanced packet block per
 * frame carrying its direction. */
#define NG_SHB 0x0A0D0D0Au
#define NG_IDB 1u
#define NG_EPB 6u
#define NG_BYTE_ORDER 0x1A2B3C4Du

static const uint32_t ng_header[] = {
	/* SHB: type, length, byte order, version 1.0, section length unknown */
	NG_SHB, 28, NG_BYTE_ORDER, 1, 0xffffffffu, 0xffffffffu, 28,
	/* IDB: type, length, link type + reserved, snaplen, if_tsresol = 9
	 * (option 9, length 1, value 9, padding), end of options */
	NG_IDB, 32, PCAP_LINKTYPE_ETHERNET, PCAP_SNAPLEN, (1u << 16) | 9u, 9u, 0, 32,
};

static int write_header(struct xc_pcap_writer *w)
{
	if (w->ng) {
		if (fwrite(ng_header, sizeof(ng_header), 1, w->f) != 1)
			return -1;
		w->written = sizeof(ng_header);
		return 0;
	}
	struct pcap_file_header h = { PCAP_MAGIC_NSEC, 2, 4, 0, 0, PCAP_SNAPLEN,
				      PCAP_LINKTYPE_ETHERNET };
	if (fwrite(&h, sizeof(h), 1, w->f) != 1)
		return -1;
	w->written = sizeof(h);
	return 0;
}

int xc_pcap_open(struct xc_pcap_writer *w, const char *path, uint64_t max_bytes)
{
	size_t n = strlen(path);
	xc_pcap_close(w);
	w->f = fopen(path, "wb");
	if (!w->f)
		return -1;
	w->ng = n >= 7 && strcmp(path + n - 7, ".pcapng") == 0;
	if (write_header(w) != 0) {
		xc_pcap_close(w);
		return -1;
	}
	w->max_bytes = max_bytes;
	return 0;
}

/* One enhanced packet block: header, the frame padded to 4 bytes, the
 * epb_flags option (direction), end of options, trailing length. */
static int write_epb(struct xc_pcap_writer *w, uint64_t t, const uint8_t *frame,
		     uint32_t len, int dir)
{
	static const uint8_t pad[4];
	uint32_t padded = (len + 3) & ~3u;
	uint32_t total = 28 + padded + 12 + 4;
	uint32_t head[7] = { NG_EPB, total, 0, (uint32_t)(t >> 32), (uint32_t)t, len, len };
	uint32_t opts[3] = { (4u << 16) | 2u, (uint32_t)dir, 0 };   /* epb_flags (2), length 4 */
	if (w->max_bytes && w->written + total > w->max_bytes)
		return 0;
	if (fwrite(head, sizeof(head), 1, w->f) != 1 || fwrite(frame, 1, len, w->f) != len ||
	    fwrite(pad, 1, padded - len, w->f) != padded - len ||
	    fwrite(opts, sizeof(opts), 1, w->f) != 1 || fwrite(&total, 4, 1, w->f) != 1)
		return 0;
	w->written += total;
	return 1;
}

static int write_at(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len, int dir,
		    uint64_t t)
{
	struct pcap_record_header r;
	if (!w->f)
		return -1;
	if (w->ng)
		return write_epb(w, t, frame, len, dir);
	if (w->max_bytes && w->written + sizeof(r) + len > w->max_bytes)
		return 0;
	r.ts_sec = (uint32_t)(t / 1000000000ull);
	r.ts_nsec = (uint32_t)(t % 1000000000ull);
	r.incl_len = r.orig_len = len;
	if (fwrite(&r, sizeof(r), 1, w->f) != 1 || fwrite(frame, 1, len, w->f) != len)
		return 0;
	w->written += sizeof(r) + len;
	return 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int xc_pcap_write(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len, int dir)
{
	return write_at(w, frame, len, dir, now_ns());
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

/* ---- the public writer (api_pcapwrite.h) ---- */

struct xc_pcap_writer *xc_pcap_writer_new(const char *path, uint64_t max_bytes,
					  char *err, size_t errlen)
{
	struct xc_pcap_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (xc_pcap_open(w, path, max_bytes) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(w);
		return NULL;
	}
	return w;
}

int xc_pcap_writer_frame(struct xc_pcap_writer *w, const uint8_t *frame, uint32_t len,
			 uint64_t ts_ns, int dir)
{
	int r = write_at(w, frame, len, dir, ts_ns ? ts_ns : now_ns());
	if (r != 1)
		w->capped++;
	return r == 1;
}

uint32_t xc_pcap_writer_burst(struct xc_pcap_writer *w, const struct xc_burst *b,
			      const uint8_t *verdict, uint32_t first, uint32_t end, int dir)
{
	uint32_t n = 0;
	for (uint32_t i = first; i < end && i < b->n; i++) {
		const struct xc_pkt *p = &b->pkts[i];
		if (!verdict || verdict[i])
			n += (uint32_t)xc_pcap_writer_frame(w, b->frames + p->off, p->len, p->ts_ns, dir);
	}
	return n;
}

uint64_t xc_pcap_writer_capped(const struct xc_pcap_writer *w)
{
	return w->capped;
}

int xc_pcap_writer_free(struct xc_pcap_writer *w)
{
	int r = 0;
	if (!w)
		return 0;
	if (w->f && (fflush(w->f) != 0 || ferror(w->f)))
		r = -1;
	xc_pcap_close(w);
	free(w);
	return r;
}
