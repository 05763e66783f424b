/* The pass-everything XDP program of api_xdp_pass.h. */
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "api.h"
#include "api_xdp_pass.h"

int xc_xdp_attach_pass(int ifindex)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xm_pass", "GPL", insns,
			       sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0)
		return fd;
	/* the interface holds the program from here; our descriptor can go */
	int r = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	return r;
}
