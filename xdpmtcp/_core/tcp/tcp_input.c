/* Segment arrival in the synchronized states (RFC 9293 §3.10.7.4), with
 * RFC 5961 (RST/SYN/ACK attacks), RFC 7323 (PAWS), and on the sending
 * side RFC 2018 SACK into the per-segment map for RACK-TLP
 * (tcp_recovery.c), or RFC 5681/6582 fast retransmit and NewReno for a
 * peer without SACK. */
#include "tcp_internal.h"

/* Linux's tcp_invalid_ratelimit: one ACK per interval per connection for
 * what it cannot accept, so neither an ACK loop nor a stream of forged
 * segments draws a stream of ACKs.  Returns 1 when this one is skipped. */
static int oow_limited(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	uint64_t gap = (uint64_t)e->cfg.invalid_ratelimit_us * 1000;
	if (t->oow_ack_ns && now_ns - t->oow_ack_ns < gap)
		return 1;
	t->oow_ack_ns = now_ns;
	return 0;
}

/* After loss or reordering the sender's window is small: a delayed ACK
 * would stall it for the whole delack timeout per odd segment.  ACK every
 * segment for a while, as Linux's quick-ACK mode does. */
static void quickack_mode(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	if (t->quickacks < e->cfg.quickack_segs)
		t->quickacks = e->cfg.quickack_segs;
}

/* Duplicate data to report in the next ACK's D-SACK block (RFC 2883).
 * Duplicates of one batch share that ACK: a range touching the pending
 * one extends it (Linux's tcp_dsack_extend), another replaces it. */
static void note_dsack(struct xc_tcb *t, uint32_t start, uint32_t end)
{
	if (!(t->flags & XC_TF_SACK_OK))
		return;
	if ((t->flags & XC_TF_DSACK) && seq_leq(start, t->dsack_end) && seq_leq(t->dsack_start, end)) {
		t->dsack_start = seq_min(start, t->dsack_start);
		t->dsack_end = seq_max(end, t->dsack_end);
	} else {
		t->dsack_start = start;
		t->dsack_end = end;
	}
	t->flags |= XC_TF_DSACK | XC_TF_ACK_NOW;
}

/* The ACK RFC 9293 owes an unacceptable segment (or a PAWS reject).  Data
 * without SYN is exempt from the interval, as in Linux: it is most likely
 * a retransmission whose ACK was lost, and the sender needs the answer. */
static void oow_ack(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		    uint64_t now_ns)
{
	if ((!s->len || (s->flags & TCP_SYN)) && oow_limited(e, t, now_ns)) {
		t->c.oow_acks_skipped++;
		e->stats.oow_acks_limited++;
		return;
	}
	t->flags |= XC_TF_ACK_NOW;
	tcb_output(e, t);
}

/* RFC 5961 §7, done as Linux does since CVE-2016-5696: first the
 * connection's interval, then an engine-wide budget drawn at random each
 * second from [limit/2, 3*limit/2), so the count an attacker's own
 * connection gets tells nothing of what other connections drew. */
int tcp_challenge_ack(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (oow_limited(e, t, now_ns)) {
		t->c.challenge_acks_skipped++;
		e->stats.challenge_acks_conn_limited++;
		return 0;
	}
	uint32_t limit = e->cfg.challenge_ack_limit;
	if (limit) {
		uint64_t second = now_ns / 1000000000ull;
		if (second != e->challenge_epoch_ns / 1000000000ull) {
			uint32_t half = (limit + 1) / 2;
			e->challenge_epoch_ns = second * 1000000000ull;
			e->challenge_left = half + tcp_random_u32(now_ns) % limit;
		}
		if (!e->challenge_left) {
			t->c.challenge_acks_skipped++;
			e->stats.challenge_acks_limited++;
			return 0;
		}
		e->challenge_left--;
	}
	e->stats.challenge_acks++;
	t->c.challenge_acks++;
	tcp_send_ack(e, t, now_ns);
	return 1;
}

