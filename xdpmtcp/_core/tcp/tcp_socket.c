/* The connection as the socket layer sees it, through the narrow boundary
 * (api_tcp.h): opening a block for an active open, typed options, the
 * tcp_info-shaped snapshot, half-close, close and abort.  Python decides
 * (validation, errnos, when); these apply, on a block Python cannot read. */
#include <string.h>
#include "tcp_internal.h"

struct xc_tcb *xc_tcp_open(struct xc_tcp_engine *e, const struct xc_tcp_open *o, uint64_t now_ns,
			   int32_t *err)
{
	if (!e->nfree) {
		*err = -EAGAIN;
		return NULL;
	}
	/* as a listener admits a SYN: the buffers, filled, must fit beside
	 * the storage the others hold now */
	if (!tcp_buffers_fit(e, NULL, o->rcvbuf, o->sndbuf)) {
		*err = -ENOBUFS;
		return NULL;
	}
	struct xc_tcb *t = xc_tcb_alloc(e, o->rcvbuf, o->sndbuf);
	if (!t) {
		*err = -ENOBUFS;
		return NULL;
	}
	t->local_addr = o->local_addr;
	t->remote_addr = o->remote_addr;
	t->local_port = o->local_port;
	t->remote_port = o->remote_port;
	memcpy(t->local_mac, e->cfg.local_mac, 6);
	memcpy(t->remote_mac, o->remote_mac, 6);
	t->rcv_mss = o->rcv_mss;
	t->cc_algo = o->cc_algo;
	t->flags = o->flags & (XC_TF_TS_OK | XC_TF_SACK_OK | XC_TF_WS_OK);
	t->iss = xc_isn(t->local_addr, t->remote_addr, t->local_port, t->remote_port, now_ns);
	if (xc_tcb_bind(e, t) < 0) {
		xc_tcb_free(e, t);
		*err = -EADDRINUSE;
		return NULL;
	}
	*err = 0;
	return t;
}

int xc_engine_slow_input(struct xc_tcp_engine *e, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
	return xc_listen_input(e, frame, len, now_ns);
}

/* --- closing ------------------------------------------------------------------ */

int xc_tcp_shutdown(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (t->state == XC_TCP_ESTABLISHED || t->state == XC_TCP_SYN_RCVD)
		t->state = XC_TCP_FIN_WAIT_1;
	else if (t->state == XC_TCP_CLOSE_WAIT)
		t->state = XC_TCP_LAST_ACK;
	else
		return 0;
	xc_tcp_shutdown_send(e, t);
	return 1;
}

void xc_tcp_close(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	xc_tcp_shutdown(e, t);
	xc_tcp_orphan(e, t, now_ns);
}

void xc_tcp_abort(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if ((tcb_synchronized(t) && t->state != XC_TCP_TIME_WAIT) || t->state == XC_TCP_SYN_RCVD)
		xc_tcp_send_ctl(e, t, XC_CTL_RST, now_ns);
}

/* --- options ---------------------------------------------------------------------- */

static uint32_t ring_held(const struct xc_ring *r)
{
	return (uint32_t)(r->high_off - r->read_off);   /* unread and out-of-order bytes */
}

/* SO_RCVBUF / SO_SNDBUF on a block: never below what the ring holds, and
 * growing only while the connection's buffers, filled, fit beside the
 * storage the others hold (buffer_memory_max).  A grown buffer is
 * announced at once: a peer facing a zero window would otherwise wait for
 * its persist timer. */
static int resize_buffer(struct xc_tcp_engine *e, struct xc_tcb *t, int rcv, uint32_t size)
{
	struct xc_ring *r = rcv ? &t->rcv : &t->snd;
	struct xc_ring *other = rcv ? &t->snd : &t->rcv;
	uint32_t want = size > ring_held(r) ? size : ring_held(r);
	if (want == r->cap)
		return 0;
	int grow = want > r->cap;
	if (grow && !tcp_buffers_fit(e, t, want, other->cap))
		return -ENOBUFS;
	if ((rcv ? xc_tcp_set_rcvbuf(e, t, want) : xc_tcp_set_sndbuf(e, t, want)) < 0)
		return -ENOBUFS;
	if (grow && tcb_synchronized(t)) {
		t->flags |= XC_TF_ACK_NOW;
		xc_tcp_mark_output(e, t);
	}
	return 0;
}

static void set_flag(struct xc_tcb *t, uint32_t flag, uint64_t on)
{
	if (on)
		t->flags |= flag;
	else
		t->flags &= ~flag;
}

/* TCP_MAXSEG: before the handshake the MSS we advertise (establishing
 * takes min(peer's, ours)); after it, a cap on what we send. */
