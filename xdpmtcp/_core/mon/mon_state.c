/* The two emulated endpoints of a flow: what one packet does to its
 * sender ("after sending it", hook SND) and then to its receiver ("after
 * receiving it", hook RCV), mOS-style, and the letters of the flow's
 * history it makes.
 *
 * Sender, per segment:   SYN -> SYN_SENT (client; CONN_START) or SYN_RCVD
 *   (SYN/ACK of a server whose SYN we missed); FIN -> FIN_WAIT_1 or
 *   LAST_ACK; data/SYN/FIN below what it already sent -> REXMIT; its ACK
 *   number proves what it received: a missed SYN/ACK (SYN_SENT ->
 *   ESTABLISHED), a FIN the capture lacked bytes before (taken now), holes
 *   it acknowledged (skipped as gaps).
 * Receiver, per segment: SYN -> SYN_RCVD (server; CONN_START); SYN/ACK
 *   acking its SYN -> ESTABLISHED; ACK of its SYN -> ESTABLISHED; ACK of
 *   its FIN -> FIN_WAIT_2 / TIME_WAIT / CLOSED; payload into its ring; the
 *   peer's FIN once every byte before it is there -> CLOSE_WAIT, CLOSING
 *   or TIME_WAIT.
 * RST: acceptable (in the receiver's window, or acking its SYN) -> both
 *   CLOSED and the flow ends; otherwise ERROR/BAD_RST and ignored. */
#include "mon_internal.h"

static void set_state(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook,
		      uint32_t state)
{
	struct xc_mon_side *s = &f->side[side];
	if (s->state == state)
		return;
	uint32_t old = s->state;
	s->state = state;
	if (state == XC_TCP_ESTABLISHED)
		s->sflags |= XC_MON_SF_ESTAB;
	mon_emit(m, XC_MON_EV_STATE, f, side, hook, (uint16_t)state, old, 0);
}

/* ---- the peer's FIN taken by side ---- */

static void take_fin(struct xc_mon *m, struct xc_mon_flow *f, int side, int hook)
{
	struct xc_mon_side *s = &f->side[side];
	s->sflags |= XC_MON_SF_FIN_RCVD;
	switch (s->state) {
	case XC_TCP_SYN_SENT:
	case XC_TCP_SYN_RCVD:
	case XC_TCP_ESTABLISHED:
		set_state(m, f, side, hook, XC_TCP_CLOSE_WAIT);
		break;
	case XC_TCP_FIN_WAIT_1:
		set_state(m, f, side, hook, XC_TCP_CLOSING);
		break;
	case XC_TCP_FIN_WAIT_2:
		set_state(m, f, side, hook, XC_TCP_TIME_WAIT);
		break;
	}
}

static void place_fin(struct xc_mon_flow *f, int rd)
{
	struct xc_mon_side *r = &f->side[rd];
	const struct xc_mon_side *s = &f->side[rd ^ 1];
	if ((s->sflags & XC_MON_SF_FIN) && (r->sflags & XC_MON_SF_BASE) &&
	    !(r->sflags & XC_MON_SF_FIN_OFF)) {
		int64_t off = mon_rcv_off(f, rd, s->fin_seq);
		r->fin_off = off > 0 ? (uint64_t)off : 0;
		r->sflags |= XC_MON_SF_FIN_OFF;
	}
}

/* ---- sender ---- */

