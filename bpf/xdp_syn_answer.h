/* BPF-side, steering program only: a flooded listener's SYNs answered in
 * XDP, so that a SYN flood never reaches the AF_XDP ring.
 *
 * Each CPU passes SYNs to the stack at up to xdp_syn_rate per second
 * (a budget of nanoseconds, saved up to xdp_syn_burst SYNs): those get
 * the stack's full handshake (window scale, SACK, timestamps) or its own
 * cookie.  A SYN over the budget is answered here with a cookie SYN-ACK
 * (XDP_TX), made by the same function and key as the stack's cookies
 * (xdpmtcp_syncookie.h), so the stack takes the client's ACK as it takes
 * its own cookies'.  The RST an attacking host's kernel returns for such a
 * SYN-ACK is recognised (tuple and sequence number remembered in a
 * direct-mapped cache, forgotten when the cookie's ACK passes) and dropped
 * here too: a listener ignores RSTs.
 *
 * Established connections' frames never meet the budget: under a flood
 * the ring carries them and at most the budget of new ones.
 *
 * Pasted into the program's text by xdpmtcp/xdp/program.py (map calls). */
#ifndef XDP_SYN_ANSWER_H
#define XDP_SYN_ANSWER_H
#include "xdpmtcp_syncookie.h"

#ifndef XM_COOKIE_CACHE
#define XM_COOKIE_CACHE 65536          /* power of two */
#endif

#define XM_SYNACK_TCP_LEN 24           /* header + MSS option */
#define XM_SYNACK_IP_LEN (20 + XM_SYNACK_TCP_LEN)
#define XM_SYNACK_FRAME_LEN (14 + XM_SYNACK_IP_LEN)

struct xm_syn_budget {
	__u64 credit_ns;
	__u64 last_ns;
};

/* A cookie SYN-ACK sent: the RST its peer's kernel answers it with
 * carries seq = the SYN-ACK's ACK number = peer ISN + 1. */
struct xm_cookie_sent {
	__u32 peer_addr;
	__u32 local_addr;
	__u16 peer_port;
	__u16 local_port;
	__u32 rst_seq;
};

BPF_ARRAY(syn_conf, struct xm_syn_conf, 1);
BPF_PERCPU_ARRAY(syn_budget, struct xm_syn_budget, 1);
BPF_ARRAY(cookies_sent, struct xm_cookie_sent, XM_COOKIE_CACHE);

/* Take one SYN's worth of this CPU's budget; 0 when it is spent. */
static __always_inline int syn_budget_take(const struct xm_syn_conf *conf, __u64 now)
{
	__u32 zero = 0;
	struct xm_syn_budget *b = syn_budget.lookup(&zero);
	if (!b)
		return 1;
	__u64 credit = b->credit_ns + (now - b->last_ns);
	if (credit > conf->burst_ns || now < b->last_ns)
		credit = conf->burst_ns;
	b->last_ns = now;
	if (credit >= conf->cost_ns) {
		b->credit_ns = credit - conf->cost_ns;
		return 1;
	}
	b->credit_ns = credit;
	return 0;
}

