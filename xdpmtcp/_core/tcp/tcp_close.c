/* The ends of a connection: what entering TIME-WAIT, an orphan's
 * FIN-WAIT-2 or CLOSED starts or stops (tcb_set_state calls this), and
 * the end by timeout. */
#include "tcp_internal.h"

void tcp_state_entered(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	switch (t->state) {
	case XC_TCP_TIME_WAIT:
		t->timer_due[XC_T_RTO] = t->timer_due[XC_T_TLP] = t->timer_due[XC_T_PERSIST] = 0;
		t->timer_due[XC_T_KEEPALIVE] = 0;
		if (!e->cfg.timewait_ms) {
			/* no TIME-WAIT: the ACK of the peer's FIN leaves now, before
			 * the block goes (the peer's FIN retransmission would draw a RST) */
			if (t->last_ack_sent != t->rcv_nxt || (t->flags & XC_TF_ACK_NOW))
				xc_tcp_send_ctl(e, t, XC_CTL_ACK, e->now_ns);
			tcp_timers_clear(t);
			tcb_event(e, t, XC_EV_RELEASE);
			t->state = XC_TCP_CLOSED;
			return;
		}
		tcb_timer_set(e, t, XC_T_TIMEWAIT, e->now_ns + ms_ns(e->cfg.timewait_ms));
		break;
	case XC_TCP_FIN_WAIT_2:
		if (t->flags & XC_TF_ORPHAN)
			tcb_timer_set(e, t, XC_T_TIMEWAIT, e->now_ns + ms_ns(e->cfg.fin_wait2_ms));
		break;
	case XC_TCP_CLOSED:
		tcp_timers_clear(t);
		if (t->listen_id)
			tcp_listen_child_closed(e, t);   /* never accepted: C frees it */
		else if (t->flags & XC_TF_ORPHAN)
			tcb_event(e, t, XC_EV_RELEASE);
		break;
	}
}

void tcp_timed_out(struct xc_tcp_engine *e, struct xc_tcb *t)
{
	e->stats.timeouts++;
	tcp_timers_clear(t);
	tcb_event(e, t, XC_EV_TIMEDOUT);
	tcb_set_state(e, t, XC_TCP_CLOSED);
}
