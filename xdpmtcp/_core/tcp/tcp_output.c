/* Everything the engine sends: frames are built here, in place in the
 * engine's TX batch, and handed to the port TX_BATCH at a time. */
#include <arpa/inet.h>
#include "tcp_internal.h"

static inline void wr16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff;
}

void tcp_tx_flush(struct xc_tcp_engine *e)
{
	if (!e->ntx)
		return;
	int sent = xc_port_tx_gso(e->port, e->tx_buf, e->tx_lens, e->tx_gso, e->ntx,
				  XC_TX_FILL_CSUM | XC_TX_SCRATCH);
	if (sent < 0)
		sent = 0;
	/* counted by segment: what leaves the wire */
	for (uint32_t i = 0; i < e->ntx; i++) {
		if (i < (uint32_t)sent)
			e->stats.segs_out += e->tx_nsegs[i];
		else
			e->stats.tx_no_room += e->tx_nsegs[i];   /* lost to the wire: RTO recovers */
	}
	e->ntx = 0;
	e->tx_used = 0;
}

/* Frames are laid end to end, as xc_port_tx_gso wants them; room for
 * bytes more (a full frame, or a super-segment). */
static uint8_t *tx_slot_for(struct xc_tcp_engine *e, uint32_t bytes)
{
	if (e->ntx == TX_BATCH || e->tx_used + bytes > sizeof(e->tx_buf))
		tcp_tx_flush(e);
	return e->tx_buf + e->tx_used;
}

static uint8_t *tx_slot(struct xc_tcp_engine *e)
{
	return tx_slot_for(e, XC_FRAME_MAX);
}

/* Bytes of new data one frame may carry: a segment, or with GSO as many
 * whole segments as cfg.gso_max_segs and an IPv4 datagram allow. */
static uint32_t tx_max_payload(const struct xc_tcp_engine *e, const struct xc_tcb *t)
{
	if (!t->mss)                 /* not synchronized yet (a simultaneous open's FIN) */
		return 0;
	uint32_t segs = e->cfg.gso_max_segs;
	uint32_t fit = (XC_GSO_MAX_BYTES - 20 - TCP_HDR_LEN - 40) / t->mss;
	if (segs > fit)
		segs = fit;
	if (segs > 64)
		segs = 64;
	return segs > 1 ? segs * t->mss : t->mss;
}

/* The window we offer: free receive space, never moving the right edge
 * left (RFC 9293 §3.8.6.2.2 / RFC 7323 §2.4), with receiver SWS avoidance
 * (no window smaller than min(buffer/2, MSS) is newly offered). */
uint32_t tcp_rcv_window(const struct xc_tcb *t)
{
	uint32_t space = xc_ring_free_space(&t->rcv);
	uint32_t cap = t->rcv.cap;
	uint32_t floor = t->rcv_mss < cap / 2 ? t->rcv_mss : cap / 2;
	if (space < floor)
		space = 0;
	uint32_t maxwin = (uint32_t)65535 << t->rcv_wscale;
	if (space > maxwin)
		space = maxwin;
	space &= ~(((uint32_t)1 << t->rcv_wscale) - 1);      /* what the shift can express */
	uint32_t old = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	return space > old ? space : old;
}

static void put_block(uint8_t *o, uint32_t *n, uint32_t start, uint32_t end)
{
	wr32(o + *n, start);
	wr32(o + *n + 4, end);
	*n += 8;
}

/* The out-of-order block holding receive offset off, or NULL (filled in
 * since, or merged into the in-order data). */
static const struct xc_ring_frag *ooo_block_at(const struct xc_ring *r, uint64_t off)
{
	if (off < r->next_off)
		return NULL;
	for (uint32_t i = 0; i < r->nfrags; i++)
		if (off >= r->frags[i].offset && off < r->frags[i].offset + r->frags[i].len)
			return &r->frags[i];
	return NULL;
}

