/* Internet checksums (RFC 1071), one implementation (csum.c) for the
 * port's verification and filling, the port's super-segments and the
 * monitor.  The public ones are in api.h: xc_inet_csum, xc_frame_verify,
 * xc_frame_fill_csum. */
#ifndef XC_WIRE_CSUM_H
#define XC_WIRE_CSUM_H
#include <stdint.h>

/* 1 when the IPv4 header at ip (ihl bytes) sums to its checksum. */
int wire_ipv4_csum_ok(const uint8_t *ip, uint32_t ihl);
/* 1 when the TCP segment at tcp, l4_len bytes after the IPv4 header at
 * ip, sums to its checksum (pseudo-header included). */
int wire_tcp_csum_ok(const uint8_t *ip, const uint8_t *tcp, uint32_t l4_len);
/* The pseudo-header sum of a TCP segment of l4_len bytes, folded, not
 * complemented, as the checksum field holds it for the NIC or the
 * kernel to finish (CHECKSUM_PARTIAL); stored as is (memcpy). */
uint16_t wire_csum_pseudo(const uint8_t *ip, uint32_t l4_len);
/* The same for a TCP segment after the IPv6 header at ip (its pseudo-
 * header: the addresses, the length, next header 6). */
int wire_tcp6_csum_ok(const uint8_t *ip6, const uint8_t *tcp, uint32_t l4_len);
/* Fill the TCP checksum of the l4_len bytes at tcp, after the IPv6 header
 * at ip6. */
void wire_fill_csum6(const uint8_t *ip6, uint8_t *tcp, uint32_t l4_len);
/* Fill the IPv4 header checksum (ihl bytes at ip) and the TCP checksum of
 * the l4_len bytes after it. */
void wire_fill_csums(uint8_t *ip, uint32_t ihl, uint32_t l4_len);

#endif
