/* The generic port: what every backend shares.  RX path per frame:
 * fault injection -> pcap -> verification -> copy into the caller's burst.
 * TX path: checksums -> pcap -> fault injection -> backend. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "wire/frame.h"
#include "wire/superframe.h"
#include "port.h"

uint64_t xc_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct xc_port *xc_port_new(const struct xc_backend_ops *ops, void *backend)
{
	struct xc_port *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->ops = ops;
	p->backend = backend;
	p->fd = -1;
	p->flags = XC_VERIFY_CSUM | XC_CLASSIFY;
	return p;
}

void xc_port_close(struct xc_port *port)
{
	if (!port)
		return;
	xc_port_flush(port);
	port->ops->close(port);
	xc_faults_release(&port->faults[XC_RX]);
	xc_faults_release(&port->faults[XC_TX]);
	xc_pcap_close(&port->pcap);
	xc_burst_free(port->fwd);
	free(port);
}

int xc_port_fd(struct xc_port *port) { return port->fd; }
int xc_port_zerocopy(struct xc_port *port) { return port->zerocopy; }

uint32_t xc_port_set_flags(struct xc_port *port, uint32_t flags)
{
	uint32_t old = port->flags;
	port->flags = flags;
	return old;
}

void xc_port_get_stats(struct xc_port *port, struct xc_port_stats *out)
{
	*out = port->stats;
	if (port->ops->gauges)
		port->ops->gauges(port, out);
}

static void pcap_tap(struct xc_port *port, const uint8_t *frame, uint32_t len, int dir)
{
	int r = xc_pcap_write(&port->pcap, frame, len, dir);
	if (r == 1)
		port->stats.pcap_frames++;
	else if (r == 0)
		port->stats.pcap_dropped++;
}

/* Verification and the copy into b (or, lending, a reference to the
 * frame where it lies), after faults and pcap.  Returns 1 when the frame
 * was lent: the backend must keep it until the burst is emptied. */
static int accept_rx(struct xc_port *port, struct xc_burst *b,
		     const uint8_t *frame, uint32_t len, const struct xc_pkt *meta)
{
	struct xc_port_stats *st = &port->stats;
	struct xc_pkt pkt = *meta;

	/* no XDP metadata (AF_PACKET, a kernel that refuses the helper):
	 * classify here, so impossible flags are dropped as XDP would */
	if (pkt.seg_class == XM_SEG_NONE && (port->flags & XC_CLASSIFY))
		xc_frame_classify(frame, len, &pkt);
	if (port->flags & XC_VERIFY_CSUM) {
		if (pkt.seg_class == XM_SEG_MALFORMED) {
			st->rx_malformed++;
			return 0;
		}
		switch (xc_frame_verify(frame, len)) {
		case XC_FRAME_MALFORMED:
			st->rx_malformed++;
			return 0;
		case XC_FRAME_BAD_IP_CSUM:
			st->rx_bad_ip_csum++;
			return 0;
		case XC_FRAME_BAD_TCP_CSUM:
			st->rx_bad_tcp_csum++;
			return 0;
		}
	}
	st->rx_frames++;
	st->rx_bytes += len;
	if (!b)
		return 0;
	pkt.len = len;
	pkt.ts_ns = realtime_ns();
	if (port->lending) {
		b->frames = port->lend_base;    /* xc_port_rx checked it is the burst's */
		pkt.off = (uint32_t)(frame - port->lend_base);
		b->pkts[b->n++] = pkt;
		return 1;
	}
	b->frames = b->data;
	pkt.off = b->n * XC_FRAME_MAX;
	memcpy(b->data + pkt.off, frame, len);
	b->pkts[b->n++] = pkt;
	return 0;
}

int xc_port_ingest(struct xc_port *port, struct xc_burst *b,
		   uint8_t *frame, uint32_t len, const struct xc_pkt *pkt)
{
	if (len > XC_FRAME_MAX) {
		port->stats.rx_oversize++;
		return 0;
	}
	if (port->lending) {              /* no faults while lending: straight in */
		pcap_tap(port, frame, len, XC_PCAP_IN);
		return accept_rx(port, b, frame, len, pkt);
	}
	enum xc_fault_verdict v = xc_faults_apply(&port->faults[XC_RX], frame, len,
						  pkt, &port->stats, XC_RX,
						  xc_monotonic_ns());
	if (v == XC_FAULT_DROP || v == XC_FAULT_HELD)
		return 0;
	pcap_tap(port, frame, len, XC_PCAP_IN);
	accept_rx(port, b, frame, len, pkt);
	if (v == XC_FAULT_DUPLICATE && (!b || b->n < b->cap)) {
		pcap_tap(port, frame, len, XC_PCAP_IN);
		accept_rx(port, b, frame, len, pkt);
	}
	return 0;
}