void tcp_sack_note(struct xc_tcb *t, uint64_t off)
{
	const struct xc_ring_frag *here = ooo_block_at(&t->rcv, off);
	uint32_t n = t->nsack_recent, keep = 0;
	uint64_t old[XC_SACK_MAX_BLOCKS];
	memcpy(old, t->sack_recent, sizeof old);
	t->sack_recent[keep++] = off;
	/* the others stay in their order, without the one this block took
	 * over and without blocks gone */
	for (uint32_t i = 0; i < n && keep < XC_SACK_MAX_BLOCKS; i++) {
		const struct xc_ring_frag *f = ooo_block_at(&t->rcv, old[i]);
		if (f && f != here)
			t->sack_recent[keep++] = old[i];
	}
	t->nsack_recent = keep;
}

/* Options for a segment of a synchronized connection: timestamps, then
 * SACK blocks: a D-SACK first (RFC 2883), then the block of the newest
 * out-of-order segment and the most recently reported ones (RFC 2018
 * §4), then the lowest others while room is left. */
static uint32_t put_opts(struct xc_tcb *t, uint8_t *o, uint64_t now_ns, int *with_sack)
{
	uint32_t n = 0;
	if (t->flags & XC_TF_TS_OK) {
		o[n++] = 1; o[n++] = 1; o[n++] = 8; o[n++] = 10;
		wr32(o + n, ts_now(t, now_ns)); wr32(o + n + 4, t->ts_recent);
		n += 8;
	}
	*with_sack = 0;
	int dsack = (t->flags & (XC_TF_DSACK | XC_TF_SACK_OK)) == (XC_TF_DSACK | XC_TF_SACK_OK);
	const struct xc_ring *r = &t->rcv;
	if ((t->flags & XC_TF_SACK_OK) && (r->nfrags || dsack)) {
		const struct xc_ring_frag *sent[XC_SACK_MAX_BLOCKS];
		uint32_t room = (40 - n - 2) / 8;   /* 4 blocks, or 3 with timestamps */
		uint32_t blocks = 0, nsent = 0;
		uint8_t *hdr = o + n;
		n += 4;
		hdr[0] = 1; hdr[1] = 1; hdr[2] = 5;
		if (dsack) {
			put_block(o, &n, t->dsack_start, t->dsack_end);
			blocks++;
			t->flags &= ~XC_TF_DSACK;
			t->c.dsacks_sent++;
		}
		for (uint32_t i = 0; i < t->nsack_recent && blocks < room; i++) {
			const struct xc_ring_frag *f = ooo_block_at(r, t->sack_recent[i]);
			int dup = 0;
			for (uint32_t k = 0; k < nsent; k++)
				dup |= sent[k] == f;
			if (!f || dup)
				continue;
			sent[nsent++] = f;
			put_block(o, &n, rcv_seq_of(t, f->offset), rcv_seq_of(t, f->offset + f->len));
			blocks++;
		}
		for (uint32_t i = 0; i < r->nfrags && blocks < room; i++) {
			const struct xc_ring_frag *f = &r->frags[i];
			int dup = f->offset < r->next_off;
			for (uint32_t k = 0; k < nsent; k++)
				dup |= sent[k] == f;
			if (dup)
				continue;
			put_block(o, &n, rcv_seq_of(t, f->offset), rcv_seq_of(t, f->offset + f->len));
			blocks++;
		}
		if (blocks) {
			hdr[3] = (uint8_t)(2 + 8 * blocks);
			*with_sack = 1;
		} else {
			n -= 4;
		}
	}
	return n;
}

/* IP IDs: DF is always set, so the ID only has to be unique per
 * connection; a counter of its own from a random start (Linux's inet_id)
 * gives an observer no engine-wide counter to sample (idle scans) and no
 * count of what other connections sent. */
static uint16_t conn_ip_id(struct xc_tcb *t)
{
	tcb_ids_init(t);
	return t->ip_id++;
}

