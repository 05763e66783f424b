/* Readiness in C: epoll sets whose entries watch connection blocks.
 *
 * Every event of a block (data in, space freed, FIN, RST, state) lists the
 * entries watching it on their epoll's ready list, without Python; an
 * epoll_wait is then one xc_epoll_collect call that computes each listed
 * entry's mask from its block and returns the ready ones with Linux's
 * semantics: level-triggered entries stay listed while ready, EPOLLET ones
 * are reported once per event, EPOLLONESHOT ones are disabled after one
 * report, EPOLLERR and EPOLLHUP always count.
 *
 * An entry without a block (a pipe, a fresh or listening socket, a
 * connection already released) is listed when Python says so
 * (xc_epoll_notify) and comes out of collect with mask 0: Python computes
 * that mask and relists or disables it itself.
 */
#ifndef XC_API_EPOLL_H
#define XC_API_EPOLL_H
#include <stdint.h>
#include "api_tcp.h"

/* mTCP's values (mtcp_epoll.h), the same as Linux's. */
#define XC_EPOLLIN 0x001
#define XC_EPOLLOUT 0x004
#define XC_EPOLLERR 0x008
#define XC_EPOLLHUP 0x010
#define XC_EPOLLRDNORM 0x040
#define XC_EPOLLWRNORM 0x100
#define XC_EPOLLRDHUP 0x2000
#define XC_EPOLLONESHOT 0x40000000
#define XC_EPOLLET 0x80000000

struct xc_epoll;
struct xc_ep_entry;

struct xc_epoll *xc_epoll_new(void);
/* Frees the set and every entry still in it (unwatching their blocks). */
void xc_epoll_free(struct xc_epoll *ep);
/* A new entry (Python's handle, the events asked for), listed at once:
 * the descriptor may be ready already.  NULL when out of memory. */
struct xc_ep_entry *xc_epoll_add(struct xc_epoll *ep, uint32_t handle, uint32_t events);
/* EPOLL_CTL_MOD: new events, re-enabled (EPOLLONESHOT), listed. */
void xc_epoll_modify(struct xc_ep_entry *en, uint32_t events);
/* EPOLL_CTL_DEL or the descriptor closed: the entry is gone. */
void xc_epoll_remove(struct xc_ep_entry *en);
/* Watch a connection block (NULL: none, Python computes the mask); lists it. */
void xc_epoll_bind(struct xc_ep_entry *en, struct xc_tcb *t);
/* Readiness may have changed (Python's side: a pipe written, a connection
 * to accept, an option that moves a low-water mark). */
void xc_epoll_notify(struct xc_ep_entry *en);
/* EPOLLONESHOT reported by Python: off until xc_epoll_modify. */
void xc_epoll_disable(struct xc_ep_entry *en);
/* Ready entries, at most max: handles[] and masks[] (mask 0: Python's to
 * compute).  Returns the count. */
uint32_t xc_epoll_collect(struct xc_epoll *ep, uint32_t *handles, uint32_t *masks, uint32_t max);
uint32_t xc_epoll_listed(struct xc_epoll *ep);

#endif
