/* AF_PACKET backend: recvmmsg/sendmmsg batches on a packet socket.
 *
 * Why not an RX ring: measured on the lab bridge (2 cores, veth, kernel TCP
 * across it), receiving is ~17% of the bridge's CPU and sending ~80%, most
 * of that the receiving kernel's TCP running inside our sendmmsg.  A
 * TPACKET_V2 ring prototype gained ~13% throughput, at the price of ring
 * memory pinned up front; TPACKET_V3 would also delay every frame of a
 * sparse flow by its block timer (>= 1 ms).  Batches keep syscalls off
 * the per-frame cost and kernel memory is only used while frames queue. */
#define _GNU_SOURCE   /* recvmmsg, sendmmsg */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include "api_afpacket.h"
#include "port.h"
#include "wire/superframe.h"

#define VLAN_HLEN 4
/* Kernel memory a queued full-size frame costs (skb truesize), roughly. */
#define AFP_FRAME_TRUESIZE 4096
/* How long send waits in total for the kernel to take frames (EAGAIN,
 * ENOBUFS) before the rest are left to the caller. */
#define AFP_TX_WAIT_ROUNDS 8
#define AFP_TX_WAIT_MS 1

struct afp_port {
	struct xc_afpacket_stats st;
	struct mmsghdr rx_msgs[XC_AFPACKET_BATCH];
	struct iovec rx_iov[XC_AFPACKET_BATCH];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	} rx_ctrl[XC_AFPACKET_BATCH];
	struct mmsghdr tx_msgs[XC_AFPACKET_BATCH];
	struct iovec tx_iov[XC_AFPACKET_BATCH];
	/* VLAN_HLEN of headroom: a stripped tag is put back in place. */
	uint8_t rx_buf[XC_AFPACKET_BATCH][VLAN_HLEN + XC_FRAME_MAX];
	/* xc_afpacket_set_frame_max: larger buffers instead of rx_buf */
	uint8_t *big;
	uint32_t frame_max;          /* longest frame taken */
	uint32_t piece_max;          /* longest piece of a super-frame */
	char ifname[IF_NAMESIZE];
	/* the last batch received, as restored; frame NULL: dropped */
	uint8_t *rx_frame[XC_AFPACKET_BATCH];
	uint32_t rx_len[XC_AFPACKET_BATCH];
	/* what a full burst left of it: messages [pend_i, pend_n), and the
	 * next piece of message pend_i when it is a super-frame */
	uint32_t pend_i, pend_n, pend_piece;
	uint8_t piece[XC_FRAME_MAX];
};

static const struct tpacket_auxdata *auxdata(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata)))
			return (const struct tpacket_auxdata *)CMSG_DATA(c);
	return NULL;
}

/* Undo what the kernel did to the frame on its way to us: a VLAN tag moved
 * into metadata, a checksum left to offload.  Returns the frame start (it
 * moves back VLAN_HLEN when a tag is restored) and updates *len. */
static uint8_t *restore_frame(struct afp_port *a, uint8_t *buf, uint32_t *len,
			      const struct tpacket_auxdata *aux)
{
	uint8_t *frame = buf + VLAN_HLEN;
	if (!aux)
		return frame;
	if ((aux->tp_status & TP_STATUS_VLAN_VALID) && *len >= 12) {
		uint16_t tpid = (aux->tp_status & TP_STATUS_VLAN_TPID_VALID) ?
			aux->tp_vlan_tpid : ETH_P_8021Q;
		frame = buf;
		memmove(frame, frame + VLAN_HLEN, 12);   /* MAC addresses */
		frame[12] = tpid >> 8;
		frame[13] = tpid & 0xff;
		frame[14] = aux->tp_vlan_tci >> 8;
		frame[15] = aux->tp_vlan_tci & 0xff;
		*len += VLAN_HLEN;
		a->st.rx_vlan_restored++;
	}
	/* a super-frame's pieces get their checksums as they are cut */
	if ((aux->tp_status & TP_STATUS_CSUMNOTREADY) && *len <= XC_FRAME_MAX) {
		if (xc_frame_fill_csum(frame, *len) == 0)
			a->st.rx_csum_filled++;
		else
			a->st.rx_csum_partial++;
	}
	return frame;
}

/* Hand message i of the last batch to the port: whole, or as the pieces
 * of a super-frame from a->pend_piece on, at most room of them
 * (a->pend_piece is left at the next one when room runs out).  Returns the
 * frames handed over. */
