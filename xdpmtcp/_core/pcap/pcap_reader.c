/* Capture file reader (classic pcap, pcapng): see api_pcapread.h.
 *
 * One sequential read buffer; a record is parsed only once all of it is in
 * the buffer, and every length read from the file is checked against the
 * block or buffer that should contain it before it is used. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api_pcapread.h"
#include "wire/superframe.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

#define NG_SHB 0x0A0D0D0Au
#define NG_IDB 0x00000001u
#define NG_OPB 0x00000002u      /* obsolete packet block, still written by old tools */
#define NG_SPB 0x00000003u
#define NG_ISB 0x00000005u
#define NG_EPB 0x00000006u
#define NG_BOM 0x1A2B3C4Du
#define NG_OPT_END 0
#define NG_OPT_TSRESOL 9
#define NG_OPT_FCSLEN 13
#define NG_OPT_TSOFFSET 14
#define NG_ISB_IFDROP 5
#define NG_ISB_OSDROP 7

#define LT_ETHERNET 1
#define LT_RAW 101
#define LT_LINUX_SLL 113
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_LINUX_SLL2 276

#define ETH_HLEN 14
#define SLL_HLEN 16
#define SLL2_HLEN 20
/* Largest captured length read (a record must fit the buffer whole);
 * beyond it we skip unread. */
#define CAPLEN_USEFUL (XC_PCAP_FRAME_CAP < XC_PCAP_BUF_BYTES - 64 ? XC_PCAP_FRAME_CAP \
						      : XC_PCAP_BUF_BYTES - 64)

struct iface {
	uint16_t linktype;
	uint8_t tsresol;         /* pcapng if_tsresol; 6 = microseconds */
	uint8_t fcs_len;         /* bytes of FCS at the end of each frame */
	uint32_t snaplen;
	int64_t tsoffset;        /* seconds */
	uint64_t drops;          /* the latest drop count of its statistics blocks */
};

struct xc_pcap_reader {
	int fd;
	int format;
	int swap;                /* file byte order differs from ours */
	int stopped;             /* end of file, or corruption we cannot pass */
	int nsec;                /* classic: nanosecond timestamps */
	int in_section;          /* pcapng: a section header was read */
	struct iface classic;    /* classic: the file's one link */
	struct iface *ifaces;    /* pcapng: this section's interfaces */
	uint32_t n_ifaces;
	uint8_t *buf;
	size_t pos, end;
	int eof;
	uint64_t rec_off;        /* file offset of the record or block being read */
	uint32_t piece;          /* next piece of a super-frame a full burst interrupted */
	uint8_t eth[ETH_HLEN];   /* a super-frame's normalised link header */
	struct xc_pcap_read_stats st;
	char stop_msg[192];      /* why reading stopped early */
	char skip_msg[192];      /* the first damaged block skipped */
	char where_buf[64];
};

static uint16_t rd16(const struct xc_pcap_reader *r, const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return r->swap ? __builtin_bswap16(v) : v;
}

static uint32_t rd32(const struct xc_pcap_reader *r, const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return r->swap ? __builtin_bswap32(v) : v;
}

/* ---------------------------------------------------------------- buffer */

/* Make n (<= XC_PCAP_BUF_BYTES) bytes available at buf + pos.
 * 1: there; 0: the file ends first; -1: read error. */
static int fill(struct xc_pcap_reader *r, size_t n)
{
	if (r->end - r->pos >= n)
		return 1;
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	while (r->end < n) {
		if (r->eof)
			return 0;
		ssize_t k = read(r->fd, r->buf + r->end, XC_PCAP_BUF_BYTES - r->end);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			r->eof = 1;
		r->end += (size_t)k;
	}
	return 1;
}

static const uint8_t *at(const struct xc_pcap_reader *r)
{
	return r->buf + r->pos;
}

/* Consume n bytes, reading through what is not buffered (n may exceed the
 * buffer).  1: done; 0: the file ended first; -1: read error. */
