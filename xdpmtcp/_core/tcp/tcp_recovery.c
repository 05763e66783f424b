/* Loss recovery of a connection with SACK, as Linux's: RACK-TLP decides
 * what is lost (tcp_rack.c), Proportional Rate Reduction (RFC 6937)
 * decides how much leaves while recovering, and an episode that turns out
 * spurious is undone: by D-SACK (RFC 3708), by timestamps (Eifel, RFC
 * 3522) and after an RTO by F-RTO (RFC 5682 §3, the SACK variant).
 * Without SACK, tcp_input.c runs NewReno (RFC 6582). */
#include "tcp_internal.h"
#include "cc.h"

/* What an undo restores: the window before the episode's cut. */
static void start_episode(struct xc_tcb *t)
{
	t->prior_cwnd = t->cc.cwnd;
	t->prior_ssthresh = t->cc.ssthresh;
	t->undo_retrans = 0;
	t->undo_marker = t->snd_una;
	t->undo_ts_set = 0;
}

static void undo(struct xc_tcb *t)
{
	if (t->cc.cwnd < t->prior_cwnd)
		t->cc.cwnd = t->prior_cwnd;
	if (t->cc.ssthresh < t->prior_ssthresh)
		t->cc.ssthresh = t->prior_ssthresh;
	t->prior_cwnd = 0;
	t->undo_ts_set = 0;
	if (t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY))
		tcp_rack_recovery_done(t);
	t->flags &= ~(XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY | XC_TF_FRTO | XC_TF_FRTO_NEW);
	t->dupacks = 0;
	t->retries = 0;
	t->backoff = 0;
	xc_sent_unmark_lost(&t->sent);   /* the "lost" ones were only late */
}

/* RFC 3708 / Linux's DSACK undo: every retransmission of the episode came
 * back as a duplicate: the loss was reordering or delay. */
void tcp_recovery_dsack(struct xc_tcb *t, uint32_t start, uint32_t end)
{
	tcp_rack_dsack(t);
	if (!t->prior_cwnd || !t->undo_retrans)
		return;
	/* only a duplicate of what this episode resent counts (the network
	 * may duplicate other segments) */
	if (seq_lt(start, t->undo_marker) || seq_gt(end, t->recover))
		return;
	if (--t->undo_retrans)
		return;
	undo(t);
	t->c.undos++;
}

/* Eifel (RFC 3522): the ACK echoes a timestamp older than the episode's
 * first retransmission, so it answers an original: the loss was not. */
static int acks_an_original(const struct xc_tcb *t, const struct tcp_seg *s,
			    const struct xc_sent_news *n)
{
	return n->newly_acked && t->undo_ts_set && (t->flags & XC_TF_TS_OK) && s->opt.has_ts &&
	       seq_lt(s->opt.tsecr, t->undo_tsval);
}

static void enter_recovery(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	(void)e;
	t->flags |= XC_TF_IN_RECOVERY;
	t->flags &= ~XC_TF_RTT_TIMING;
	t->recover = t->snd_max;
	t->c.recoveries++;
	if (t->flags & XC_TF_TLP_OUT)
		t->c.tlp_recoveries++;          /* the probe brought the news */
	start_episode(t);
	t->prr_delivered = 0;
	t->prr_out = 0;
	t->prr_recover_fs = t->cc.cwnd > t->mss ? t->cc.cwnd : t->mss;
	xc_cc_on_loss(&t->cc, tcb_flight(t), now_ns);
}

/* RFC 6937: while the pipe is above ssthresh, send in proportion to what
 * was delivered (ssthresh / RecoverFS of it); below, slow-start back up
 * to ssthresh but never more than delivered + one segment (PRR-SSRB).
 * cwnd becomes pipe + what may leave now, for tcp_output. */
