/* The monitor's flow filter: a small postfix program (compiled from a
 * tcpdump-style expression in Python) run once per new flow and per
 * orphan, never per packet of a known flow. */
#include <arpa/inet.h>
#include "mon_internal.h"

static int check(const struct xc_mon_filter_op *prog, uint32_t n)
{
	int depth = 0;
	for (uint32_t i = 0; i < n; i++) {
		switch (prog[i].op) {
		case XC_MON_FOP_TRUE:
		case XC_MON_FOP_NET:
		case XC_MON_FOP_PORT:
			if (prog[i].op != XC_MON_FOP_TRUE &&
			    (prog[i].dir < XC_MON_FDIR_SRC || prog[i].dir > XC_MON_FDIR_BOTH))
				return -1;
			if (++depth > XC_MON_FILTER_MAX)
				return -1;
			break;
		case XC_MON_FOP_NOT:
			if (depth < 1)
				return -1;
			break;
		case XC_MON_FOP_AND:
		case XC_MON_FOP_OR:
			if (depth < 2)
				return -1;
			depth--;
			break;
		default:
			return -1;
		}
	}
	return depth == 1 ? 0 : -1;
}

int xc_mon_set_filter(struct xc_mon *m, const struct xc_mon_filter_op *prog, uint32_t n)
{
	if (!m || n > XC_MON_FILTER_MAX || (n && (!prog || check(prog, n) < 0)))
		return -1;
	if (n)
		memcpy(m->filter, prog, n * sizeof(*prog));
	m->nfilter = n;
	return 0;
}

static int by_dir(uint8_t dir, int s, int d)
{
	switch (dir) {
	case XC_MON_FDIR_SRC: return s;
	case XC_MON_FDIR_DST: return d;
	case XC_MON_FDIR_BOTH: return s && d;
	default: return s || d;
	}
}

int mon_filter_pass(const struct xc_mon *m, uint32_t a1, uint16_t p1, uint32_t a2, uint16_t p2)
{
	if (!m->nfilter)
		return 1;
	uint8_t st[XC_MON_FILTER_MAX];
	int top = 0;
	uint32_t sa = ntohl(a1), da = ntohl(a2);
	uint16_t sp = ntohs(p1), dp = ntohs(p2);
	for (uint32_t i = 0; i < m->nfilter; i++) {
		const struct xc_mon_filter_op *o = &m->filter[i];
		switch (o->op) {
		case XC_MON_FOP_TRUE:
			st[top++] = 1;
			break;
		case XC_MON_FOP_NET:
			st[top++] = (uint8_t)by_dir(o->dir, (sa & o->mask) == o->net,
						    (da & o->mask) == o->net);
			break;
		case XC_MON_FOP_PORT:
			st[top++] = (uint8_t)by_dir(o->dir, sp >= o->lo && sp <= o->hi,
						    dp >= o->lo && dp <= o->hi);
			break;
		case XC_MON_FOP_NOT:
			st[top - 1] = !st[top - 1];
			break;
		case XC_MON_FOP_AND:
			top--;
			st[top - 1] = st[top - 1] && st[top];
			break;
		case XC_MON_FOP_OR:
			top--;
			st[top - 1] = st[top - 1] || st[top];
			break;
		}
	}
	return st[0];
}
