/* Packet filters: a tcpdump-style expression (xdpmtcp/filter/) compiled to
 * a short postfix program the C core runs per frame.  The same expression
 * also compiles to C for the XDP program (see xdpmtcp/filter/program.py),
 * so what XDP can check is checked before a frame is copied at all.
 *
 * Evaluation: a stack of booleans, at most XC_FILTER_STACK deep; the
 * compiler never emits a deeper program (it checks), and the VM refuses
 * one at load time.  Frames that are neither IPv4 nor IPv6 match only
 * XC_FOP_TRUE-only programs; fields of a non-TCP/UDP frame (ports) never
 * match.  IPv6: the upper-layer protocol is the one after the extension
 * headers (libpcap looks past a fragment header only); TCP flags are read
 * in IPv4 only, as libpcap's tcp[tcpflags].
 */
#ifndef XC_API_FILTER_H
#define XC_API_FILTER_H
#include <stdint.h>
#include "api.h"

#define XC_FILTER_MAX_INSNS 256
#define XC_FILTER_STACK 32

/* Opcodes. */
#define XC_FOP_TRUE 0
#define XC_FOP_FALSE 1
#define XC_FOP_ADDR 2        /* IPv4: (addr & mask) == a on the side(s) in dir */
#define XC_FOP_PORT 3        /* lo <= port <= hi on the side(s) in dir */
#define XC_FOP_PROTO 4       /* upper-layer protocol (IPv4 or IPv6) == a */
#define XC_FOP_LEN 5         /* frame length: cmp 0 less-or-equal a, 1 greater-or-equal a */
#define XC_FOP_TCPFLAGS 6    /* (tcp flags & mask) != 0 */
#define XC_FOP_AND 7
#define XC_FOP_OR 8
#define XC_FOP_NOT 9
#define XC_FOP_ADDR6 10      /* IPv6: the first a bits (a <= 128) of the address == a6 */
#define XC_FOP_FAMILY 11     /* an IPv4 (a = 4) or IPv6 (a = 6) packet */

/* dir: which side of the packet a primitive looks at. */
#define XC_FDIR_SRC 1
#define XC_FDIR_DST 2
#define XC_FDIR_EITHER 3     /* src or dst (tcpdump's default) */
#define XC_FDIR_BOTH 4       /* src and dst */

struct xc_filter_insn {
	uint8_t op;
	uint8_t dir;
	uint16_t lo;             /* ports */
	uint16_t hi;
	uint16_t pad;
	uint32_t a;              /* address (network order), protocol, length, flags mask */
	uint32_t mask;           /* address mask (network order) */
	uint8_t a6[16];          /* XC_FOP_ADDR6: the network, bits past the prefix zero */
};

struct xc_filter {
	uint32_t n;
	struct xc_filter_insn insns[256];   /* XC_FILTER_MAX_INSNS */
};

/* 0 if the program is well formed (ops known, stack never under- or
 * overflows, exactly one value left), else -1. */
int xc_filter_check(const struct xc_filter *f);
/* 1 if the frame (from its Ethernet header) matches, 0 if not. */
int xc_filter_match(const struct xc_filter *f, const uint8_t *frame, uint32_t len);
/* Match a TCP flow by its 4-tuple (network order; src = the client, or the
 * sender of an orphan): the monitor's flow filter, run once per new flow.
 * Length and flag tests see a zero-length frame with no flags. */
int xc_filter_match_tuple(const struct xc_filter *f, uint32_t saddr, uint16_t sport,
			  uint32_t daddr, uint16_t dport);
/* The same for a flow of another IPv4 protocol (17: UDP; ports count
 * only for TCP and UDP). */
int xc_filter_match_tuple_proto(const struct xc_filter *f, uint8_t proto, uint32_t saddr,
				uint16_t sport, uint32_t daddr, uint16_t dport);
/* The same for an IPv6 flow: addresses of 16 bytes as on the wire. */
int xc_filter_match_tuple6(const struct xc_filter *f, uint8_t proto, const uint8_t *saddr,
			   uint16_t sport, const uint8_t *daddr, uint16_t dport);
/* Match every frame of a burst: out[i] = 0/1; returns how many matched. */
uint32_t xc_filter_burst(const struct xc_filter *f, const struct xc_burst *b, uint8_t *out);

#endif
