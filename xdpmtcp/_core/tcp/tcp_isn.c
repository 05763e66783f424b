/* Initial sequence numbers (RFC 6528), SYN cookies and the other values
 * an off-path observer must not predict or correlate across connections
 * (TSval offset, first IP ID): keyed SipHash-2-4 of the 4-tuple (the
 * cookie itself is in bpf/xdpmtcp_syncookie.h, shared with XDP).  Random
 * numbers for the challenge-ACK budget come from getrandom. */
#include <string.h>
#include <sys/random.h>
#include "tcp_internal.h"
#include "xdpmtcp_syncookie.h"

static uint64_t isn_key[2] = {0x736f6d6570736575ull, 0x646f72616e646f6dull};
/* derived from isn_key, so no hash output is shared between the uses */
static uint64_t ids_key[2] = {0x6c7967656e657261ull, 0x7465646279746573ull};
/* derived too: the XDP program holds a copy, and must learn nothing of isn_key */
static uint64_t cookie_key[2] = {0x636f6f6b69657321ull, 0x73796e636f6f6b69ull};

/* SipHash-2-4 of two 64-bit words (the inputs are fixed-size here). */
static uint64_t siphash2k(const uint64_t *key, uint64_t m0, uint64_t m1)
{
	return xm_siphash24(key[0], key[1], m0, m1);
}

static uint64_t siphash2(uint64_t m0, uint64_t m1)
{
	return siphash2k(isn_key, m0, m1);
}

void xc_isn_set_key(const uint8_t *key16)
{
	memcpy(isn_key, key16, 16);
	ids_key[0] = siphash2(0x7473, 1);
	ids_key[1] = siphash2(0x7473, 2);
	cookie_key[0] = siphash2(0x636b, 1);
	cookie_key[1] = siphash2(0x636b, 2);
}

static uint64_t tuple_word(uint32_t la, uint32_t ra)
{
	return (uint64_t)la << 32 | ra;
}

static uint64_t ports_word(uint16_t lp, uint16_t rp, uint32_t extra)
{
	return (uint64_t)lp << 48 | (uint64_t)rp << 32 | extra;
}

/* ISN = M + F(tuple, secret), M a 4 µs clock (RFC 6528 §3). */
uint32_t xc_isn(uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp, uint64_t now_ns)
{
	return (uint32_t)(now_ns / 4000) + (uint32_t)siphash2(tuple_word(la, ra), ports_word(lp, rp, 0));
}

/* SYN cookies: bpf/xdpmtcp_syncookie.h (the XDP program makes the same
 * ones), keyed by cookie_key, which the program gets a copy of. */
uint32_t xc_syncookie_make(uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp, uint32_t peer_isn,
			   uint32_t mss_index, uint64_t now_ns)
{
	return xm_cookie_make(cookie_key[0], cookie_key[1], la, ra, lp, rp, peer_isn, mss_index, now_ns);
}

int xc_syncookie_check(uint32_t la, uint32_t ra, uint16_t lp, uint16_t rp, uint32_t peer_isn,
		       uint32_t cookie, uint64_t now_ns)
{
	uint32_t now_min = xm_cookie_minute(now_ns);
	uint32_t mss_index = (cookie >> 25) & 3;
	for (uint32_t age = 0; age < 2; age++) {
		uint32_t minute = now_min - age;
		if ((minute & 31) != cookie >> 27)
			continue;
		if (xm_cookie_mac(cookie_key[0], cookie_key[1], la, ra, lp, rp, peer_isn, minute,
				  mss_index) == (cookie & XM_COOKIE_MAC_MASK))
			return (int)mss_index;
	}
	return -1;
}

void xc_syncookie_key(uint8_t *out16)
{
	memcpy(out16, cookie_key, 16);
}

/* TSval offset: a keyed hash of the 4-tuple, so TSvals tell nothing of the
 * clock (uptime) and two connections' TSvals cannot be related, while a
 * reused tuple keeps growing timestamps for the peer's TIME-WAIT (Linux
 * keys its tsoffset by the address pair alone; here the ports join in).
 * Never 0: 0 marks a block whose values are not chosen yet. */
uint32_t tcp_ts_offset(const struct xc_tcb *t)
{
	uint32_t off = (uint32_t)siphash2k(ids_key, tuple_word(t->local_addr, t->remote_addr),
					   ports_word(t->local_port, t->remote_port, 0));
	return off ? off : 1;
}

/* First IP ID of a connection: keyed hash of the tuple and our ISN, as
 * unpredictable as Linux's get_random_u16() in tcp_v4_connect, and new for
 * each incarnation of a tuple. */
uint16_t tcp_ip_id_start(const struct xc_tcb *t)
{
	return (uint16_t)siphash2k(ids_key, tuple_word(t->local_addr, t->remote_addr),
				   ports_word(t->local_port, t->remote_port, t->iss));
}

uint32_t tcp_random_u32(uint64_t now_ns)
{
	static uint64_t calls;
	uint32_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	return (uint32_t)siphash2k(ids_key, now_ns, ++calls);   /* entropy pool not ready */
}