static void sender_pass(struct xc_mon *m, struct xc_mon_flow *f, int sd, const struct tcp_seg *g)
{
	struct xc_mon_side *S = &f->side[sd], *R = &f->side[sd ^ 1];
	int rd = sd ^ 1;
	uint8_t fl = g->flags;
	uint32_t syn = (fl & TCP_SYN) ? 1 : 0, fin = (fl & TCP_FIN) ? 1 : 0;
	uint32_t dseq = g->seq + syn;

	if (syn) {
		if ((S->sflags & XC_MON_SF_SYN) && g->seq == S->iss) {
			S->rexmit_pkts++;
			mon_emit(m, XC_MON_EV_REXMIT, f, sd, XC_MON_HK_SND, 0, g->seq, 0);
		} else if (!(S->sflags & XC_MON_SF_SYN)) {
			S->iss = g->seq;
			S->sflags = (S->sflags | XC_MON_SF_SYN) & ~XC_MON_SF_ISN_GUESSED;
			R->sflags |= XC_MON_SF_BASE;
			if (g->opt.has_wscale)
				S->wscale = g->opt.wscale;
			if (!(fl & TCP_ACK)) {
				if (S->state == XC_TCP_CLOSED) {
					mon_emit(m, XC_MON_EV_CONN_START, f, sd, XC_MON_HK_SND, 0, 0, 0);
					set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_SYN_SENT);
				} else if (S->state == XC_TCP_LISTEN) {
					set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_SYN_SENT);
				}
			} else if (S->state == XC_TCP_LISTEN || S->state == XC_TCP_CLOSED) {
				set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_SYN_RCVD);
			}
		}
	} else if (!(S->sflags & (XC_MON_SF_SYN | XC_MON_SF_ISN_GUESSED))) {
		S->iss = dseq - 1;             /* SYN never seen: this byte is offset 0 */
		S->sflags |= XC_MON_SF_ISN_GUESSED;
		R->sflags |= XC_MON_SF_BASE;
	}

	if (g->len && (S->sflags & XC_MON_SF_SENT) && seq_lt(dseq, S->snd_max)) {
		S->rexmit_pkts++;
		S->rexmit_bytes += g->len;
		mon_hist(f, sd, 't');
		int64_t off = (R->sflags & XC_MON_SF_BASE) ? mon_rcv_off(f, rd, dseq) : dseq;
		mon_emit(m, XC_MON_EV_REXMIT, f, sd, XC_MON_HK_SND, 0, (uint64_t)off, g->len);
	}
	if (fin) {
		uint32_t fseq = dseq + g->len;
		if (!(S->sflags & XC_MON_SF_FIN)) {
			S->fin_seq = fseq;
			S->sflags |= XC_MON_SF_FIN;
			place_fin(f, rd);
			switch (S->state) {
			case XC_TCP_SYN_SENT:
			case XC_TCP_SYN_RCVD:
			case XC_TCP_ESTABLISHED:
				set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_FIN_WAIT_1);
				break;
			case XC_TCP_CLOSE_WAIT:
				set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_LAST_ACK);
				break;
			}
		} else if (fseq == S->fin_seq && !g->len) {
			S->rexmit_pkts++;
			mon_emit(m, XC_MON_EV_REXMIT, f, sd, XC_MON_HK_SND, 0, fseq, 0);
		}
	}
	uint32_t end = dseq + g->len + fin;
	if (!(S->sflags & XC_MON_SF_SENT) || seq_gt(end, S->snd_max)) {
		S->snd_max = end;
		S->sflags |= XC_MON_SF_SENT;
	}
	int scaled = !syn && S->wscale != 0xff && R->wscale != 0xff;
	S->wnd = scaled ? g->wnd << S->wscale : g->wnd;

	if (!(fl & TCP_ACK))
		return;
	if (!(S->sflags & XC_MON_SF_BASE) && !(R->sflags & (XC_MON_SF_SYN | XC_MON_SF_ISN_GUESSED))) {
		R->iss = g->ack - 1;           /* the peer's next byte is offset 0 */
		R->sflags |= XC_MON_SF_ISN_GUESSED;
		S->sflags |= XC_MON_SF_BASE;
	}
	if (!(S->sflags & XC_MON_SF_BASE))
		return;
	int64_t ao = mon_rcv_off(f, sd, g->ack);
	if (ao >= 0 && (!(S->sflags & XC_MON_SF_ACKED) || (uint64_t)ao > S->ack_off)) {
		S->ack_off = (uint64_t)ao;
		S->sflags |= XC_MON_SF_ACKED;
	}
	/* what its ACK proves it received */
	if (S->state == XC_TCP_SYN_SENT && !syn &&
	    (R->sflags & (XC_MON_SF_SYN | XC_MON_SF_ISN_GUESSED)) && seq_gt(g->ack, R->iss))
		set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_ESTABLISHED);
	if ((R->sflags & XC_MON_SF_FIN) && !(S->sflags & XC_MON_SF_FIN_RCVD) &&
	    seq_gt(g->ack, R->fin_seq))
		take_fin(m, f, sd, XC_MON_HK_SND);
	mon_stream_settle(m, f, sd, XC_MON_HK_SND);
}

/* ---- receiver ---- */

static void receiver_pass(struct xc_mon *m, struct xc_mon_flow *f, int rd, const struct tcp_seg *g)
{
	struct xc_mon_side *R = &f->side[rd], *S = &f->side[rd ^ 1];
	uint8_t fl = g->flags;
	uint32_t syn = (fl & TCP_SYN) ? 1 : 0;

	if (syn && !(fl & TCP_ACK)) {
		if (R->state == XC_TCP_LISTEN) {
			mon_emit(m, XC_MON_EV_CONN_START, f, rd, XC_MON_HK_RCV, 0, 0, 0);
			set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_SYN_RCVD);
		} else if (R->state == XC_TCP_SYN_SENT) {
			set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_SYN_RCVD);   /* simultaneous open */
		}
	} else if (fl & TCP_ACK) {
		int acks_syn = (R->sflags & XC_MON_SF_ISN_GUESSED) || seq_gt(g->ack, R->iss);
		if ((R->state == XC_TCP_SYN_SENT || R->state == XC_TCP_SYN_RCVD) &&
		    (R->sflags & (XC_MON_SF_SYN | XC_MON_SF_ISN_GUESSED)) && acks_syn &&
		    (syn || R->state == XC_TCP_SYN_RCVD))
			set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_ESTABLISHED);
		if ((R->sflags & XC_MON_SF_FIN) && seq_gt(g->ack, R->fin_seq)) {
			switch (R->state) {
			case XC_TCP_FIN_WAIT_1:
				set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_FIN_WAIT_2);
				break;
			case XC_TCP_CLOSING:
				set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_TIME_WAIT);
				break;
			case XC_TCP_LAST_ACK:
				set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_CLOSED);
				break;
			}
		}
	}
	if (g->len && (R->sflags & XC_MON_SF_BASE)) {
		int64_t off = mon_rcv_off(f, rd, g->seq + syn);
		mon_stream_insert(m, f, rd, XC_MON_HK_RCV, off, g->payload, g->caplen, g->len);
	}
	place_fin(f, rd);
	if ((S->sflags & XC_MON_SF_FIN) && (R->sflags & XC_MON_SF_FIN_OFF) &&
	    !(R->sflags & XC_MON_SF_FIN_RCVD) && R->rcv.next_off >= R->fin_off)
		take_fin(m, f, rd, XC_MON_HK_RCV);
}

