/* Which XDP program is attached to an interface (libbpf). */
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "api.h"

int xc_xdp_query(int ifindex, uint32_t *prog_id, uint32_t *mode,
		 char *name, size_t namelen)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, opts);
	int r = bpf_xdp_query(ifindex, 0, &opts);
	if (r)
		return r;
	*prog_id = opts.prog_id ? opts.prog_id
		: (opts.drv_prog_id ? opts.drv_prog_id : (opts.skb_prog_id ? opts.skb_prog_id : opts.hw_prog_id));
	*mode = opts.attach_mode;
	if (namelen)
		name[0] = 0;
	if (!*prog_id || !namelen)
		return 0;
	int fd = bpf_prog_get_fd_by_id(*prog_id);
	if (fd < 0)
		return 0;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		strncpy(name, info.name, namelen - 1);
		name[namelen - 1] = 0;
	}
	close(fd);
	return 0;
}

uint32_t xc_prog_id(int prog_fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.id;
}
