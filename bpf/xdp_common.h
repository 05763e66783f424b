/* BPF-side helpers both XDP programs use (BCC only, never fed to cffi):
 * the per-CPU counters, writing xm_meta, and the redirect to our socket.
 * xdpmtcp/xdp/program.py pastes this file into the program's text, because
 * BCC rewrites map calls only there. */
#ifndef XDP_COMMON_H
#define XDP_COMMON_H
#include "xdpmtcp_meta.h"

#ifndef XM_MAX_QUEUES
#define XM_MAX_QUEUES 64
#endif

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

/* Classify a TCP segment the way the C core expects (MALFORMED when the
 * lengths do not add up), write the metadata and redirect to the socket of
 * the RX queue; to the kernel when none is bound. */
static __always_inline int redirect_tcp(struct xdp_md *ctx, struct iphdr *ip,
					struct tcphdr *tcp, __u8 owner)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ihl = ip->ihl * 4;
	__u32 ip_len = ntohs(ip->tot_len);
	__u32 frame_ip_len = data_end - (void *)ip;
	__u32 doff = tcp->doff * 4;
	__u32 payload = 0;
	__u8 seg_class;

	if (ip->frag_off & htons(0x2000))      /* first fragment: MF set */
		seg_class = XM_SEG_MALFORMED;
	else if (ip_len > frame_ip_len || ip_len < ihl + doff || doff < sizeof(*tcp))
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

#endif
