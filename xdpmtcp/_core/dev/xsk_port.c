/* AF_XDP backend: umem and the four rings through libxdp's xsk.h.
 * The XDP program is BCC's, so libxdp is told not to load its own and the
 * caller inserts the socket fd into the program's XSKMAP.
 * Umem frames: the first half feed the fill ring (RX), the second half are
 * a free stack for TX, refilled from the completion ring.
 *
 * TCP super-segments (xc_port_tx_gso) leave through a packet socket on the
 * same interface with a virtio-net header, for the kernel to cut (GSO), as
 * it cuts its own TCP's: in copy mode every AF_XDP frame is an skb of its
 * own, handed to the driver alone, and on veth the receiving kernel's
 * whole input path then runs once per frame inside our sendto.  A
 * super-segment of 45 frames is one copy into one skb, cut and delivered
 * as a batch.  Zero-copy ports keep AF_XDP for everything. */
#define _GNU_SOURCE   /* sendmmsg */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <linux/virtio_net.h>
#include <xdp/xsk.h>
#include "port.h"
#include "wire/csum.h"

#define XSK_FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define XSK_BATCH 64

struct xsk_port {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	void *area;
	size_t area_len;
	uint32_t nframes;
	uint64_t *tx_free;
	uint32_t n_tx_free;
	uint32_t tx_outstanding;     /* submitted, not yet completed */
	uint64_t *lent;              /* RX frames lent to the burst (xc_port_rx_lend) */
	uint32_t n_lent;
	/* super-segments: a packet socket (-1: none), what one send needs */
	int gso_fd;
	struct sockaddr_ll gso_to;
	struct virtio_net_hdr gso_vnet[XC_GSO_BATCH];
	uint8_t gso_hdr[XC_GSO_BATCH][ETH_HLEN + 60 + 60];
	struct iovec gso_iov[XC_GSO_BATCH][3];
	struct mmsghdr gso_msgs[XC_GSO_BATCH];
};

static void reap_completions(struct xsk_port *x)
{
	uint32_t idx;
	uint32_t n = xsk_ring_cons__peek(&x->comp, x->nframes, &idx);
	for (uint32_t i = 0; i < n; i++)
		x->tx_free[x->n_tx_free++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (n) {
		xsk_ring_cons__release(&x->comp, n);
		x->tx_outstanding -= n;
	}
}

/* RX frames back to the fill ring, which has room for all of them, so
 * the reserve cannot fail. */
static void fill_put(struct xsk_port *x, const uint64_t *addrs, uint32_t n)
{
	uint32_t idx;
	if (!n)
		return;
	while (xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
	xsk_ring_prod__submit(&x->fill, n);
}

static int xsk_recv(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	struct xsk_port *x = port->backend;
	uint32_t total = 0;

	if (x->n_lent && (!b || b->n == 0)) {   /* the burst that held them is done */
		fill_put(x, x->lent, x->n_lent);
		x->n_lent = 0;
	}
	while (total < max) {
		uint32_t idx_rx;
		uint64_t back[XSK_BATCH];
		uint32_t nback = 0;
		uint32_t want = max - total < XSK_BATCH ? max - total : XSK_BATCH;
		uint32_t n = xsk_ring_cons__peek(&x->rx, want, &idx_rx);
		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&x->fill))
				recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			break;
		}
		for (uint32_t i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx_rx + i);
			uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
			uint8_t *frame = xsk_umem__get_data(x->area, addr);
			struct xc_pkt pkt = { 0 };
			if ((addr % XSK_FRAME_SIZE) >= sizeof(struct xm_meta)) {
				struct xm_meta *m = (struct xm_meta *)(frame - sizeof(*m));
				if (m->magic == XM_META_MAGIC) {
					pkt.flow_hash = m->flow_hash;
					pkt.payload_len = m->payload_len;
					pkt.seg_class = m->seg_class;
					pkt.owner = m->owner;
					m->magic = 0;   /* the chunk is reused: no stale meta */
				}
			}
			uint64_t chunk = xsk_umem__extract_addr(d->addr);
			if (xc_port_ingest(port, b, frame, d->len, &pkt))
				x->lent[x->n_lent++] = chunk;   /* back when the burst is emptied */
			else
				back[nback++] = chunk;
		}
		fill_put(x, back, nback);
		xsk_ring_cons__release(&x->rx, n);
		total += n;
	}
	return (int)total;
}

