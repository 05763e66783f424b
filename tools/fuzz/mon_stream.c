/* Reassembly as the monitor does it (mon_stream.c over ring.c): one TCP
 * connection whose segments are (direction, offset, length) writes decoded
 * from the input, with ACKs, FINs, RSTs, captures cut short (snapped
 * payload) and time steps in between, drained into the output buffer.
 *
 * Input: a configuration byte (overlap policy, buffer cap, fragment cap,
 * whether contents may conflict, acknowledged holes skipped or not), the
 * two ISNs (so sequence numbers wrap anywhere), then 8-byte operations:
 * kind/direction, offset (u32, masked to a window the configuration picks),
 * length (u16), and an ACK offset byte.
 *
 * Checked, per flow and direction: the DATA and GAP events tile the stream
 * from their first offset on, in order, with no overlap and no hole, and
 * (unless contents conflict) every delivered byte is the byte written at
 * that offset; the safety nets events_lost and out_lost stay 0. */
#include "fuzz_common.h"
#include "mon/mon_internal.h"

#define BURST 16
#define HDRS (14 + 20 + 20)
#define MAX_PAYLOAD (XC_FRAME_MAX - HDRS)

static const uint32_t buf_caps[4] = { 16384, 32768, 65536, 262144 };
static const uint32_t frag_caps[4] = { 1, 4, 16, 256 };
static const uint32_t off_masks[4] = { 0xffff, 0x3ffff, 0xfffff, 0xffffffff };

struct conn {
	uint32_t isn[2];               /* [0] client, [1] server */
	uint32_t off_mask;
	int oracle;
	uint64_t ts;
	struct xc_burst *b;
	struct xc_mon *m;
	struct xc_mon_event *ev;
	uint32_t nev;
	uint64_t next[2][2];           /* [flow id & 1][receiver side]: expected offset */
	uint32_t flow_of[2];
};

static uint8_t content(int dir, uint64_t off, int variant)
{
	return (uint8_t)(off * 131 + (off >> 8) * 7 + (off >> 16) * 3 + dir * 59 + variant * 101);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, (uint16_t)v); }

/* The bytes of a DATA event are the ones sent at its offsets. */
HARNESS_ONLY static void check_data(const uint8_t *out, int dir, uint64_t off, uint64_t len)
{
	for (uint64_t k = 0; k < len; k++)
		CHECK(out[k] == content(dir, off + k, 0), "byte at %llu of direction %d is %u, sent %u",
		      (unsigned long long)(off + k), dir, out[k], content(dir, off + k, 0));
}

static void check_events(struct conn *c, int n)
{
	struct xc_mon *m = c->m;
	CHECK(n >= 0, "call failed");
	for (int i = 0; i < n; i++) {
		const struct xc_mon_event *e = &c->ev[i];
		if (e->kind != XC_MON_EV_DATA && e->kind != XC_MON_EV_GAP &&
		    e->kind != XC_MON_EV_CONN_END)
			continue;
		uint32_t slot = e->flow & 1;
		if (c->flow_of[slot] != e->flow) {
			c->flow_of[slot] = e->flow;
			c->next[slot][0] = c->next[slot][1] = UINT64_MAX;
		}
		if (e->kind == XC_MON_EV_CONN_END) {
			c->flow_of[slot] = 0;
			continue;
		}
		CHECK(e->side < 2, "DATA/GAP side %u", e->side);
		uint64_t *next = &c->next[slot][e->side];
		CHECK(*next == UINT64_MAX || e->arg == *next,
		      "%s at %llu, the stream had reached %llu", e->kind == XC_MON_EV_GAP ? "GAP" : "DATA",
		      (unsigned long long)e->arg, (unsigned long long)*next);
		CHECK(e->val > 0, "empty %#x", e->kind);
		*next = e->arg + e->val;
		if (e->kind == XC_MON_EV_DATA) {
			const uint8_t *out = xc_mon_out(m) + e->pos;
			int dir = e->side == XC_MON_SVR ? 0 : 1;   /* SVR receives c2s */
			if (c->oracle)
				check_data(out, dir, e->arg, e->val);
		}
	}
	struct xc_mon_stats st;
	xc_mon_get_stats(m, &st);
	CHECK(st.events_lost == 0 && st.out_lost == 0, "events_lost %llu out_lost %llu",
	      (unsigned long long)st.events_lost, (unsigned long long)st.out_lost);
}

static void run(struct conn *c)
{
	do
		check_events(c, xc_mon_process(c->m, c->b, c->ev, c->nev, 0));
	while (xc_mon_busy(c->m));
	c->b->n = 0;
}

HARNESS_ONLY static void fill(uint8_t *p, int dir, uint64_t off, uint32_t n, int variant)
{
	for (uint32_t k = 0; k < n; k++)
		p[k] = content(dir, off + k, variant);
}

/* Append one segment from dir (0 client, 1 server) to the burst.  off is
 * the payload's stream offset; caplen < len cuts the capture short. */
