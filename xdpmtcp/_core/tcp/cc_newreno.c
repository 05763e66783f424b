/* NewReno (RFC 5681 + RFC 6582 + RFC 3465): everything but the halving is
 * the shared code in cc.c. */
#include "cc.h"

static void newreno_cong_avoid(struct xc_cc *cc, uint32_t acked, uint64_t now_ns,
			       uint32_t srtt_us, uint32_t min_rtt_us)
{
	xc_cc_reno_cong_avoid(cc, acked);
}

static uint32_t newreno_ssthresh(struct xc_cc *cc, uint32_t flight, uint64_t now_ns, int rto)
{
	return flight / 2;                      /* RFC 5681 eq. 4; floor applied by cc.c */
}

const struct xc_cc_ops xc_cc_newreno_ops = {
	.name = "newreno",
	.cong_avoid = newreno_cong_avoid,
	.ssthresh = newreno_ssthresh,
};
