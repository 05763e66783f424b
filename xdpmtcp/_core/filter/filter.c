/* The packet-filter VM (see api_filter.h). */
#include <string.h>
#include <arpa/inet.h>
#include "api_filter.h"
#include "wire/frame.h"

struct fields {
	int ipv4, ipv6;
	uint8_t proto;               /* upper layer (IPv6: after the extension headers) */
	uint8_t tcp_flags;
	int has_ports;
	uint32_t saddr, daddr;       /* IPv4, network order */
	uint8_t s6[16], d6[16];      /* IPv6, as on the wire */
	uint16_t sport, dport;       /* host order */
	uint32_t len;
};

static void load(const uint8_t *frame, uint32_t len, struct fields *x)
{
	struct wire_ipv4 v;
	memset(x, 0, sizeof(*x));
	x->len = len;
	if (wire_ipv4(frame, len, WIRE_IPV6, &v) != WIRE_OK)
		return;
	x->proto = v.proto;
	if (v.v6) {
		x->ipv6 = 1;
		memcpy(x->s6, v.ip + 8, 16);
		memcpy(x->d6, v.ip + 24, 16);
	} else {
		x->ipv4 = 1;
		memcpy(&x->saddr, v.ip + 12, 4);
		memcpy(&x->daddr, v.ip + 16, 4);
	}
	/* ports only in the first fragment, and only if they are there */
	if (!v.fragment && (x->proto == 6 || x->proto == 17) && v.l4_len >= 4) {
		x->has_ports = 1;
		x->sport = (uint16_t)(v.l4[0] << 8 | v.l4[1]);
		x->dport = (uint16_t)(v.l4[2] << 8 | v.l4[3]);
		if (x->proto == 6 && v.l4_len >= 14 && x->ipv4)
			x->tcp_flags = v.l4[13];
	}
}

static int sides(uint8_t dir, int s, int d)
{
	switch (dir) {
	case XC_FDIR_SRC: return s;
	case XC_FDIR_DST: return d;
	case XC_FDIR_BOTH: return s && d;
	default: return s || d;
	}
}

/* The first bits of an IPv6 address equal to the network's. */
static int prefix6(const uint8_t *addr, const uint8_t *net, uint32_t bits)
{
	uint32_t whole = bits / 8, rest = bits % 8;
	if (memcmp(addr, net, whole))
		return 0;
	return !rest || ((addr[whole] ^ net[whole]) & (uint8_t)(0xff00 >> rest)) == 0;
}

static int eval_one(const struct xc_filter_insn *i, const struct fields *x)
{
	switch (i->op) {
	case XC_FOP_TRUE:
		return 1;
	case XC_FOP_FALSE:
		return 0;
	case XC_FOP_ADDR:
		return x->ipv4 && sides(i->dir, (x->saddr & i->mask) == i->a, (x->daddr & i->mask) == i->a);
	case XC_FOP_PORT:
		return x->has_ports && sides(i->dir, x->sport >= i->lo && x->sport <= i->hi,
					     x->dport >= i->lo && x->dport <= i->hi);
	case XC_FOP_ADDR6:
		return x->ipv6 && sides(i->dir, prefix6(x->s6, i->a6, i->a), prefix6(x->d6, i->a6, i->a));
	case XC_FOP_FAMILY:
		return i->a == 6 ? x->ipv6 : x->ipv4;
	case XC_FOP_PROTO:
		return (x->ipv4 || x->ipv6) && x->proto == i->a;
	case XC_FOP_LEN:
		return i->dir ? x->len >= i->a : x->len <= i->a;
	case XC_FOP_TCPFLAGS:
		return x->ipv4 && x->proto == 6 && x->has_ports && (x->tcp_flags & i->a) != 0;
	}
	return 0;
}

int xc_filter_check(const struct xc_filter *f)
{
	int depth = 0;
	if (!f->n || f->n > XC_FILTER_MAX_INSNS)
		return -1;
	for (uint32_t k = 0; k < f->n; k++) {
		uint8_t op = f->insns[k].op;
		if (op <= XC_FOP_TCPFLAGS || op == XC_FOP_FAMILY ||
		    (op == XC_FOP_ADDR6 && f->insns[k].a <= 128))
			depth++;
		else if (op == XC_FOP_AND || op == XC_FOP_OR)
			depth--;
		else if (op != XC_FOP_NOT)
			return -1;
		if (depth < 1 || depth > XC_FILTER_STACK)
			return -1;
	}
	return depth == 1 ? 0 : -1;
}

static int run(const struct xc_filter *f, const struct fields *x)
{
	uint8_t st[XC_FILTER_STACK];
	int sp = 0;
	for (uint32_t k = 0; k < f->n && k < XC_FILTER_MAX_INSNS; k++) {
		const struct xc_filter_insn *i = &f->insns[k];
		switch (i->op) {
		case XC_FOP_AND:
			if (sp < 2) return 0;
			sp--;
			st[sp - 1] = st[sp - 1] && st[sp];
			break;
		case XC_FOP_OR:
			if (sp < 2) return 0;
			sp--;
			st[sp - 1] = st[sp - 1] || st[sp];
			break;
		case XC_FOP_NOT:
			if (sp < 1) return 0;
			st[sp - 1] = !st[sp - 1];
			break;
		default:
			if (sp == XC_FILTER_STACK) return 0;   /* refused by check; never a crash */
			st[sp++] = (uint8_t)eval_one(i, x);
		}
	}
	return sp == 1 ? st[0] : 0;
}

int xc_filter_match(const struct xc_filter *f, const uint8_t *frame, uint32_t len)
{
	struct fields x;
	load(frame, len, &x);
	return run(f, &x);
}

int xc_filter_match_tuple_proto(const struct xc_filter *f, uint8_t proto, uint32_t saddr,
				uint16_t sport, uint32_t daddr, uint16_t dport)
{
	struct fields x = {
		.ipv4 = 1, .proto = proto, .has_ports = proto == 6 || proto == 17,
		.saddr = saddr, .daddr = daddr, .sport = ntohs(sport), .dport = ntohs(dport),
	};
	return run(f, &x);
}

int xc_filter_match_tuple6(const struct xc_filter *f, uint8_t proto, const uint8_t *saddr,
			   uint16_t sport, const uint8_t *daddr, uint16_t dport)
{
	struct fields x = {
		.ipv6 = 1, .proto = proto, .has_ports = proto == 6 || proto == 17,
		.sport = ntohs(sport), .dport = ntohs(dport),
	};
	memcpy(x.s6, saddr, 16);
	memcpy(x.d6, daddr, 16);
	return run(f, &x);
}

int xc_filter_match_tuple(const struct xc_filter *f, uint32_t saddr, uint16_t sport,
			  uint32_t daddr, uint16_t dport)
{
	return xc_filter_match_tuple_proto(f, 6, saddr, sport, daddr, dport);
}

uint32_t xc_filter_burst(const struct xc_filter *f, const struct xc_burst *b, uint8_t *out)
{
	uint32_t hits = 0;
	for (uint32_t i = 0; i < b->n; i++) {
		out[i] = (uint8_t)xc_filter_match(f, b->frames + b->pkts[i].off, b->pkts[i].len);
		hits += out[i];
	}
	return hits;
}