/* RFC 9293 §3.10.7.4 first check: is the segment in the receive window? */
static int acceptable(const struct xc_tcb *t, const struct tcp_seg *s, uint32_t seglen)
{
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	if (!seglen) {
		if (!wnd)
			return s->seq == t->rcv_nxt;
		return seq_geq(s->seq, t->rcv_nxt) && seq_lt(s->seq, t->rcv_nxt + wnd);
	}
	if (!wnd)
		return 0;
	uint32_t last = s->seq + seglen - 1;
	return (seq_geq(s->seq, t->rcv_nxt) && seq_lt(s->seq, t->rcv_nxt + wnd)) ||
	       (seq_geq(last, t->rcv_nxt) && seq_lt(last, t->rcv_nxt + wnd));
}

/* NewReno (no SACK): the third duplicate ACK starts fast recovery. */
static void enter_recovery(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	uint32_t flight = tcb_flight(t);
	t->flags |= XC_TF_IN_RECOVERY;
	t->flags &= ~XC_TF_RTT_TIMING;
	t->recover = t->snd_max;
	t->c.recoveries++;
	t->prior_cwnd = t->cc.cwnd;
	t->prior_ssthresh = t->cc.ssthresh;
	t->undo_retrans = 0;
	t->undo_marker = t->snd_una;
	xc_cc_on_loss(&t->cc, flight, now_ns);
	/* retransmit the first unacknowledged segment now */
	uint32_t len = snd_data_end(t) - t->snd_una;
	if ((int32_t)len < 0)
		len = 0;
	if (len > t->mss)
		len = t->mss;
	if (len)
		tcp_fast_retransmit(e, t, t->snd_una, len, now_ns);
	t->cc.cwnd = t->cc.ssthresh + 3 * t->mss;   /* RFC 6582 step 3 (inflation) */
	tcp_rearm_rto(e, t, now_ns);
}

/* NewReno partial ACK (RFC 6582 §3.2 step 5): resend the next hole,
 * deflate by the amount acked, add back one segment. */
static void newreno_partial_ack(struct xc_tcp_engine *e, struct xc_tcb *t, uint32_t acked, uint64_t now_ns)
{
	uint32_t len = snd_data_end(t) - t->snd_una;
	if ((int32_t)len < 0)
		len = 0;
	if (len > t->mss)
		len = t->mss;
	if (len)
		tcp_fast_retransmit(e, t, t->snd_una, len, now_ns);
	t->cc.cwnd = t->cc.cwnd > acked ? t->cc.cwnd - acked : t->mss;
	if (acked >= t->mss)
		t->cc.cwnd += t->mss;
	if (t->cc.cwnd < t->mss)
		t->cc.cwnd = t->mss;
}

static void fin_acked(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	switch (t->state) {
	case XC_TCP_FIN_WAIT_1:
		tcb_set_state(e, t, XC_TCP_FIN_WAIT_2);
		break;
	case XC_TCP_CLOSING:
		tcb_set_state(e, t, XC_TCP_TIME_WAIT);
		break;
	case XC_TCP_LAST_ACK:
		tcb_set_state(e, t, XC_TCP_CLOSED);
		break;
	}
	t->timer_due[XC_T_RTO] = 0;
}

/* SACK blocks into the map of the flight, a D-SACK (RFC 2883) apart. */
static void take_sacks(struct xc_tcb *t, const struct tcp_seg *s, struct xc_sent_news *n)
{
	uint32_t ack = seq_gt(s->ack, t->snd_una) ? s->ack : t->snd_una;
	int dsack = xc_sent_is_dsack(s->opt.sack, s->opt.nsack, ack);
	t->c.sack_blocks_in += s->opt.nsack;
	if (dsack) {
		t->c.dsacks_in++;
		tcp_recovery_dsack(t, s->opt.sack[0], s->opt.sack[1]);
	}
	/* lowest first: a block below one SACKed in this same ACK is no
	 * reordering (the receiver lists the newest block first) */
	uint32_t b[2 * XC_SACK_MAX_BLOCKS], nb = 0;
	for (uint32_t k = dsack ? 1 : 0; k < s->opt.nsack && k < XC_SACK_MAX_BLOCKS; k++) {
		uint32_t j = nb++;
		while (j && seq_lt(s->opt.sack[2 * k], b[2 * (j - 1)])) {
			b[2 * j] = b[2 * (j - 1)];
			b[2 * j + 1] = b[2 * (j - 1) + 1];
			j--;
		}
		b[2 * j] = s->opt.sack[2 * k];
		b[2 * j + 1] = s->opt.sack[2 * k + 1];
	}
	for (uint32_t k = 0; k < nb; k++)
		xc_sent_sack(&t->sent, b[2 * k], b[2 * k + 1], n);
}