static uint32_t room(const struct xc_burst *b, uint32_t max)
{
	uint32_t free_slots = b->cap - b->n;
	return max < free_slots ? max : free_slots;
}

static int port_rx(struct xc_port *port, struct xc_burst *b, uint32_t max, int lend)
{
	uint32_t start = b->n;
	struct xc_faults *f = &port->faults[XC_RX];

	/* a burst still holding lent frames takes only more lent ones */
	if (b->n && b->frames != b->data && (f->enabled || f->n_held))
		return 0;
	if (f->n_held) {
		uint64_t now = xc_monotonic_ns();
		while (b->n - start < max && b->n < b->cap &&
		       xc_faults_pop_due(f, now, &port->held_out)) {
			pcap_tap(port, port->held_out.data, port->held_out.len, XC_PCAP_IN);
			accept_rx(port, b, port->held_out.data, port->held_out.len,
				  &port->held_out.pkt);
		}
	}
	uint32_t want = room(b, max - (b->n - start));
	/* Leave space for duplicates the injector may add. */
	if (f->enabled && f->cfg.duplicate > 0)
		want = (want + 1) / 2;
	/* Lend umem frames instead of copying them: only with nothing from
	 * the injector in the way, into a burst that is empty or lent already */
	port->lending = lend && port->lend_base && !f->enabled && !f->n_held &&
			(b->n == 0 || b->frames == port->lend_base);
	if (want)
		port->ops->recv(port, b, want);
	port->lending = 0;
	if (port->pcap.f && b->n != start)
		xc_pcap_flush(&port->pcap);
	return (int)(b->n - start);
}

int xc_port_rx(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	return port_rx(port, b, max, 0);
}

int xc_port_rx_lend(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	return port_rx(port, b, max, 1);
}

int xc_port_rx_discard(struct xc_port *port, uint32_t max)
{
	uint64_t before = port->stats.rx_frames;
	port->ops->recv(port, NULL, max);
	return (int)(port->stats.rx_frames - before);
}

/* Hand staged frames to the backend; returns how many it took. */
static uint32_t send_staged(struct xc_port *port, const uint8_t *const *frames,
			    const uint32_t *lens, uint32_t n)
{
	if (!n)
		return 0;
	int sent = port->ops->send(port, frames, lens, n);
	if (sent < 0)
		sent = 0;
	for (int i = 0; i < sent; i++) {
		port->stats.tx_frames++;
		port->stats.tx_bytes += lens[i];
	}
	if ((uint32_t)sent < n)
		port->stats.tx_no_room += n - sent;
	return (uint32_t)sent;
}

static void release_held_tx(struct xc_port *port)
{
	struct xc_faults *f = &port->faults[XC_TX];
	if (!f->n_held)
		return;
	uint64_t now = xc_monotonic_ns();
	while (xc_faults_pop_due(f, now, &port->held_out)) {
		const uint8_t *frame = port->held_out.data;
		send_staged(port, &frame, &port->held_out.len, 1);
	}
}

/* Middleware and backend for up to XC_TX_STAGE frames the port may modify
 * in place (faults corrupt them).  Returns how many frames, from the first,
 * are done with: sent, dropped or held by the injector; a duplicate whose
 * second copy found no room counts as done. */