static void set_maxseg(struct xc_tcb *t, uint32_t maxseg)
{
	if (!tcb_synchronized(t)) {
		t->rcv_mss = (uint16_t)maxseg;
		return;
	}
	uint32_t cap = maxseg - ((t->flags & XC_TF_TS_OK) ? 12 : 0);
	if (cap < t->mss) {
		t->mss = (uint16_t)cap;
		t->cc.mss = cap;
	}
}

/* TCP_CONGESTION mid-connection keeps the window it has, as Linux does. */
static int set_congestion(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t algo)
{
	if (algo >= xc_cc_count())
		return -EINVAL;
	if (algo == t->cc_algo)
		return 0;
	t->cc_algo = algo;
	if (tcb_synchronized(t)) {
		uint32_t cwnd = t->cc.cwnd, ssthresh = t->cc.ssthresh;
		xc_cc_init(&t->cc, algo, t->mss, e->cfg.initial_window);
		t->cc.cwnd = cwnd;
		t->cc.ssthresh = ssthresh;
	}
	return 0;
}

int xc_tcp_setopt(struct xc_tcp_engine *e, struct xc_tcb *t, int opt, uint64_t value, uint64_t now_ns)
{
	uint32_t v = value > UINT32_MAX ? UINT32_MAX : (uint32_t)value;
	switch (opt) {
	case XC_OPT_ERROR: t->so_error = v; return 0;
	case XC_OPT_RCVBUF: return resize_buffer(e, t, 1, v);
	case XC_OPT_SNDBUF: return resize_buffer(e, t, 0, v);
	case XC_OPT_RCVBUF_FIXED: set_flag(t, XC_TF_RCVBUF_FIXED, v); return 0;
	case XC_OPT_SNDBUF_FIXED: set_flag(t, XC_TF_SNDBUF_FIXED, v); return 0;
	case XC_OPT_NODELAY:
		set_flag(t, XC_TF_NODELAY, v);
		if (v && tcb_synchronized(t))
			xc_tcp_mark_output(e, t);        /* what Nagle held goes now */
		return 0;
	case XC_OPT_MAXSEG:
		if (v < 64 || v > 65535)
			return -EINVAL;
		set_maxseg(t, v);
		return 0;
	case XC_OPT_CONGESTION: return set_congestion(e, t, v);
	case XC_OPT_KEEPALIVE:
		/* (re)armed with the current idle time; before the handshake,
		 * armed when it ends */
		xc_tcp_set_keepalive(e, t, v != 0, t->keepalive_idle_ms, t->keepalive_intvl_ms,
				     t->keepalive_cnt, now_ns);
		return 0;
	case XC_OPT_KEEPIDLE_MS: t->keepalive_idle_ms = v ? v : 1; return 0;
	case XC_OPT_KEEPINTVL_MS: t->keepalive_intvl_ms = v ? v : 1; return 0;
	case XC_OPT_KEEPCNT: t->keepalive_cnt = v; return 0;
	case XC_OPT_RCVLOWAT: t->rcvlowat = v; return 0;
	case XC_OPT_SNDLOWAT: t->sndlowat = v; return 0;
	case XC_OPT_RCV_SHUT: set_flag(t, XC_TF_RCV_SHUT, v); return 0;
	case XC_OPT_EV_QUIET: t->ev_quiet = v; return 0;
	default: return -EINVAL;
	}
}

int64_t xc_tcp_getopt(const struct xc_tcb *t, int opt)
{
	switch (opt) {
	case XC_OPT_STATE: return t->state;
	case XC_OPT_ERROR: return t->so_error;
	case XC_OPT_RCVBUF: return t->rcv.cap;
	case XC_OPT_SNDBUF: return t->snd.cap;
	case XC_OPT_RCVBUF_FIXED: return !!(t->flags & XC_TF_RCVBUF_FIXED);
	case XC_OPT_SNDBUF_FIXED: return !!(t->flags & XC_TF_SNDBUF_FIXED);
	case XC_OPT_NODELAY: return !!(t->flags & XC_TF_NODELAY);
	case XC_OPT_MAXSEG: return t->mss;
	case XC_OPT_CONGESTION: return t->cc_algo;
	case XC_OPT_KEEPALIVE: return !!(t->flags & XC_TF_KEEPALIVE);
	case XC_OPT_KEEPIDLE_MS: return t->keepalive_idle_ms;
	case XC_OPT_KEEPINTVL_MS: return t->keepalive_intvl_ms;
	case XC_OPT_KEEPCNT: return t->keepalive_cnt;
	case XC_OPT_RCVLOWAT: return t->rcvlowat;
	case XC_OPT_SNDLOWAT: return t->sndlowat;
	case XC_OPT_RCV_SHUT: return !!(t->flags & XC_TF_RCV_SHUT);
	case XC_OPT_EV_QUIET: return t->ev_quiet;
	case XC_OPT_FIN_RCVD: return !!(t->flags & XC_TF_FIN_RCVD);
	case XC_OPT_FIN_QUEUED: return !!(t->flags & XC_TF_FIN_QUEUED);
	case XC_OPT_RCV_QUEUED: return xc_ring_readable(&t->rcv);
	case XC_OPT_SND_QUEUED: return xc_ring_readable(&t->snd);
	case XC_OPT_SND_FREE: return xc_ring_free_space(&t->snd);
	case XC_OPT_SND_REFUSED: return (int64_t)t->snd.stats.no_storage;
	case XC_OPT_POLL_MASK: return xc_tcb_poll_mask(t);
	case XC_OPT_ID: return t->id;
	default: return -EINVAL;
	}
}