static int xsk_send(struct xc_port *port, const uint8_t *const *frames,
		    const uint32_t *lens, uint32_t n)
{
	struct xsk_port *x = port->backend;
	uint32_t idx;

	reap_completions(x);
	if (n > x->n_tx_free)
		n = x->n_tx_free;
	if (!n)
		return 0;
	/* The TX ring is as large as the TX half of the umem: room follows. */
	if (xsk_ring_prod__reserve(&x->tx, n, &idx) != n)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = x->tx_free[--x->n_tx_free];
		memcpy(xsk_umem__get_data(x->area, addr), frames[i], lens[i]);
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);
		d->addr = addr;
		d->len = lens[i];
		d->options = 0;
	}
	xsk_ring_prod__submit(&x->tx, n);
	x->tx_outstanding += n;
	return (int)n;
}

static int xsk_kick(struct xc_port *port)
{
	struct xsk_port *x = port->backend;
	int rounds = 0;

	/* Copy mode sends a bounded batch per syscall and says EAGAIN while
	 * descriptors remain; keep kicking until the ring drains. */
	while (x->tx_outstanding && rounds++ < 64) {
		if (sendto(port->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
			reap_completions(x);
			if (!x->tx_outstanding ||
			    !xsk_ring_prod__needs_wakeup(&x->tx))
				break;
			continue;
		}
		if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS) {
			reap_completions(x);
			continue;
		}
		port->stats.tx_kick_errors++;
		return -1;
	}
	reap_completions(x);
	return 0;
}

static int xsk_send_gso(struct xc_port *port, const uint8_t *const *frames,
			const uint32_t *lens, const uint16_t *gso, uint32_t n)
{
	struct xsk_port *x = port->backend;
	if (x->gso_fd < 0)
		return 0;
	if (n > XC_GSO_BATCH)
		n = XC_GSO_BATCH;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *f = frames[i];
		const uint8_t *ip = f + ETH_HLEN;
		uint32_t ihl = (ip[0] & 0x0f) * 4u;
		uint32_t l4 = ETH_HLEN + ihl;
		uint32_t hl = l4 + (f[l4 + 12] >> 4) * 4u;   /* xc_port_tx_gso checked these */
		uint8_t *h = x->gso_hdr[i];
		memcpy(h, f, hl);
		/* the TCP checksum for the kernel to finish (CHECKSUM_PARTIAL) */
		uint16_t c = wire_csum_pseudo(h + ETH_HLEN, lens[i] - l4);
		memcpy(h + l4 + 16, &c, 2);
		h[ETH_HLEN + 10] = h[ETH_HLEN + 11] = 0;
		c = xc_inet_csum(h + ETH_HLEN, ihl);
		memcpy(h + ETH_HLEN + 10, &c, 2);
		x->gso_vnet[i] = (struct virtio_net_hdr){
			.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
			.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
			.hdr_len = (uint16_t)hl,
			.gso_size = gso[i],
			.csum_start = (uint16_t)l4,
			.csum_offset = 16,
		};
		x->gso_iov[i][0] = (struct iovec){ &x->gso_vnet[i], sizeof(x->gso_vnet[i]) };
		x->gso_iov[i][1] = (struct iovec){ h, hl };
		x->gso_iov[i][2] = (struct iovec){ (void *)(f + hl), lens[i] - hl };
		x->gso_msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &x->gso_to, .msg_namelen = sizeof(x->gso_to),
			.msg_iov = x->gso_iov[i], .msg_iovlen = 3,
		};
	}
	uint32_t done = 0;
	for (int rounds = 0; done < n && rounds < 8; rounds++) {
		int r = sendmmsg(x->gso_fd, x->gso_msgs + done, n - done, MSG_DONTWAIT);
		if (r > 0) {
			done += (uint32_t)r;
			rounds = 0;
		} else if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
			port->stats.tx_kick_errors++;
			break;
		}
	}
	return (int)done;
}

/* The packet socket for super-segments; left at -1 where the kernel
 * says no (then they are cut in user space and go through AF_XDP). */
static void gso_open(struct xsk_port *x, const char *ifname)
{
	int one = 1, sndbuf = 4 << 20;
	x->gso_fd = -1;
	int ifindex = (int)if_nametoindex(ifname);
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);   /* protocol 0: receives nothing */
	if (!ifindex || fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	x->gso_to = (struct sockaddr_ll){ .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
					  .sll_ifindex = ifindex, .sll_halen = ETH_ALEN };
	x->gso_fd = fd;
	return;
fail:
	if (fd >= 0)
		close(fd);
}

