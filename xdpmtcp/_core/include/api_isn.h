/* The keyed hashes behind initial sequence numbers and SYN cookies, which
 * the XDP program's answer to a SYN flood (bpf/xdpmtcp_syncookie.h) must
 * reproduce bit for bit: public so that the two can be checked against
 * each other. */
#ifndef XC_API_ISN_H
#define XC_API_ISN_H
#include <stdint.h>

/* RFC 6528 ISN: keyed hash of the 4-tuple plus a 4 µs clock. */
void xc_isn_set_key(const uint8_t *key16);
uint32_t xc_isn(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		uint16_t remote_port, uint64_t now_ns);
/* SYN cookies: ISN encoding an MSS index and a minute counter, keyed hash. */
uint32_t xc_syncookie_make(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
			   uint16_t remote_port, uint32_t peer_isn, uint32_t mss_index, uint64_t now_ns);
/* Returns the MSS index (0..3), or -1 if the cookie (= ack - 1) is not valid. */
int xc_syncookie_check(uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		       uint16_t remote_port, uint32_t peer_isn, uint32_t cookie, uint64_t now_ns);
/* The cookies' key (derived from the ISN key), for the XDP program's copy. */
void xc_syncookie_key(uint8_t *out16);

#endif