/* NewReno's duplicate ACK (no SACK): RFC 5827 early retransmit and RFC
 * 6582 fast recovery. */
static void newreno_dupack(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (t->flags & XC_TF_IN_RECOVERY) {
		t->cc.cwnd += t->mss;              /* RFC 6582 step 4 */
		return;
	}
	/* RFC 5827 early retransmit: with fewer than four segments out and
	 * nothing new to send, fewer dupACKs will ever come */
	uint32_t thresh = XC_DUPTHRESH;
	uint32_t segs = (tcb_flight(t) + t->mss - 1) / t->mss;
	int can_send_new = seq_lt(t->snd_max, snd_data_end(t)) &&
			   seq_lt(t->snd_max, t->snd_una + t->snd_wnd);
	if (segs < 4 && !can_send_new)
		thresh = segs > 1 ? segs - 1 : 1;
	if (t->dupacks < thresh)
		return;
	if (thresh < XC_DUPTHRESH && t->dupacks < XC_DUPTHRESH)
		t->c.early_retrans++;
	/* RFC 6582 §3.2 step 2: no new recovery before the ACK covers
	 * `recover` (only unmet while resending after an RTO) */
	if (seq_geq(t->snd_una, t->recover)) {
		t->flags &= ~XC_TF_RTO_RECOVERY;
		enter_recovery(e, t, now_ns);
	}
}

/* RFC 9293 §3.10.7.4 fifth check, with the RFC 5961 §5 ACK test done by
 * the caller.  Returns 0 to go on with the segment, -1 to drop it. */
