/* Shared by the harnesses: a cursor over the fuzzer's input, and a check
 * that aborts with a message (libFuzzer then saves the input). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline int in_empty(const struct input *in)
{
	return in->left == 0;
}

/* Missing bytes read as zero: every input decodes to something. */
static inline uint64_t in_uint(struct input *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (in->left) {
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

static inline uint8_t in_u8(struct input *in) { return (uint8_t)in_uint(in, 1); }
static inline uint16_t in_u16(struct input *in) { return (uint16_t)in_uint(in, 2); }
static inline uint32_t in_u32(struct input *in) { return (uint32_t)in_uint(in, 4); }

/* Up to n bytes of the input, fewer if it ends first. */
static inline const uint8_t *in_bytes(struct input *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;
	*got = n < in->left ? n : in->left;
	in->p += *got;
	in->left -= *got;
	return p;
}

/* For the harness's own loops (filling and checking payload bytes): no
 * coverage feedback and no comparison tracing there, which otherwise takes
 * most of the time and tells the fuzzer nothing about the code under test. */
#define HARNESS_ONLY __attribute__((no_sanitize("coverage"), noinline))

#define CHECK(cond, ...) do {                                           \
	if (!(cond)) {                                                  \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,  \
			__LINE__, #cond);                               \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		abort();                                                \
	}                                                               \
} while (0)

#endif
