/* XDP program of the flow monitor (xdpmtcp monitor --iface ... --xdp).
 *
 * Standalone (a mirror/tap port): IPv4 and IPv6 TCP frames that pass the
 * offloaded checks go to the AF_XDP socket of their RX queue with an
 * xm_meta in the metadata area; everything else goes to the kernel
 * (XDP_PASS).  An IPv6 frame with extension headers goes to the socket
 * unjudged (owner 1): the C core walks them and evaluates the filter.
 * Inline (XMON_ALL): every frame goes to the socket, the monitor forwards
 * it out of the other interface itself; the offloaded checks only set
 * meta.owner (1 = may match the filter, 0 = cannot).
 *
 * The offloaded filter: the monitor's whole --filter, compiled to a C
 * expression (xdpmtcp.filter: Filter.xdp_expression, true for a frame of
 * either direction of a flow it matches) and built into the program as
 * XMON_FILTER over the frame's fields below; without one every TCP frame
 * may match.  Standalone, frames it rejects go to the kernel
 * (counted in filtered); the C core still evaluates the filter per flow.
 */
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include "xdp_segment.h"

#ifndef XM_MAX_QUEUES
#define XM_MAX_QUEUES 64
#endif
#ifndef XMON_FILTER
#define XMON_FILTER 1
#endif

/* mon_cfg[0] flags */
#define XMON_ALL 1         /* inline: every frame to the socket */

/* counters */
#define XMON_SEEN 0
#define XMON_REDIRECTED 1
#define XMON_PASSED 2
#define XMON_FILTERED 3    /* the offloaded filter rejected the frame */
#define XMON_NO_SOCKET 4
#define XMON_CNT_MAX 5

BPF_XSKMAP(xsks, XM_MAX_QUEUES);
BPF_ARRAY(mon_cfg, __u32, 1);
BPF_PERCPU_ARRAY(counters, __u64, XMON_CNT_MAX);

static __always_inline void count(__u32 idx)
{
	__u64 *c = counters.lookup(&idx);
	if (c)
		*c += 1;
}

static __always_inline int to_socket(struct xdp_md *ctx)
{
	__u32 queue = ctx->rx_queue_index;
	if (!xsks.lookup(&queue)) {
		count(XMON_NO_SOCKET);
		count(XMON_PASSED);
		return XDP_PASS;
	}
	count(XMON_REDIRECTED);
	return xsks.redirect_map(queue, XDP_PASS);
}

static __always_inline int not_ours(struct xdp_md *ctx, __u32 flags)
{
	if (flags & XMON_ALL)
		return to_socket(ctx);
	count(XMON_PASSED);
	return XDP_PASS;
}

/* The names Filter.xdp_expression() uses: addresses as loaded, ports in
 * host order; the monitor only ever offers TCP frames here (IPv4, or IPv6
 * without extension headers: ip6 set, ip NULL). */
static __always_inline int may_match(struct iphdr *ip, struct ipv6hdr *ip6, struct tcphdr *tcp,
				     __u32 len)
{
	__u32 saddr = 0, daddr = 0, s6[4] = {0}, d6[4] = {0};
	__u16 sport = ntohs(tcp->source), dport = ntohs(tcp->dest);
	__u8 proto = IPPROTO_TCP, tcp_flags = ((__u8 *)tcp)[13];
	int has_ports = 1, ipv4 = ip != NULL, ipv6 = ip6 != NULL;
	if (ip) {
		saddr = ip->saddr;
		daddr = ip->daddr;
	} else if (ip6) {
		__builtin_memcpy(s6, &ip6->saddr, 16);
		__builtin_memcpy(d6, &ip6->daddr, 16);
	}
	return (XMON_FILTER) ? 1 : 0;
}

/* Is the upper layer behind IPv6 extension headers TCP?  At most
 * XMON_EXT6_MAX headers walked (more: not the monitor's, as ICMPv6 behind
 * a hop-by-hop header, MLD, stays the kernel's). */