static int process_ack(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		       uint64_t now_ns)
{
	uint32_t ack = s->ack;
	uint32_t wnd = s->wnd << t->snd_wscale;
	uint32_t flight = tcb_flight(t);
	int window_changed = 0;
	int sack = t->flags & XC_TF_SACK_OK;
	struct xc_sent_news news = {
		.now_ns = now_ns,
		.min_rtt_us = t->min_rtt_us,
		.orig_limit = (t->flags & XC_TF_RTO_RECOVERY) ? t->recover : t->snd_una,
	};

	/* the cumulative ACK first: what it delivers is judged against the
	 * SACKs of earlier ACKs (reordering), then this ACK's blocks */
	if (sack && seq_gt(ack, t->snd_una))
		xc_sent_ack(&t->sent, seq_gt(ack, snd_data_end(t)) ? snd_data_end(t) : ack, &news);
	if (sack && s->opt.nsack)
		take_sacks(t, s, &news);
	/* window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule) */
	if (seq_lt(t->snd_wl1, s->seq) || (t->snd_wl1 == s->seq && seq_leq(t->snd_wl2, ack))) {
		window_changed = wnd != t->snd_wnd;
		if (!t->snd_wnd && wnd) {
			t->timer_due[XC_T_PERSIST] = 0;
			t->probes = 0;
			tcb_output(e, t);
		}
		t->snd_wnd = wnd;
		t->snd_wl1 = s->seq;
		t->snd_wl2 = ack;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
	}

	if (seq_gt(ack, t->snd_una)) {
		uint32_t acked = ack - t->snd_una;
		int fin_now = (t->flags & XC_TF_FIN_SENT) && seq_gt(ack, t->fin_seq);
		uint32_t data_end = snd_data_end(t);
		uint32_t data_acked = (seq_gt(ack, data_end) ? data_end : ack) - t->snd_una;
		if ((int32_t)data_acked > 0)
			xc_ring_consume(&t->snd, data_acked);
		else
			data_acked = 0;
		/* RTT: the timed segment is covered (Karn: it was never resent) */
		if ((t->flags & XC_TF_RTT_TIMING) && seq_gt(ack, t->rtt_seq)) {
			t->flags &= ~XC_TF_RTT_TIMING;
			tcp_rtt_sample(e, t, (uint32_t)((now_ns - t->rtt_start_ns) / 1000));
		}
		t->snd_una = ack;
		if (seq_lt(t->snd_nxt, ack))
			t->snd_nxt = ack;
		t->c.bytes_acked += data_acked;
		t->retries = 0;
		t->backoff = 0;
		t->probes = 0;
		if (!(t->flags & XC_TF_IN_RECOVERY)) {
			xc_cc_on_ack(&t->cc, acked, flight, now_ns, t->srtt_us, t->min_rtt_us);
			t->dupacks = 0;
		} else if (!sack) {
			if (seq_geq(ack, t->recover)) {
				t->flags &= ~XC_TF_IN_RECOVERY;
				xc_cc_on_recovery_exit(&t->cc, tcb_flight(t), now_ns);
				t->dupacks = 0;
			} else {
				newreno_partial_ack(e, t, acked, now_ns);
			}
		}
		if (!sack && (t->flags & XC_TF_RTO_RECOVERY) && seq_geq(ack, t->recover))
			t->flags &= ~XC_TF_RTO_RECOVERY;
		if ((t->flags & XC_TF_TLP_OUT) && seq_geq(ack, t->tlp_high_seq))
			t->flags &= ~XC_TF_TLP_OUT;
		if (sack)
			tcp_recovery_ack(e, t, s, &news, 0, now_ns);
		if (t->snd_una == t->snd_max) {
			t->timer_due[XC_T_RTO] = 0;
			t->timer_due[XC_T_TLP] = 0;
			t->timer_due[XC_T_REO] = 0;
		} else {
			tcp_rearm_rto(e, t, now_ns);
			tcp_arm_tlp(e, t, now_ns);
		}
		if (data_acked)
			tcb_event(e, t, XC_EV_WRITABLE | XC_EV_ACKED);
		if (fin_now)
			fin_acked(e, t);
		tcb_output(e, t);
		return 0;
	}

	/* duplicate ACK (RFC 5681 §2 definition; RFC 6675 counts SACK-bearing ones) */
	if (ack == t->snd_una && !s->len && !(s->flags & (TCP_SYN | TCP_FIN)) &&
	    t->snd_una != t->snd_max && (!window_changed || s->opt.nsack)) {
		t->dupacks++;
		t->c.dupacks_in++;
		if (sack)
			tcp_recovery_ack(e, t, s, &news, 1, now_ns);
		else
			newreno_dupack(e, t, now_ns);
		tcb_output(e, t);
	} else if (sack && news.delivered) {
		tcp_recovery_ack(e, t, s, &news, 0, now_ns);   /* SACKs on a data segment */
	}
	return 0;
}

