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

static inline uint32_t xc_cc_clamp(uint64_t v)
{
	return v > XC_CC_CWND_MAX ? XC_CC_CWND_MAX : (uint32_t)v;
}

/* Shared by algorithms: RFC 3465 byte-counted Reno increase, one mss per
 * cwnd of acked bytes, at most one mss per ACK.  Inline here, not in cc.c:
 * cc.c calls the algorithms, so they must not call back into it. */
static inline void xc_cc_reno_cong_avoid(struct xc_cc *cc, uint32_t acked)
{
	/* RFC 3465 §2.1: count bytes; one SMSS per cwnd of them.  The remainder
	 * is kept below cwnd so a single stretch ACK still adds one SMSS only
	 * (RFC 5681 §3.1: at most SMSS per ACK in congestion avoidance). */
	uint64_t ba = (uint64_t)cc->bytes_acked + acked;
	if (ba >= cc->cwnd) {
		ba -= cc->cwnd;
		cc->cwnd = xc_cc_clamp((uint64_t)cc->cwnd + cc->mss);
		if (ba >= cc->cwnd)
			ba = cc->cwnd - 1;
	}
	cc->bytes_acked = (uint32_t)ba;
}

#endif
