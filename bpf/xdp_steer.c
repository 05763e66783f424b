/* XDP steering program: decide per frame whether xdpmtcp owns it.
 *
 * Owned frames (TCP to an owned listen port, to a port of the ephemeral
 * range reserved with the kernel, or of a 4-tuple we opened) get
 * an xm_meta written in the metadata area and are redirected to the AF_XDP
 * socket of their RX queue; if no socket is bound there they go to the
 * kernel.  Everything else (ARP, ICMP, other ports, non-IPv4) is XDP_PASS.
 * A listener's SYNs beyond a per-CPU budget are answered here with SYN
 * cookies, and the RSTs answering those dropped (xdp_syn_answer.h).
 * Compiled by BCC; the control plane fills the maps.
 */
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>

#ifndef XM_MAX_LISTEN
#define XM_MAX_LISTEN 1024
#endif
#ifndef XM_MAX_FLOWS
#define XM_MAX_FLOWS 262144
#endif

#include "xdp_common.h"
#include "xdp_syn_answer.h"

BPF_HASH(listen_ports, struct xm_listen_key, struct xm_listen_val, XM_MAX_LISTEN);
BPF_HASH(flows, struct xm_flow_key, __u32, XM_MAX_FLOWS);
/* The local ports of active opens, reserved with the kernel (host order;
 * hi 0: none): their frames are ours without a flows entry per connect. */
struct xm_port_range { __u16 lo, hi; };
BPF_ARRAY(ephemeral, struct xm_port_range, 1);

/* Who owns the segment: a connection we opened, a listener (*lv set), or
 * nobody (0). */
static __always_inline int is_owned(__u32 daddr, __u32 saddr, __u16 dport,
				    __u16 sport, __u8 *owner, struct xm_listen_val **lv)
{
	struct xm_flow_key fk = {
		.local_addr = daddr, .remote_addr = saddr,
		.local_port = dport, .remote_port = sport,
	};
	__u32 zero = 0;
	struct xm_port_range *r = ephemeral.lookup(&zero);
	__u16 port = ntohs(dport);
	if ((r && port >= r->lo && port <= r->hi) || flows.lookup(&fk)) {
		*owner = XM_OWNER_FLOW;
		return 1;
	}
	struct xm_listen_key lk = { .addr = daddr, .port = dport, .pad = 0 };
	*lv = listen_ports.lookup(&lk);
	if (!*lv) {
		lk.addr = 0;
		*lv = listen_ports.lookup(&lk);
	}
	if (*lv) {
		*owner = XM_OWNER_LISTEN;
		return 1;
	}
	return 0;
}

/* The IPv4 and TCP headers of a frame whose ports can be read; 0 if it
 * has none (not IPv4/TCP, a non-first fragment, truncated). */
static __always_inline int tcp_headers(struct xdp_md *ctx, struct iphdr **ipp, struct tcphdr **tcpp)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 ihl;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto != htons(ETH_P_IP))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return 0;  /* the kernel drops what it cannot parse */
	if (ip->protocol != IPPROTO_TCP)
		return 0;
	/* A non-first fragment carries no ports: it cannot be matched. */
	if (ip->frag_off & htons(0x1fff))
		return 0;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return 0;
	tcp = (void *)ip + ihl;
	/* Ports and flags are needed to decide ownership. */
	if ((void *)(tcp + 1) > data_end)
		return 0;
	*ipp = ip;
	*tcpp = tcp;
	return 1;
}

int xdpmtcp_steer(struct xdp_md *ctx)
{
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct xm_listen_val *lv = 0;
	__u8 owner = 0;

	count(XM_CNT_SEEN);
	if (!tcp_headers(ctx, &ip, &tcp))
		return pass();
	if (!is_owned(ip->daddr, ip->saddr, tcp->dest, tcp->source, &owner, &lv))
		return pass();
	if (owner == XM_OWNER_LISTEN && lv) {
		int action = listener_syn_answer(ctx, ip, tcp, lv);
		if (action >= 0)
			return action;
		/* the answer may have moved the frame's end: read it again */
		if (!tcp_headers(ctx, &ip, &tcp))
			return pass();
	}

	/* Ours from here: classify, annotate, redirect. */
	return redirect_tcp(ctx, ip, tcp, owner);
}
