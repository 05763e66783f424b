/* The C data path's public API: the only header Python sees.
 *
 * build_core.py feeds this file to cffi's cdef after dropping the include
 * guard and #include lines, so keep it to declarations and integer #defines.
 * Internals live in private headers next to the sources that share them.
 */
#ifndef XC_API_H
#define XC_API_H
#include <stdint.h>
#include <stddef.h>
#include <linux/types.h>
#include "xdpmtcp_meta.h"

/* Largest frame the core handles (Ethernet header included, no FCS). */
#define XC_FRAME_MAX 2048

/* One received frame inside an xc_burst. */
struct xc_pkt {
	uint32_t off;          /* offset of the frame from xc_burst.frames */
	uint32_t len;          /* frame length */
	uint32_t flow_hash;    /* from the XDP metadata or the classifier */
	uint16_t payload_len;  /* TCP payload bytes */
	uint8_t seg_class;     /* enum xm_seg_class */
	uint8_t owner;         /* enum xm_owner, 0 when not steered by XDP */
	uint64_t ts_ns;        /* CLOCK_REALTIME at receive */
};

/* Frames copied out of the port, so the umem frame goes straight back to
 * the fill ring.  One allocation, capped at cap frames. */
struct xc_burst {
	uint32_t cap;
	uint32_t n;
	struct xc_pkt *pkts;
	uint8_t *data;         /* cap * XC_FRAME_MAX bytes */
	uint8_t *frames;       /* what pkts[].off count from: data, or the umem
				* of a port that lent its frames (the engine's receive) */
};

/* Fault injection for one direction; probabilities are in [0, 1] and
 * decided independently per frame. */
struct xc_fault_cfg {
	double drop;
	double duplicate;
	double reorder;        /* held back reorder_us, later frames overtake */
	double corrupt;        /* one bit flipped after the Ethernet header */
	double delay;          /* held delay_us */
	uint32_t delay_us;
	uint32_t reorder_us;
};

#define XC_RX 0
#define XC_TX 1

/* Port flags. */
#define XC_VERIFY_CSUM 1      /* drop RX frames with bad IPv4/TCP checksums */
#define XC_CLASSIFY 2         /* classify RX frames that carry no metadata */

/* Largest TCP super-segment, from the IPv4 header on (xc_port_tx_gso). */
#define XC_GSO_MAX_BYTES 65535

/* xc_port_tx flags. */
#define XC_TX_FILL_CSUM 1     /* compute IPv4 and TCP checksums before sending */
/* buf is the caller's scratch: checksums are filled in it and frames go to
 * the backend from there, without a staging copy (unless TX faults are on) */
#define XC_TX_SCRATCH 2

/* Frames the fault injector can hold (delay/reorder) per direction; when
 * full, the policy is "pass through": the frame goes on undelayed and
 * fault_hold_overflow counts it. */
#define XC_HOLD_CAP 1024

struct xc_port_stats {
	uint64_t rx_frames;
	uint64_t rx_bytes;
	uint64_t tx_frames;
	uint64_t tx_bytes;
	uint64_t rx_bad_ip_csum;
	uint64_t rx_bad_tcp_csum;
	uint64_t rx_malformed;     /* truncated, bad lengths, class MALFORMED */
	uint64_t rx_oversize;      /* longer than XC_FRAME_MAX */
	uint64_t tx_no_room;       /* no free frame or ring slot: not sent */
	uint64_t tx_oversize;      /* longer than XC_FRAME_MAX: refused */
	uint64_t tx_kick_errors;
	uint64_t fault_dropped[2];
	uint64_t fault_duplicated[2];
	uint64_t fault_corrupted[2];
	uint64_t fault_delayed[2];
	uint64_t fault_reordered[2];
	uint64_t fault_hold_overflow[2];
	uint64_t pcap_frames;
	uint64_t pcap_dropped;     /* size cap reached or write error */
	/* AF_XDP only, read when the stats are taken: */
	uint64_t tx_in_flight;     /* gauge: umem TX frames with the kernel, not completed */
	uint64_t rx_ring_full;     /* frames XDP redirected that found the RX ring full
				      (XDP_STATISTICS rx_ring_full + rx_dropped) */
	/* TCP super-segments (xc_port_tx_gso); their segments count in tx_frames */
	uint64_t tx_gso_frames;    /* super-segments sent */
	uint64_t tx_gso_kernel;    /* ... of which the kernel cut (AF_PACKET GSO) */
};

struct xc_port;

/* AF_XDP socket on ifname/queue (libxdp, program loading inhibited: the
 * caller owns the XDP program and puts xc_port_fd() into its XSKMAP).
 * nframes: umem frames, a power of two >= 64; half RX, half TX.
 * bind_flags: XDP_COPY / XDP_ZEROCOPY / XDP_USE_NEED_WAKEUP (0 = kernel's
 * choice).  NULL on failure with a message in err. */
