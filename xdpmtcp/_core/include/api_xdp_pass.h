/* An XDP program that passes every frame, for the kernel end of a veth
 * pair: a veth delivers the frames its peer sends with XDP_TX (the
 * steering program's SYN-ACKs) only to an end that runs an XDP program
 * (docs/architecture.md).  Labs attach it to their kernel peers. */
#ifndef API_XDP_PASS_H
#define API_XDP_PASS_H

/* Attach it to ifindex in the calling thread's network namespace, in
 * native mode; 0, or a negative errno. */
int xc_xdp_attach_pass(int ifindex);

#endif