/* Data and FIN (RFC 9293 §3.10.7.4, seventh and eighth checks). */
static void process_data(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
			 uint64_t now_ns)
{
	uint32_t seq = s->seq;
	const uint8_t *data = s->payload;
	uint32_t len = s->len;
	int receiving = t->state == XC_TCP_ESTABLISHED || t->state == XC_TCP_FIN_WAIT_1 ||
			t->state == XC_TCP_FIN_WAIT_2;

	if (len && receiving && !(t->flags & XC_TF_FIN_RCVD)) {
		t->c.data_segs_in++;
		if (seq_lt(seq, t->rcv_nxt)) {
			uint32_t skip = t->rcv_nxt - seq;
			/* RFC 2883: tell the sender what it sent twice, so it can
			 * undo a spurious retransmission's window cut */
			note_dsack(t, seq, skip < len ? t->rcv_nxt : seq + len);
			if (skip >= len) {
				t->c.dup_segs_in++;
				t->flags |= XC_TF_ACK_NOW;     /* a retransmission: the ACK was lost */
				quickack_mode(e, t);
				len = 0;
			} else {
				seq += skip;
				data += skip;
				len -= skip;
			}
		}
		if (len) {
			uint32_t frags_before = t->rcv.nfrags;
			uint64_t off = rcv_off_of(t, seq);
			uint64_t beyond_before = t->rcv.stats.bytes_beyond;
			uint64_t dup_before = t->rcv.stats.bytes_dup;
			uint64_t nomem_before = t->rcv.stats.no_storage;
			int64_t adv = xc_ring_insert(&t->rcv, off, data, len, 0);
			if (t->rcv.stats.no_storage != nomem_before) {
				/* buffer_memory_max: dropped whole, the peer retransmits */
				t->c.rcv_dropped_memory++;
				e->stats.rcv_dropped_memory++;
			}
			if (t->rcv.stats.bytes_dup - dup_before == len)
				note_dsack(t, seq, seq + len);   /* all of it was held already */
			t->c.rcv_dropped += t->rcv.stats.bytes_beyond - beyond_before;
			if (seq != t->rcv_nxt) {
				/* RFC 5681 §4.2: one duplicate ACK per out-of-order
				 * segment, now: a batch must not fold them into one,
				 * or a sender without SACK never sees three */
				t->c.ooo_segs_in++;
				tcp_sack_note(t, off);
				tcp_send_ack(e, t, now_ns);
				quickack_mode(e, t);
			}
			if (adv > 0) {
				t->rcv_nxt += (uint32_t)adv;
				t->c.bytes_received += (uint64_t)adv;
				tcb_event(e, t, XC_EV_READABLE);
				tcp_rcvbuf_autotune(e, t);
				if (frags_before) {
					t->flags |= XC_TF_ACK_NOW; /* filled (part of) a hole */
					quickack_mode(e, t);
				}
				t->ack_pending++;
				/* RFC 5681 §4.2: ACK at least every second full-sized
				 * segment; quick ACKs while the peer's window grows */
				if (t->quickacks) {
					t->quickacks--;
					t->flags |= XC_TF_ACK_NOW;
				} else if ((uint64_t)adv >= 2u * t->rcv_mss || t->ack_pending >= 2) {
					t->flags |= XC_TF_ACK_NOW;
				}
			}
		}
		tcb_output(e, t);
	} else if (len) {
		/* data after our side stopped receiving: acknowledge nothing new */
		t->flags |= XC_TF_ACK_NOW;
		tcb_output(e, t);
	}

	if (s->flags & TCP_FIN) {
		uint32_t fseq = s->seq + s->len;
		if (t->flags & XC_TF_FIN_RCVD) {
			t->flags |= XC_TF_ACK_NOW;        /* retransmitted FIN */
			if (t->state == XC_TCP_TIME_WAIT)   /* restart 2MSL (RFC 9293 §3.10.7.4) */
				tcb_timer_set(e, t, XC_T_TIMEWAIT, now_ns + ms_ns(e->cfg.timewait_ms));
			tcb_output(e, t);
		} else {
			t->flags |= XC_TF_FIN_OOO;         /* consumed once rcv_nxt reaches it */
			t->rcv_fin_seq = fseq;
		}
	}
	if ((t->flags & XC_TF_FIN_OOO) && !(t->flags & XC_TF_FIN_RCVD) && t->rcv_fin_seq == t->rcv_nxt) {
		t->flags &= ~XC_TF_FIN_OOO;
		t->flags |= XC_TF_FIN_RCVD | XC_TF_ACK_NOW;
		t->rcv_nxt++;
		tcb_event(e, t, XC_EV_READABLE);
		switch (t->state) {
		case XC_TCP_ESTABLISHED:
			tcb_set_state(e, t, XC_TCP_CLOSE_WAIT);
			break;
		case XC_TCP_FIN_WAIT_1:
			/* our FIN not acked yet (else we would be in FIN-WAIT-2) */
			tcb_set_state(e, t, XC_TCP_CLOSING);
			break;
		case XC_TCP_FIN_WAIT_2:
			tcb_set_state(e, t, XC_TCP_TIME_WAIT);
			break;
		}
		tcb_output(e, t);
	}
}

