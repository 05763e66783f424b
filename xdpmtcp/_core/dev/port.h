/* Private: the generic port (stats, fault injector, pcap tap) and the
 * interface its backends (AF_XDP, in-memory link) implement. */
#ifndef XC_PORT_H
#define XC_PORT_H
#include "api.h"
#include "faults.h"
#include "pcap/pcap_writer.h"

#define XC_TX_STAGE 64
/* super-segments per send_gso call */
#define XC_GSO_BATCH 16

struct xc_port;

struct xc_backend_ops {
	/* Append up to max frames to b with their metadata; return count. */
	int (*recv)(struct xc_port *port, struct xc_burst *b, uint32_t max);
	/* Queue n frames; return how many were taken. */
	int (*send)(struct xc_port *port, const uint8_t *const *frames,
		    const uint32_t *lens, uint32_t n);
	/* Make queued frames leave (syscall for AF_XDP). */
	int (*kick)(struct xc_port *port);
	void (*close)(struct xc_port *port);
	/* Optional: nonzero when frames wait to be received (no syscall). */
	int (*rx_ready)(struct xc_port *port);
	/* Optional: send n TCP super-segments (xc_port_tx_gso) and let the
	 * kernel cut them; return how many were taken.  Frames sent before
	 * through send/kick have left (kick drains). */
	int (*send_gso)(struct xc_port *port, const uint8_t *const *frames,
			const uint32_t *lens, const uint16_t *gso, uint32_t n);
	/* Optional: fill the backend's gauges into a stats copy. */
	void (*gauges)(struct xc_port *port, struct xc_port_stats *out);
};

struct xc_port {
	const struct xc_backend_ops *ops;
	void *backend;
	int fd;
	int zerocopy;
	uint32_t flags;
	struct xc_port_stats stats;
	struct xc_faults faults[2];      /* XC_RX, XC_TX */
	struct xc_pcap_writer pcap;
	struct xc_held_frame held_out;   /* scratch for releasing held frames */
	struct xc_burst *fwd;            /* xc_port_forward's, on first use */
	uint8_t *lend_base;              /* the backend's frames (umem) when it can lend them */
	int lending;                     /* this receive lends (xc_port_rx_lend, when it can) */
	uint8_t tx_stage[XC_TX_STAGE][XC_FRAME_MAX];
};

struct xc_port *xc_port_new(const struct xc_backend_ops *ops, void *backend);
/* Backends call this for every frame they take off the wire: fault
 * injection, pcap, verification, then a copy into b (NULL: count only).
 * pkt carries the XDP metadata (seg_class 0 when there was none).
 * Returns 1 when the frame was lent to b instead (port->lending): the
 * backend keeps it until a receive finds the burst emptied. */
int xc_port_ingest(struct xc_port *port, struct xc_burst *b,
		   uint8_t *frame, uint32_t len, const struct xc_pkt *pkt);
/* xc_port_rx for a burst's one consumer that empties it before the next
 * receive (the engine): where the backend can (AF_XDP), the burst points
 * at the frames in the umem instead of holding copies, and they go back to
 * the fill ring at the next receive into the emptied burst.  Copies as
 * xc_port_rx does while RX faults are on or hold frames. */
int xc_port_rx_lend(struct xc_port *port, struct xc_burst *b, uint32_t max);
/* Send frames the port may modify in place (no copy, no checksum fill):
 * pcap, TX faults, backend, kick.  Frames that find no room are dropped
 * and counted (tx_no_room).  Returns the frames the backend took,
 * duplicates included. */
int xc_port_send_inplace(struct xc_port *port, uint8_t *const *frames,
			 const uint32_t *lens, uint32_t n);

#endif