static void xsk_free(struct xsk_port *x)
{
	if (x->gso_fd >= 0)
		close(x->gso_fd);
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, x->area_len);
	free(x->tx_free);
	free(x->lent);
	free(x);
}

static void xsk_close(struct xc_port *port)
{
	xsk_free(port->backend);
}

static void xsk_gauges(struct xc_port *port, struct xc_port_stats *out)
{
	struct xsk_port *x = port->backend;
	struct xdp_statistics st;
	socklen_t len = sizeof(st);
	reap_completions(x);
	out->tx_in_flight = x->tx_outstanding;
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
		out->rx_ring_full = st.rx_ring_full + st.rx_dropped;
}

static int xsk_rx_ready(struct xc_port *port)
{
	struct xsk_port *x = port->backend;
	return xsk_cons_nb_avail(&x->rx, 1) > 0;
}

static const struct xc_backend_ops xsk_ops = {
	.recv = xsk_recv,
	.send = xsk_send,
	.kick = xsk_kick,
	.rx_ready = xsk_rx_ready,
	.close = xsk_close,
	.gauges = xsk_gauges,
};

static const struct xc_backend_ops xsk_gso_ops = {
	.recv = xsk_recv,
	.send = xsk_send,
	.kick = xsk_kick,
	.send_gso = xsk_send_gso,
	.close = xsk_close,
	.gauges = xsk_gauges,
};

struct xc_port *xc_port_open_xsk(const char *ifname, uint32_t queue,
				 uint32_t nframes, uint32_t bind_flags,
				 char *err, size_t errlen)
{
	struct xsk_port *x = calloc(1, sizeof(*x));
	struct xc_port *port = NULL;
	int r;

	if (x)
		x->gso_fd = -1;

	if (!x || nframes < 64 || (nframes & (nframes - 1))) {
		snprintf(err, errlen, "umem frames must be a power of two >= 64");
		free(x);
		return NULL;
	}
	uint32_t half = nframes / 2;
	x->nframes = nframes;
	x->area_len = (size_t)nframes * XSK_FRAME_SIZE;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	x->tx_free = calloc(half, sizeof(*x->tx_free));
	x->lent = calloc(half, sizeof(*x->lent));
	if (x->area == MAP_FAILED || !x->tx_free || !x->lent) {
		x->area = x->area == MAP_FAILED ? NULL : x->area;
		snprintf(err, errlen, "cannot allocate %zu bytes of umem", x->area_len);
		goto fail;
	}
	struct xsk_umem_config ucfg = {
		.fill_size = half,
		.comp_size = half,
		.frame_size = XSK_FRAME_SIZE,
		.frame_headroom = 0,
		.flags = 0,
	};
	r = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
	if (r) {
		snprintf(err, errlen, "xsk_umem__create: %s", strerror(-r));
		goto fail;
	}
	struct xsk_socket_config scfg = {
		.rx_size = half,
		.tx_size = half,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = (uint16_t)bind_flags,
	};
	r = xsk_socket__create(&x->xsk, ifname, queue, x->umem, &x->rx, &x->tx, &scfg);
	if (r) {
		snprintf(err, errlen, "AF_XDP socket on %s queue %u: %s", ifname,
			 queue, strerror(-r));
		goto fail;
	}
	uint32_t idx;
	if (xsk_ring_prod__reserve(&x->fill, half, &idx) != half) {
		snprintf(err, errlen, "fill ring smaller than %u", half);
		goto fail;
	}
	for (uint32_t i = 0; i < half; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * XSK_FRAME_SIZE;
	xsk_ring_prod__submit(&x->fill, half);
	for (uint32_t i = 0; i < half; i++)
		x->tx_free[x->n_tx_free++] = (uint64_t)(half + i) * XSK_FRAME_SIZE;

	struct xdp_options opts;
	socklen_t optlen = sizeof(opts);
	int zerocopy = 0;
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0)
		zerocopy = !!(opts.flags & XDP_OPTIONS_ZEROCOPY);
	if (!zerocopy)
		gso_open(x, ifname);
	port = xc_port_new(x->gso_fd >= 0 ? &xsk_gso_ops : &xsk_ops, x);
	if (!port) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	port->fd = xsk_socket__fd(x->xsk);
	port->zerocopy = zerocopy;
	if (x->area_len < ((size_t)1 << 32))   /* a lent frame's offset is 32 bits */
		port->lend_base = x->area;
	return port;
fail:
	xsk_free(x);
	return NULL;
}
