/* The generic port: what every backend shares.  RX path per frame:
 * fault injection -> pcap -> verification -> copy into the caller's burst.
 * TX path: checksums -> pcap -> fault injection -> backend. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static void pcap_tap(struct xc_port *port, const uint8_t *frame, uint32_t len)
{
	int r = xc_pcap_write(&port->pcap, frame, len);
	if (r == 1)
		port->stats.pcap_frames++;
	else if (r == 0)
		port->stats.pcap_dropped++;
}

/* Verification and the copy into b, after faults and pcap. */
static void accept_rx(struct xc_port *port, struct xc_burst *b,
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
			return;
		}
		switch (xc_frame_verify(frame, len)) {
		case XC_FRAME_MALFORMED:
			st->rx_malformed++;
			return;
		case XC_FRAME_BAD_IP_CSUM:
			st->rx_bad_ip_csum++;
			return;
		case XC_FRAME_BAD_TCP_CSUM:
			st->rx_bad_tcp_csum++;
			return;
		}
	}
	st->rx_frames++;
	st->rx_bytes += len;
	if (!b)
		return;
	pkt.off = b->n * XC_FRAME_MAX;
	pkt.len = len;
	pkt.ts_ns = realtime_ns();
	memcpy(b->data + pkt.off, frame, len);
	b->pkts[b->n++] = pkt;
}

void xc_port_ingest(struct xc_port *port, struct xc_burst *b,
		    uint8_t *frame, uint32_t len, const struct xc_pkt *pkt)
{
	if (len > XC_FRAME_MAX) {
		port->stats.rx_oversize++;
		return;
	}
	enum xc_fault_verdict v = xc_faults_apply(&port->faults[XC_RX], frame, len,
						  pkt, &port->stats, XC_RX,
						  xc_monotonic_ns());
	if (v == XC_FAULT_DROP || v == XC_FAULT_HELD)
		return;
	pcap_tap(port, frame, len);
	accept_rx(port, b, frame, len, pkt);
	if (v == XC_FAULT_DUPLICATE && (!b || b->n < b->cap)) {
		pcap_tap(port, frame, len);
		accept_rx(port, b, frame, len, pkt);
	}
}

static uint32_t room(const struct xc_burst *b, uint32_t max)
{
	uint32_t free_slots = b->cap - b->n;
	return max < free_slots ? max : free_slots;
}

int xc_port_rx(struct xc_port *port, struct xc_burst *b, uint32_t max)
{
	uint32_t start = b->n;
	struct xc_faults *f = &port->faults[XC_RX];

	if (f->n_held) {
		uint64_t now = xc_monotonic_ns();
		while (b->n - start < max && b->n < b->cap &&
		       xc_faults_pop_due(f, now, &port->held_out)) {
			pcap_tap(port, port->held_out.data, port->held_out.len);
			accept_rx(port, b, port->held_out.data, port->held_out.len,
				  &port->held_out.pkt);
		}
	}
	uint32_t want = room(b, max - (b->n - start));
	/* Leave space for duplicates the injector may add. */
	if (f->enabled && f->cfg.duplicate > 0)
		want = (want + 1) / 2;
	if (want)
		port->ops->recv(port, b, want);
	if (port->pcap.f && b->n != start)
		xc_pcap_flush(&port->pcap);
	return (int)(b->n - start);
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
		pcap_tap(port, frames[i], lens[i]);
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

int xc_port_tx(struct xc_port *port, const uint8_t *buf, const uint32_t *lens,
	       uint32_t n, uint32_t flags)
{
	uint8_t *frames[XC_TX_STAGE];
	uint32_t flens[XC_TX_STAGE];
	uint32_t input[XC_TX_STAGE + 1];  /* staged frame -> input index */
	uint32_t done = 0;
	size_t off = 0;

	release_held_tx(port);
	while (done < n) {
		uint32_t batch = n - done < XC_TX_STAGE ? n - done : XC_TX_STAGE;
		uint32_t nf = 0;
		for (uint32_t i = 0; i < batch; i++) {
			uint32_t len = lens[done + i];
			const uint8_t *from = buf + off;
			off += len;
			if (len > XC_FRAME_MAX) {
				port->stats.tx_oversize++;
				continue;
			}
			frames[nf] = port->tx_stage[nf];
			memcpy(frames[nf], from, len);
			if (flags & XC_TX_FILL_CSUM)
				xc_frame_fill_csum(frames[nf], len);
			flens[nf] = len;
			input[nf++] = done + i;
		}
		input[nf] = done + batch;
		uint32_t went = tx_inplace(port, frames, flens, nf);
		if (went < nf)
			return (int)input[went];
		done += batch;
	}
	port->ops->kick(port);
	if (port->pcap.f)
		xc_pcap_flush(&port->pcap);
	return (int)done;
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
