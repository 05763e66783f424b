/* XDP monitor program: the TCP frames a monitor filter selects go to the
 * monitor's AF_XDP socket with xm_meta; everything else goes on to the
 * kernel.  XM_FILTER is the filter compiled to C by xdpmtcp/filter
 * (Filter.xdp_expression) over the fields parsed below; it is given with
 * -D at build time, so the check costs no map lookup.
 *
 * Use it on an interface that receives a copy of the traffic (a mirror or
 * tap port): the frames it takes are not seen by the kernel of this host.
 * Built with XM_INLINE, for the two interfaces of a bump in the wire, it
 * takes every frame: the ones the filter selects with owner
 * XM_OWNER_MONITOR, the rest (ARP, other traffic) with owner 0, for the
 * monitor to forward unchanged out of the other interface.
 */
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include "xdp_common.h"

#ifndef XM_FILTER
#define XM_FILTER 1
#endif

/* Not for the monitor: to the kernel, or (inline) to the socket to be
 * forwarded with owner 0. */
static __always_inline int not_monitored(struct xdp_md *ctx)
{
#ifdef XM_INLINE
	__u32 queue = ctx->rx_queue_index;
	if (!xsks.lookup(&queue)) {
		count(XM_CNT_NO_SOCKET);
		return pass();
	}
	count(XM_CNT_REDIRECTED);
	return xsks.redirect_map(queue, XDP_PASS);
#else
	return pass();
#endif
}

int xdpmtcp_monitor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 ihl;

	count(XM_CNT_SEEN);
	if ((void *)(eth + 1) > data_end || eth->h_proto != htons(ETH_P_IP))
		return not_monitored(ctx);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
		return not_monitored(ctx);
	if (ip->frag_off & htons(0x1fff))
		return not_monitored(ctx);
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return not_monitored(ctx);
	tcp = (void *)ip + ihl;
	if ((void *)(tcp + 1) > data_end)
		return not_monitored(ctx);

	/* the names Filter.xdp_expression() uses */
	int ipv4 = 1, has_ports = 1;
	__u32 saddr = ip->saddr, daddr = ip->daddr;
	__u16 sport = ntohs(tcp->source), dport = ntohs(tcp->dest);
	__u8 proto = ip->protocol, tcp_flags = ((__u8 *)tcp)[13];
	__u32 len = data_end - data;
	(void)ipv4; (void)has_ports; (void)saddr; (void)daddr; (void)sport; (void)dport;
	(void)proto; (void)tcp_flags; (void)len;
	if (!(XM_FILTER))
		return not_monitored(ctx);
	return redirect_tcp(ctx, ip, tcp, XM_OWNER_MONITOR);
}