static int skip(struct xc_pcap_reader *r, uint64_t n)
{
	while (n) {
		size_t have = r->end - r->pos;
		if (!have) {
			int f = fill(r, 1);
			if (f <= 0)
				return f;
			continue;
		}
		size_t k = n < have ? (size_t)n : have;
		r->pos += k;
		r->st.file_bytes += k;
		n -= k;
	}
	return 1;
}

/* ---------------------------------------------------------------- damage */

/* The record or block being read, for messages. */
static const char *where(struct xc_pcap_reader *r)
{
	if (r->format == XC_PCAP_FMT_PCAP)
		snprintf(r->where_buf, sizeof(r->where_buf), "record %llu at byte %llu",
			 (unsigned long long)r->st.records + 1, (unsigned long long)r->rec_off);
	else
		snprintf(r->where_buf, sizeof(r->where_buf), "block at byte %llu",
			 (unsigned long long)r->rec_off);
	return r->where_buf;
}

/* Reading cannot go on: remember where and why (the first reason). */
__attribute__((format(printf, 3, 4)))
static void stop_damaged(struct xc_pcap_reader *r, uint32_t why, const char *fmt, ...)
{
	r->stopped = 1;
	if (r->st.stop)
		return;
	r->st.stop = why;
	r->st.stop_offset = r->rec_off;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->stop_msg, sizeof(r->stop_msg), fmt, ap);
	va_end(ap);
}