static uint32_t take(struct xc_port *port, struct afp_port *a, struct xc_burst *b, uint32_t i,
		     uint32_t room)
{
	uint8_t *frame = a->rx_frame[i];
	uint32_t len = a->rx_len[i];
	if (!frame)
		return 0;
	if (len <= XC_FRAME_MAX) {
		struct xc_pkt pkt = { 0 };
		xc_port_ingest(port, b, frame, len, &pkt);
		return 1;
	}
	struct wire_super s;
	if (!wire_super_plan_eth(&s, frame, len, a->piece_max)) {
		port->stats.rx_oversize++;       /* not IPv4/TCP: no segments to make */
		return 0;
	}
	if (!a->pend_piece)
		a->st.rx_superframes++;
	uint32_t n = 0, k = a->pend_piece;
	for (; k < s.pieces && n < room; k++, n++) {
		struct xc_pkt pkt = { 0 };
		xc_port_ingest(port, b, a->piece, wire_super_piece(&s, k, a->piece), &pkt);
	}
	a->pend_piece = k < s.pieces ? k : 0;
	a->st.rx_superframe_pieces += n;
	return n;
}

/* Go on with the last batch from a->pend_i; 1 when it is all taken. */
static int take_pending(struct xc_port *port, struct afp_port *a, struct xc_burst *b,
			uint32_t max, uint32_t *total)
{
	for (; a->pend_i < a->pend_n; a->pend_i++) {
		if (*total >= max)
			return 0;
		*total += take(port, a, b, a->pend_i, max - *total);
		if (a->pend_piece)
			return 0;
	}
	return 1;
}

static int afp_recv(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	struct afp_port *a = port->backend;
	uint32_t total = 0;

	if (!take_pending(port, a, b, max, &total))
		return (int)total;
	/* at most max messages too: frames dropped (oversize) take no slot,
	 * and a flood of them must not keep the call going */
	for (uint32_t msgs = 0; total < max && msgs < max;) {
		uint32_t want = max - total < XC_AFPACKET_BATCH ?
			max - total : XC_AFPACKET_BATCH;
		for (uint32_t i = 0; i < want; i++) {
			a->rx_msgs[i].msg_hdr.msg_controllen = sizeof(a->rx_ctrl[i]);
			a->rx_msgs[i].msg_hdr.msg_flags = 0;
		}
		/* MSG_TRUNC: msg_len is the frame's real length, so an
		 * oversize frame is recognised rather than cut. */
		int n = recvmmsg(port->fd, a->rx_msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				a->st.rx_errors++;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t len = a->rx_msgs[i].msg_len;
			a->rx_frame[i] = NULL;
			if (len > a->frame_max) {
				port->stats.rx_oversize++;
				continue;
			}
			uint8_t *buf = (uint8_t *)a->rx_iov[i].iov_base - VLAN_HLEN;
			a->rx_frame[i] = restore_frame(a, buf, &len, auxdata(&a->rx_msgs[i].msg_hdr));
			a->rx_len[i] = len;
		}
		msgs += (uint32_t)n;
		a->pend_i = 0;
		a->pend_n = (uint32_t)n;
		if (!take_pending(port, a, b, max, &total))
			break;
		if ((uint32_t)n < want)
			break;
	}
	return (int)total;
}

