/* BPF-side: classify an owned TCP segment and write its xm_meta (no maps,
 * so it works from a header under BCC).  Both XDP programs use it. */
#ifndef XDP_SEGMENT_H
#define XDP_SEGMENT_H
#include "xdpmtcp_meta.h"

/* Segment class the C core expects: MALFORMED when the lengths do not add
 * up or the frame is a first fragment; *payload gets the payload bytes. */
static __always_inline __u8 xm_segment_class(struct iphdr *ip, struct tcphdr *tcp,
					     void *data_end, __u32 *payload)
{
	__u32 ihl = ip->ihl * 4;
	__u32 ip_len = ntohs(ip->tot_len);
	__u32 frame_ip_len = data_end - (void *)ip;
	__u32 doff = tcp->doff * 4;

	*payload = 0;
	if ((ip->frag_off & htons(0x2000)) || ip_len > frame_ip_len || ip_len < ihl + doff ||
	    doff < sizeof(*tcp))
		return XM_SEG_MALFORMED;
	*payload = ip_len - ihl - doff;
	return xm_classify(((__u8 *)tcp)[13], *payload);
}

/* Write the metadata in front of the frame (best effort: a driver without
 * metadata room leaves the core to classify in software).  Packet
 * pointers are invalid afterwards. */
static __always_inline void xm_write_meta(struct xdp_md *ctx, __u32 hash, __u32 payload,
					  __u8 seg_class, __u8 owner)
{
#ifdef XM_NO_META
	/* built for a kernel whose verifier refuses bpf_xdp_adjust_meta in XDP
	 * programs: the core classifies every frame itself */
	return;
#endif
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
}

#endif