static uint32_t tx_inplace(struct xc_port *port, uint8_t *const *frames,
			   const uint32_t *lens, uint32_t n)
{
	const uint8_t *ptrs[2 * XC_TX_STAGE];
	uint32_t plens[2 * XC_TX_STAGE];
	uint32_t src[2 * XC_TX_STAGE];    /* staged copy -> frame index */
	uint32_t np = 0;
	uint64_t now = xc_monotonic_ns();

	for (uint32_t i = 0; i < n; i++) {
		pcap_tap(port, frames[i], lens[i], XC_PCAP_OUT);
		enum xc_fault_verdict v = xc_faults_apply(
			&port->faults[XC_TX], frames[i], lens[i], NULL,
			&port->stats, XC_TX, now);
		if (v == XC_FAULT_DROP || v == XC_FAULT_HELD)
			continue;
		for (int copies = v == XC_FAULT_DUPLICATE ? 2 : 1; copies; copies--) {
			ptrs[np] = frames[i];
			plens[np] = lens[i];
			src[np++] = i;
		}
	}
	uint32_t taken = send_staged(port, ptrs, plens, np);
	if (taken == np)
		return n;
	/* Out of frames or ring slots: the caller keeps the rest. */
	port->ops->kick(port);
	if (taken && src[taken] == src[taken - 1])
		return src[taken] + 1;
	return src[taken];
}

/* A TCP super-segment (xc_port_tx_gso) planned as the wire cuts one
 * (wire/superframe.h: headers repeated, seq and IP ID advancing, fresh
 * checksums) into segments of seg payload bytes; 0 when the frame is no
 * whole IPv4/TCP super-segment of seg-byte segments (it is then sent as it
 * is). */
static int gso_plan(const uint8_t *f, uint32_t len, uint32_t seg, struct wire_super *g)
{
	struct tcp_seg s;
	if (!seg || wire_parse(f, len, &s, WIRE_NO_OPTS) != WIRE_OK || s.len <= seg ||
	    s.ip_len > XC_GSO_MAX_BYTES || ETH_HDR_LEN + s.ihl + s.doff + seg > XC_FRAME_MAX)
		return 0;
	return wire_super_plan(g, f, ETH_HDR_LEN, f + ETH_HDR_LEN, len - ETH_HDR_LEN,
			       ETH_HDR_LEN + s.ihl + s.doff + seg);
}

/* The kernel may cut super-segments: the backend can, and no middleware
 * has to see the segments (pcap, TX faults). */
static int kernel_gso(const struct xc_port *port)
{
	return port->ops->send_gso && !port->pcap.f && !port->faults[XC_TX].enabled;
}

/* A run of super-segments for the kernel to cut; returns how many of the
 * n it took (the rest: tx_no_room, by segment). */
static uint32_t send_kernel_gso(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
				const uint16_t *gso, const struct wire_super *g, uint32_t n)
{
	const uint8_t *frames[XC_GSO_BATCH];
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		frames[i] = buf + off;
		off += lens[i];
	}
	int sent = port->ops->send_gso(port, frames, lens, gso, n);
	if (sent < 0)
		sent = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i < (uint32_t)sent) {
			port->stats.tx_frames += g[i].pieces;
			port->stats.tx_bytes += (uint64_t)(g[i].l2_len + g[i].hl) * g[i].pieces + g[i].pay;
			port->stats.tx_gso_frames++;
			port->stats.tx_gso_kernel++;
		} else {
			port->stats.tx_no_room += g[i].pieces;
		}
	}
	return (uint32_t)sent;
}

int xc_port_tx_gso(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
		   const uint16_t *gso, uint32_t n, uint32_t flags)
{
	uint8_t *frames[XC_TX_STAGE];
	uint32_t flens[XC_TX_STAGE];
	uint32_t input[XC_TX_STAGE + 1];  /* staged frame -> input index */
	uint32_t done = 0;
	size_t off = 0;
	int by_kernel = gso && kernel_gso(port);

	release_held_tx(port);
	while (done < n) {
		struct wire_super g[XC_GSO_BATCH];
		uint32_t k = 0;
		size_t koff = off;
		/* super-segments the kernel cuts, in one call */
		while (by_kernel && done + k < n && k < XC_GSO_BATCH &&
		       gso_plan(buf + koff, lens[done + k], gso[done + k], &g[k]))
			koff += lens[done + k++];
		if (k) {
			uint32_t took = send_kernel_gso(port, buf + off, lens + done, gso + done, g, k);
			if (took < k)
				return (int)(done + took);
			done += k;
			off = koff;
			continue;
		}
		/* frames (and super-segments cut here) for the backend, a stage at a time */
		uint32_t nf = 0;
		while (done < n) {
			uint32_t len = lens[done];
			const uint8_t *from = buf + off;
			struct wire_super v;
			int cut = gso && gso_plan(from, len, gso[done], &v);
			if (cut && by_kernel)
				break;                    /* the kernel's: after these have left */
			uint32_t need = cut ? v.pieces : 1;
			if (nf + need > XC_TX_STAGE)
				break;
			if (cut) {
				for (uint32_t s = 0; s < v.pieces; s++) {
					frames[nf] = port->tx_stage[nf];
					flens[nf] = wire_super_piece(&v, s, frames[nf]);
					input[nf++] = done;
				}
				port->stats.tx_gso_frames++;
			} else if (len > XC_FRAME_MAX) {
				port->stats.tx_oversize++;
			} else {
				uint8_t *f = (uint8_t *)from;   /* XC_TX_SCRATCH: the caller's to write */
				if (!(flags & XC_TX_SCRATCH) || port->faults[XC_TX].enabled) {
					f = port->tx_stage[nf];     /* faults corrupt in place */
					memcpy(f, from, len);
				}
				if (flags & XC_TX_FILL_CSUM)
					xc_frame_fill_csum(f, len);
				frames[nf] = f;
				flens[nf] = len;
				input[nf++] = done;
			}
			off += len;
			done++;
		}
		input[nf] = done;
		uint32_t went = tx_inplace(port, frames, flens, nf);
		if (went < nf)
			return (int)input[went];
		if (by_kernel && done < n)
			port->ops->kick(port);        /* in order: these leave first */
	}
	port->ops->kick(port);
	if (port->pcap.f)
		xc_pcap_flush(&port->pcap);
	return (int)done;
}

