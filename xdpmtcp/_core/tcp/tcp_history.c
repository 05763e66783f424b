/* A connection's history as Zeek's conn.log writes it: one letter per
 * kind of segment, the first time each side sends one (s SYN, h SYN-ACK,
 * a pure ACK, d data, f FIN, r RST, t retransmitted data, w zero window),
 * upper case for the originator (who sent the first SYN).  A few
 * instructions per segment; the operator's views read it (xc_tcp_info). */
#include "tcp_internal.h"

enum history_kind { H_SYN, H_SYNACK, H_ACK, H_DATA, H_FIN, H_RST, H_RETRANS, H_ZEROWIN, H_KINDS };
static const char LETTERS[H_KINDS + 1] = "shadfrtw";
#define H_WE_ORIGINATED (1u << (2 * H_KINDS))

static void note(struct xc_tcb *t, int kind, int ours)
{
	uint32_t bit = 1u << (2 * kind + ours);
	if ((t->hist_seen & bit) || t->nhist >= XC_TCP_HISTORY_MAX)
		return;
	t->hist_seen |= bit;
	int originator = ours == !!(t->hist_seen & H_WE_ORIGINATED);
	t->history[t->nhist++] = (char)(originator ? LETTERS[kind] - ('a' - 'A') : LETTERS[kind]);
}

void tcp_history(struct xc_tcb *t, uint8_t flags, uint32_t len, uint32_t wnd, int ours, int retrans)
{
	if (!t->nhist && (flags & TCP_SYN) && !(flags & TCP_ACK) && ours)
		t->hist_seen |= H_WE_ORIGINATED;
	if (flags & TCP_RST) {
		note(t, H_RST, ours);
		return;
	}
	if (flags & TCP_SYN) {
		note(t, (flags & TCP_ACK) ? H_SYNACK : H_SYN, ours);
		return;
	}
	if (len) {
		note(t, H_DATA, ours);
		if (retrans)
			note(t, H_RETRANS, ours);
	} else if ((flags & TCP_ACK) && !(flags & TCP_FIN)) {
		note(t, H_ACK, ours);
	}
	if (flags & TCP_FIN)
		note(t, H_FIN, ours);
	if (!wnd)
		note(t, H_ZEROWIN, ours);
}

void tcp_history_in(struct xc_tcb *t, const struct tcp_seg *s)
{
	tcp_history(t, s->flags, s->len, s->wnd, 0,
		    s->len && t->rcv_nxt && seq_lt(s->seq, t->rcv_nxt));
}
