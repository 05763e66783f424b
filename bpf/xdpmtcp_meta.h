/* Shared between the XDP steering program (bpf/, compiled by BCC) and the C
 * data path (xdpmtcp/_core/, built by cffi).  Declared once, here.
 *
 * The block between the cffi-begin/cffi-end markers is also fed to cffi's
 * cdef by xdpmtcp/_core/build_core.py, so it must stay plain declarations:
 * no macros with arguments, no inline code.
 */
#ifndef XDPMTCP_META_H
#define XDPMTCP_META_H

/* cffi-begin */

/* "XMT1": marks a frame whose metadata area was written by our program. */
#define XM_META_MAGIC 0x584d5431

/* What the steering program saw; the C core dispatches on it. */
enum xm_seg_class {
	XM_SEG_NONE = 0,
	XM_SEG_SYN = 1,        /* SYN without ACK */
	XM_SEG_SYNACK = 2,     /* SYN with ACK */
	XM_SEG_ACK = 3,        /* ACK, no payload, no SYN/FIN/RST */
	XM_SEG_DATA = 4,       /* payload, no SYN/FIN/RST */
	XM_SEG_FIN = 5,        /* FIN (with or without payload), no SYN/RST */
	XM_SEG_RST = 6,        /* RST */
	XM_SEG_MALFORMED = 7   /* owned, but lengths, offsets or flags are wrong */
};

/* Why the frame is ours. */
enum xm_owner {
	XM_OWNER_LISTEN = 1,   /* destination matches an owned listen port */
	XM_OWNER_FLOW = 2      /* 4-tuple matches a connection we opened */
};

/* Written with bpf_xdp_adjust_meta right before the Ethernet header.
 * Its size is a multiple of 4, as the kernel requires. */
struct xm_meta {
	__u32 magic;
	__u32 flow_hash;       /* symmetric: same for both directions */
	__u16 payload_len;     /* TCP payload bytes */
	__u8 seg_class;        /* enum xm_seg_class */
	__u8 owner;            /* enum xm_owner */
};

/* Map keys, addresses and ports in network byte order as on the wire. */
struct xm_listen_key {
	__u32 addr;            /* 0 = any local address */
	__u16 port;
	__u16 pad;
};

/* Value of a listen-port entry: what the XDP program needs to answer a SYN
 * with a cookie as the C listener would (host byte order).  mss 0: never
 * answer in XDP, every SYN goes to the stack. */
struct xm_listen_val {
	__u16 mss;             /* our MSS (the listener's), capped by the cookie's */
	__u16 window;          /* the SYN-ACK's window: min(SO_RCVBUF, 65535) */
};

/* The steering program's SYN answering, one entry set by Python: the
 * cookie key (a copy of the C core's) and the per-CPU SYN budget. */
struct xm_syn_conf {
	__u64 key0;            /* key0 = key1 = 0: not set, every SYN goes to the stack */
	__u64 key1;
	__u64 cost_ns;         /* budget a SYN takes: 1e9 / xdp_syn_rate */
	__u64 burst_ns;        /* budget a CPU saves up: cost_ns * xdp_syn_burst */
	__u32 ttl;             /* of the SYN-ACKs, as the stack's (Tunables.ttl) */
	__u32 pad;
};

struct xm_flow_key {
	__u32 local_addr;
	__u32 remote_addr;
	__u16 local_port;
	__u16 remote_port;
};

/* Indexes of the per-CPU counter array. */
enum xm_counter {
	XM_CNT_SEEN = 0,       /* every frame the program ran on */
	XM_CNT_REDIRECTED = 1, /* owned and a socket was bound on the queue */
	XM_CNT_PASSED = 2,     /* handed to the kernel */
	XM_CNT_MALFORMED = 3,  /* owned and malformed (still redirected) */
	XM_CNT_NO_SOCKET = 4,  /* owned but no socket on the queue: kernel */
	XM_CNT_SYN_COOKIES = 5,      /* a listener's SYN over budget, answered here with a cookie */
	XM_CNT_COOKIE_RSTS = 6,      /* a RST answering one of those SYN-ACKs: dropped here */
	XM_CNT_SYN_ANSWER_FAILED = 7,/* over budget but not answerable here (IP options, payload,
				      * bad checksum, no tail room): to the stack */
	XM_CNT__MAX = 8
};

/* cffi-end */

/* Symmetric 4-tuple hash (the monitor keys both directions by it).
 * Inputs in network byte order. */
static inline __attribute__((always_inline)) __u32
xm_flow_hash(__u32 a1, __u32 a2, __u16 p1, __u16 p2)
{
	__u32 h = (a1 ^ a2) * 0x9e3779b1u;
	h ^= ((__u32)(p1 ^ p2) | ((__u32)(p1 + p2) << 16)) * 0x85ebca6bu;
	h ^= h >> 15;
	h *= 0xc2b2ae35u;
	h ^= h >> 13;
	return h;
}

/* Segment class from the TCP flags byte (offset 13) and the payload length;
 * the XDP program and the C core's software classifier both use it. */
#define XM_TCP_FIN 0x01
#define XM_TCP_SYN 0x02
#define XM_TCP_RST 0x04
#define XM_TCP_ACK 0x10

static inline __attribute__((always_inline)) __u8
xm_classify(__u8 flags, __u32 payload)
{
	if ((flags & XM_TCP_SYN) && (flags & (XM_TCP_FIN | XM_TCP_RST)))
		return XM_SEG_MALFORMED;
	if (flags & XM_TCP_RST)
		return XM_SEG_RST;
	if (flags & XM_TCP_SYN)
		return (flags & XM_TCP_ACK) ? XM_SEG_SYNACK : XM_SEG_SYN;
	if (flags & XM_TCP_FIN)
		return XM_SEG_FIN;
	return payload ? XM_SEG_DATA : XM_SEG_ACK;
}

#endif
