/* BPF-side helpers both XDP programs use (BCC only, never fed to cffi):
 * the per-CPU counters, writing xm_meta, and the redirect to our socket.
 * xdpmtcp/xdp/program.py pastes this file into the program's text, because
 * BCC rewrites map calls only there. */
#ifndef XDP_COMMON_H
#define XDP_COMMON_H
#include "xdp_segment.h"

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
	__u32 payload;
	__u8 seg_class = xm_segment_class(ip, tcp, (void *)(long)ctx->data_end, &payload);
	if (seg_class == XM_SEG_MALFORMED)
		count(XM_CNT_MALFORMED);
	xm_write_meta(ctx, xm_flow_hash(ip->saddr, ip->daddr, tcp->source, tcp->dest),
		      payload, seg_class, owner);

	__u32 queue = ctx->rx_queue_index;
	if (!xsks.lookup(&queue)) {
		count(XM_CNT_NO_SOCKET);
		return pass();
	}
	count(XM_CNT_REDIRECTED);
	return xsks.redirect_map(queue, XDP_PASS);
}

#endif
