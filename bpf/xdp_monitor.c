/* XDP program of the flow monitor (xdpmtcp monitor --iface ... --xdp).
 *
 * Standalone (a mirror/tap port): IPv4 TCP frames that pass the offloaded
 * checks go to the AF_XDP socket of their RX queue with an xm_meta in the
 * metadata area; everything else goes to the kernel (XDP_PASS).
 * Inline (XMON_ALL): every frame goes to the socket, the monitor forwards
 * it out of the other interface itself; the offloaded checks only set
 * meta.owner (1 = may match the filter, 0 = cannot).
 *
 * Offloaded checks (filled from the monitor's --filter by the control
 * plane when they are a necessary condition of it): a set of ports (either
 * direction) and a set of IPv4 prefixes (either address).  The C core
 * still evaluates the exact filter per new flow.
 */
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include "xdp_segment.h"

#ifndef XM_MAX_QUEUES
#define XM_MAX_QUEUES 64
#endif
#define XMON_MAX_PORTS 1024
#define XMON_MAX_NETS 1024

/* mon_cfg[0] flags */
#define XMON_ALL 1         /* inline: every frame to the socket */
#define XMON_PORTS 2       /* mon_ports holds a necessary condition */
#define XMON_NETS 4        /* mon_nets holds a necessary condition */

/* counters */
#define XMON_SEEN 0
#define XMON_REDIRECTED 1
#define XMON_PASSED 2
#define XMON_FILTERED 3    /* standalone: failed the offloaded checks */
#define XMON_NO_SOCKET 4
#define XMON_CNT_MAX 5

struct xmon_lpm_key {
	__u32 prefixlen;
	__u32 addr;        /* network order */
};

BPF_XSKMAP(xsks, XM_MAX_QUEUES);
BPF_ARRAY(mon_cfg, __u32, 1);
BPF_HASH(mon_ports, __u16, __u32, XMON_MAX_PORTS);
BPF_LPM_TRIE(mon_nets, struct xmon_lpm_key, __u32, XMON_MAX_NETS);
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

static __always_inline int may_match(__u32 flags, __u32 saddr, __u32 daddr,
				     __u16 sport, __u16 dport)
{
	if (flags & XMON_PORTS) {
		if (!mon_ports.lookup(&sport) && !mon_ports.lookup(&dport))
			return 0;
	}
	if (flags & XMON_NETS) {
		struct xmon_lpm_key k = { .prefixlen = 32, .addr = saddr };
		if (!mon_nets.lookup(&k)) {
			k.addr = daddr;
			if (!mon_nets.lookup(&k))
				return 0;
		}
	}
	return 1;
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
	if ((void *)(eth + 1) > data_end || eth->h_proto != htons(ETH_P_IP))
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
	__u8 owner = may_match(flags, ip->saddr, ip->daddr, tcp->source, tcp->dest);
	if (!owner && !(flags & XMON_ALL)) {
		count(XMON_FILTERED);
		count(XMON_PASSED);
		return XDP_PASS;
	}

	__u8 seg_class = xm_segment_class(ip, tcp, data_end, &payload);
	xm_write_meta(ctx, xm_flow_hash(ip->saddr, ip->daddr, tcp->source, tcp->dest), payload,
		      seg_class, owner);
	return to_socket(ctx);
}
