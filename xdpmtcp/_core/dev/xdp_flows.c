/* The XDP program's flows map, written from C: one syscall per connection
 * the stack opens or ends, without building the key field by field in
 * Python (api.h: xc_flow_steer). */
#include <bpf/bpf.h>
#include "api.h"

int xc_flow_steer(int map_fd, uint32_t local_addr, uint32_t remote_addr, uint16_t local_port,
		  uint16_t remote_port, int own)
{
	struct xm_flow_key k = {
		.local_addr = local_addr, .remote_addr = remote_addr,
		.local_port = local_port, .remote_port = remote_port,
	};
	uint32_t one = 1;
	/* libbpf 1.x returns -errno */
	return own ? bpf_map_update_elem(map_fd, &k, &one, BPF_ANY) : bpf_map_delete_elem(map_fd, &k);
}
