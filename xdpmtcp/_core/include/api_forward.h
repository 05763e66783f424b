/* Frame forwarding between two ports, entirely in C. */
#ifndef XC_API_FORWARD_H
#define XC_API_FORWARD_H
#include "api.h"

/* Frames xc_port_forward moves per batch (its scratch burst, per source
 * port, allocated on first use: XC_FORWARD_BATCH * XC_FRAME_MAX bytes). */
#define XC_FORWARD_BATCH 64

/* Receive up to max frames on from and send them unchanged on to; returns
 * the frames handed to to's backend (duplicates included).  Every frame
 * is forwarded, IPv4 or not: from's checksum verification and
 * classification are off for the call.  Each frame passes from's RX
 * middleware (faults, pcap) and to's TX middleware once, so configure
 * faults on one of the two per direction.
 * Frames to cannot take are dropped and counted in to's tx_no_room. */
int xc_port_forward(struct xc_port *from, struct xc_port *to, uint32_t max);


#endif
