/* AF_PACKET port: a packet socket bound to one interface, for hosts and
 * interfaces where AF_XDP is not wanted (the lab's impairing bridge,
 * forwarding between kernel endpoints). */
#ifndef XC_API_AFPACKET_H
#define XC_API_AFPACKET_H
#include "api.h"

/* ring_frames when 0 is given; the largest accepted. */
#define XC_AFPACKET_DEFAULT_FRAMES 4096
#define XC_AFPACKET_MAX_FRAMES 65536

/* Frames per recvmmsg/sendmmsg call. */
#define XC_AFPACKET_BATCH 64

struct xc_afpacket_stats {
	uint64_t kernel_drops;      /* socket receive buffer full (PACKET_STATISTICS) */
	uint64_t rx_csum_filled;    /* IPv4/TCP frames with a pending (offloaded)
				     * checksum, completed before ingest */
	uint64_t rx_csum_partial;   /* pending checksum left as is (not IPv4/TCP) */
	uint64_t rx_vlan_restored;  /* VLAN tag the kernel stripped, put back */
	uint64_t rx_errors;         /* recvmmsg failures other than EAGAIN */
	uint64_t tx_retries;        /* waits after EAGAIN/ENOBUFS before resending */
	uint64_t tx_errors;         /* frames the kernel refused (e.g. EMSGSIZE):
				     * counted as sent by the port, never delivered */
	uint64_t rx_superframes;    /* longer than XC_FRAME_MAX (GRO/GSO): cut into segments */
	uint64_t rx_superframe_pieces;  /* the frames made of them */
};

/* Packet socket on ifname: ETH_P_ALL, promiscuous, its own transmissions
 * ignored (PACKET_IGNORE_OUTGOING).  ring_frames: full-size frames the
 * kernel may queue for us (socket buffers are sized for that many; 0 =
 * default); more are dropped by the kernel and counted in kernel_drops.
 * User-space memory is fixed: XC_AFPACKET_BATCH frame buffers.  NULL on
 * failure with a message in err. */
struct xc_port *xc_port_open_afpacket(const char *ifname, uint32_t ring_frames,
				      char *err, size_t errlen);
/* The largest frame_max xc_afpacket_set_frame_max takes (BIG TCP's). */
#define XC_AFPACKET_FRAME_CAP 262144

/* Backend counters; -1 when port is not an AF_PACKET port. */
int xc_afpacket_get_stats(struct xc_port *port, struct xc_afpacket_stats *out);

/* Receive frames up to frame_max bytes (<= XC_AFPACKET_FRAME_CAP) instead
 * of XC_FRAME_MAX: what a packet socket sees on an interface with GRO or
 * TSO on.  A frame longer than XC_FRAME_MAX is cut into the IPv4/TCP
 * segments it stands for (wire/superframe.h), each at most the
 * interface's MTU plus the Ethernet header (and XC_FRAME_MAX), so inline
 * forwarding can send them; when the burst fills up in the middle, the
 * next receive goes on with the rest.  Longer than frame_max, or a long
 * frame that is not IPv4/TCP: dropped, rx_oversize.  Memory:
 * XC_AFPACKET_BATCH buffers of frame_max bytes.  -1 when port is not an
 * AF_PACKET port, frame_max is out of range, or memory is short. */
int xc_afpacket_set_frame_max(struct xc_port *port, uint32_t frame_max);
/* 1 when frames already received wait for the next receive (the rest of
 * a batch a full burst left, super-frame pieces included): receive again
 * before sleeping on the socket, which may not wake for them.  0 if none,
 * -1 when port is not an AF_PACKET port. */
int xc_afpacket_pending(struct xc_port *port);

#endif