/* Ethernet + IPv4 + TCP headers; returns the TCP header pointer. */
static uint8_t *put_headers(struct xc_tcp_engine *e, uint8_t *f, uint32_t local_addr,
			    uint32_t remote_addr, const uint8_t *local_mac, const uint8_t *remote_mac,
			    uint32_t tcp_len, uint16_t ip_id)
{
	memcpy(f, remote_mac, 6);
	memcpy(f + 6, local_mac, 6);
	f[12] = 0x08; f[13] = 0x00;
	uint8_t *ip = f + ETH_HDR_LEN;
	ip[0] = 0x45; ip[1] = 0;
	wr16(ip + 2, (uint16_t)(20 + tcp_len));
	wr16(ip + 4, ip_id);
	wr16(ip + 6, 0x4000);                 /* DF */
	ip[8] = (uint8_t)e->cfg.ttl; ip[9] = IPPROTO_TCP_NUM;
	ip[10] = ip[11] = 0;
	memcpy(ip + 12, &local_addr, 4);
	memcpy(ip + 16, &remote_addr, 4);
	return ip + 20;
}

static void put_tcp(uint8_t *tcp, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		    uint32_t hdr_len, uint8_t flags, uint16_t wnd)
{
	memcpy(tcp, &sport, 2);
	memcpy(tcp + 2, &dport, 2);
	wr32(tcp + 4, seq);
	wr32(tcp + 8, ack);
	tcp[12] = (uint8_t)((hdr_len / 4) << 4);
	tcp[13] = flags;
	wr16(tcp + 14, wnd);
	tcp[16] = tcp[17] = 0;                /* filled by XC_TX_FILL_CSUM */
	tcp[18] = tcp[19] = 0;
}

static void queue_frame_gso(struct xc_tcp_engine *e, uint32_t frame_len, uint16_t gso, uint32_t nsegs)
{
	e->tx_gso[e->ntx] = gso;
	e->tx_nsegs[e->ntx] = (uint8_t)nsegs;
	e->tx_lens[e->ntx++] = frame_len;
	e->tx_used += frame_len;
}

static void queue_frame(struct xc_tcp_engine *e, uint32_t frame_len)
{
	queue_frame_gso(e, frame_len, 0, 1);
}

/* Fields every segment we send updates: the ACK it carries. */
static void note_ack_sent(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t wnd, uint32_t nsegs,
			  uint64_t now_ns)
{
	t->last_ack_sent = t->rcv_nxt;
	t->rcv_wnd_last = wnd;
	if (seq_gt(t->rcv_nxt + wnd, t->rcv_adv))
		t->rcv_adv = t->rcv_nxt + wnd;
	t->ack_pending = 0;
	t->flags &= ~XC_TF_ACK_NOW;
	t->timer_due[XC_T_DELACK] = 0;
	t->c.segs_out += nsegs;
	t->last_send_ns = now_ns;
}

/* One segment of a synchronized connection: seq..seq+len from the send
 * buffer, flags ACK plus what the caller gives (PSH, FIN).  len beyond
 * the MSS (tx_max_payload) makes a super-segment, cut into MSS-sized
 * segments on its way out (xc_port_tx_gso): they are counted here. */
int tcp_send_segment(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t seq, uint32_t len,
		     uint8_t flags, uint64_t now_ns)
{
	uint32_t nsegs = tcb_segs(t, len);
	uint8_t opts[40];
	int with_sack;
	tcb_ids_init(t);                      /* the TSval below needs the offset */
	uint32_t olen = put_opts(t, opts, now_ns, &with_sack);
	uint32_t hdr = TCP_HDR_LEN + olen;
	uint32_t frame_len = ETH_HDR_LEN + 20 + hdr + len;
	if (nsegs > 1 ? 20 + hdr + len > XC_GSO_MAX_BYTES || nsegs > 255 : frame_len > XC_FRAME_MAX)
		return -1;
	uint8_t *f = tx_slot_for(e, nsegs > 1 ? frame_len : XC_FRAME_MAX);
	uint8_t *tcp = put_headers(e, f, t->local_addr, t->remote_addr, t->local_mac, t->remote_mac,
				   hdr + len, conn_ip_id(t));
	t->ip_id += (uint16_t)(nsegs - 1);    /* one ID per segment, as TSO gives them */
	uint32_t wnd = tcp_rcv_window(t);
	uint32_t field = wnd >> t->rcv_wscale;
	put_tcp(tcp, t->local_port, t->remote_port, seq, t->rcv_nxt, hdr, (uint8_t)(flags | TCP_ACK),
		(uint16_t)(field > 65535 ? 65535 : field));
	tcp_history(t, (uint8_t)(flags | TCP_ACK), len, field, 1, len && seq_lt(seq, t->snd_max));
	memcpy(tcp + TCP_HDR_LEN, opts, olen);
	if (len) {
		uint32_t got = xc_ring_peek(&t->snd, snd_off_of(t, seq), tcp + hdr, len);
		if (got != len)
			return -1;   /* caller asked beyond the buffered data: a bug, never sent */
		t->c.data_segs_out += nsegs;
		t->c.bytes_sent += len;
	} else if (!(flags & TCP_FIN)) {
		t->c.acks_sent++;
	}
	if (with_sack)
		t->c.sacks_sent++;
	queue_frame_gso(e, frame_len, nsegs > 1 ? t->mss : 0, nsegs);
	note_ack_sent(e, t, wnd, nsegs, now_ns);
	return 0;
}