struct xc_port *xc_port_open_xsk(const char *ifname, uint32_t queue,
				 uint32_t nframes, uint32_t bind_flags,
				 char *err, size_t errlen);
/* Two ports joined in memory: what one transmits the other receives.
 * depth: frames each direction can queue; more are dropped (tx_no_room). */
int xc_memlink_open(uint32_t depth, struct xc_port **a, struct xc_port **b);
void xc_port_close(struct xc_port *port);
int xc_port_fd(struct xc_port *port);        /* pollable fd, or -1 */
int xc_port_zerocopy(struct xc_port *port);  /* 1 when bound zero-copy */
uint32_t xc_port_set_flags(struct xc_port *port, uint32_t flags);

/* Receive up to max frames, appended to b (b->n grows); returns the number
 * appended.  Bad frames are counted and dropped here. */
int xc_port_rx(struct xc_port *port, struct xc_burst *b, uint32_t max);
/* Receive and discard up to max frames (drain benchmarks); still verifies. */
int xc_port_rx_discard(struct xc_port *port, uint32_t max);
/* Send n frames laid end to end in buf; returns how many were queued. */
int xc_port_tx(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
	       uint32_t n, uint32_t flags);
/* The same, where gso (NULL: none) marks TCP super-segments: gso[i] > 0
 * says frame i is one Ethernet/IPv4/TCP header followed by the payload
 * of several segments of gso[i] bytes each (the last may be shorter), at
 * most XC_GSO_MAX_BYTES from the IPv4 header on.  They leave as the
 * segments a NIC's TSO would cut: sequence numbers and IP IDs advance,
 * FIN and PSH only on the last, checksums filled (whatever flags say).
 * Cut here, before the pcap tap and the fault injector, or, on an AF_XDP
 * port in copy mode with neither installed, by the kernel (one AF_PACKET
 * send per super-segment: tx_gso_kernel).  Returns how many input frames
 * were handed over; segments that found no room count in tx_no_room. */
int xc_port_tx_gso(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
		   const uint16_t *gso, uint32_t n, uint32_t flags);
/* Release held frames that are due and push TX to the wire. */
int xc_port_flush(struct xc_port *port);
/* Nanoseconds (CLOCK_MONOTONIC) when the next held frame is due, 0 if none. */
/* Steer one connection (addresses and ports in network order) to the stack
 * (own = 1) or stop (own = 0) in the XDP program's flows map: 0 or -errno. */
int xc_flow_steer(int map_fd, uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		  uint16_t remote_port, int own);
uint64_t xc_port_next_due_ns(struct xc_port *port);
/* Busy polling: watch the RX ring up to spin_ns without a syscall (cffi
 * releases the GIL meanwhile).  1: frames wait; 0: none came; -1: this
 * backend cannot tell (sleep on its fd instead). */
int xc_port_busy_wait(struct xc_port *port, uint64_t spin_ns);
void xc_port_get_stats(struct xc_port *port, struct xc_port_stats *out);

int xc_port_set_faults(struct xc_port *port, int dir,
		       const struct xc_fault_cfg *cfg, uint64_t seed);
/* Write every frame received (after fault injection) and sent (before it)
 * to a pcap file; max_bytes caps the file (0 = no cap).  path NULL stops. */
int xc_port_set_pcap(struct xc_port *port, const char *path,
		     uint64_t max_bytes, char *err, size_t errlen);

struct xc_burst *xc_burst_new(uint32_t cap);
void xc_burst_free(struct xc_burst *b);

/* Verdicts of xc_frame_verify on a frame starting at its Ethernet header. */
#define XC_FRAME_OK 0
#define XC_FRAME_NOT_IPV4 1       /* not checked: not ours to judge */
#define XC_FRAME_MALFORMED 2      /* truncated or lengths do not add up */
#define XC_FRAME_BAD_IP_CSUM 3
#define XC_FRAME_BAD_TCP_CSUM 4

int xc_frame_verify(const uint8_t *frame, uint32_t len);
int xc_frame_fill_csum(uint8_t *frame, uint32_t len);      /* 0 ok, -1 not IPv4/TCP */
uint16_t xc_inet_csum(const uint8_t *buf, uint32_t len);
/* Software twin of the XDP classifier; fills seg_class/payload_len/flow_hash. */
int xc_frame_classify(const uint8_t *frame, uint32_t len, struct xc_pkt *out);

/* The XDP program attached to ifindex: id, attach mode and name (libbpf). */
int xc_xdp_query(int ifindex, uint32_t *prog_id, uint32_t *mode,
		 char *name, size_t namelen);
/* 1 when the kernel lets XDP programs call bpf_xdp_adjust_meta, 0 when its
 * verifier refuses the helper (XDP metadata then stays unwritten). */
int xc_xdp_meta_supported(void);

/* Kernel id of a loaded program, 0 on error. */
uint32_t xc_prog_id(int prog_fd);

uint64_t xc_monotonic_ns(void);

#endif
