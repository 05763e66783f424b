/* RSS for the lab's veth (xdpmtcp/lab/rss.py): a tc egress program on the
 * PEER's end that makes the frames it sends land on the RX queue a NIC with
 * RSS would pick at the stack's end.
 *
 * veth has no RSS: a frame arrives on the RX queue numbered as the TX queue
 * the sender's kernel chose, skb_tx_hash() = reciprocal_scale(skb->hash,
 * real_num_tx_queues) (veth has no XPS).  This program runs before that
 * choice: it computes the Toeplitz hash of the IPv4 TCP 4-tuple as the
 * receiving NIC would (saddr, daddr, sport, dport), takes the queue from
 * the default indirection table (entry i is i % LAB_QUEUES), and sets
 * skb->hash to a value that reciprocal_scale maps to that queue.  Frames
 * other than IPv4 TCP pass untouched.
 *
 * Built by BCC with -DLAB_QUEUES=n, -DLAB_TABLE=128 and
 * -DLAB_KEY={0x6d,0x5a,...} (at least 20 bytes used).
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/pkt_cls.h>

#ifndef LAB_QUEUES
#define LAB_QUEUES 1
#endif
#ifndef LAB_TABLE
#define LAB_TABLE 128
#endif

/* counters[0]: frames steered; [1]: frames left alone */
BPF_ARRAY(counters, u64, 2);

static __always_inline void count(int idx)
{
    u64 *c = counters.lookup(&idx);
    if (c)
        __sync_fetch_and_add(c, 1);
}

int lab_rss(struct __sk_buff *skb)
{
    struct iphdr ip;
    unsigned char in[12];          /* saddr, daddr, sport, dport: network order */
    u32 ihl;

    if (skb->protocol != bpf_htons(ETH_P_IP)
        || bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0
        || ip.protocol != IPPROTO_TCP) {
        count(1);
        return TC_ACT_OK;
    }
    ihl = ip.ihl * 4;
    if (ihl < sizeof(ip) || ihl > 60) {
        count(1);
        return TC_ACT_OK;
    }
    __builtin_memcpy(in, &ip.saddr, 4);
    __builtin_memcpy(in + 4, &ip.daddr, 4);
    if (bpf_skb_load_bytes(skb, ETH_HLEN + ihl, in + 8, 4) < 0) {
        count(1);
        return TC_ACT_OK;
    }

    /* Toeplitz: for each input bit set, XOR in the 32 key bits starting at
     * that bit; the 64-bit window slides one key byte in per input byte. */
    /* a local array: after unrolling every read folds into an immediate
     * (a static one would need .rodata, which BCC does not load) */
    const unsigned char rss_key[] = LAB_KEY;
    u64 window = 0;
#pragma unroll
    for (int i = 0; i < 8; i++)
        window = (window << 8) | rss_key[i];
    u32 hash = 0;
#pragma unroll
    for (int i = 0; i < 12; i++) {
        unsigned char b = in[i];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            /* A multiply by the bit: a branch per bit would give the
             * verifier 2^96 paths; so would "x & -bit", which clang turns
             * into a branch and this kernel's verifier forks on (a mask in
             * [-1, 0]).  The asm hides from clang that bit is 0 or 1. */
            u32 bit = (b >> (7 - j)) & 1;
            asm volatile("" : "+r"(bit));
            hash ^= (u32)(window >> (32 - j)) * bit;
        }
        window = (window << 8) | rss_key[i + 8];
    }

    u32 queue = (hash % LAB_TABLE) % LAB_QUEUES;
    /* reciprocal_scale(h2, n) = (h2 * n) >> 32 = queue */
    u32 h2 = (u32)((((u64)queue) << 32) / LAB_QUEUES) + 1;
    bpf_set_hash(skb, h2);
    count(0);
    return TC_ACT_OK;
}