void tcp_send_ack(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	tcp_send_segment(e, t, t->snd_nxt, 0, 0, now_ns);
}

/* SYN or SYN-ACK.  The option flags say what to put in: for a SYN what we
 * offer, for a SYN-ACK what both offered (Python sets them). */
static int send_syn(struct xc_tcp_engine *e, struct xc_tcb *t, int synack, uint64_t now_ns)
{
	uint8_t *f = tx_slot(e);
	uint8_t o[40];
	uint32_t n = 0;
	int ts = t->flags & XC_TF_TS_OK;
	int sack = t->flags & XC_TF_SACK_OK;
	int ws = t->flags & XC_TF_WS_OK;
	tcb_ids_init(t);
	if (synack)
		t->ts_offset = tcp_ts_offset(t);   /* the scratch block answers many tuples */
	o[n++] = 2; o[n++] = 4; wr16(o + n, t->rcv_mss); n += 2;
	if (sack && ts) {
		o[n++] = 4; o[n++] = 2;
	} else if (sack) {
		o[n++] = 1; o[n++] = 1; o[n++] = 4; o[n++] = 2;
	}
	if (ts) {
		if (!sack) { o[n++] = 1; o[n++] = 1; }
		o[n++] = 8; o[n++] = 10;
		wr32(o + n, ts_now(t, now_ns));
		wr32(o + n + 4, synack ? t->ts_recent : 0);
		n += 8;
	}
	if (ws) {
		o[n++] = 1; o[n++] = 3; o[n++] = 3; o[n++] = t->rcv_wscale;
	}
	uint32_t hdr = TCP_HDR_LEN + n;
	/* a SYN-ACK carries ID 0, as Linux's: it may come from no
	 * connection (a cookie) and must not reveal a counter */
	uint8_t *tcp = put_headers(e, f, t->local_addr, t->remote_addr, t->local_mac, t->remote_mac, hdr,
				   synack ? 0 : conn_ip_id(t));
	/* the window in a SYN is never scaled (RFC 7323 §2.2) */
	uint32_t wnd = xc_ring_free_space(&t->rcv);
	put_tcp(tcp, t->local_port, t->remote_port, t->iss, synack ? t->rcv_nxt : 0, hdr,
		synack ? (TCP_SYN | TCP_ACK) : TCP_SYN, (uint16_t)(wnd > 65535 ? 65535 : wnd));
	tcp_history(t, synack ? (TCP_SYN | TCP_ACK) : TCP_SYN, 0, wnd, 1, 0);
	memcpy(tcp + TCP_HDR_LEN, o, n);
	queue_frame(e, ETH_HDR_LEN + 20 + hdr);
	if (synack) {
		t->last_ack_sent = t->rcv_nxt;
		t->rcv_adv = t->rcv_nxt + (wnd > 65535 ? 65535 : wnd);
	}
	t->c.segs_out++;
	t->last_send_ns = now_ns;
	if (seq_leq(t->snd_max, t->iss))
		t->snd_max = t->iss + 1;
	t->snd_nxt = t->iss + 1;
	return 0;
}

