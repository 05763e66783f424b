/* Buffer pool (see api_bufpool.h for the caps and their policies). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "api_bufpool.h"

/* Blocks this large are mapped on their own, so a block given back to the
 * system is unmapped at once (malloc would keep it in its heap, resident
 * where it was touched, once its mmap threshold has grown). */
#define MMAP_MIN (64 * 1024)

static void *block_alloc(uint32_t size)
{
	if (size < MMAP_MIN)
		return malloc(size);
	void *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return b == MAP_FAILED ? NULL : b;
}

static void block_free(void *b, uint32_t size)
{
	if (size < MMAP_MIN)
		free(b);
	else
		munmap(b, size);
}

/* A free block keeps the link to the next one in its first bytes, so blocks
 * smaller than a pointer are never cached. */
struct free_block {
	struct free_block *next;
};

struct size_class {
	uint32_t size;                /* 0: slot unused */
	uint32_t count;
	struct free_block *head;
};

struct xc_bufpool {
	struct xc_bufpool_stats st;
	struct size_class cls[XC_BUFPOOL_CLASSES];
	uint32_t evict_next;          /* round robin over classes when evicting */
};

struct xc_bufpool *xc_bufpool_new(uint64_t limit, uint64_t cache_max)
{
	struct xc_bufpool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->st.limit = limit;
	p->st.cache_max = cache_max;
	return p;
}

static void release_block(struct xc_bufpool *p, void *b, uint32_t size)
{
	block_free(b, size);
	p->st.released++;
}

static struct free_block *class_pop(struct xc_bufpool *p, struct size_class *c)
{
	struct free_block *b = c->head;
	c->head = b->next;
	p->st.bytes_cached -= c->size;
	p->st.blocks_cached--;
	if (--c->count == 0)
		c->size = 0;             /* the slot may serve another size now */
	return b;
}

/* Evict one cached block (any size); 0 if none was cached. */
static int evict_one(struct xc_bufpool *p)
{
	for (uint32_t k = 0; k < XC_BUFPOOL_CLASSES; k++) {
		struct size_class *c = &p->cls[(p->evict_next + k) % XC_BUFPOOL_CLASSES];
		if (!c->count)
			continue;
		uint32_t size = c->size;
		struct free_block *b = class_pop(p, c);
		release_block(p, b, size);
		p->evict_next = (uint32_t)(c - p->cls) + 1;
		return 1;
	}
	return 0;
}

uint8_t *xc_bufpool_get_replacing(struct xc_bufpool *p, uint32_t size, uint32_t old_size)
{
	if (!p || !size)
		return NULL;
	uint64_t in_use = p->st.bytes_in_use - (old_size <= p->st.bytes_in_use ? old_size : 0);
	if (in_use + size > p->st.limit) {
		p->st.refused++;
		return NULL;
	}
	uint8_t *b = NULL;
	for (uint32_t k = 0; k < XC_BUFPOOL_CLASSES; k++) {
		struct size_class *c = &p->cls[k];
		if (c->count && c->size == size) {
			b = (uint8_t *)class_pop(p, c);
			p->st.reused++;
			break;
		}
	}
	if (!b) {
		/* free blocks count against the limit too: make room from them */
		while (in_use + p->st.bytes_cached + size > p->st.limit && evict_one(p))
			;
		b = block_alloc(size);
		if (!b) {
			p->st.alloc_failed++;   /* the system said no */
			return NULL;
		}
	}
	p->st.gets++;
	p->st.bytes_in_use += size;
	p->st.blocks_in_use++;
	if (p->st.bytes_in_use > p->st.peak_in_use)
		p->st.peak_in_use = p->st.bytes_in_use;
	return b;
}

uint8_t *xc_bufpool_get(struct xc_bufpool *p, uint32_t size)
{
	return xc_bufpool_get_replacing(p, size, 0);
}

void xc_bufpool_put(struct xc_bufpool *p, uint8_t *block, uint32_t size)
{
	if (!p || !block)
		return;
	p->st.bytes_in_use -= size;
	p->st.blocks_in_use--;
	if (size >= sizeof(struct free_block) && p->st.bytes_cached + size <= p->st.cache_max &&
	    p->st.bytes_in_use + p->st.bytes_cached + size <= p->st.limit) {
		struct size_class *slot = NULL;
		for (uint32_t k = 0; k < XC_BUFPOOL_CLASSES; k++) {
			struct size_class *c = &p->cls[k];
			if (c->size == size) {
				slot = c;
				break;
			}
			if (!c->size && !slot)
				slot = c;
		}
		if (slot) {
			struct free_block *b = (struct free_block *)block;
			slot->size = size;
			b->next = slot->head;
			slot->head = b;
			slot->count++;
			p->st.bytes_cached += size;
			p->st.blocks_cached++;
			return;
		}
	}
	release_block(p, block, size);
}

void xc_bufpool_trim(struct xc_bufpool *p)
{
	if (p)
		while (evict_one(p))
			;
}

void xc_bufpool_free(struct xc_bufpool *p)
{
	xc_bufpool_trim(p);
	free(p);
}

void xc_bufpool_get_stats(const struct xc_bufpool *p, struct xc_bufpool_stats *out)
{
	*out = p->st;
}
