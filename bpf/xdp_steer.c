/* XDP steering program: decide per frame whether xdpmtcp owns it.
 *
 * Owned frames (TCP to an owned listen port, or of a 4-tuple we opened) get
 * an xm_meta written in the metadata area and are redirected to the AF_XDP
 * socket of their RX queue; if no socket is bound there they go to the
 * kernel.  Everything else (ARP, ICMP, other ports, non-IPv4) is XDP_PASS.
 * Compiled by BCC; the control plane fills the maps.
 */
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include "xdpmtcp_meta.h"

#ifndef XM_MAX_QUEUES
#define XM_MAX_QUEUES 64
#endif
#ifndef XM_MAX_LISTEN
#define XM_MAX_LISTEN 1024
#endif
#ifndef XM_MAX_FLOWS
#define XM_MAX_FLOWS 262144
#endif

BPF_HASH(listen_ports, struct xm_listen_key, __u32, XM_MAX_LISTEN);
BPF_HASH(flows, struct xm_flow_key, __u32, XM_MAX_FLOWS);
BPF_XSKMAP(xsks, XM_MAX_QUEUES);
BPF_PERCPU_ARRAY(counters, __u64, XM_CNT__MAX);

static __always_inline void count(__u32 idx)
{
	__u64 *c = counters.lookup(&idx);
	if (c)
		*c += 1;
}

static __always_inline int pass(void)
{
	count(XM_CNT_PASSED);
	return XDP_PASS;
}

static __always_inline int is_owned(__u32 daddr, __u32 saddr, __u16 dport,
				    __u16 sport, __u8 *owner)
{
	struct xm_flow_key fk = {
		.local_addr = daddr, .remote_addr = saddr,
		.local_port = dport, .remote_port = sport,
	};
	if (flows.lookup(&fk)) {
		*owner = XM_OWNER_FLOW;
		return 1;
	}
	struct xm_listen_key lk = { .addr = daddr, .port = dport, .pad = 0 };
	if (listen_ports.lookup(&lk)) {
		*owner = XM_OWNER_LISTEN;
		return 1;
	}
	lk.addr = 0;
	if (listen_ports.lookup(&lk)) {
		*owner = XM_OWNER_LISTEN;
		return 1;
	}
	return 0;
}

int xdpmtcp_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 ihl, ip_len, frame_ip_len, doff, payload = 0;
	__u8 seg_class, owner = 0;

	count(XM_CNT_SEEN);
	if ((void *)(eth + 1) > data_end)
		return pass();
	if (eth->h_proto != htons(ETH_P_IP))
		return pass();
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return pass();  /* the kernel drops what it cannot parse */
	if (ip->protocol != IPPROTO_TCP)
		return pass();
	/* A non-first fragment carries no ports: it cannot be matched. */
	if (ip->frag_off & htons(0x1fff))
		return pass();
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return pass();
	tcp = (void *)ip + ihl;
	/* Ports and flags are needed to decide ownership. */
	if ((void *)(tcp + 1) > data_end)
		return pass();
	if (!is_owned(ip->daddr, ip->saddr, tcp->dest, tcp->source, &owner))
		return pass();

	/* Ours from here: decide the class, never parse past the checks. */
	ip_len = ntohs(ip->tot_len);
	frame_ip_len = data_end - (void *)ip;
	doff = tcp->doff * 4;
	if (ip->frag_off & htons(0x2000))      /* first fragment: MF set */
		seg_class = XM_SEG_MALFORMED;
	else if (ip_len > frame_ip_len || ip_len < ihl + doff ||
		 doff < sizeof(*tcp))
		seg_class = XM_SEG_MALFORMED;
	else {
		payload = ip_len - ihl - doff;
		seg_class = xm_classify(((__u8 *)tcp)[13], payload);
	}
	if (seg_class == XM_SEG_MALFORMED)
		count(XM_CNT_MALFORMED);

	__u32 hash = xm_flow_hash(ip->saddr, ip->daddr, tcp->source, tcp->dest);

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct xm_meta)) == 0) {
		struct xm_meta *meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) <= (void *)(long)ctx->data) {
			meta->magic = XM_META_MAGIC;
			meta->flow_hash = hash;
			meta->payload_len = payload;
			meta->seg_class = seg_class;
			meta->owner = owner;
		}
	}

	__u32 queue = ctx->rx_queue_index;
	if (!xsks.lookup(&queue)) {
		count(XM_CNT_NO_SOCKET);
		return pass();
	}
	count(XM_CNT_REDIRECTED);
	return xsks.redirect_map(queue, XDP_PASS);
}