void tcp_queue_ctl(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns)
{
	switch (kind) {
	case XC_CTL_SYN:
		send_syn(e, t, 0, now_ns);
		break;
	case XC_CTL_SYNACK:
		send_syn(e, t, 1, now_ns);
		break;
	case XC_CTL_ACK:
		tcp_send_ack(e, t, now_ns);
		break;
	case XC_CTL_KEEPALIVE:
		tcp_send_segment(e, t, t->snd_una - 1, 0, 0, now_ns);
		t->c.keepalive_probes++;
		break;
	case XC_CTL_RST: {
		uint8_t *f = tx_slot(e);
		uint8_t *tcp = put_headers(e, f, t->local_addr, t->remote_addr, t->local_mac,
					   t->remote_mac, TCP_HDR_LEN, conn_ip_id(t));
		put_tcp(tcp, t->local_port, t->remote_port, t->snd_nxt, t->rcv_nxt, TCP_HDR_LEN,
			TCP_RST | TCP_ACK, 0);
		tcp_history(t, TCP_RST | TCP_ACK, 0, 0, 1, 0);
		queue_frame(e, ETH_HDR_LEN + 20 + TCP_HDR_LEN);
		t->c.segs_out++;
		break;
	}
	default:
		return;
	}
	if (kind == XC_CTL_SYN || kind == XC_CTL_SYNACK)
		tcp_rearm_rto(e, t, now_ns);
}

int xc_tcp_send_ctl(struct xc_tcp_engine *e, struct xc_tcb *t, int kind, uint64_t now_ns)
{
	if (kind < XC_CTL_SYN || kind > XC_CTL_KEEPALIVE)
		return -1;
	tcp_queue_ctl(e, t, kind, now_ns);
	tcp_tx_flush(e);
	xc_port_flush(e->port);
	return 0;
}

/* RFC 9293 §3.10.7.1: the RST that answers s, a segment of no connection
 * (the caller checked it carries no RST itself). */
int tcp_queue_reset_for(struct xc_tcp_engine *e, const struct tcp_seg *s)
{
	uint8_t *f = tx_slot(e);
	/* no connection, no counter: ID 0 with DF, as Linux's RSTs */
	uint8_t *tcp = put_headers(e, f, s->daddr, s->saddr, s->frame, s->frame + 6, TCP_HDR_LEN, 0);
	uint32_t seq = 0, ack = 0;
	uint8_t flags = TCP_RST;
	if (s->flags & TCP_ACK) {
		seq = s->ack;
	} else {
		ack = s->seq + s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
		flags |= TCP_ACK;
	}
	put_tcp(tcp, s->dport, s->sport, seq, ack, TCP_HDR_LEN, flags, 0);
	queue_frame(e, ETH_HDR_LEN + 20 + TCP_HDR_LEN);
	e->stats.rst_sent++;
	return 0;
}

int xc_tcp_send_reset_for(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len)
{
	struct tcp_seg s;
	if (tcp_seg_parse(frame, len, &s) < 0 || (s.flags & TCP_RST))
		return -1;
	tcp_queue_reset_for(e, &s);
	tcp_tx_flush(e);
	xc_port_flush(e->port);
	return 0;
}

void tcp_arm_persist(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (t->timer_due[XC_T_PERSIST])
		return;
	uint64_t us = (uint64_t)t->rto_us << (t->probes < 10 ? t->probes : 10);
	if (us < e->cfg.persist_min_us)
		us = e->cfg.persist_min_us;
	if (us > e->cfg.persist_max_us)
		us = e->cfg.persist_max_us;
	tcb_timer_set(e, t, XC_T_PERSIST, now_ns + us * 1000);
}