int tcp_input_seg(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s, uint64_t now_ns)
{
	uint32_t seglen = s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
	t->c.segs_in++;
	t->last_recv_ns = now_ns;
	tcp_history_in(t, s);
	if (t->state == XC_TCP_CLOSED)
		return -1;
	/* a new connection on the tuple, whose SYN the XDP program answered
	 * with a cookie: Python releases this block and hands the ACK on */
	if (t->state == XC_TCP_TIME_WAIT && tcp_listen_cookie_in_timewait(e, s, now_ns)) {
		tcb_event(e, t, XC_EV_SYN_IN_TW);
		return 1;
	}

	/* PAWS (RFC 7323 §5.3): a timestamp older than TS.Recent is a duplicate */
	if ((t->flags & XC_TF_TS_OK) && s->opt.has_ts && !(s->flags & TCP_RST) &&
	    seq_lt(s->opt.tsval, t->ts_recent)) {
		t->c.paws_rejected++;
		oow_ack(e, t, s, now_ns);
		return -1;
	}
	if (!acceptable(t, s, seglen)) {
		t->c.out_of_window++;
		if (s->flags & TCP_RST) {
			t->c.rst_ignored++;
			return -1;
		}
		/* an ACK says where we are (RFC 9293); SYNs below get a challenge */
		if (!(s->flags & TCP_SYN)) {
			/* data we hold already: a D-SACK tells the sender its
			 * retransmission was needless (RFC 2883), so it can undo
			 * and widen its reordering window, as Linux's dupack does */
			if (s->len && seq_leq(s->seq + s->len, t->rcv_nxt)) {
				note_dsack(t, s->seq, s->seq + s->len);
				t->c.dup_segs_in++;
				quickack_mode(e, t);
			}
			oow_ack(e, t, s, now_ns);
			return -1;
		}
	}
	if (s->flags & TCP_RST) {
		/* RFC 5961 §3.2: only an exact match resets; in-window gets a challenge */
		if (s->seq == t->rcv_nxt) {
			tcb_event(e, t, XC_EV_RESET);
			tcb_set_state(e, t, XC_TCP_CLOSED);    /* timers off; an orphan is released */
		} else {
			tcp_challenge_ack(e, t, now_ns);
		}
		return -1;
	}
	if (s->flags & TCP_SYN) {
		if (t->state == XC_TCP_TIME_WAIT) {
			tcb_event(e, t, XC_EV_SYN_IN_TW);
			return 1;   /* Python decides (RFC 6191-style reuse) */
		}
		tcp_challenge_ack(e, t, now_ns);   /* RFC 5961 §4 */
		return -1;
	}
	if (!(s->flags & TCP_ACK))
		return -1;
	/* RFC 5961 §5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.MAX] */
	if (seq_gt(s->ack, t->snd_max) || seq_lt(s->ack, t->snd_una - t->max_snd_wnd)) {
		tcp_challenge_ack(e, t, now_ns);
		return -1;
	}
	/* RFC 7323 §4.3: TS.Recent from a segment covering Last.ACK.sent */
	if ((t->flags & XC_TF_TS_OK) && s->opt.has_ts && seq_leq(s->seq, t->last_ack_sent) &&
	    seq_leq(t->last_ack_sent, s->seq + seglen))
		t->ts_recent = s->opt.tsval;
	if (process_ack(e, t, s, now_ns) < 0)
		return -1;
	if (t->state == XC_TCP_CLOSED)
		return 0;
	process_data(e, t, s, now_ns);
	return 0;
}

int xc_tcp_input(struct xc_tcp_engine *e, struct xc_tcb *t, const uint8_t *frame, uint32_t len,
		 uint64_t now_ns)
{
	struct tcp_seg s;
	if (tcp_seg_parse(frame, len, &s) < 0 || s.opt.bad) {
		e->stats.malformed++;
		return -1;
	}
	e->now_ns = now_ns;
	return tcp_input_seg(e, t, &s, now_ns);
}

