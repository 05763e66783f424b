"""Every tunable of the stack, in one place, with its default and why.

Later layers (TCP engine, monitor) add theirs here, not in their modules.
"""
from dataclasses import dataclass, field, fields


def _t(default, doc):
    return field(default=default, metadata={"doc": doc})


@dataclass
class Tunables:
    # --- device layer -------------------------------------------------------
    umem_frames: int = _t(4096, "AF_XDP umem frames per port (power of two); half RX, half TX")
    rx_burst: int = _t(256, "frames taken from the RX ring per call into C")
    busy_poll_us: int = _t(100, "before sleeping on an idle RX ring, watch it this long in C (no "
                                "syscall, the GIL released): a reply that comes back within it is "
                                "handled without a wakeup (Linux SO_BUSY_POLL); 0: sleep at once")
    xdp_mode: str = _t("auto", "XDP attach mode: native, skb, or auto (native, then skb)")
    xdp_max_flows: int = _t(262144, "capacity of the owned 4-tuple map (active opens)")
    xdp_max_listen: int = _t(1024, "capacity of the owned listen-port map")
    xdp_max_queues: int = _t(64, "XSKMAP entries: one per RX queue")
    rss_key: str = _t("", "the NIC's RSS (Toeplitz) key, hex as `ethtool -x` prints it (colons "
                      "allowed), with which active opens pick a local port whose replies land "
                      "on their own RX queue, spread by the default indirection table over the "
                      "interface's RX queues; \"\" = read key and table from the NIC (ethtool); "
                      "set it where the driver cannot tell (veth, the multi-queue lab: "
                      "docs/rss.md)")
    xdp_syn_rate: int = _t(10000, "SYNs per second per CPU the XDP program passes to the stack's "
                           "listeners; beyond, it answers them itself with SYN cookies (XDP_TX) and "
                           "drops the RSTs that answer those, so a SYN flood never fills the AF_XDP "
                           "ring (xdp_syn_cookies, xdp_cookie_rsts_dropped); 0 = XDP answers every "
                           "SYN; off with syncookies")
    xdp_syn_burst: int = _t(1000, "SYNs a CPU's budget saves up while fewer arrive (a burst of new "
                            "connections the stack still handshakes in full)")
    pcap_max_bytes: int = _t(0, "cap of a pcap tap file; 0 = none; at the cap frames are counted, not written")
    # --- kernel contract ------------------------------------------------------
    ephemeral_ports: tuple = _t((61000, 61999), "ports for active opens, reserved with the kernel")
    neighbour_timeout_s: float = _t(1.0, "wait for the kernel to resolve a next hop's MAC")
    neighbour_cache_s: float = _t(30.0, "reuse a next hop's MAC this long before asking the kernel "
                                  "again (4096 entries; when full, the cache is emptied)")
    # --- TCP engine: memory (each cap has a named policy) ---------------------
    max_concurrency: int = _t(10000, "connection blocks per engine (mTCP max_concurrency); at the "
                              "cap a SYN is dropped and counted, connect() fails with EAGAIN")
    rcvbuf: int = _t(262144, "receive buffer per connection in bytes (SO_RCVBUF default)")
    rcvbuf_max: int = _t(4 << 20, "receive-buffer autotuning ceiling: a buffer 3/4 full doubles "
                         "up to this (never past buffer_memory_max); rcvbuf or less: off")
    sndbuf: int = _t(262144, "send buffer per connection in bytes (SO_SNDBUF default)")
    sndbuf_max: int = _t(4 << 20, "send-buffer autotuning ceiling: a writer that fills the buffer while "
                         "the congestion window is past half of it gets it doubled up to this (never "
                         "past buffer_memory_max; Linux tcp_wmem[2]); SO_SNDBUF turns it off for the "
                         "socket; sndbuf or less: off")
    buffer_memory_max: int = _t(1 << 30, "storage allocated to all connection buffers together, bytes "
                                "(a buffer holds storage only while it holds data: idle connections "
                                "cost none); at the cap a data segment that needs storage is dropped "
                                "(rcv_dropped_memory, the peer retransmits), a write takes 0 bytes "
                                "(write_refused_memory, EAGAIN), and a SYN or connect() whose buffers, "
                                "full, would not fit beside what is allocated is refused (refused_memory)")
    buffer_pool_cache: int = _t(16 << 20, "free buffer storage kept for reuse, bytes (keep-alive "
                                "connections empty their buffers every request); beyond it, or past "
                                "buffer_memory_max, freed blocks go back to the system (released)")
    syn_backlog: int = _t(256, "half-open connections per listener; beyond it SYN cookies answer")
    syncookies: bool = _t(True, "answer SYNs with cookies when the SYN queue is full (else drop)")
    max_listeners: int = _t(64, "listening (address, port) pairs per engine; one more: EADDRINUSE")
    # --- TCP engine: timers ----------------------------------------------------
    tcp_timeout: float = _t(0.0, "idle timeout of a connection in seconds; 0 = none (mTCP tcp_timeout)")
    tcp_timewait: float = _t(60.0, "TIME-WAIT length in seconds (2*MSL; Linux uses 60)")
    fin_wait2_timeout: float = _t(60.0, "orphaned FIN-WAIT-2 lifetime in seconds (Linux tcp_fin_timeout)")
    delack_ms: float = _t(40.0, "delayed-ACK timeout (RFC 1122: under 500 ms; Linux 40 ms)")
    rto_initial_ms: float = _t(1000.0, "RTO before any RTT sample (RFC 6298)")
    rto_min_ms: float = _t(200.0, "lower bound of the RTO (Linux 200 ms; RFC 6298 says 1 s)")
    rto_max_ms: float = _t(120000.0, "upper bound of the RTO (RFC 6298: at least 60 s)")
    tcp_retries: int = _t(15, "timeouts without progress before ETIMEDOUT (Linux tcp_retries2)")
    syn_retries: int = _t(6, "SYN or SYN-ACK retransmissions before giving up")
    keepalive_idle_s: float = _t(7200.0, "TCP_KEEPIDLE default")
    keepalive_intvl_s: float = _t(75.0, "TCP_KEEPINTVL default")
    keepalive_cnt: int = _t(9, "TCP_KEEPCNT default")
    # --- TCP engine: algorithms ------------------------------------------------
    congestion: str = _t("cubic", "default congestion control: cubic or newreno")
    initial_window: int = _t(10, "initial congestion window in segments (RFC 6928)")
    quickack_segs: int = _t(16, "segments ACKed at once at the start of a connection")
    gso_max_segs: int = _t(44, "new data leaves in super-segments of up to this many MSS-sized "
                           "segments, cut by the kernel (AF_XDP copy mode: one AF_PACKET send "
                           "with GSO) or by the port before its pcap tap and fault injector, "
                           "as a NIC's TSO cuts them (Linux gso_max_segs); 0 or 1: one frame "
                           "per segment")
    challenge_ack_limit: int = _t(1000, "RFC 5961 challenge ACKs per second, engine-wide, drawn at random "
                                  "each second from [limit/2, 3*limit/2) (Linux tcp_challenge_ack_limit); "
                                  "more are not sent; 0 = no engine-wide limit (Linux's default since 2022)")
    invalid_ratelimit_ms: float = _t(500.0, "per connection, at most one challenge ACK or ACK to an "
                                     "unacceptable segment (out of window, PAWS) in this interval; data "
                                     "segments are always answered (Linux tcp_invalid_ratelimit); 0 = off")
    pacing: bool = _t(False, "pace new data and retransmissions at 1.2 x cwnd per RTT (2 x in slow start) "
                      "in bursts of about a millisecond, as Linux paces BBR, or CUBIC under fq or "
                      "SO_MAX_PACING_RATE; off as Linux's CUBIC is by default (pacing costs throughput "
                      "when the RTT is below a millisecond: docs/tcp.md)")
    sack: bool = _t(True, "offer SACK-permitted (RFC 2018)")
    timestamps: bool = _t(True, "offer timestamps (RFC 7323)")
    window_scaling: bool = _t(True, "offer window scaling (RFC 7323)")
    ttl: int = _t(64, "IPv4 TTL of segments sent")
    # --- socket API (xdpmtcp.api, xdpmtcp.mtcp_api) ---------------------------
    sockbuf_min: int = _t(2048, "smallest SO_SNDBUF/SO_RCVBUF; smaller requests are raised to it")
    sockbuf_max: int = _t(16 << 20, "largest SO_SNDBUF/SO_RCVBUF; larger requests are capped to it "
                          "(Linux rmem_max/wmem_max)")
    sndlowat: int = _t(1024, "SO_SNDLOWAT default (OSKit page): a non-blocking write takes nothing "
                       "unless min(this, len) fits, and EPOLLOUT needs this much free space")
    pipe_buf: int = _t(65536, "bytes an mtcp_pipe holds before writes block or fail with EAGAIN")
    # --- operations (xdpmtcp/control) -------------------------------------------
    metrics_port: int = _t(0, "serve Prometheus metrics (xdpmtcp_*) on this TCP port of the kernel's "
                           "stack in the context's namespace; 0 = off (`--metrics [ADDR:]PORT` on the CLI)")
    metrics_addr: str = _t("0.0.0.0", "address the metrics port listens on")
    poll_step_ms: float = _t(50.0, "longest wait of a blocking call or epoll_wait between checks "
                             "of its deadline and of signal flags")

    # --- flow monitor (xdpmtcp monitor, the mOS dialect xdpmtcp.mos) -------------
    # One value each for the CLI's flags, monitor.core.Monitor and mOS's
    # mtcp.conf keys (rcvbuf, tcp_timeout, max_concurrency); the C core's own
    # defaults (xc_mon_config_default) are the same (tests/unit/test_mos_package.py).
    monitor_buf: int = _t(8 << 20, "reassembly buffer per direction of a flow, bytes (monitor --buf, "
                          "mOS rcvbuf): a sender may run this far past a hole before the hole is "
                          "given up as a gap; above the receivers' window (Linux tcp_rmem[2] is 6 MiB)")
    monitor_mem_max: int = _t(1 << 30, "all reassembly buffers of a monitor together, bytes "
                              "(monitor --mem-max); at the cap a flow's bytes are dropped as outrun")
    monitor_max_flows: int = _t(65536, "flows tracked at once (monitor --max-flows, mOS "
                                "max_concurrency); beyond it the least recently active is evicted")
    monitor_idle_timeout: float = _t(300.0, "a flow without packets this long ends, seconds (monitor "
                                     "--idle-timeout, mOS tcp_timeout; Zeek's tcp_inactivity_timeout "
                                     "is 5 min): long enough for idle keep-alive connections")
    monitor_close_timeout: float = _t(10.0, "a flow half closed (one FIN or an RST) ends this long "
                                      "after its last packet, seconds")

    def __post_init__(self):
        if self.rss_key:
            from .tcp.rss import parse_key
            parse_key(self.rss_key)       # ValueError naming rss_key

    @classmethod
    def describe(cls):
        """[(name, default, doc)] for --help texts and the docs."""
        return [(f.name, f.default, f.metadata["doc"]) for f in fields(cls)]


DEFAULTS = Tunables()