static void sent_data(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t seq, uint32_t len,
		      int fin, uint64_t now_ns)
{
	uint32_t end = seq + len + (uint32_t)fin;
	if (seq_lt(seq, t->snd_max)) {
		uint32_t nsegs = tcb_segs(t, len);
		t->c.retrans_segs += nsegs;
		t->c.bytes_retrans += len;
		if (t->flags & XC_TF_RTO_RECOVERY)
			t->c.rto_retrans += nsegs;
		/* Karn: a retransmitted range gives no RTT sample */
		if ((t->flags & XC_TF_RTT_TIMING) && seq_geq(t->rtt_seq, seq) && seq_lt(t->rtt_seq, end))
			t->flags &= ~XC_TF_RTT_TIMING;
	} else {
		if (!(t->flags & XC_TF_RTT_TIMING) && len) {
			t->flags |= XC_TF_RTT_TIMING;
			t->rtt_seq = seq;
			t->rtt_start_ns = now_ns;
		}
		if (len && (t->flags & XC_TF_SACK_OK))
			xc_sent_append(&t->sent, seq, len, t->mss, now_ns);
	}
	if (t->flags & XC_TF_IN_RECOVERY)
		t->prr_out += len;
	if (fin) {
		t->flags |= XC_TF_FIN_SENT;
		t->fin_seq = seq + len;
	}
	if (seq_gt(end, t->snd_max))
		t->snd_max = end;
	if (tcb_flight(t) > t->c.max_flight)
		t->c.max_flight = tcb_flight(t);
	if (!t->timer_due[XC_T_RTO])
		tcp_rearm_rto(e, t, now_ns);
	if (!t->timer_due[XC_T_TLP])
		tcp_arm_tlp(e, t, now_ns);
}

/* NewReno's retransmission (no SACK): counted for undo. */
int tcp_fast_retransmit(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t seq, uint32_t len,
			uint64_t now_ns)
{
	if (tcp_send_segment(e, t, seq, len, 0, now_ns) < 0)
		return -1;
	t->c.fast_retrans++;
	t->undo_retrans++;
	sent_data(e, t, seq, len, 0, now_ns);      /* retrans counters, Karn */
	return 0;
}

/* --- pacing ------------------------------------------------------------------
 * As Linux's internal pacing: the rate is cwnd per smoothed RTT, doubled
 * while slow start has far to go (tcp_pacing_ss_ratio 200 %) and 1.2
 * times in congestion avoidance (tcp_pacing_ca_ratio 120 %).  A burst is
 * about a millisecond of that rate, more when the RTT is short (Linux's
 * TSO autosizing), so the pacing timer fires about once a millisecond
 * and never at a granularity the batch loop cannot keep. */

uint64_t tcp_pacing_rate(const struct xc_tcb *t)
{
	if (!t->srtt_us || !t->mss)
		return 0;
	uint32_t ratio = t->cc.cwnd < t->cc.ssthresh / 2 ? 200 : 120;
	return (uint64_t)t->cc.cwnd * 1000000u / t->srtt_us * ratio / 100;
}

/* Bytes one burst may carry. */
static uint32_t pace_burst(const struct xc_tcb *t, uint64_t rate)
{
	uint64_t bytes = rate >> 10;                       /* ~1 ms */
	uint32_t shift = t->min_rtt_us >> 9;                /* Linux: tcp_tso_rtt_log 9 */
	if (shift < 16)
		bytes += 65536u >> shift;
	if (bytes > 65536)
		bytes = 65536;
	if (bytes < 2u * t->mss)
		bytes = 2u * t->mss;
	return (uint32_t)bytes;
}

/* 1: the connection must wait for its pacing timer (armed here). */
static int pacing_wait(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!e->cfg.pacing || t->pace_next_ns <= now_ns)
		return 0;
	t->c.paced++;
	tcb_timer_set(e, t, XC_T_PACE, t->pace_next_ns);
	return 1;
}

/* A burst of len bytes left: the next waits len / rate. */
static void paced(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t len, uint64_t now_ns)
{
	uint64_t rate = e->cfg.pacing ? tcp_pacing_rate(t) : 0;
	if (!rate)
		return;
	uint64_t from = t->pace_next_ns > now_ns ? t->pace_next_ns : now_ns;
	/* an idle spell earns no credit beyond one burst */
	t->pace_next_ns = from + (uint64_t)len * 1000000000u / rate;
}

/* The most a burst may carry now: the pacing burst, or no limit. */
static uint32_t pace_limit(const struct xc_tcp_engine *e, const struct xc_tcb *t)
{
	uint64_t rate = e->cfg.pacing ? tcp_pacing_rate(t) : 0;
	return rate ? pace_burst(t, rate) : UINT32_MAX;
}

