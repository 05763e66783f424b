/* Super-frames as the segments they stand for.
 *
 * Captures taken on ordinary Linux hosts hold frames longer than any wire
 * carries: GRO merges received segments, TSO/GSO hands the stack's
 * super-segments to the packet taps before they are cut (up to 64 KiB,
 * more with BIG TCP), and jumbo frames are up to 9 KiB.  The monitor's
 * frames are at most XC_FRAME_MAX bytes, so a longer IPv4/TCP frame is cut
 * here (IPv4 or IPv6, extension headers repeated with the rest) into
 * pieces of at most max bytes each, as TSO cuts a super-segment:
 * the link and IP/TCP headers repeated, sequence numbers and IP IDs
 * advancing, SYN and CWR on the first piece only, FIN, PSH and RST on the
 * last only; the stream bytes are the same, in the same order.
 *
 * The link header may live apart from the packet (a capture's Linux
 * cooked header rewritten into Ethernet): the pieces start with l2.
 *
 * Snapped (the capture holds less than the packet): the captured payload
 * is cut, and the last piece claims the rest of the packet's length, so
 * the consumer sees one snapped frame and the missing bytes as a gap.
 * BIG TCP: an IPv4 total length or IPv6 payload length of 0 on a packet
 * longer than 64 KiB means "the frame's length" (Linux writes it so); the
 * pieces carry their real lengths.
 *
 * Checksums: a super-frame's own cannot be checked (GRO verified the
 * segments it merged; TSO fills them later), so pieces get fresh IPv4 and
 * TCP checksums, except a snapped last piece (its bytes are not all
 * there). */
#ifndef XC_WIRE_SUPERFRAME_H
#define XC_WIRE_SUPERFRAME_H
#include <stdint.h>

struct wire_super {
	const uint8_t *l2;       /* link header the pieces start with */
	const uint8_t *net;      /* the IP packet as captured */
	uint32_t l2_len;
	uint32_t net_cap;        /* captured bytes from net on */
	uint32_t ihl;            /* IP header bytes (IPv6: extension headers included) */
	uint32_t hl;             /* IP + TCP header bytes (options included) */
	uint32_t pay;            /* payload bytes captured */
	uint32_t len;            /* payload bytes of the packet (>= pay) */
	uint32_t chunk;          /* payload bytes per piece */
	uint32_t pieces;
	uint32_t seq;            /* host order, of the first payload byte's segment */
	uint8_t flags;           /* TCP flags of the super-frame */
	uint8_t v6;
};

/* Plan the cut of a packet (net, net_cap captured bytes, after the link
 * header l2 of l2_len bytes) into pieces of at most max bytes, link
 * header included.  1: a TCP segment cut into s->pieces (>= 1) pieces;
 * 0: not one that can be cut (not IPv4/IPv6 and TCP, a fragment, headers
 * cut short or longer than max leaves room for). */
int wire_super_plan(struct wire_super *s, const uint8_t *l2, uint32_t l2_len,
		    const uint8_t *net, uint32_t net_cap, uint32_t max);
/* The same for an Ethernet frame (VLAN tags included in the link header). */
int wire_super_plan_eth(struct wire_super *s, const uint8_t *frame, uint32_t caplen,
			uint32_t max);
/* Piece k (< s->pieces) into out (max bytes); returns its length. */
uint32_t wire_super_piece(const struct wire_super *s, uint32_t k, uint8_t *out);

#endif
