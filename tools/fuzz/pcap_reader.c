/* The capture reader (pcap_reader.c): classic pcap and pcapng, any byte
 * order, link type and block, through the same open-on-a-descriptor path
 * a pipe uses (a memfd here), with a read buffer shrunk to 8 KiB (the
 * Makefile) so refills and records straddling it happen on small inputs.
 *
 * Input: the file.  Bursts of 8 frames, read 1, 3 or 8 at a time.
 * Checked: every delivered frame fits its slot and is classified as
 * xc_frame_classify classifies it; frames <= records; a read that ends
 * without a stop reason consumed the whole file; a stop reason comes with
 * a message, and reading stays stopped; an open failure says why. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz_common.h"
#include "api_pcapread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("capture", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	lseek(fd, 0, SEEK_SET);
	char err[256] = "";
	struct xc_pcap_reader *r = xc_pcap_reader_open_fd(fd, err, sizeof(err));
	if (!r) {
		CHECK(err[0], "open failed without a message");
		return 0;
	}
	struct xc_burst *b = xc_burst_new(8);
	static const uint32_t per_call[3] = { 1, 3, 8 };
	uint64_t delivered = 0;
	int n, calls = 0;
	for (;;) {
		b->n = 0;
		n = xc_pcap_reader_read(r, b, per_call[calls++ % 3]);
		CHECK(n >= -1 && n <= 8 && (n < 0 || (uint32_t)n == b->n), "read returned %d, n %u",
		      n, b->n);
		if (n <= 0)
			break;
		for (uint32_t i = 0; i < b->n; i++) {
			const struct xc_pkt *p = &b->pkts[i];
			CHECK(p->len > 0 && p->len <= XC_FRAME_MAX && p->off == i * XC_FRAME_MAX,
			      "frame %u: len %u off %u", i, p->len, p->off);
			struct xc_pkt again;
			xc_frame_classify(b->data + p->off, p->len, &again);
			CHECK(again.seg_class == p->seg_class && again.payload_len == p->payload_len &&
			      again.flow_hash == p->flow_hash, "classified differently");
		}
		delivered += b->n;
	}
	struct xc_pcap_read_stats st;
	xc_pcap_reader_stats(r, &st);
	char stopped[256], skipped[256];
	int stop = xc_pcap_reader_damage(r, stopped, sizeof(stopped), skipped, sizeof(skipped));
	CHECK(stop == (int)st.stop, "damage() and stats disagree");
	/* a super-frame is one record and several frames (its pieces) */
	CHECK(st.frames == delivered &&
	      st.frames <= st.records - st.superframes + st.superframe_pieces,
	      "frames %llu delivered %llu records %llu (super-frames %llu, pieces %llu)",
	      (unsigned long long)st.frames, (unsigned long long)delivered,
	      (unsigned long long)st.records, (unsigned long long)st.superframes,
	      (unsigned long long)st.superframe_pieces);
	CHECK(st.file_bytes <= size, "consumed %llu of %zu bytes",
	      (unsigned long long)st.file_bytes, size);
	CHECK(!!stop == !!stopped[0], "stop %d with message '%s'", stop, stopped);
	CHECK(!st.bad_blocks || st.stop || skipped[0], "bad blocks skipped without a message");
	if (stop)
		CHECK(st.stop_offset <= size, "stop offset %llu", (unsigned long long)st.stop_offset);
	else
		CHECK(n < 0 || st.file_bytes == size, "ended cleanly after %llu of %zu bytes",
		      (unsigned long long)st.file_bytes, size);
	if (stop == XC_PCAP_STOP_TRUNCATED)
		CHECK(st.truncated_records == 1, "truncated_records %llu",
		      (unsigned long long)st.truncated_records);
	b->n = 0;
	CHECK(xc_pcap_reader_read(r, b, 8) == 0, "reading goes on after the end");
	xc_burst_free(b);
	xc_pcap_reader_close(r);
	return 0;
}