/* The peer's window as far as sending goes: a probe may pass a zero
 * window by a byte. */
static uint32_t wnd_end_of(const struct xc_tcb *t)
{
	if (t->flags & XC_TF_WND_PROBE)
		return t->snd_una + (t->snd_wnd ? t->snd_wnd : 1);
	return t->snd_una + t->snd_wnd;
}

/* With SACK: resend what the map says is lost, lowest first, while cwnd
 * has room over the pipe (PRR set cwnd in fast recovery; slow start
 * grows it after an RTO).  Runs of lost segments leave as one
 * super-segment. */
static int output_lost(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	int sent = 0;
	uint32_t most = tx_max_payload(e, t), pace = pace_limit(e, t);
	if (most > pace)
		most = pace;
	while (sent < TX_BATCH && !pacing_wait(e, t, now_ns)) {
		uint32_t pipe = xc_sent_pipe(&t->sent);
		uint32_t room = t->cc.cwnd > pipe ? t->cc.cwnd - pipe : 0;
		uint32_t seq, len, wnd_end = wnd_end_of(t);
		if (!room || !xc_sent_next_lost(&t->sent, room < most ? room : most, &seq, &len))
			break;
		if (len > room || !seq_lt(seq, wnd_end))
			break;
		if (seq_gt(seq + len, wnd_end))
			len = wnd_end - seq;
		uint8_t fin = tcb_fin_after(t, seq, len);
		if (tcp_send_segment(e, t, seq, len, fin, now_ns) < 0)
			break;
		uint32_t nsegs = tcb_segs(t, len);
		xc_sent_retransmitted(&t->sent, seq, len, now_ns);
		if (t->flags & XC_TF_IN_RECOVERY) {
			t->c.fast_retrans += nsegs;
			t->c.sack_retrans += nsegs;
		}
		t->undo_retrans += nsegs;
		if (!t->undo_ts_set) {
			t->undo_tsval = ts_now(t, now_ns);
			t->undo_ts_set = 1;
		}
		sent_data(e, t, seq, len, !!fin, now_ns);
		paced(e, t, len, now_ns);
		t->flags &= ~XC_TF_WND_PROBE;
		sent += (int)nsegs;
	}
	return sent;
}

/* Send what the windows, Nagle and the state allow; then an ACK if one is
 * still owed. */
