/* Private: the congestion-control ops table behind api_cc.h.
 *
 * cc.c owns everything the algorithms share (the application-limited
 * check, slow start, RFC 5681 loss floors, the cwnd cap, counters) and
 * calls an algorithm only for what differs.  A new algorithm is one
 * cc_<name>.c defining `const struct xc_cc_ops xc_cc_<name>_ops` plus one
 * line in cc.c's CC_ALGORITHMS table.
 */
#ifndef XC_CC_H
#define XC_CC_H
#include <stdint.h>
#include "api_cc.h"

struct xc_cc_ops {
	const char *name;
	/* After the common fields are set (cwnd = iw, ssthresh = inf). */
	void (*init)(struct xc_cc *cc);
	/* Congestion avoidance growth for acked bytes (cwnd >= ssthresh). */
	void (*cong_avoid)(struct xc_cc *cc, uint32_t acked, uint64_t now_ns,
			   uint32_t srtt_us, uint32_t min_rtt_us);
	/* An ACK that was not allowed to grow cwnd (application-limited). */
	void (*app_limited)(struct xc_cc *cc, uint64_t now_ns);
	/* New ssthresh on loss or RTO, before cwnd changes; the caller then
	 * applies the 2*mss floor. */
	uint32_t (*ssthresh)(struct xc_cc *cc, uint32_t flight, uint64_t now_ns, int rto);
	/* After cwnd was set on recovery exit / idle restart (may be NULL). */
	void (*after_recovery_exit)(struct xc_cc *cc, uint64_t now_ns);
	void (*after_idle)(struct xc_cc *cc, uint64_t now_ns);
};

/* Shared by algorithms: RFC 3465 byte-counted Reno increase, one mss per
 * cwnd of acked bytes, at most one mss per ACK. */
void xc_cc_reno_cong_avoid(struct xc_cc *cc, uint32_t acked);

static inline uint32_t xc_cc_clamp(uint64_t v)
{
	return v > XC_CC_CWND_MAX ? XC_CC_CWND_MAX : (uint32_t)v;
}

#endif