/* A damaged pcapng block that is skipped: counted, the first described. */
__attribute__((format(printf, 2, 3)))
static void skip_damaged(struct xc_pcap_reader *r, const char *fmt, ...)
{
	r->st.bad_blocks++;
	if (r->skip_msg[0])
		return;
	int n = snprintf(r->skip_msg, sizeof(r->skip_msg), "%s: ", where(r));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->skip_msg + n, sizeof(r->skip_msg) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The file ended inside the current record or block. */
static int truncated(struct xc_pcap_reader *r, uint32_t got)
{
	r->st.truncated_records++;
	stop_damaged(r, XC_PCAP_STOP_TRUNCATED,
		     "%s is cut short by the end of the file (truncated capture)", where(r));
	return (int)got;
}

/* fill() gave up (f <= 0): a read error (-1, errno kept), the clean end of
 * the file, or the end of the file inside a record. */
static int stop_at_end(struct xc_pcap_reader *r, int f, uint32_t got)
{
	if (f < 0) {
		int e = errno;
		stop_damaged(r, XC_PCAP_STOP_READ_ERROR, "read error at byte %llu: %s",
			     (unsigned long long)r->st.file_bytes, strerror(e));
		errno = e;
		return -1;
	}
	if (r->end > r->pos)
		return truncated(r, got);
	r->stopped = 1;
	return (int)got;
}

/* ---------------------------------------------------------------- frames */

static uint64_t pow10u(unsigned p)
{
	uint64_t v = 1;
	while (p--)
		v *= 10;
	return v;
}

/* pcapng timestamp units (if_tsresol) to nanoseconds.  Corrupt values wrap
 * rather than fault: the timestamp is then meaningless, nothing worse. */
static uint64_t ng_ts_ns(const struct iface *ifc, uint64_t ts)
{
	unsigned p = ifc->tsresol & 0x7f;
	uint64_t ns;
	if (ifc->tsresol & 0x80)
		ns = p >= 64 ? 0 : (uint64_t)(((unsigned __int128)ts * 1000000000u) >> p);
	else if (p <= 9)
		ns = ts * pow10u(9 - p);
	else
		ns = p > 19 ? 0 : ts / pow10u(p - 9);
	return ns + (uint64_t)ifc->tsoffset * 1000000000u;
}

/* Write the Ethernet header for a normalised frame. */
static void eth_header(uint8_t *out, const uint8_t *src_mac, uint16_t ethertype)
{
	memset(out, 0, 6);
	if (src_mac)
		memcpy(out + 6, src_mac, 6);
	else
		memset(out + 6, 0, 6);
	out[12] = ethertype >> 8;
	out[13] = ethertype & 0xff;
}

/* Append the frame at out (b's next slot) to b and classify it. */
static void emit(struct xc_pcap_reader *r, struct xc_burst *b, uint8_t *out, uint32_t len,
		 uint64_t ts_ns)
{
	struct xc_pkt *pkt = &b->pkts[b->n++];
	memset(pkt, 0, sizeof(*pkt));
	xc_frame_classify(out, len, pkt);
	pkt->off = (uint32_t)(out - b->data);
	pkt->len = len;
	pkt->ts_ns = ts_ns;
	r->st.frames++;
	r->st.bytes += len;
}

static uint8_t *next_slot(struct xc_burst *b)
{
	b->frames = b->data;        /* copies, never a port's lent frames */
	return b->data + (size_t)b->n * XC_FRAME_MAX;
}

/* A frame longer than XC_FRAME_MAX (body: its bytes after the link header,
 * whose normalised form is r->eth unless the capture is Ethernet): its
 * pieces from r->piece on, at most room of them; r->piece is left at the
 * next one when the burst is full first.  Returns the frames delivered. */
static uint32_t deliver_super(struct xc_pcap_reader *r, struct xc_burst *b, int ethernet,
			      const uint8_t *data, uint32_t caplen, const uint8_t *body,
			      uint32_t body_len, uint32_t origlen, uint64_t ts_ns, uint32_t room)
{
	struct wire_super s;
	int ok = ethernet ? wire_super_plan_eth(&s, data, caplen, XC_FRAME_MAX)
			  : wire_super_plan(&s, r->eth, ETH_HLEN, body, body_len, XC_FRAME_MAX);
	if (!ok) {
		uint8_t *out = next_slot(b);
		if (ethernet) {
			memcpy(out, data, XC_FRAME_MAX);
		} else {
			memcpy(out, r->eth, ETH_HLEN);
			memcpy(out + ETH_HLEN, body, XC_FRAME_MAX - ETH_HLEN);
		}
		r->st.cut_frames++;
		emit(r, b, out, XC_FRAME_MAX, ts_ns);
		return 1;
	}
	if (!r->piece) {
		r->st.superframes++;
		if (caplen < origlen)
			r->st.snapped++;
	}
	uint32_t n = 0, k = r->piece;
	for (; k < s.pieces && n < room; k++, n++) {
		uint8_t *out = next_slot(b);
		emit(r, b, out, wire_super_piece(&s, k, out), ts_ns);
	}
	r->piece = k < s.pieces ? k : 0;
	r->st.superframe_pieces += n;
	return n;
}

/* Normalise one captured frame into b (room >= 1 free slots) and classify
 * it; a super-frame becomes its pieces (deliver_super).  Returns the
 * frames delivered (0: counted and skipped). */
static uint32_t deliver(struct xc_pcap_reader *r, struct xc_burst *b,
			const struct iface *ifc, const uint8_t *data,
			uint32_t caplen, uint32_t origlen, uint64_t ts_ns, uint32_t room)
{
	struct xc_pcap_read_stats *st = &r->st;
	const uint8_t *body;     /* bytes after the link header */
	uint32_t hdr, len;
	uint16_t ethertype = 0;
	const uint8_t *mac = NULL;

	if (ifc->fcs_len && origlen > ifc->fcs_len && caplen > origlen - ifc->fcs_len)
		caplen = origlen - ifc->fcs_len;
	switch (ifc->linktype) {
	case LT_ETHERNET:
		hdr = 0;
		if (caplen < ETH_HLEN)
			goto bad;
		break;
	case LT_LINUX_SLL:
		hdr = SLL_HLEN;
		if (caplen < hdr)
			goto bad;
		ethertype = (uint16_t)(data[14] << 8 | data[15]);
		if (data[4] == 0 && data[5] == 6)   /* address length */
			mac = data + 6;
		break;
	case LT_LINUX_SLL2:
		hdr = SLL2_HLEN;
		if (caplen < hdr)
			goto bad;
		ethertype = (uint16_t)(data[0] << 8 | data[1]);
		if (data[11] == 6)
			mac = data + 12;
		break;
	case LT_RAW:
	case LT_IPV4:
	case LT_IPV6:
		hdr = 0;
		if (caplen < 1)
			goto bad;
		if ((data[0] >> 4) == 4 && ifc->linktype != LT_IPV6)
			ethertype = 0x0800;
		else if ((data[0] >> 4) == 6 && ifc->linktype != LT_IPV4)
			ethertype = 0x86DD;
		else
			goto bad;
		break;
	default:
		st->unsupported_linktype++;
		return 0;
	}
	body = data + hdr;
	int ethernet = ifc->linktype == LT_ETHERNET;
	len = ethernet ? caplen : caplen - hdr + ETH_HLEN;
	if (len > XC_FRAME_MAX) {
		if (!ethernet)
			eth_header(r->eth, mac, ethertype);
		return deliver_super(r, b, ethernet, data, caplen, body, caplen - hdr, origlen,
				     ts_ns, room);
	}
	uint8_t *out = next_slot(b);
	if (ethernet) {
		memcpy(out, data, caplen);
	} else {
		eth_header(out, mac, ethertype);
		memcpy(out + ETH_HLEN, body, caplen - hdr);
	}
	if (caplen < origlen)
		st->snapped++;
	emit(r, b, out, len, ts_ns);
	return 1;
bad:
	st->bad_link_header++;
	return 0;
}

/* Free slots for this call's frames. */
static uint32_t room_left(const struct xc_burst *b, uint32_t got, uint32_t max)
{
	uint32_t free_slots = b->cap - b->n;
	return max - got < free_slots ? max - got : free_slots;
}

/* ---------------------------------------------------------------- classic */

static int read_classic(struct xc_pcap_reader *r, struct xc_burst *b, uint32_t max)
{
	uint32_t got = 0;
	uint32_t snaplen = r->classic.snaplen;
	while (got < max && b->n < b->cap) {
		r->rec_off = r->st.file_bytes;
		int f = fill(r, PCAP_REC_HDR);
		if (f <= 0)
			return stop_at_end(r, f, got);
		const uint8_t *h = at(r);
		uint32_t sec = rd32(r, h), frac = rd32(r, h + 4);
		uint32_t caplen = rd32(r, h + 8), origlen = rd32(r, h + 12);
		/* A length that cannot be true means the header is garbage, so
		 * where the next record starts is unknowable: stop. */
		const char *bad = NULL;
		uint32_t limit = 0;
		if (caplen > XC_PCAP_MAX_RECORD)
			bad = "more than any capture holds", limit = XC_PCAP_MAX_RECORD;
		else if (snaplen && snaplen <= XC_PCAP_MAX_RECORD && caplen > snaplen)
			bad = "more than the file's snapshot length", limit = snaplen;
		if (bad || caplen > origlen) {
			r->st.bad_records++;
			if (bad)
				stop_damaged(r, XC_PCAP_STOP_RECORD_LENGTH,
					     "%s claims %u captured bytes, %s (%u)",
					     where(r), caplen, bad, limit);
			else
				stop_damaged(r, XC_PCAP_STOP_RECORD_LENGTH,
					     "%s claims %u captured bytes of a %u-byte packet",
					     where(r), caplen, origlen);
			break;
		}
		if (caplen > CAPLEN_USEFUL) {
			f = skip(r, PCAP_REC_HDR + (uint64_t)caplen);
			if (f <= 0)
				return f < 0 ? stop_at_end(r, f, got) : truncated(r, got);
			r->st.records++;
			r->st.oversize++;
			continue;
		}
		f = fill(r, PCAP_REC_HDR + caplen);
		if (f <= 0)
			return stop_at_end(r, f, got);
		if (!r->piece)            /* not the rest of a super-frame */
			r->st.records++;
		h = at(r);
		uint64_t ts = (uint64_t)sec * 1000000000u +
			(uint64_t)frac * (r->nsec ? 1u : 1000u);
		got += deliver(r, b, &r->classic, h + PCAP_REC_HDR, caplen, origlen, ts,
			       room_left(b, got, max));
		if (r->piece)             /* the burst is full: the rest next call */
			break;
		skip(r, PCAP_REC_HDR + caplen);
	}
	return (int)got;
}

/* ---------------------------------------------------------------- pcapng */

/* A 64-bit option value in the section's byte order. */
static uint64_t rd64(const struct xc_pcap_reader *r, const uint8_t *p)
{
	uint64_t v = (uint64_t)rd32(r, p) | (uint64_t)rd32(r, p + 4) << 32;
	if (r->swap)   /* rd32 swapped each half; the halves too */
		v = (v << 32) | (v >> 32);
	return v;
}

static void parse_idb_options(struct xc_pcap_reader *r, struct iface *ifc,
			      const uint8_t *p, const uint8_t *end)
{
	while (end - p >= 4) {
		uint16_t code = rd16(r, p), len = rd16(r, p + 2);
		uint32_t padded = (len + 3u) & ~3u;
		p += 4;
		if (code == NG_OPT_END)
			return;
		if ((size_t)(end - p) < padded) {
			skip_damaged(r, "interface option %u runs past its block", code);
			return;
		}
		if (code == NG_OPT_TSRESOL && len == 1)
			ifc->tsresol = p[0];
		else if (code == NG_OPT_FCSLEN && len == 1)
			ifc->fcs_len = p[0];
		else if (code == NG_OPT_TSOFFSET && len == 8)
			ifc->tsoffset = (int64_t)rd64(r, p);
		p += padded;
	}
}

/* Interface description: needs the whole block for its options when it
 * fits the buffer, else only the fixed part (and counts it). */
static int ng_idb(struct xc_pcap_reader *r, uint32_t blen)
{
	if (blen < 20) {
		skip_damaged(r, "interface description of %u bytes, shorter than its 20 fixed ones",
			     blen);
		return 1;
	}
	int whole = blen <= XC_PCAP_BUF_BYTES;
	int f = fill(r, whole ? blen : 16);
	if (f <= 0)
		return f;
	const uint8_t *h = at(r);
	r->st.interfaces++;
	if (r->n_ifaces >= XC_PCAPNG_MAX_IFACES) {
		skip_damaged(r, "more than %u interfaces in one section", XC_PCAPNG_MAX_IFACES);
		return 1;
	}
	struct iface *ifc = &r->ifaces[r->n_ifaces++];
	memset(ifc, 0, sizeof(*ifc));
	ifc->linktype = rd16(r, h + 8);
	ifc->snaplen = rd32(r, h + 12);
	ifc->tsresol = 6;
	if (whole)
		parse_idb_options(r, ifc, h + 16, h + blen - 4);
	else
		skip_damaged(r, "interface description of %u bytes: its options are ignored", blen);
	return 1;
}

/* Interface statistics: the drops the capturing host counted (the
 * interface's and the OS's), cumulative, so each block adds what grew
 * since the interface's previous one.  Needs the whole block in the
 * buffer; a larger one is skipped. */
static void ng_isb(struct xc_pcap_reader *r, uint32_t blen)
{
	if (blen < 24 || blen > XC_PCAP_BUF_BYTES)
		return;
	const uint8_t *h = at(r), *p = h + 20, *end = h + blen - 4;
	uint32_t ifid = rd32(r, h + 8);
	if (ifid >= r->n_ifaces)
		return;
	uint64_t drops = 0;
	int seen = 0;
	while (end - p >= 4) {
		uint16_t code = rd16(r, p), len = rd16(r, p + 2);
		p += 4;
		if (code == NG_OPT_END || (size_t)(end - p) < ((len + 3u) & ~3u))
			break;
		if ((code == NG_ISB_IFDROP || code == NG_ISB_OSDROP) && len == 8) {
			drops += rd64(r, p);
			seen = 1;
		}
		p += (len + 3u) & ~3u;
	}
	if (!seen)
		return;
	struct iface *ifc = &r->ifaces[ifid];
	r->st.drop_reports++;
	if (drops > ifc->drops)
		r->st.capture_drops += drops - ifc->drops;
	ifc->drops = drops;
}

/* Enhanced, simple and obsolete packet blocks.  1: handled (delivered or
 * counted); 2: a super-frame the full burst interrupted (the block stays
 * for the next call); 0/-1 from fill at the end of the file. */
static int ng_packet(struct xc_pcap_reader *r, struct xc_burst *b, uint32_t type,
		     uint32_t blen, uint32_t *got, uint32_t max)
{
	uint32_t fixed = type == NG_SPB ? 12 : 28;
	if (blen < fixed + 4) {
		skip_damaged(r, "packet block of %u bytes, shorter than its %u fixed ones", blen,
			     fixed + 4);
		return 1;
	}
	int f = fill(r, fixed);
	if (f <= 0)
		return f;
	const uint8_t *h = at(r);
	uint32_t ifid, caplen, origlen;
	uint64_t ts = 0;
	if (type == NG_SPB) {
		ifid = 0;
		origlen = rd32(r, h + 8);
		caplen = blen - 16 < origlen ? blen - 16 : origlen;
	} else {
		ifid = type == NG_OPB ? rd16(r, h + 8) : rd32(r, h + 8);
		ts = (uint64_t)rd32(r, h + 12) << 32 | rd32(r, h + 16);
		caplen = rd32(r, h + 20);
		origlen = rd32(r, h + 24);
	}
	if (ifid >= r->n_ifaces) {
		skip_damaged(r, "packet of interface %u, which its section does not describe", ifid);
		return 1;
	}
	if (caplen > blen - fixed - 4) {
		skip_damaged(r, "packet of %u captured bytes in a %u-byte block", caplen, blen);
		return 1;
	}
	if (caplen > origlen) {
		skip_damaged(r, "packet of %u captured bytes of a %u-byte packet", caplen, origlen);
		return 1;
	}
	if (!r->piece)                /* not the rest of a super-frame */
		r->st.records++;
	struct iface *ifc = &r->ifaces[ifid];
	if (type == NG_SPB && ifc->snaplen && caplen > ifc->snaplen)
		caplen = ifc->snaplen;
	if (caplen > CAPLEN_USEFUL) {
		r->st.oversize++;
		return 1;
	}
	f = fill(r, fixed + caplen);
	if (f <= 0)
		return f;
	*got += deliver(r, b, ifc, at(r) + fixed, caplen, origlen,
			type == NG_SPB ? 0 : ng_ts_ns(ifc, ts), room_left(b, *got, max));
	return r->piece ? 2 : 1;
}

static int read_pcapng(struct xc_pcap_reader *r, struct xc_burst *b, uint32_t max)
{
	uint32_t got = 0;
	while (got < max && b->n < b->cap) {
		r->rec_off = r->st.file_bytes;
		int f = fill(r, 12);
		if (f <= 0)
			return stop_at_end(r, f, got);
		const uint8_t *h = at(r);
		uint32_t type, blen;
		memcpy(&type, h, 4);   /* the SHB type reads the same both ways */
		if (type == NG_SHB) {
			uint32_t bom;
			memcpy(&bom, h + 8, 4);
			if (bom != NG_BOM && bom != __builtin_bswap32(NG_BOM)) {
				r->st.bad_blocks++;
				stop_damaged(r, XC_PCAP_STOP_SECTION,
					     "section header at byte %llu has no byte-order mark",
					     (unsigned long long)r->rec_off);
				break;
			}
			r->swap = bom != NG_BOM;
		} else if (!r->in_section) {
			r->st.bad_blocks++;
			stop_damaged(r, XC_PCAP_STOP_SECTION, "%s comes before any section header",
				     where(r));
			break;
		}
		type = rd32(r, h);
		blen = rd32(r, h + 4);
		if (blen < 12 || blen % 4 || blen > XC_PCAPNG_MAX_BLOCK) {
			r->st.bad_blocks++;   /* the next block cannot be found */
			stop_damaged(r, XC_PCAP_STOP_BLOCK_LENGTH,
				     "%s claims a length of %u bytes, %s", where(r), blen,
				     blen > XC_PCAPNG_MAX_BLOCK ? "more than 16 MiB" :
				     blen < 12 ? "less than a block's 12" : "not a multiple of 4");
			break;
		}
		/* The trailer repeats the length; a block that fits the buffer
		 * is checked whole before anything in it is believed. */
		if (blen <= XC_PCAP_BUF_BYTES) {
			f = fill(r, blen);
			if (f <= 0)
				return stop_at_end(r, f, got);
			uint32_t trailer = rd32(r, at(r) + blen - 4);
			if (trailer != blen) {
				r->st.bad_blocks++;
				stop_damaged(r, XC_PCAP_STOP_BLOCK_LENGTH,
					     "%s claims %u bytes but its trailer says %u", where(r),
					     blen, trailer);
				break;
			}
		}
		f = 1;
		switch (type) {
		case NG_SHB:
			if (blen < 28 || (f = fill(r, 16)) <= 0 || rd16(r, at(r) + 12) != 1) {
				if (f <= 0)
					return stop_at_end(r, f, got);
				r->st.bad_blocks++;   /* not a section we understand */
				stop_damaged(r, XC_PCAP_STOP_SECTION,
					     "section header at byte %llu: %s",
					     (unsigned long long)r->rec_off,
					     blen < 28 ? "too short" : "unsupported pcapng version");
				return (int)got;
			}
			r->in_section = 1;
			r->n_ifaces = 0;
			r->st.sections++;
			break;
		case NG_IDB:
			f = ng_idb(r, blen);
			break;
		case NG_EPB:
		case NG_SPB:
		case NG_OPB:
			f = ng_packet(r, b, type, blen, &got, max);
			if (f == 2)
				return (int)got;
			break;
		case NG_ISB:
			ng_isb(r, blen);
			r->st.skipped_blocks++;
			break;
		default:
			r->st.skipped_blocks++;
		}
		if (f > 0)
			f = skip(r, blen);
		if (f < 0)
			return stop_at_end(r, f, got);
		if (f == 0)
			return truncated(r, got);
	}
	return (int)got;
}

/* ---------------------------------------------------------------- API */

int xc_pcap_reader_read(struct xc_pcap_reader *r, struct xc_burst *b, uint32_t max)
{
	if (r->stopped)
		return 0;
	return r->format == XC_PCAP_FMT_PCAP ? read_classic(r, b, max)
					     : read_pcapng(r, b, max);
}

static int linktype_supported(uint32_t linktype)
{
	switch (linktype) {
	case LT_ETHERNET: case LT_RAW: case LT_LINUX_SLL: case LT_IPV4: case LT_IPV6:
	case LT_LINUX_SLL2:
		return 1;
	}
	return 0;
}

static int open_classic(struct xc_pcap_reader *r, uint32_t magic, char *err, size_t errlen)
{
	int f = fill(r, PCAP_FILE_HDR);
	if (f <= 0) {
		snprintf(err, errlen, f < 0 ? "read: %s" : "pcap file header is cut short",
			 strerror(errno));
		return -1;
	}
	r->swap = magic != PCAP_MAGIC_USEC && magic != PCAP_MAGIC_NSEC;
	r->nsec = magic == PCAP_MAGIC_NSEC || magic == __builtin_bswap32(PCAP_MAGIC_NSEC);
	uint16_t major = rd16(r, at(r) + 4), minor = rd16(r, at(r) + 6);
	if (major != 2) {           /* every libpcap since 1998 writes 2.4 */
		snprintf(err, errlen, "unsupported pcap version %u.%u", major, minor);
		return -1;
	}
	uint32_t network = rd32(r, at(r) + 20);
	r->classic.linktype = network & 0xffff;
	r->classic.snaplen = rd32(r, at(r) + 16);
	if (!linktype_supported(r->classic.linktype)) {
		/* every packet of the file has it: nothing could be read */
		snprintf(err, errlen, "link type %u is not supported (Ethernet, Linux cooked "
			 "SLL/SLL2, raw IPv4/IPv6)", r->classic.linktype);
		return -1;
	}
	if (network & (1u << 26))   /* FCS length present, in 16-bit words */
		r->classic.fcs_len = (uint8_t)(((network >> 28) & 0xf) * 2);
	r->format = XC_PCAP_FMT_PCAP;
	skip(r, PCAP_FILE_HDR);
	return 0;
}

/* The first section header, checked before anything is read: a file whose
 * first block does not parse is not a capture we can read at all.  Later
 * sections are checked as they come (reading stops at a bad one). */
static int open_pcapng(struct xc_pcap_reader *r, char *err, size_t errlen)
{
	int f = fill(r, 28);
	if (f > 0) {
		uint32_t bom;
		memcpy(&bom, at(r) + 8, 4);
		if (bom != NG_BOM && bom != __builtin_bswap32(NG_BOM)) {
			snprintf(err, errlen, "pcapng section header has no byte-order mark");
			return -1;
		}
		r->swap = bom != NG_BOM;
		uint32_t blen = rd32(r, at(r) + 4);
		uint16_t major = rd16(r, at(r) + 12), minor = rd16(r, at(r) + 14);
		if (blen < 28 || blen % 4 || blen > XC_PCAPNG_MAX_BLOCK) {
			snprintf(err, errlen, "pcapng section header claims a length of %u bytes", blen);
			return -1;
		}
		if (major != 1) {
			snprintf(err, errlen, "unsupported pcapng version %u.%u", major, minor);
			return -1;
		}
		if (blen <= XC_PCAP_BUF_BYTES && (f = fill(r, blen)) > 0 &&
		    rd32(r, at(r) + blen - 4) != blen) {
			snprintf(err, errlen, "pcapng section header claims %u bytes but its "
				 "trailer says %u", blen, rd32(r, at(r) + blen - 4));
			return -1;
		}
	}
	if (f <= 0) {
		snprintf(err, errlen, f < 0 ? "read: %s" : "pcapng section header is cut short",
			 strerror(errno));
		return -1;
	}
	r->format = XC_PCAP_FMT_PCAPNG;
	return 0;
}

struct xc_pcap_reader *xc_pcap_reader_open_fd(int fd, char *err, size_t errlen)
{
	struct xc_pcap_reader *r = calloc(1, sizeof(*r));
	if (!r || !(r->buf = malloc(XC_PCAP_BUF_BYTES)) ||
	    !(r->ifaces = calloc(XC_PCAPNG_MAX_IFACES, sizeof(*r->ifaces)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r->fd = fd;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	int f = fill(r, 4);
	if (f < 0) {
		snprintf(err, errlen, "read: %s", strerror(errno));
		goto fail;
	}
	if (f == 0) {
		snprintf(err, errlen, "too short for a capture file");
		goto fail;
	}
	uint32_t magic;
	memcpy(&magic, at(r), 4);
	if (magic == NG_SHB) {
		if (open_pcapng(r, err, errlen) == 0)
			return r;
		goto fail;
	}
	if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC ||
	    magic == __builtin_bswap32(PCAP_MAGIC_USEC) ||
	    magic == __builtin_bswap32(PCAP_MAGIC_NSEC)) {
		if (open_classic(r, magic, err, errlen) == 0)
			return r;
		goto fail;
	}
	snprintf(err, errlen, "not a pcap or pcapng file (magic %08x)", magic);
fail:
	if (r) {
		free(r->buf);
		free(r->ifaces);
		free(r);
	}
	close(fd);
	return NULL;
}

struct xc_pcap_reader *xc_pcap_reader_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	return xc_pcap_reader_open_fd(fd, err, errlen);
}

int xc_pcap_reader_format(struct xc_pcap_reader *r)
{
	return r->format;
}

void xc_pcap_reader_stats(struct xc_pcap_reader *r, struct xc_pcap_read_stats *out)
{
	*out = r->st;
}

int xc_pcap_reader_damage(struct xc_pcap_reader *r, char *stopped, size_t stopped_len,
			  char *skipped, size_t skipped_len)
{
	if (stopped && stopped_len)
		snprintf(stopped, stopped_len, "%s", r->stop_msg);
	if (skipped && skipped_len)
		snprintf(skipped, skipped_len, "%s", r->skip_msg);
	return (int)r->st.stop;
}

void xc_pcap_reader_close(struct xc_pcap_reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r->buf);
	free(r->ifaces);
	free(r);
}
