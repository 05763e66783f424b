/* Congestion control dispatch: what every algorithm shares, then the
 * algorithm's own step from the table below. */
#include <string.h>
#include "cc.h"

/* The table: one line per algorithm, in id order (XC_CC_* in api_cc.h);
 * cc_<name>.c defines xc_cc_<name>_ops.  The lines declare and list it. */
#define CC_ALGORITHMS(X) \
	X(newreno)       \
	X(cubic)

#define CC_DECLARE(n) extern const struct xc_cc_ops xc_cc_##n##_ops;
#define CC_ENTRY(n) &xc_cc_##n##_ops,
CC_ALGORITHMS(CC_DECLARE)
static const struct xc_cc_ops *const cc_table[] = { CC_ALGORITHMS(CC_ENTRY) };
#define CC_N (sizeof cc_table / sizeof cc_table[0])

static const struct xc_cc_ops *ops_of(const struct xc_cc *cc)
{
	/* A struct that was never initialised still gets sane (Reno) math. */
	return cc->algo < CC_N && cc_table[cc->algo] ? cc_table[cc->algo] : &xc_cc_newreno_ops;
}

uint32_t xc_cc_count(void)
{
	return CC_N;
}

const char *xc_cc_name(uint32_t algo)
{
	return algo < CC_N && cc_table[algo] ? cc_table[algo]->name : NULL;
}

int xc_cc_by_name(const char *name)
{
	if (!name)
		return -1;
	for (uint32_t i = 0; i < CC_N; i++)
		if (cc_table[i] && strcmp(cc_table[i]->name, name) == 0)
			return (int)i;
	return -1;
}

void xc_cc_init(struct xc_cc *cc, uint32_t algo, uint32_t mss, uint32_t initial_window_segments)
{
	memset(cc, 0, sizeof *cc);
	if (algo >= CC_N || !cc_table[algo])
		algo = XC_CC_NEWRENO;
	if (!mss)
		mss = XC_CC_DEFAULT_MSS;
	cc->algo = algo;
	cc->mss = mss;
	if (initial_window_segments) {
		cc->iw = xc_cc_clamp((uint64_t)initial_window_segments * mss);
	} else {
		/* RFC 6928: min(10*MSS, max(2*MSS, 14600)) */
		uint64_t iw = 14600;
		if (iw < 2ull * mss)
			iw = 2ull * mss;
		if (iw > 10ull * mss)
			iw = 10ull * mss;
		cc->iw = xc_cc_clamp(iw);
	}
	cc->cwnd = cc->iw;
	cc->ssthresh = XC_CC_SSTHRESH_INF;
	cc->fast_convergence = 1;
	if (cc_table[algo]->init)
		cc_table[algo]->init(cc);
}

void xc_cc_on_ack(struct xc_cc *cc, uint32_t acked, uint32_t flight, uint64_t now_ns,
		  uint32_t srtt_us, uint32_t min_rtt_us)
{
	const struct xc_cc_ops *ops = ops_of(cc);

	if (!acked)
		return;
	if (flight && 2ull * flight < cc->cwnd) {
		/* Not using the window: growing it would validate nothing. */
		cc->app_limited_acks++;
		if (ops->app_limited)
			ops->app_limited(cc, now_ns);
		return;
	}
	if (cc->cwnd < cc->ssthresh) {
		uint32_t room = cc->ssthresh - cc->cwnd;
		uint32_t inc = acked < 2 * cc->mss ? acked : 2 * cc->mss;  /* RFC 3465 L = 2*SMSS */
		if (inc < room) {
			cc->cwnd = xc_cc_clamp((uint64_t)cc->cwnd + inc);
			return;
		}
		/* Slow start ends exactly at ssthresh; bytes beyond it are
		 * congestion avoidance's. */
		cc->cwnd = xc_cc_clamp(cc->ssthresh);
		acked = acked > room ? acked - room : 0;
		if (!acked)
			return;
	}
	ops->cong_avoid(cc, acked, now_ns, srtt_us, min_rtt_us);
}

static uint32_t loss_ssthresh(struct xc_cc *cc, uint32_t flight, uint64_t now_ns, int rto)
{
	uint32_t ss = ops_of(cc)->ssthresh(cc, flight, now_ns, rto);
	uint64_t floor = 2ull * cc->mss;        /* RFC 5681 eq. 4, RFC 9438 §4.6 */
	return ss < floor ? xc_cc_clamp(floor) : ss;
}

void xc_cc_on_loss(struct xc_cc *cc, uint32_t flight, uint64_t now_ns)
{
	cc->ssthresh = loss_ssthresh(cc, flight, now_ns, 0);
	cc->cwnd = xc_cc_clamp(cc->ssthresh);
	cc->bytes_acked = 0;
	cc->loss_events++;
}

void xc_cc_on_rto(struct xc_cc *cc, uint32_t flight, uint64_t now_ns)
{
	cc->ssthresh = loss_ssthresh(cc, flight, now_ns, 1);
	cc->cwnd = cc->mss;                     /* loss window, RFC 5681 §3.1 */
	cc->bytes_acked = 0;
	cc->loss_events++;
	cc->rto_events++;
}

void xc_cc_on_recovery_exit(struct xc_cc *cc, uint32_t flight, uint64_t now_ns)
{
	const struct xc_cc_ops *ops = ops_of(cc);
	uint64_t w = (flight > cc->mss ? flight : cc->mss) + (uint64_t)cc->mss;

	cc->cwnd = xc_cc_clamp(w < cc->ssthresh ? w : cc->ssthresh);
	cc->bytes_acked = 0;
	if (ops->after_recovery_exit)
		ops->after_recovery_exit(cc, now_ns);
}

void xc_cc_on_idle(struct xc_cc *cc, uint64_t now_ns)
{
	const struct xc_cc_ops *ops = ops_of(cc);
	uint32_t three_q = (uint32_t)((uint64_t)cc->cwnd * 3 / 4);

	if (cc->ssthresh < three_q)
		cc->ssthresh = three_q;
	if (cc->cwnd > cc->iw)
		cc->cwnd = cc->iw;
	cc->bytes_acked = 0;
	if (ops->after_idle)
		ops->after_idle(cc, now_ns);
}
