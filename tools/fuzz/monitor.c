/* The monitor fed frames: the wire parser, the flow table, the emulated
 * endpoints, reassembly and draining (mon_*.c), with the application-side
 * calls (buffer size, overlap policy, stop, consume, expire) in between.
 *
 * Input: a 4-byte configuration (flags, overlap policy, buffer and table
 * sizes: small ones, so eviction, outrun and the caps are reached), then
 * records.  A record is an opcode byte: below 0xf0 a frame follows (u16
 * length, u8 time step in ms, the bytes), 0xf0.. an application call with
 * 5 bytes of arguments.  Frames are processed in bursts of up to 32, and
 * everything is flushed at the end.
 *
 * Checked: the safety nets the documentation says stay 0 (events_lost,
 * out_lost), every DATA event inside the output buffer, and flow ids of
 * events resolving while their flow is alive. */
#include "fuzz_common.h"
#include "mon/mon_internal.h"

#define BURST 32

static const uint32_t buf_caps[4] = { 0, 16384, 65536, 1u << 20 };
static const uint32_t max_flows[4] = { 1, 2, 8, 64 };

static void check_events(struct xc_mon *m, const struct xc_mon_event *ev, int n)
{
	CHECK(n >= 0, "call failed");
	for (int i = 0; i < n; i++) {
		const struct xc_mon_event *e = &ev[i];
		if (e->kind == XC_MON_EV_DATA)
			CHECK((uint64_t)e->pos + e->val <= m->cfg.out_cap, "DATA %u+%llu past out_cap %u",
			      e->pos, (unsigned long long)e->val, m->cfg.out_cap);
		if (e->kind == XC_MON_EV_ORPHAN)
			CHECK(e->flow == 0, "orphan with a flow");
		else
			CHECK(xc_mon_flow_get(m, e->flow) != NULL, "event %#x for a free flow %u",
			      e->kind, e->flow);
	}
	struct xc_mon_stats st;
	xc_mon_get_stats(m, &st);
	CHECK(st.events_lost == 0 && st.out_lost == 0, "events_lost %llu out_lost %llu",
	      (unsigned long long)st.events_lost, (unsigned long long)st.out_lost);
	CHECK(st.mem_used <= m->cfg.mem_max, "mem_used %llu > mem_max",
	      (unsigned long long)st.mem_used);
}

static void run_burst(struct xc_mon *m, struct xc_burst *b, struct xc_mon_event *ev,
		      uint32_t nev)
{
	do
		check_events(m, ev, xc_mon_process(m, b, ev, nev, 0));
	while (xc_mon_busy(m));
	b->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct xc_mon_config cfg;
	xc_mon_config_default(&cfg);
	uint8_t c0 = in_u8(&in), c1 = in_u8(&in), c2 = in_u8(&in), c3 = in_u8(&in);
	cfg.flags = c0 & (XC_MON_F_MIDSTREAM | XC_MON_F_DRAIN | XC_MON_F_VERIFY_CSUM |
			  XC_MON_F_STEP | XC_MON_F_NO_ACK_GAPS);
	cfg.overlap = c1 % 5;
	cfg.buf_cap = buf_caps[(c1 >> 3) & 3];
	cfg.table_policy = (c1 >> 5) & 1;
	cfg.max_flows = max_flows[c2 & 3];
	cfg.frag_cap = 1 + ((c2 >> 2) & 15);
	cfg.mem_max = (c2 & 0x40) ? 65536 : 1ull << 30;
	cfg.out_cap = (c0 & 0x80) ? 0 : 4 * cfg.buf_cap + 65536;
	cfg.idle_timeout_ns = (1ull + (c3 & 15)) * 1000000000ull;
	cfg.close_timeout_ns = (1ull + (c3 >> 4)) * 500000000ull;
	cfg.linger_ns = 1000000000ull;
	struct xc_mon *m = xc_mon_new(&cfg);
	if (!m)
		return 0;
	uint32_t nev = 2 * xc_mon_events_min(m);
	struct xc_mon_event *ev = calloc(nev, sizeof(*ev));
	struct xc_burst *b = xc_burst_new(BURST);
	uint64_t ts = 1000000000ull;

	while (!in_empty(&in)) {
		uint8_t op = in_u8(&in);
		if (op < 0xf0) {
			uint32_t want = in_u16(&in) % (XC_FRAME_MAX + 1);
			ts += in_u8(&in) * 1000000ull;
			size_t got;
			const uint8_t *bytes = in_bytes(&in, want, &got);
			struct xc_pkt *p = &b->pkts[b->n];
			memset(p, 0, sizeof(*p));
			p->off = b->n * XC_FRAME_MAX;
			p->len = (uint32_t)got;
			p->ts_ns = ts;
			memcpy(b->data + p->off, bytes, got);
			if (++b->n == b->cap)
				run_burst(m, b, ev, nev);
			continue;
		}
		uint8_t side = in_u8(&in);
		uint32_t id = in_u8(&in) % 80, arg = in_u16(&in);
		in_u8(&in);
		if (b->n)
			run_burst(m, b, ev, nev);
		switch (op & 7) {
		case 0: xc_mon_set_buf(m, id, side % 4, arg * 64u); break;
		case 1: xc_mon_set_overlap(m, id, side % 4, arg % 6); break;
		case 2: xc_mon_stop(m, id, side % 4); break;
		case 3: xc_mon_consume(m, id, side % 4, arg); break;
		case 4:
			ts += arg * 10000000ull;
			do
				check_events(m, ev, xc_mon_expire(m, ev, nev, ts));
			while (xc_mon_busy(m));
			break;
		case 5: xc_mon_set_event_mask(m, (uint32_t)arg << 1 | (side & 1)); break;
		default: break;                /* a burst boundary */
		}
	}
	if (b->n)
		run_burst(m, b, ev, nev);
	do
		check_events(m, ev, xc_mon_flush(m, ev, nev));
	while (xc_mon_busy(m));
	xc_burst_free(b);
	free(ev);
	xc_mon_free(m);
	return 0;
}
