/* CUBIC (RFC 9438).  Windows in segments as doubles, as the RFC writes
 * them; cwnd itself stays in bytes in struct xc_cc.  Slow start, the
 * application-limited check and the 2*mss floors are cc.c's. */
#include <string.h>
#include "cc.h"

#define CUBIC_C 0.4                     /* segments / s^3 */
#define CUBIC_BETA 0.7
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))   /* ~0.53 */

/* Cube root of x >= 0 without libm (the core links no -lm): a bit-level
 * first guess within a few percent, then Newton, which doubles the correct
 * digits each step. */
static double cube_root(double x)
{
	uint64_t bits;
	double y;

	if (!(x > 0))
		return 0;
	memcpy(&bits, &x, sizeof bits);
	bits = bits / 3 + 0x2a9f7893782da1ceull;
	memcpy(&y, &bits, sizeof y);
	for (int i = 0; i < 6; i++)
		y -= (y * y * y - x) / (3 * y * y);
	return y;
}

static double w_cubic(const struct xc_cc *cc, double t)
{
	double d = t - cc->k;
	return CUBIC_C * d * d * d + cc->w_max;
}

/* t_epoch: the start of a congestion avoidance stage (RFC 9438 §4.2). */
static void start_epoch(struct xc_cc *cc, uint64_t now_ns)
{
	double cwnd = (double)cc->cwnd / cc->mss;

	cc->epoch_valid = 1;
	cc->epoch_start_ns = now_ns;
	cc->last_ack_ns = now_ns;
	cc->cwnd_epoch = cwnd;
	cc->w_est = cwnd;
	cc->ca_frac = 0;
	if (cc->w_max <= cwnd) {
		/* No saturation point above us (first stage, after an RTO, or
		 * slow start overshot it): start at the inflection point, convex
		 * from here (RFC 9438 §4.8 and §4.10). */
		cc->k = 0;
		cc->w_max = cwnd;
	} else {
		cc->k = cube_root((cc->w_max - cwnd) / CUBIC_C);
	}
}

static void cubic_cong_avoid(struct xc_cc *cc, uint32_t acked, uint64_t now_ns,
			     uint32_t srtt_us, uint32_t min_rtt_us)
{
	double mss = cc->mss, cwnd, t, rtt, target, inc;
	uint64_t whole;

	if (!cc->epoch_valid)
		start_epoch(cc, now_ns);
	cc->last_ack_ns = now_ns;
	cwnd = cc->cwnd / mss;
	t = now_ns > cc->epoch_start_ns ? (now_ns - cc->epoch_start_ns) * 1e-9 : 0;
	rtt = (srtt_us ? srtt_us : min_rtt_us) * 1e-6;

	/* Reno-friendly estimate, eq. 4; alpha 1 once W_est is back at the
	 * window it was cut from (§4.3). */
	cc->w_est += (cc->w_est >= cc->cwnd_prior ? 1.0 : CUBIC_ALPHA) * (acked / mss) / cwnd;
	if (w_cubic(cc, t) < cc->w_est) {
		/* Reno-friendly region: cwnd = W_est.  Never shrink on an ACK:
		 * the cubic target may have taken cwnd above W_est already. */
		double want = cc->w_est * mss;
		if (want >= XC_CC_CWND_MAX)
			cc->cwnd = XC_CC_CWND_MAX;  /* also keeps the cast below defined */
		else if (want > cc->cwnd)
			cc->cwnd = (uint32_t)want;
		cc->ca_frac = 0;
		return;
	}
	/* Concave and convex regions alike: aim at W_cubic one RTT ahead,
	 * bounded so growth is never negative and never beats slow start. */
	target = w_cubic(cc, t + rtt);
	if (target < cwnd)
		target = cwnd;
	else if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;
	/* (target - cwnd)/cwnd segments per acked segment, in bytes. */
	inc = (target - cwnd) / cwnd * acked + cc->ca_frac;
	whole = (uint64_t)inc;
	cc->ca_frac = inc - (double)whole;
	cc->cwnd = xc_cc_clamp(cc->cwnd + whole);
}

static void cubic_app_limited(struct xc_cc *cc, uint64_t now_ns)
{
	/* t must not include application-limited time (§4.2, §5.8): slide the
	 * epoch forward by the time since the last ACK that could grow cwnd. */
	if (cc->epoch_valid && now_ns > cc->last_ack_ns) {
		cc->epoch_start_ns += now_ns - cc->last_ack_ns;
		cc->last_ack_ns = now_ns;
	}
}

static uint32_t cubic_ssthresh(struct xc_cc *cc, uint32_t flight, uint64_t now_ns, int rto)
{
	double cwnd = (double)cc->cwnd / cc->mss;

	if (rto)
		cc->w_max = 0;                  /* §4.8: next stage uses K = 0 */
	else if (cc->fast_convergence && cwnd < cc->w_max)
		cc->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0;   /* §4.7: release bandwidth */
	else
		cc->w_max = cwnd;
	cc->cwnd_prior = cwnd;
	cc->epoch_valid = 0;
	cc->ca_frac = 0;
	/* §4.6 allows cwnd for flight_size where cwnd cannot grow unused
	 * (cc.c's application-limited check): Linux's choice.  flight_size
	 * cut twice when a loss shows up while the last recovery's PRR still
	 * holds the flight below cwnd. */
	return (uint32_t)((uint64_t)cc->cwnd * 7 / 10);
}

static void cubic_after_recovery_exit(struct xc_cc *cc, uint64_t now_ns)
{
	if (cc->cwnd >= cc->ssthresh)
		start_epoch(cc, now_ns);
	else
		cc->epoch_valid = 0;            /* slow start first; epoch at ssthresh */
}

static void cubic_after_idle(struct xc_cc *cc, uint64_t now_ns)
{
	cc->epoch_valid = 0;                    /* idle time is not part of t */
}

const struct xc_cc_ops xc_cc_cubic_ops = {
	.name = "cubic",
	.cong_avoid = cubic_cong_avoid,
	.app_limited = cubic_app_limited,
	.ssthresh = cubic_ssthresh,
	.after_recovery_exit = cubic_after_recovery_exit,
	.after_idle = cubic_after_idle,
};
