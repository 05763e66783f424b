/* Capture file reader: classic pcap and pcapng into xc_burst batches, for
 * offline runs of the same core the live path feeds.
 *
 * Every frame comes out as Ethernet: LINUX_SLL/SLL2 headers are rewritten
 * into an Ethernet header (source MAC = the SLL address when it is six
 * bytes, destination MAC zero, EtherType = the SLL protocol), raw IPv4/IPv6
 * records get a synthesized one (both MACs zero).  A trailing FCS the file
 * declares is cut off.  Each frame is classified with xc_frame_classify;
 * checksums are not verified (captures taken on a sending host carry
 * offloaded, unfinished checksums: judging them is the consumer's call).
 *
 * Memory is capped: one read buffer (XC_PCAP_BUF_BYTES) and the interface
 * table (XC_PCAPNG_MAX_IFACES); the file is read sequentially, so pipes
 * work and a file shrinking under us cannot fault.  Malformed input is
 * counted, never trusted: see struct xc_pcap_read_stats.
 *
 * Damage.  A file that is not a capture we can read at all (bad magic,
 * header cut short, unsupported version or link type, a first section
 * header that does not parse) fails to open, with a one-line message.  A
 * capture damaged part-way delivers every frame before the damage: where
 * the next record starts is no longer known (a record or block length that
 * cannot be true, the file ending inside a record), reading stops and
 * xc_pcap_reader_damage says where and why (stats.stop is the reason);
 * where it is still known (a pcapng packet block that contradicts itself or
 * its section) the block is skipped, counted in bad_blocks, and reading
 * goes on.  Frames the core cannot use (oversize, unsupported link type of
 * one pcapng interface, too short for their link header) are not damage:
 * they are counted and skipped.
 *
 * Super-frames.  A frame longer than XC_FRAME_MAX (a GRO/TSO/BIG TCP
 * super-frame, a jumbo frame) comes out as the IPv4/TCP segments it stands
 * for, each at most XC_FRAME_MAX bytes (wire/superframe.h: headers
 * repeated, sequence numbers advancing, checksums fresh), counted in
 * superframes and superframe_pieces; when a burst fills up in the middle
 * of one, the next call goes on with its next piece.  One that is not
 * IPv4/TCP is delivered cut to XC_FRAME_MAX bytes (cut_frames): its
 * headers are there, and what it is gets counted downstream.  A frame
 * longer than XC_PCAP_FRAME_CAP is counted in oversize and skipped. */
#ifndef XC_API_PCAPREAD_H
#define XC_API_PCAPREAD_H
#include "api.h"

/* The read buffer; the fuzzing build (tools/fuzz) shrinks it. */
#ifndef XC_PCAP_BUF_BYTES
#define XC_PCAP_BUF_BYTES 1048576
#endif
/* A classic pcap record claiming more captured bytes than this (libpcap's
 * own maximum snaplen), more than the file's snapshot length, or more than
 * the packet's length is corrupt: the reader cannot resync and stops. */
#define XC_PCAP_MAX_RECORD 262144
/* The longest frame the reader takes: libpcap's maximum snaplen, so every
 * frame tcpdump can capture (a 256 KiB BIG TCP super-frame included);
 * longer ones (a pcapng written by another tool) are skipped (oversize). */
#define XC_PCAP_FRAME_CAP 262144
/* A pcapng block claiming more than this is corrupt: the reader stops. */
#define XC_PCAPNG_MAX_BLOCK 16777216
/* Interfaces per pcapng section; packets of further ones are bad_blocks. */
#define XC_PCAPNG_MAX_IFACES 1024

#define XC_PCAP_FMT_PCAP 1
#define XC_PCAP_FMT_PCAPNG 2

/* Why reading stopped before the end of the file (stats.stop). */
#define XC_PCAP_STOP_NONE 0
#define XC_PCAP_STOP_TRUNCATED 1      /* the file ends inside a record or block */
#define XC_PCAP_STOP_RECORD_LENGTH 2  /* classic record: captured length cannot be true */
#define XC_PCAP_STOP_BLOCK_LENGTH 3   /* pcapng block: length impossible or trailer differs */
#define XC_PCAP_STOP_SECTION 4        /* pcapng section header not understood */
#define XC_PCAP_STOP_READ_ERROR 5     /* read(2) failed (xc_pcap_reader_read returned -1) */

struct xc_pcap_read_stats {
	uint64_t records;              /* packet records/blocks read whole (delivered or skipped) */
	uint64_t frames;               /* delivered into bursts */
	uint64_t bytes;                /* frame bytes delivered (as Ethernet) */
	uint64_t file_bytes;           /* bytes of the file consumed */
	uint64_t truncated_records;    /* cut short by the end of the file: reading stops */
	uint64_t snapped;              /* captured shorter than on the wire (delivered) */
	uint64_t oversize;             /* longer than XC_PCAP_FRAME_CAP: skipped */
	uint64_t unsupported_linktype; /* packets of link types we cannot normalise: skipped */
	uint64_t bad_link_header;      /* too short for its link header, unknown IP version: skipped */
	uint64_t bad_records;          /* classic record headers with impossible lengths: reading stops */
	uint64_t bad_blocks;           /* corrupt pcapng lengths/headers: reading stops when it
					* cannot know where the next block starts, else skipped */
	uint64_t skipped_blocks;       /* pcapng blocks of other types (ISB, NRB, custom...) */
	uint64_t sections;             /* pcapng section headers */
	uint64_t interfaces;           /* pcapng interface descriptions */
	uint64_t stop_offset;          /* with stop: file offset of the record or block */
	uint32_t stop;                 /* XC_PCAP_STOP_*: why reading ended early, 0 if it did not */
	uint32_t stop_pad;
	uint64_t superframes;          /* longer than XC_FRAME_MAX: delivered as segments */
	uint64_t superframe_pieces;    /* the frames made of them */
	uint64_t cut_frames;           /* longer than XC_FRAME_MAX, not IPv4/TCP: delivered
					* cut to XC_FRAME_MAX bytes */
	uint64_t capture_drops;        /* packets the capturing host lost, as the pcapng
					* interface statistics say (isb_ifdrop + isb_osdrop,
					* the latest block of each interface) */
	uint64_t drop_reports;         /* interface statistics blocks with a drop count */
};

struct xc_pcap_reader;

/* Open a capture file; NULL with a message in err when it is unreadable or
 * not pcap/pcapng. */
struct xc_pcap_reader *xc_pcap_reader_open(const char *path, char *err, size_t errlen);
/* The same on an open descriptor (a pipe works); the reader owns fd. */
struct xc_pcap_reader *xc_pcap_reader_open_fd(int fd, char *err, size_t errlen);
/* XC_PCAP_FMT_PCAP or XC_PCAP_FMT_PCAPNG. */
int xc_pcap_reader_format(struct xc_pcap_reader *r);
/* Append up to max frames to b; returns the number appended, 0 at the end
 * of the capture (or when b is full), -1 on a read error (errno set). */
int xc_pcap_reader_read(struct xc_pcap_reader *r, struct xc_burst *b, uint32_t max);
void xc_pcap_reader_stats(struct xc_pcap_reader *r, struct xc_pcap_read_stats *out);
/* The damage met so far, as one line each ("" if none): why reading
 * stopped early (with where), and the first damaged block skipped.
 * Returns stats.stop. */
int xc_pcap_reader_damage(struct xc_pcap_reader *r, char *stopped, size_t stopped_len,
			  char *skipped, size_t skipped_len);
void xc_pcap_reader_close(struct xc_pcap_reader *r);

#endif
