/* Which XDP program is attached to an interface (libbpf). */
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
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

int xc_xdp_meta_supported(void)
{
	/* r2 = -4; call bpf_xdp_adjust_meta(ctx, r2); r0 = XDP_PASS; exit.
	 * (libbpf's helper probe reads the verifier's words, which newer
	 * kernels changed: loading the real call is the only sure test.) */
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_xdp_adjust_meta },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xm_meta_probe", "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}
