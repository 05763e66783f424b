/* The software twin of the XDP classifier (bpf/xdpmtcp_meta.h): class,
 * payload length and flow hash of a frame that came without metadata. */
#include "api.h"
#include "frame.h"

int xc_frame_classify(const uint8_t *frame, uint32_t len, struct xc_pkt *out)
{
	struct tcp_seg s;
	out->seg_class = XM_SEG_NONE;
	out->payload_len = 0;
	out->flow_hash = 0;
	int r = wire_parse(frame, len, &s, WIRE_NO_OPTS);
	if (r == WIRE_OK) {
		out->flow_hash = xm_flow_hash(s.saddr, s.daddr, s.sport, s.dport);
		out->payload_len = (uint16_t)s.len;
		out->seg_class = xm_classify(s.flags, out->payload_len);
		return 0;
	}
	if (r != WIRE_FRAGMENT && r != WIRE_BAD_TCP)
		return -1;
	/* TCP, but no segment to take; hashed to its flow when the ports are there */
	out->seg_class = XM_SEG_MALFORMED;
	if (s.ip_len - s.ihl >= TCP_HDR_LEN) {
		uint32_t saddr, daddr;
		uint16_t sport, dport;
		memcpy(&saddr, s.ip + 12, 4);
		memcpy(&daddr, s.ip + 16, 4);
		memcpy(&sport, s.tcp, 2);
		memcpy(&dport, s.tcp + 2, 2);
		out->flow_hash = xm_flow_hash(saddr, daddr, sport, dport);
	}
	return 0;
}