static int afp_send(struct xc_port *port, const uint8_t *const *frames,
		    const uint32_t *lens, uint32_t n)
{
	struct afp_port *a = port->backend;
	uint32_t done = 0;
	int waits = 0;

	while (done < n) {
		uint32_t m = n - done < XC_AFPACKET_BATCH ? n - done : XC_AFPACKET_BATCH;
		for (uint32_t i = 0; i < m; i++) {
			a->tx_iov[i].iov_base = (void *)frames[done + i];
			a->tx_iov[i].iov_len = lens[done + i];
		}
		int r = sendmmsg(port->fd, a->tx_msgs, m, MSG_DONTWAIT);
		if (r > 0) {
			done += (uint32_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			/* Socket buffer full, or the peer's backlog dropped the
			 * frame: give the kernel a moment, then resend it. */
			if (waits++ >= AFP_TX_WAIT_ROUNDS)
				break;
			a->st.tx_retries++;
			struct pollfd pfd = { .fd = port->fd, .events = POLLOUT };
			poll(&pfd, 1, AFP_TX_WAIT_MS);
			continue;
		}
		/* This frame can never go (too long for the MTU, link down):
		 * count it and move on rather than block the ones behind. */
		a->st.tx_errors++;
		done++;
	}
	return (int)done;
}

static int afp_kick(struct xc_port *port)
{
	(void)port;   /* sendmmsg already put the frames on the wire */
	return 0;
}

static void afp_close(struct xc_port *port)
{
	struct afp_port *a = port->backend;
	if (port->fd >= 0)
		close(port->fd);
	free(a->big);
	free(a);
}

static const struct xc_backend_ops afp_ops = {
	.recv = afp_recv,
	.send = afp_send,
	.kick = afp_kick,
	.close = afp_close,
};

int xc_afpacket_get_stats(struct xc_port *port, struct xc_afpacket_stats *out)
{
	if (!port || port->ops != &afp_ops)
		return -1;
	struct afp_port *a = port->backend;
	struct tpacket_stats ks;
	socklen_t len = sizeof(ks);
	/* The kernel resets its counters on every read: accumulate. */
	if (getsockopt(port->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
		a->st.kernel_drops += ks.tp_drops;
	*out = a->st;
	return 0;
}

/* Each receive buffer: VLAN_HLEN of headroom, then size bytes. */
static void point_buffers(struct afp_port *a, uint8_t *base, uint32_t size)
{
	for (int i = 0; i < XC_AFPACKET_BATCH; i++) {
		a->rx_iov[i].iov_base = base + (size_t)i * (VLAN_HLEN + size) + VLAN_HLEN;
		a->rx_iov[i].iov_len = size;
	}
	a->frame_max = size;
}

int xc_afpacket_set_frame_max(struct xc_port *port, uint32_t frame_max)
{
	if (!port || port->ops != &afp_ops || frame_max < XC_FRAME_MAX ||
	    frame_max > XC_AFPACKET_FRAME_CAP)
		return -1;
	struct afp_port *a = port->backend;
	uint8_t *big = NULL;
	if (frame_max > XC_FRAME_MAX) {
		big = malloc((size_t)XC_AFPACKET_BATCH * (VLAN_HLEN + frame_max));
		if (!big)
			return -1;
	}
	/* pieces the interface could send: its MTU plus the Ethernet header */
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->ifname);
	uint32_t piece_max = XC_FRAME_MAX;
	if (ioctl(port->fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0 &&
	    (uint32_t)ifr.ifr_mtu + ETH_HLEN < piece_max)
		piece_max = (uint32_t)ifr.ifr_mtu + ETH_HLEN;
	a->pend_i = a->pend_n = a->pend_piece = 0;   /* a batch left over is dropped */
	free(a->big);
	a->big = big;
	a->piece_max = piece_max;
	point_buffers(a, big ? big : &a->rx_buf[0][0], frame_max);
	return 0;
}

int xc_afpacket_pending(struct xc_port *port)
{
	if (!port || port->ops != &afp_ops)
		return -1;
	struct afp_port *a = port->backend;
	return a->pend_i < a->pend_n;
}

static int sockopt_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

/* Socket buffers for ring_frames full frames.  The kernel doubles the
 * value it is given; the FORCE variant passes rmem_max (we are root in
 * the lab), the plain one is the fallback. */
static void size_buffers(int fd, uint32_t ring_frames)
{
	int bytes = (int)((uint64_t)ring_frames * AFP_FRAME_TRUESIZE / 2);
	if (sockopt_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes))
		sockopt_int(fd, SOL_SOCKET, SO_RCVBUF, bytes);
	if (sockopt_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, bytes))
		sockopt_int(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

struct xc_port *xc_port_open_afpacket(const char *ifname, uint32_t ring_frames,
				      char *err, size_t errlen)
{
	if (!ring_frames)
		ring_frames = XC_AFPACKET_DEFAULT_FRAMES;
	if (ring_frames > XC_AFPACKET_MAX_FRAMES) {
		snprintf(err, errlen, "ring_frames %u exceeds %u", ring_frames,
			 XC_AFPACKET_MAX_FRAMES);
		return NULL;
	}
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		snprintf(err, errlen, "no interface %s: %s", ifname, strerror(errno));
		return NULL;
	}
	/* Protocol 0 until bind: no frame of another interface can slip in
	 * before the socket is bound to ours. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "AF_PACKET socket: %s", strerror(errno));
		return NULL;
	}
	struct afp_port *a = calloc(1, sizeof(*a));
	struct xc_port *port = NULL;
	if (!a) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (sockopt_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) {
		snprintf(err, errlen, "PACKET_IGNORE_OUTGOING: %s", strerror(errno));
		goto fail;
	}
	if (sockopt_int(fd, SOL_PACKET, PACKET_AUXDATA, 1)) {
		snprintf(err, errlen, "PACKET_AUXDATA: %s", strerror(errno));
		goto fail;
	}
	size_buffers(fd, ring_frames);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)ifindex,
	};
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		snprintf(err, errlen, "bind to %s: %s", ifname, strerror(errno));
		goto fail;
	}
	struct packet_mreq mr = { .mr_ifindex = (int)ifindex, .mr_type = PACKET_MR_PROMISC };
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr))) {
		snprintf(err, errlen, "promiscuous mode on %s: %s", ifname, strerror(errno));
		goto fail;
	}
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
	point_buffers(a, &a->rx_buf[0][0], XC_FRAME_MAX);
	for (int i = 0; i < XC_AFPACKET_BATCH; i++) {
		a->rx_msgs[i].msg_hdr.msg_iov = &a->rx_iov[i];
		a->rx_msgs[i].msg_hdr.msg_iovlen = 1;
		a->rx_msgs[i].msg_hdr.msg_control = a->rx_ctrl[i].buf;
		a->tx_msgs[i].msg_hdr.msg_iov = &a->tx_iov[i];
		a->tx_msgs[i].msg_hdr.msg_iovlen = 1;
	}
	port = xc_port_new(&afp_ops, a);
	if (!port) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	port->fd = fd;
	return port;
fail:
	free(a);
	close(fd);
	return NULL;
}