int xc_port_tx(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
	       uint32_t n, uint32_t flags)
{
	return xc_port_tx_gso(port, buf, lens, NULL, n, flags);
}

int xc_port_send_inplace(struct xc_port *port, uint8_t *const *frames,
			 const uint32_t *lens, uint32_t n)
{
	uint64_t before = port->stats.tx_frames;

	release_held_tx(port);
	for (uint32_t done = 0; done < n; done += XC_TX_STAGE) {
		uint32_t batch = n - done < XC_TX_STAGE ? n - done : XC_TX_STAGE;
		/* Whatever finds no room is counted in tx_no_room and dropped. */
		tx_inplace(port, frames + done, lens + done, batch);
	}
	port->ops->kick(port);
	if (port->pcap.f)
		xc_pcap_flush(&port->pcap);
	return (int)(port->stats.tx_frames - before);
}

int xc_port_flush(struct xc_port *port)
{
	release_held_tx(port);
	int r = port->ops->kick(port);
	xc_pcap_flush(&port->pcap);
	return r;
}

int xc_port_busy_wait(struct xc_port *port, uint64_t spin_ns)
{
	if (!port->ops->rx_ready)
		return -1;
	uint64_t end = xc_monotonic_ns() + spin_ns;
	do {
		if (port->ops->rx_ready(port))
			return 1;
		for (int i = 0; i < 32; i++) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
	} while (xc_monotonic_ns() < end);
	return 0;
}

uint64_t xc_port_next_due_ns(struct xc_port *port)
{
	uint64_t a = xc_faults_next_due(&port->faults[XC_RX]);
	uint64_t b = xc_faults_next_due(&port->faults[XC_TX]);
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

int xc_port_set_faults(struct xc_port *port, int dir,
		       const struct xc_fault_cfg *cfg, uint64_t seed)
{
	if (dir != XC_RX && dir != XC_TX)
		return -1;
	return xc_faults_configure(&port->faults[dir], cfg, seed);
}

int xc_port_set_pcap(struct xc_port *port, const char *path,
		     uint64_t max_bytes, char *err, size_t errlen)
{
	if (!path) {
		xc_pcap_close(&port->pcap);
		return 0;
	}
	if (xc_pcap_open(&port->pcap, path, max_bytes) != 0) {
		snprintf(err, errlen, "cannot write pcap file %s", path);
		return -1;
	}
	return 0;
}

struct xc_burst *xc_burst_new(uint32_t cap)
{
	struct xc_burst *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->cap = cap;
	b->pkts = calloc(cap, sizeof(*b->pkts));
	b->data = malloc((size_t)cap * XC_FRAME_MAX);
	b->frames = b->data;
	if (!b->pkts || !b->data) {
		xc_burst_free(b);
		return NULL;
	}
	return b;
}

void xc_burst_free(struct xc_burst *b)
{
	if (!b)
		return;
	free(b->pkts);
	free(b->data);
	free(b);
}
