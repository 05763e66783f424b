/* SYN cookies, one definition for both sides: the XDP steering program
 * answers SYNs with them when a listener is flooded (bpf/xdp_syn_answer.h),
 * the C core answers with them past the SYN queue and checks every cookie
 * ACK (xdpmtcp/_core/tcp/: tcp_isn.c, used by tcp_listen.c and
 * tcp_listener.c).  Both key them with the same secret: the core's, which
 * Python copies into the program's syn_conf map.
 *
 * Cookie layout: 5 bits of a minute counter (CLOCK_MONOTONIC, which is
 * bpf_ktime_get_ns() in BPF), 2 bits of MSS index, 25 bits of MAC
 * (SipHash-2-4) over (tuple, peer ISN, counter, MSS index).  It is valid
 * for the minute it was made in and the next.  A cookie cannot carry window
 * scale, SACK or timestamps: connections made from one run without them.
 *
 * Plain static inline code with fixed-size inputs and no loops, so that
 * BPF's verifier takes it as it is.  Addresses and ports as on the wire. */
#ifndef XDPMTCP_SYNCOOKIE_H
#define XDPMTCP_SYNCOOKIE_H

#define XM_COOKIE_MAC_MASK 0x1ffffffu
#define XM_COOKIE_MINUTE_NS 60000000000ull
#define XM_COOKIE_MSS_NONE 536           /* a SYN without MSS option (RFC 9293) */

#define XM_INLINE static inline __attribute__((always_inline))

XM_INLINE __u64 xm_rotl64(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define XM_SIPROUND(v0, v1, v2, v3)                                              \
	do {                                                                     \
		v0 += v1; v1 = xm_rotl64(v1, 13); v1 ^= v0; v0 = xm_rotl64(v0, 32); \
		v2 += v3; v3 = xm_rotl64(v3, 16); v3 ^= v2;                       \
		v0 += v3; v3 = xm_rotl64(v3, 21); v3 ^= v0;                       \
		v2 += v1; v1 = xm_rotl64(v1, 17); v1 ^= v2; v2 = xm_rotl64(v2, 32); \
	} while (0)

#define XM_SIPCOMPRESS(v0, v1, v2, v3, m)  \
	do {                               \
		v3 ^= (m);                 \
		XM_SIPROUND(v0, v1, v2, v3); \
		XM_SIPROUND(v0, v1, v2, v3); \
		v0 ^= (m);                 \
	} while (0)

/* SipHash-2-4 of two 64-bit words (16 bytes of input). */
XM_INLINE __u64 xm_siphash24(__u64 k0, __u64 k1, __u64 m0, __u64 m1)
{
	__u64 v0 = k0 ^ 0x736f6d6570736575ull;
	__u64 v1 = k1 ^ 0x646f72616e646f6dull;
	__u64 v2 = k0 ^ 0x6c7967656e657261ull;
	__u64 v3 = k1 ^ 0x7465646279746573ull;
	XM_SIPCOMPRESS(v0, v1, v2, v3, m0);
	XM_SIPCOMPRESS(v0, v1, v2, v3, m1);
	XM_SIPCOMPRESS(v0, v1, v2, v3, (__u64)16 << 56);
	v2 ^= 0xff;
	XM_SIPROUND(v0, v1, v2, v3);
	XM_SIPROUND(v0, v1, v2, v3);
	XM_SIPROUND(v0, v1, v2, v3);
	XM_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The MSS values a cookie can carry (2 bits), as Linux's msstab. */
XM_INLINE __u32 xm_cookie_mss(__u32 index)
{
	switch (index & 3) {
	case 0: return 536;
	case 1: return 1300;
	case 2: return 1440;
	default: return 1460;
	}
}

/* The largest cookie MSS not above the peer's. */
XM_INLINE __u32 xm_cookie_mss_index(__u32 peer_mss)
{
	__u32 index = 0;
	if (peer_mss >= 1300)
		index = 1;
	if (peer_mss >= 1440)
		index = 2;
	if (peer_mss >= 1460)
		index = 3;
	return index;
}

XM_INLINE __u32 xm_cookie_mac(__u64 k0, __u64 k1, __u32 la, __u32 ra, __u16 lp, __u16 rp,
			      __u32 peer_isn, __u32 minute, __u32 mss_index)
{
	__u64 tuple = ((__u64)la << 32 | ra) ^ ((__u64)peer_isn << 16);
	__u64 ports = (__u64)lp << 48 | (__u64)rp << 32 | (minute << 2 | mss_index);
	return (__u32)xm_siphash24(k0, k1, tuple, ports) & XM_COOKIE_MAC_MASK;
}

XM_INLINE __u32 xm_cookie_minute(__u64 now_ns)
{
	return (__u32)(now_ns / XM_COOKIE_MINUTE_NS);
}

/* Our ISN for a SYN answered without state. */
XM_INLINE __u32 xm_cookie_make(__u64 k0, __u64 k1, __u32 la, __u32 ra, __u16 lp, __u16 rp,
			       __u32 peer_isn, __u32 mss_index, __u64 now_ns)
{
	__u32 minute = xm_cookie_minute(now_ns);
	mss_index &= 3;
	return (minute & 31) << 27 | mss_index << 25 |
	       xm_cookie_mac(k0, k1, la, ra, lp, rp, peer_isn, minute, mss_index);
}

#endif