int tcp_output(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	int sent = 0;
	if (!tcb_synchronized(t) || t->state == XC_TCP_TIME_WAIT) {
		if ((t->flags & XC_TF_ACK_NOW) && tcb_synchronized(t))
			tcp_send_ack(e, t, now_ns);
		return 0;
	}
	int sack = t->flags & XC_TF_SACK_OK;
	/* F-RTO step 2b sends new data first; otherwise the lost go first */
	if (sack && t->sent.lost && !(t->flags & XC_TF_FRTO_NEW))
		sent += output_lost(e, t, now_ns);
	for (;;) {
		uint32_t data_end = snd_data_end(t);
		uint32_t cwnd = t->cc.cwnd;
		/* RFC 3042 limited transmit: a new segment for each of the
		 * first two dupACKs keeps the ACK clock going (with SACK the
		 * pipe leaves the SACKed segments out, which does the same) */
		if (!sack && t->dupacks && t->dupacks < XC_DUPTHRESH &&
		    !(t->flags & XC_TF_IN_RECOVERY) && t->snd_nxt == t->snd_max)
			cwnd += t->dupacks * t->mss;
		/* what is in the network: with SACK the map's pipe (SACKed and
		 * lost segments are not), else all that was sent */
		uint32_t used = sack ? xc_sent_pipe(&t->sent) : t->snd_nxt - t->snd_una;
		uint32_t cwnd_room = cwnd > used ? cwnd - used : 0;
		if (t->flags & XC_TF_TLP_NEW)
			cwnd_room = t->mss;                /* the probe may exceed cwnd */
		uint32_t wnd_end = wnd_end_of(t);
		uint32_t room = seq_gt(wnd_end, t->snd_nxt) ? wnd_end - t->snd_nxt : 0;
		if (!(t->flags & XC_TF_WND_PROBE) && cwnd_room < room)
			room = cwnd_room;
		uint32_t avail = seq_gt(data_end, t->snd_nxt) ? data_end - t->snd_nxt : 0;
		uint32_t len = avail < room ? avail : room;
		uint32_t most = tx_max_payload(e, t), pace = pace_limit(e, t);
		if (most > pace)
			most = pace > t->mss ? pace - pace % t->mss : t->mss;
		if (len > most)
			len = most;
		/* a super-segment is whole segments: a short tail goes on its
		 * own next, under Nagle's rule, as TSO's tail does in Linux */
		if (len > t->mss)
			len -= len % t->mss;
		/* with SACK each segment takes an entry of the map */
		if (sack && len && seq_geq(t->snd_nxt, t->snd_max)) {
			uint32_t want = tcb_segs(t, len);
			uint32_t have = xc_sent_reserve(&t->sent, want);
			if (have < want) {
				t->c.sent_map_full++;
				len = have * t->mss;
			}
		}
		/* FIN rides on the segment that ends the data (or alone); once
		 * sent, snd_nxt is past data_end unless an RTO rewound it */
		int fin = (t->flags & XC_TF_FIN_QUEUED) && t->snd_nxt + len == data_end;
		/* Held back with nothing in flight, no ACK will clock us: the
		 * persist timer probes a zero window or overrides SWS avoidance
		 * (RFC 9293 §3.8.6.1 and §3.8.6.2.1). */
		if (!len && !fin) {
			if (avail && t->snd_una == t->snd_max)
				tcp_arm_persist(e, t, now_ns);
			break;
		}
		/* Nagle (RFC 896): hold a small segment of new data while data
		 * is unacked; never a retransmission (snd_nxt below snd_max
		 * after an RTO), which nothing else would send */
		if (len < t->mss && !fin && !(t->flags & (XC_TF_NODELAY | XC_TF_TLP_NEW)) &&
		    t->snd_una != t->snd_max && t->snd_nxt == t->snd_max && len == avail)
			break;
		/* sender SWS avoidance: a small segment of new data only if it
		 * is all we have; never a retransmission, which went out once
		 * at this size and may be all the peer's window takes back */
		if (len < t->mss && len < avail && !fin && !(t->flags & XC_TF_WND_PROBE) &&
		    len < t->max_snd_wnd / 2 && t->snd_nxt == t->snd_max) {
			if (t->snd_una == t->snd_max)
				tcp_arm_persist(e, t, now_ns);
			break;
		}
		/* a probe (zero window, TLP) is one segment: never held */
		if (len && !(t->flags & (XC_TF_WND_PROBE | XC_TF_TLP_NEW)) && pacing_wait(e, t, now_ns))
			break;
		uint32_t seq = t->snd_nxt;
		uint8_t flags = (len && len == avail) ? TCP_PSH : 0;
		if (fin)
			flags |= TCP_FIN;
		if (tcp_send_segment(e, t, seq, len, flags, now_ns) < 0)
			break;
		if (t->dupacks && t->dupacks < XC_DUPTHRESH && seq == t->snd_max && len)
			t->c.limited_transmits++;
		t->snd_nxt = seq + len + (uint32_t)fin;
		sent_data(e, t, seq, len, fin, now_ns);
		if (len)
			paced(e, t, len, now_ns);
		t->flags &= ~(XC_TF_WND_PROBE | XC_TF_TLP_NEW | XC_TF_FRTO_NEW);
		sent += (int)tcb_segs(t, len);
		if (fin || sent >= 4 * TX_BATCH)
			break;
	}
	if (t->flags & XC_TF_FRTO_NEW) {
		t->flags &= ~XC_TF_FRTO_NEW;          /* no new data could go: retransmit */
		if (sack && t->sent.lost)
			sent += output_lost(e, t, now_ns);
	}
	if (t->flags & XC_TF_ACK_NOW) {
		tcp_send_ack(e, t, now_ns);
	} else if (t->ack_pending && !t->timer_due[XC_T_DELACK]) {
		tcb_timer_set(e, t, XC_T_DELACK, now_ns + (uint64_t)e->cfg.delack_us * 1000);
	}
	return sent;
}