#define XMON_EXT6_MAX 4
static __always_inline int tcp_behind(void *p, void *data_end, __u8 nh)
{
#pragma unroll
	for (int i = 0; i < XMON_EXT6_MAX; i++) {
		__u8 *h = p;
		if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
			break;
		if ((void *)(h + 2) > data_end)
			return 0;
		__u32 len = nh == 44 ? 8 : nh == 51 ? (h[1] + 2u) * 4 : (h[1] + 1u) * 8;
		nh = h[0];
		p += len;
	}
	return nh == IPPROTO_TCP;
}

/* An IPv6 frame: TCP right after the header is judged here; TCP behind
 * extension headers goes to the socket unjudged; anything else is not
 * the monitor's. */
static __always_inline int ipv6_frame(struct xdp_md *ctx, void *data, void *data_end, __u32 flags)
{
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct tcphdr *tcp;
	__u32 payload = 0;
	__u8 nh, seg_class = XM_SEG_NONE, owner = 1;

	if ((void *)(ip6 + 1) > data_end)
		return not_ours(ctx, flags);
	nh = ip6->nexthdr;
	if (nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51)
		return tcp_behind(ip6 + 1, data_end, nh) ? to_socket(ctx) : not_ours(ctx, flags);
	if (nh != IPPROTO_TCP)
		return not_ours(ctx, flags);
	tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > data_end)
		return not_ours(ctx, flags);
	owner = may_match(NULL, ip6, tcp, (__u32)(data_end - data));
	if (!owner) {
		count(XMON_FILTERED);
		if (!(flags & XMON_ALL)) {
			count(XMON_PASSED);
			return XDP_PASS;
		}
	}
	__u32 plen = ntohs(ip6->payload_len), doff = tcp->doff * 4;
	if (doff < sizeof(*tcp) || plen < doff || plen > (__u32)(data_end - (void *)tcp))
		seg_class = XM_SEG_MALFORMED;
	else
		seg_class = xm_classify(((__u8 *)tcp)[13], payload = plen - doff);
	__u32 *s = (__u32 *)&ip6->saddr, *d = (__u32 *)&ip6->daddr;
	xm_write_meta(ctx, xm_flow_hash(s[0] ^ s[1] ^ s[2] ^ (s[3] * 0x9e3779b1u),
				       d[0] ^ d[1] ^ d[2] ^ (d[3] * 0x9e3779b1u), tcp->source, tcp->dest),
		      payload, seg_class, owner);
	return to_socket(ctx);
}

int xdpmtcp_monitor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 zero = 0, flags = 0, ihl, payload = 0;

	__u32 *cfg = mon_cfg.lookup(&zero);
	if (cfg)
		flags = *cfg;
	count(XMON_SEEN);
	if ((void *)(eth + 1) > data_end)
		return not_ours(ctx, flags);
	if (eth->h_proto == htons(ETH_P_IPV6))
		return ipv6_frame(ctx, data, data_end, flags);
	if (eth->h_proto != htons(ETH_P_IP))
		return not_ours(ctx, flags);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
		return not_ours(ctx, flags);
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip) || (ip->frag_off & htons(0x1fff)))
		return not_ours(ctx, flags);
	tcp = (void *)ip + ihl;
	if ((void *)(tcp + 1) > data_end)
		return not_ours(ctx, flags);
	__u8 owner = may_match(ip, NULL, tcp, (__u32)(data_end - data));
	if (!owner) {
		count(XMON_FILTERED);
		if (!(flags & XMON_ALL)) {
			count(XMON_PASSED);
			return XDP_PASS;
		}
	}

	__u8 seg_class = xm_segment_class(ip, tcp, data_end, &payload);
	xm_write_meta(ctx, xm_flow_hash(ip->saddr, ip->daddr, tcp->source, tcp->dest), payload,
		      seg_class, owner);
	return to_socket(ctx);
}