static void prr(struct xc_tcb *t, uint32_t delivered)
{
	uint32_t pipe = xc_sent_pipe(&t->sent), ssthresh = t->cc.ssthresh;
	int64_t sndcnt;
	t->prr_delivered += delivered;
	if (pipe > ssthresh) {
		uint64_t fs = t->prr_recover_fs;
		sndcnt = (int64_t)(((uint64_t)t->prr_delivered * ssthresh + fs - 1) / fs) - t->prr_out;
	} else {
		int64_t limit = (int64_t)t->prr_delivered - t->prr_out;
		if (limit < (int64_t)delivered)
			limit = delivered;
		limit += t->mss;
		sndcnt = (int64_t)ssthresh - pipe;
		if (sndcnt > limit)
			sndcnt = limit;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	if (!t->prr_out && sndcnt < t->mss)
		sndcnt = t->mss;               /* the first retransmission leaves at once */
	t->cc.cwnd = xc_cc_clamp((uint64_t)pipe + (uint64_t)sndcnt);
}

static void exit_recovery(struct xc_tcb *t, uint64_t now_ns)
{
	t->flags &= ~XC_TF_IN_RECOVERY;
	t->dupacks = 0;
	/* RFC 6937: the episode ends at ssthresh */
	xc_cc_on_recovery_exit(&t->cc, t->cc.ssthresh, now_ns);
	tcp_rack_recovery_done(t);
}

/* After an RTO: F-RTO and Eifel ask whether it was needed; the loss
 * state ends when everything sent before it is acknowledged. */
static int loss_state_ack(struct xc_tcb *t, const struct tcp_seg *s, const struct xc_sent_news *n,
			  int dupack)
{
	/* counted as Linux does: TCPLossUndo for every undone RTO,
	 * TCPSpuriousRTOs for those F-RTO found */
	if (acks_an_original(t, s, n)) {
		undo(t);
		t->c.loss_undos++;
		return 1;
	}
	if ((t->flags & XC_TF_FRTO) && n->orig_delivered) {
		undo(t);                        /* step 3b: data never resent got through */
		t->c.loss_undos++;
		t->c.spurious_rtos++;
		return 1;
	}
	if (t->flags & XC_TF_FRTO) {
		if (seq_gt(t->snd_max, t->recover)) {
			if (n->newly_sacked || dupack)
				t->flags &= ~XC_TF_FRTO;    /* step 3a: the loss was real */
		} else if (n->newly_acked) {
			/* step 2b: new data, not the next retransmission, tells
			 * a spurious timeout from a real one */
			t->recover = t->snd_max;
			if (seq_lt(t->snd_max, snd_data_end(t)) && seq_lt(t->snd_max, t->snd_una + t->snd_wnd))
				t->flags |= XC_TF_FRTO_NEW;
			else
				t->flags &= ~XC_TF_FRTO;
		}
	}
	if (seq_geq(t->snd_una, t->recover) && !(t->flags & XC_TF_FRTO_NEW)) {
		t->flags &= ~(XC_TF_RTO_RECOVERY | XC_TF_FRTO);
		tcp_rack_recovery_done(t);
	}
	return 0;
}

void tcp_recovery_ack(struct xc_tcp_engine *e, struct xc_tcb *t, const struct tcp_seg *s,
		      const struct xc_sent_news *n, int dupack, uint64_t now_ns)
{
	tcp_rack_update(t, n);
	if (xc_sent_head_sacked(&t->sent) && !(t->flags & XC_TF_RENEGED)) {
		t->flags |= XC_TF_RENEGED;      /* the ACK stops at data it SACKed */
		t->c.sack_reneging++;
	}
	if (t->flags & XC_TF_RTO_RECOVERY) {
		if (loss_state_ack(t, s, n, dupack))
			goto out;
	} else if ((t->flags & XC_TF_IN_RECOVERY) && acks_an_original(t, s, n)) {
		undo(t);                        /* the hole was filled by the original */
		t->c.ts_undos++;
		goto out;
	}
	tcp_rack_detect_loss(e, t, now_ns);
	if (!(t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY)) && t->sent.lost)
		enter_recovery(e, t, now_ns);
	if (t->flags & XC_TF_IN_RECOVERY) {
		if (seq_geq(t->snd_una, t->recover))
			exit_recovery(t, now_ns);
		else
			prr(t, n->delivered);
	}
out:
	tcb_output(e, t);
}

void tcp_recovery_reo_timeout(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	if (!tcp_rack_detect_loss(e, t, now_ns))
		return;
	t->c.reo_timeouts++;
	if (!(t->flags & (XC_TF_IN_RECOVERY | XC_TF_RTO_RECOVERY)))
		enter_recovery(e, t, now_ns);
	if (t->flags & XC_TF_IN_RECOVERY)
		prr(t, 0);
	tcp_rearm_rto(e, t, now_ns);
	tcb_output(e, t);
}

void tcp_recovery_rto(struct xc_tcp_engine *e, struct xc_tcb *t, uint64_t now_ns)
{
	int in_recovery = t->flags & XC_TF_IN_RECOVERY;
	if (t->retries == 1) {
		uint32_t ssthresh = t->cc.ssthresh;
		if (!in_recovery)
			start_episode(t);
		xc_cc_on_rto(&t->cc, tcb_flight(t), now_ns);
		if (in_recovery)
			t->cc.ssthresh = ssthresh;  /* the recovery's cut stands */
	} else {
		t->cc.cwnd = t->mss;
	}
	if (t->flags & XC_TF_RENEGED) {
		xc_sent_forget_sacks(&t->sent);
		}
	t->flags &= ~(XC_TF_IN_RECOVERY | XC_TF_RTT_TIMING | XC_TF_WND_PROBE | XC_TF_TLP_OUT |
		      XC_TF_FRTO | XC_TF_FRTO_NEW | XC_TF_RENEGED);
	/* F-RTO for a timeout outside fast recovery (Linux's rule) */
	if (t->retries == 1 && !in_recovery)
		t->flags |= XC_TF_FRTO;
	t->flags |= XC_TF_RTO_RECOVERY;
	t->timer_due[XC_T_TLP] = 0;
	t->timer_due[XC_T_REO] = 0;
	t->recover = t->snd_max;
	t->dupacks = 0;
	xc_sent_mark_all_lost(&t->sent);
	if (!t->snd_wnd) {          /* a zero window: the retransmission is the probe */
		t->flags |= XC_TF_WND_PROBE;
		t->c.zero_window_probes++;
	}
	tcp_rearm_rto(e, t, now_ns);
	tcb_output(e, t);
}