static __always_inline __u16 xm_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* One's complement sum of the pseudo-header (RFC 9293 §3.1). */
static __always_inline __u32 xm_pseudo_sum(__u32 saddr, __u32 daddr, __u32 tcp_len)
{
	return (saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       htons(IPPROTO_TCP) + htons(tcp_len);
}

/* One's complement sum of a TCP header of `words` 32-bit words; 0 when
 * the frame is shorter.  A case per length: the checksum helper takes only
 * sizes the verifier can prove are inside the frame. */
#define XM_TCP_SUM_CASE(words)                                              \
	case words:                                                         \
		if ((void *)tcp + 4 * (words) > data_end)                   \
			return 0;                                           \
		*sum = bpf_csum_diff(0, 0, (void *)tcp, 4 * (words), *sum); \
		return 1;

static __always_inline int xm_tcp_header_sum(struct tcphdr *tcp, void *data_end, __u32 *sum)
{
	switch (tcp->doff) {
	XM_TCP_SUM_CASE(5)
	XM_TCP_SUM_CASE(6)
	XM_TCP_SUM_CASE(7)
	XM_TCP_SUM_CASE(8)
	XM_TCP_SUM_CASE(9)
	XM_TCP_SUM_CASE(10)
	XM_TCP_SUM_CASE(11)
	XM_TCP_SUM_CASE(12)
	XM_TCP_SUM_CASE(13)
	XM_TCP_SUM_CASE(14)
	XM_TCP_SUM_CASE(15)
	default:
		return 0;
	}
}

/* A SYN we answer must be one the stack would answer: IPv4 without
 * options, no payload, both checksums right (the stack counts and drops
 * the others, so they go to it).  Returns the peer's MSS, 0 if not. */
static __always_inline __u32 syn_answerable(struct iphdr *ip, void *data_end)
{
	if (ip->ihl != 5 || (void *)(ip + 1) > data_end)
		return 0;
	if (xm_csum_fold(bpf_csum_diff(0, 0, (void *)ip, 20, 0)) != 0xffff)
		return 0;
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return 0;
	__u32 tcp_len = tcp->doff * 4;
	if (ntohs(ip->tot_len) != 20 + tcp_len)
		return 0;
	__u32 sum = xm_pseudo_sum(ip->saddr, ip->daddr, tcp_len);
	if (!xm_tcp_header_sum(tcp, data_end, &sum) || xm_csum_fold(sum) != 0xffff)
		return 0;
	/* MSS from the first option, where every stack puts it; elsewhere
	 * (or none) means 536, a smaller cookie MSS, never a wrong one */
	__u8 *opt = (void *)(tcp + 1);
	if (tcp_len >= 24 && (void *)(opt + 4) <= data_end && opt[0] == 2 && opt[1] == 4)
		return ((__u32)opt[2] << 8 | opt[3]) ?: XM_COOKIE_MSS_NONE;
	return XM_COOKIE_MSS_NONE;
}

/* Turn the SYN in the frame into our cookie SYN-ACK, in place. */
static __always_inline int write_synack(struct xdp_md *ctx, const struct xm_syn_conf *conf,
					const struct xm_listen_val *lv, __u32 peer_mss, __u64 now)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end)
		return -1;
	unsigned char peer_mac[ETH_ALEN], our_mac[ETH_ALEN];
	__builtin_memcpy(peer_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(our_mac, eth->h_dest, ETH_ALEN);
	__u32 peer_addr = ip->saddr, local_addr = ip->daddr;
	__u16 peer_port = tcp->source, local_port = tcp->dest;
	__u32 peer_isn = ntohl(tcp->seq);
	__u32 index = xm_cookie_mss_index(peer_mss);
	__u32 cookie = xm_cookie_make(conf->key0, conf->key1, local_addr, peer_addr, local_port,
				      peer_port, peer_isn, index, now);
	__u32 mss = xm_cookie_mss(index);
	if (lv->mss < mss)
		mss = lv->mss;

	int delta = XM_SYNACK_FRAME_LEN - (int)(data_end - data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + XM_SYNACK_FRAME_LEN > data_end)
		return -1;
	eth = data;
	ip = (void *)(eth + 1);
	tcp = (void *)(ip + 1);
	__u8 *opt = (void *)(tcp + 1);

	__builtin_memcpy(eth->h_dest, peer_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	/* as the stack's own SYN-ACKs: ID 0 (no counter revealed), DF */
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = htons(XM_SYNACK_IP_LEN);
	ip->id = 0;
	ip->frag_off = htons(0x4000);
	ip->ttl = conf->ttl;
	ip->protocol = IPPROTO_TCP;
	ip->check = 0;
	ip->saddr = local_addr;
	ip->daddr = peer_addr;
	ip->check = ~xm_csum_fold(bpf_csum_diff(0, 0, (void *)ip, 20, 0));

	tcp->source = local_port;
	tcp->dest = peer_port;
	tcp->seq = htonl(cookie);
	tcp->ack_seq = htonl(peer_isn + 1);
	((__u8 *)tcp)[12] = (XM_SYNACK_TCP_LEN / 4) << 4;
	((__u8 *)tcp)[13] = XM_TCP_SYN | XM_TCP_ACK;
	tcp->window = htons(lv->window);   /* a SYN's window is never scaled */
	tcp->check = 0;
	tcp->urg_ptr = 0;
	opt[0] = 2;
	opt[1] = 4;
	opt[2] = mss >> 8;
	opt[3] = mss & 0xff;
	tcp->check = ~xm_csum_fold(bpf_csum_diff(0, 0, (void *)tcp, XM_SYNACK_TCP_LEN,
				  xm_pseudo_sum(local_addr, peer_addr, XM_SYNACK_TCP_LEN)));

	__u32 slot = xm_flow_hash(peer_addr, local_addr, peer_port, local_port) & (XM_COOKIE_CACHE - 1);
	struct xm_cookie_sent *sent = cookies_sent.lookup(&slot);
	if (sent) {
		sent->peer_addr = peer_addr;
		sent->local_addr = local_addr;
		sent->peer_port = peer_port;
		sent->local_port = local_port;
		sent->rst_seq = peer_isn + 1;
	}
	return 0;
}

/* For a frame owned by a listener (no connection the program knows of):
 * XDP_TX (our cookie SYN-ACK), XDP_DROP (a RST answering one), or -1 to
 * hand the frame to the stack as any other. */
static __always_inline int listener_syn_answer(struct xdp_md *ctx, struct iphdr *ip,
					       struct tcphdr *tcp, const struct xm_listen_val *lv)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u8 flags = ((__u8 *)tcp)[13];
	__u32 zero = 0;

	if (flags & (XM_TCP_RST | XM_TCP_ACK)) {
		__u32 slot = xm_flow_hash(ip->saddr, ip->daddr, tcp->source, tcp->dest) &
			     (XM_COOKIE_CACHE - 1);
		struct xm_cookie_sent *sent = cookies_sent.lookup(&slot);
		if (!sent || sent->rst_seq != ntohl(tcp->seq) || sent->peer_addr != ip->saddr ||
		    sent->local_addr != ip->daddr || sent->peer_port != tcp->source ||
		    sent->local_port != tcp->dest)
			return -1;
		if (flags & XM_TCP_RST) {
			count(XM_CNT_COOKIE_RSTS);
			return XDP_DROP;
		}
		/* the cookie's ACK: a connection now, whose RSTs must reach it
		 * (one with this sequence number, sent before any data, would
		 * look like an answer to the cookie) */
		if (!(flags & XM_TCP_SYN))
			sent->peer_port = 0;
		return -1;
	}
	if ((flags & (XM_TCP_SYN | XM_TCP_ACK | XM_TCP_RST | XM_TCP_FIN)) != XM_TCP_SYN || !lv->mss)
		return -1;
	struct xm_syn_conf *conf = syn_conf.lookup(&zero);
	if (!conf || (!conf->key0 && !conf->key1))
		return -1;
	__u64 now = bpf_ktime_get_ns();
	if (syn_budget_take(conf, now))
		return -1;
	__u32 peer_mss = syn_answerable(ip, data_end);
	if (!peer_mss || write_synack(ctx, conf, lv, peer_mss, now) < 0) {
		count(XM_CNT_SYN_ANSWER_FAILED);
		return -1;
	}
	count(XM_CNT_SYN_COOKIES);
	return XDP_TX;
}

#endif
