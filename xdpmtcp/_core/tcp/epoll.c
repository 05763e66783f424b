/* Readiness in C (api_epoll.h): epoll sets, their entries, the ready list,
 * and a block's readiness mask. */
#include <stdlib.h>
#include "tcp_internal.h"

#define EN_ENABLED 1
#define EN_LISTED 2
#define EN_DEAD 4             /* removed while listed: freed when collect reaches it */

#define ALWAYS (XC_EPOLLERR | XC_EPOLLHUP)
#define IN (XC_EPOLLIN | XC_EPOLLRDNORM)
#define OUT (XC_EPOLLOUT | XC_EPOLLWRNORM)
#define GONE (IN | OUT | XC_EPOLLRDHUP | XC_EPOLLHUP)

struct xc_ep_entry {
	struct xc_epoll *ep;
	struct xc_tcb *tcb;              /* watched block, NULL: Python's descriptor */
	struct xc_ep_entry *watch_next;  /* the block's other watchers */
	struct xc_ep_entry *ready_next;
	struct xc_ep_entry *all_prev, *all_next;
	uint32_t handle;
	uint32_t events;
	uint32_t flags;
};

struct xc_epoll {
	struct xc_ep_entry *head, *tail; /* ready list, FIFO */
	uint32_t nready;
	struct xc_ep_entry *all;         /* every entry not yet freed */
};

struct xc_epoll *xc_epoll_new(void)
{
	return calloc(1, sizeof(struct xc_epoll));
}

static void unwatch(struct xc_ep_entry *en)
{
	if (!en->tcb)
		return;
	struct xc_ep_entry **p = &en->tcb->watch;
	while (*p && *p != en)
		p = &(*p)->watch_next;
	if (*p)
		*p = en->watch_next;
	en->tcb = NULL;
	en->watch_next = NULL;
}

static void entry_free(struct xc_ep_entry *en)
{
	struct xc_epoll *ep = en->ep;
	unwatch(en);
	if (en->all_prev)
		en->all_prev->all_next = en->all_next;
	else
		ep->all = en->all_next;
	if (en->all_next)
		en->all_next->all_prev = en->all_prev;
	free(en);
}

void xc_epoll_free(struct xc_epoll *ep)
{
	if (!ep)
		return;
	while (ep->all)
		entry_free(ep->all);
	free(ep);
}

static void list_entry(struct xc_ep_entry *en)
{
	if ((en->flags & (EN_ENABLED | EN_LISTED | EN_DEAD)) != EN_ENABLED)
		return;
	struct xc_epoll *ep = en->ep;
	en->flags |= EN_LISTED;
	en->ready_next = NULL;
	if (ep->tail)
		ep->tail->ready_next = en;
	else
		ep->head = en;
	ep->tail = en;
	ep->nready++;
}

struct xc_ep_entry *xc_epoll_add(struct xc_epoll *ep, uint32_t handle, uint32_t events)
{
	struct xc_ep_entry *en = calloc(1, sizeof(*en));
	if (!en)
		return NULL;
	en->ep = ep;
	en->handle = handle;
	en->events = events;
	en->flags = EN_ENABLED;
	en->all_next = ep->all;
	if (ep->all)
		ep->all->all_prev = en;
	ep->all = en;
	list_entry(en);
	return en;
}

void xc_epoll_modify(struct xc_ep_entry *en, uint32_t events)
{
	en->events = events;
	en->flags |= EN_ENABLED;
	list_entry(en);
}

void xc_epoll_remove(struct xc_ep_entry *en)
{
	if (en->flags & EN_LISTED) {
		unwatch(en);
		en->flags |= EN_DEAD;
	} else {
		entry_free(en);
	}
}

void xc_epoll_bind(struct xc_ep_entry *en, struct xc_tcb *t)
{
	if (en->tcb != t) {
		unwatch(en);
		if (t) {
			en->tcb = t;
			en->watch_next = t->watch;
			t->watch = en;
		}
	}
	list_entry(en);
}

void xc_epoll_notify(struct xc_ep_entry *en)
{
	list_entry(en);
}

void xc_epoll_disable(struct xc_ep_entry *en)
{
	en->flags &= ~EN_ENABLED;
}

uint32_t xc_epoll_listed(struct xc_epoll *ep)
{
	return ep->nready;
}

/* Called for every event of a block (tcb_event). */
void tcb_watchers_notify(struct xc_tcb *t)
{
	for (struct xc_ep_entry *en = t->watch; en; en = en->watch_next)
		list_entry(en);
}

/* The block is being freed: its watchers become Python's (a released
 * connection reads as hung up) and are listed to say so. */
void tcb_watchers_detach(struct xc_tcb *t)
{
	struct xc_ep_entry *en = t->watch;
	t->watch = NULL;
	while (en) {
		struct xc_ep_entry *next = en->watch_next;
		en->tcb = NULL;
		en->watch_next = NULL;
		list_entry(en);
		en = next;
	}
}

uint32_t xc_tcb_poll_mask(const struct xc_tcb *t)
{
	uint32_t err = t->so_error ? XC_EPOLLERR : 0;
	if (t->state == XC_TCP_CLOSED)
		return GONE | err;
	if (t->state == XC_TCP_SYN_SENT || t->state == XC_TCP_SYN_RCVD)
		return 0;
	uint32_t m = err;
	uint32_t fin_in = t->flags & (XC_TF_FIN_RCVD | XC_TF_RCV_SHUT);
	if (fin_in)
		m |= IN | XC_EPOLLRDHUP;
	else if (xc_ring_readable(&t->rcv) >= (t->rcvlowat ? t->rcvlowat : 1))
		m |= IN;
	if (t->flags & XC_TF_FIN_QUEUED) {
		m |= OUT;                    /* a write fails at once (EPIPE) */
		if (fin_in)
			m |= XC_EPOLLHUP;
	} else {
		uint32_t low = t->sndlowat < t->snd.cap ? t->sndlowat : t->snd.cap;
		if (xc_ring_free_space(&t->snd) >= low)
			m |= OUT;
	}
	return m;
}

uint32_t xc_epoll_collect(struct xc_epoll *ep, uint32_t *handles, uint32_t *masks, uint32_t max)
{
	uint32_t n = 0;
	/* entries relisted below go to the tail: visit only those listed now */
	for (uint32_t todo = ep->nready; todo && n < max; todo--) {
		struct xc_ep_entry *en = ep->head;
		ep->head = en->ready_next;
		if (!ep->head)
			ep->tail = NULL;
		ep->nready--;
		en->flags &= ~EN_LISTED;
		if (en->flags & EN_DEAD) {
			entry_free(en);
			continue;
		}
		if (!(en->flags & EN_ENABLED))
			continue;
		if (!en->tcb) {
			handles[n] = en->handle;   /* Python's to decide */
			masks[n++] = 0;
			continue;
		}
		uint32_t m = xc_tcb_poll_mask(en->tcb) & (en->events | ALWAYS);
		if (!m)
			continue;          /* consumed since the event: wait for the next */
		handles[n] = en->handle;
		masks[n++] = m;
		if (en->events & XC_EPOLLONESHOT)
			en->flags &= ~EN_ENABLED;
		else if (!(en->events & XC_EPOLLET))
			list_entry(en);    /* level-triggered: checked again next time */
	}
	return n;
}