/* --- the snapshot -------------------------------------------------------------------- */

static uint64_t ms_ago(uint64_t now_ns, uint64_t then_ns)
{
	return now_ns > then_ns ? (now_ns - then_ns) / 1000000u : 0;
}

void xc_tcp_info(const struct xc_tcb *t, uint64_t now_ns, struct xc_tcp_info *out)
{
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->flags = t->flags;
	if (t->flags & XC_TF_RTO_RECOVERY)
		out->ca_state = 4;                     /* TCP_CA_Loss */
	else if (t->flags & XC_TF_IN_RECOVERY)
		out->ca_state = 3;                     /* TCP_CA_Recovery */
	else if (t->dupacks)
		out->ca_state = 1;                     /* TCP_CA_Disorder */
	out->retransmits = t->retries;
	out->probes = t->probes;
	out->backoff = t->backoff;
	out->snd_wscale = t->snd_wscale;
	out->rcv_wscale = t->rcv_wscale;
	out->rto_us = t->rto_us;
	out->snd_mss = t->mss;
	out->rcv_mss = t->rcv_mss;
	out->peer_mss = t->peer_mss;
	out->rtt_us = t->srtt_us;
	out->rttvar_us = t->rttvar_us;
	out->min_rtt_us = t->min_rtt_us;
	out->cwnd = t->cc.cwnd;
	out->ssthresh = t->cc.ssthresh;
	out->cc_algo = t->cc.algo;
	out->unacked = t->snd_max - t->snd_una;
	out->in_flight = t->snd_nxt - t->snd_una;
	out->snd_wnd = t->snd_wnd;
	out->rcv_wnd = tcb_synchronized(t) ? t->rcv_adv - t->rcv_nxt : 0;
	out->rcv_space = xc_ring_free_space(&t->rcv);
	out->rcvbuf = t->rcv.cap;
	out->sndbuf = t->snd.cap;
	out->rcv_queued = xc_ring_readable(&t->rcv);
	out->snd_queued = xc_ring_readable(&t->snd);
	out->rcv_storage = t->rcv.store_cap;
	out->snd_storage = t->snd.store_cap;
	out->so_error = t->so_error;
	out->iss = t->iss;
	out->irs = t->irs;
	out->snd_una = t->snd_una;
	out->snd_nxt = t->snd_nxt;
	out->snd_max = t->snd_max;
	out->rcv_nxt = t->rcv_nxt;
	out->ts_recent = t->ts_recent;
	out->ts_offset = t->ts_offset;
	out->last_data_recv_ms = ms_ago(now_ns, t->last_recv_ns);
	out->last_data_sent_ms = t->last_send_ns ? ms_ago(now_ns, t->last_send_ns) : 0;
	memcpy(out->history, t->history, sizeof(out->history));
	out->sacked = t->sent.sacked;
	out->lost = t->sent.lost;
	out->retrans_out = t->sent.retrans;
	out->reo_wnd_steps = t->rack.steps ? t->rack.steps : 1;
	out->prr_delivered = t->prr_delivered;
	out->prr_out = t->prr_out;
	out->prr_recover_fs = t->prr_recover_fs;
	out->pacing_rate = tcp_pacing_rate(t);
	out->c = t->c;
}

int xc_engine_conns(struct xc_tcp_engine *e, uint32_t *cursor, struct xc_conn_row *out, int max,
		    uint64_t now_ns)
{
	int n = 0;
	uint32_t id = *cursor ? *cursor : 1;
	for (; id <= e->cfg.max_tcbs && n < max; id++) {
		const struct xc_tcb *t = e->tcbs[id];
		if (!t)
			continue;
		struct xc_conn_row *r = &out[n++];
		r->who.id = t->id;
		r->who.local_addr = t->local_addr;
		r->who.remote_addr = t->remote_addr;
		r->who.local_port = t->local_port;
		r->who.remote_port = t->remote_port;
		r->listen_id = t->listen_id;
		xc_tcp_info(t, now_ns, &r->info);
	}
	*cursor = id;
	return n;
}