/* ---- RST ---- */

static int rst_acceptable(const struct xc_mon_flow *f, int rd, const struct tcp_seg *g)
{
	const struct xc_mon_side *R = &f->side[rd];
	if (R->state == XC_TCP_SYN_SENT)
		return (g->flags & TCP_ACK) && g->ack == R->iss + 1;
	if (!(R->sflags & XC_MON_SF_BASE) || !(R->sflags & XC_MON_SF_ACKED))
		return 1;
	int64_t off = mon_rcv_off(f, rd, g->seq);
	uint64_t win = R->wnd > (1u << 20) ? R->wnd : (1u << 20);
	return off >= (int64_t)R->ack_off && (uint64_t)off <= R->ack_off + win;
}

/* ---- one packet of a flow ---- */

static int done_state(uint32_t s)
{
	return s == XC_TCP_TIME_WAIT || s == XC_TCP_CLOSED;
}

void mon_packet(struct xc_mon *m, struct xc_mon_flow *f, int sd, const struct tcp_seg *g,
		uint64_t ts)
{
	int rd = sd ^ 1;
	struct xc_mon_side *S = &f->side[sd];
	uint8_t fl = g->flags;
	if (ts > f->last_ns)
		f->last_ns = ts;
	if (fl & TCP_SYN)
		mon_hist(f, sd, (fl & TCP_ACK) ? 'h' : 's');
	if (fl & TCP_FIN)
		mon_hist(f, sd, 'f');
	if (fl & TCP_RST)
		mon_hist(f, sd, 'r');
	if (g->len)
		mon_hist(f, sd, 'd');
	else if ((fl & (TCP_ACK | TCP_SYN | TCP_FIN | TCP_RST)) == TCP_ACK)
		mon_hist(f, sd, 'a');
	if (!g->wnd && !(fl & (TCP_SYN | TCP_RST)))
		mon_hist(f, sd, 'w');
	S->pkts++;
	S->ip_bytes += g->ip_len;
	S->payload_bytes += g->len;

	mon_emit(m, XC_MON_EV_PKT_IN, f, sd, XC_MON_HK_SND, 0, 0, 0);
	if (fl & TCP_RST) {
		int ok = rst_acceptable(f, rd, g);
		if (ok) {
			S->sflags |= XC_MON_SF_RST;
			set_state(m, f, sd, XC_MON_HK_SND, XC_TCP_CLOSED);
		}
		mon_emit(m, XC_MON_EV_PKT_IN, f, rd, XC_MON_HK_RCV, 0, 0, 0);
		if (ok) {
			set_state(m, f, rd, XC_MON_HK_RCV, XC_TCP_CLOSED);
			mon_end(m, f, XC_MON_END_RST);
		} else {
			m->st.rst_ignored++;
			mon_emit(m, XC_MON_EV_ERROR, f, rd, XC_MON_HK_RCV, XC_MON_ERR_BAD_RST, g->seq, 0);
			mon_list_move(m, f, f->status);
		}
		return;
	}
	sender_pass(m, f, sd, g);
	mon_emit(m, XC_MON_EV_PKT_IN, f, rd, XC_MON_HK_RCV, 0, 0, 0);
	receiver_pass(m, f, rd, g);

	const struct xc_mon_side *c = &f->side[XC_MON_CLI], *s = &f->side[XC_MON_SVR];
	if (done_state(c->state) && done_state(s->state)) {
		mon_end(m, f, XC_MON_END_FIN);
		return;
	}
	int closing = ((c->sflags | s->sflags) & XC_MON_SF_FIN) ||
		      !(c->sflags & s->sflags & XC_MON_SF_ESTAB);
	mon_list_move(m, f, closing ? XC_MON_FS_CLOSING : XC_MON_FS_ACTIVE);
}