static void segment(struct conn *c, int dir, uint8_t flags, uint64_t off, uint32_t len,
		    uint32_t caplen, uint32_t ack_off, int variant)
{
	struct xc_burst *b = c->b;
	uint8_t *f = b->data + (size_t)b->n * XC_FRAME_MAX;
	memset(f, 0, HDRS);
	f[12] = 0x08;                                  /* IPv4 */
	uint8_t *ip = f + 14, *tcp = ip + 20;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 20 + len));
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12 + 4 * dir, 0x0a000001);          /* client 10.0.0.1 */
	put32(ip + 16 - 4 * dir, 0x0a000002);
	put16(tcp + 2 * dir, 40000);
	put16(tcp + 2 - 2 * dir, 80);
	uint32_t seq = (flags & TCP_SYN) ? c->isn[dir] : c->isn[dir] + 1 + (uint32_t)off;
	put32(tcp + 4, seq);
	if (flags & TCP_ACK)
		put32(tcp + 8, c->isn[!dir] + 1 + ack_off);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	fill(tcp + 20, dir, off, caplen, variant);
	struct xc_pkt *p = &b->pkts[b->n];
	memset(p, 0, sizeof(*p));
	p->off = b->n * XC_FRAME_MAX;
	p->len = HDRS + caplen;
	p->ts_ns = c->ts;
	if (++b->n == b->cap)
		run(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t cf = in_u8(&in);
	struct xc_mon_config cfg;
	xc_mon_config_default(&cfg);
	cfg.flags = XC_MON_F_DRAIN | ((cf & 0x80) ? XC_MON_F_NO_ACK_GAPS : 0);
	cfg.overlap = (cf & 7) % 5;
	cfg.buf_cap = buf_caps[(cf >> 3) & 3];
	cfg.frag_cap = frag_caps[(cf >> 5) & 3];
	cfg.out_cap = 4 * cfg.buf_cap + 65536;
	cfg.max_flows = 4;
	struct conn c = { .oracle = 1 };
	c.m = xc_mon_new(&cfg);
	if (!c.m)
		return 0;
	c.isn[0] = in_u32(&in);
	c.isn[1] = in_u32(&in);
	c.off_mask = off_masks[in_u8(&in) & 3];
	c.nev = 2 * xc_mon_events_min(c.m);
	c.ev = calloc(c.nev, sizeof(*c.ev));
	c.b = xc_burst_new(BURST);
	c.ts = 1000000000ull;
	c.flow_of[0] = c.flow_of[1] = 0;

	segment(&c, 0, TCP_SYN, 0, 0, 0, 0, 0);
	segment(&c, 1, TCP_SYN | TCP_ACK, 0, 0, 0, 0, 0);
	segment(&c, 0, TCP_ACK, 0, 0, 0, 0, 0);
	while (!in_empty(&in)) {
		uint8_t op = in_u8(&in);
		uint64_t off = in_u32(&in) & c.off_mask;
		uint32_t len = in_u16(&in) % (MAX_PAYLOAD + 1);
		uint32_t ack_off = (uint32_t)in_u8(&in) << 10;
		int dir = op & 1, variant = 0;
		c.ts += 1000;
		switch ((op >> 1) & 7) {
		case 0: case 1: case 2:
			segment(&c, dir, TCP_ACK, off, len, len, 0, 0);
			break;
		case 3:                        /* conflicting bytes, if allowed */
			variant = !!(cf & 0x40) && (op & 0x10);
			if (variant)
				c.oracle = 0;
			segment(&c, dir, TCP_ACK | TCP_PSH, off, len, len, 0, variant);
			break;
		case 4:                        /* pure ACK of the peer's stream */
			segment(&c, dir, TCP_ACK, 0, 0, 0, (uint32_t)off, 0);
			break;
		case 5:                        /* FIN, or an ACK acknowledging up to off */
			if (op & 0x10)
				segment(&c, dir, TCP_ACK | TCP_FIN, off, len, len, ack_off, 0);
			else
				segment(&c, dir, TCP_ACK, off, len, len, (uint32_t)off + ack_off, 0);
			break;
		case 6:                        /* snapped: the capture holds part of it */
			segment(&c, dir, TCP_ACK, off, len, len * (op >> 4) / 16, 0, 0);
			break;
		case 7:
			if (op & 0x10) {
				segment(&c, dir, TCP_RST | TCP_ACK, off, 0, 0, ack_off, 0);
			} else {
				c.ts += (uint64_t)len * 10000000ull;   /* up to 21 min: timeouts */
				if (c.b->n)
					run(&c);
			}
			break;
		}
	}
	if (c.b->n)
		run(&c);
	do
		check_events(&c, xc_mon_flush(c.m, c.ev, c.nev));
	while (xc_mon_busy(c.m));
	xc_burst_free(c.b);
	free(c.ev);
	xc_mon_free(c.m);
	return 0;
}
