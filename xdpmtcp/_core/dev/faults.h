/* Private: seeded fault injector for one direction of a port. */
#ifndef XC_FAULTS_H
#define XC_FAULTS_H
#include <stdint.h>
#include "api.h"

struct xc_held_frame {
	uint64_t due_ns;
	uint64_t order;          /* FIFO among frames due at the same time */
	struct xc_pkt pkt;       /* metadata that came with the frame */
	uint32_t len;
	uint8_t data[XC_FRAME_MAX];
};

struct xc_faults {
	int enabled;
	struct xc_fault_cfg cfg;
	uint64_t rng;
	struct xc_held_frame *held;   /* XC_HOLD_CAP slots, allocated on enable */
	uint32_t n_held;
	uint64_t next_order;
};

enum xc_fault_verdict {
	XC_FAULT_PASS = 0,       /* send on as is (maybe corrupted) */
	XC_FAULT_DROP = 1,
	XC_FAULT_HELD = 2,       /* copied into the hold queue */
	XC_FAULT_DUPLICATE = 3   /* send on twice */
};

int xc_faults_configure(struct xc_faults *f, const struct xc_fault_cfg *cfg,
			uint64_t seed);
void xc_faults_release(struct xc_faults *f);
/* Decide for one frame; may corrupt it in place or copy it into the hold
 * queue.  Counts into the port stats for direction dir. */
enum xc_fault_verdict xc_faults_apply(struct xc_faults *f, uint8_t *frame,
				      uint32_t len, const struct xc_pkt *pkt,
				      struct xc_port_stats *st,
				      int dir, uint64_t now_ns);
/* Pop the earliest held frame due at now_ns; NULL when none is due. */
struct xc_held_frame *xc_faults_pop_due(struct xc_faults *f, uint64_t now_ns,
					struct xc_held_frame *out);
uint64_t xc_faults_next_due(const struct xc_faults *f);

#endif
