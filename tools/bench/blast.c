/* Kernel-side frame sender for the RX benchmark: one prepared Ethernet frame
 * sent over and over from an AF_PACKET socket with sendmmsg, so the sender
 * is as cheap as the kernel allows.  Usage: blast IFNAME HEXFRAME SECONDS
 * Prints {"sent": N, "seconds": S} on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: blast IFNAME HEXFRAME SECONDS\n");
		return 2;
	}
	size_t hexlen = strlen(argv[2]), len = hexlen / 2;
	unsigned char *frame = malloc(len);
	for (size_t i = 0; i < len; i++)
		sscanf(argv[2] + 2 * i, "%2hhx", &frame[i]);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(argv[1]),
				   .sll_halen = 6 };
	struct iovec iov = { frame, len };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &sll;
		msgs[i].msg_hdr.msg_namelen = sizeof(sll);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	double secs = atof(argv[3]), start = now(), end = start + secs;
	unsigned long long sent = 0;
	while (now() < end) {
		int r = sendmmsg(fd, msgs, BATCH, 0);
		if (r > 0)
			sent += r;
	}
	printf("{\"sent\": %llu, \"seconds\": %.3f}\n", sent, now() - start);
	return 0;
}
