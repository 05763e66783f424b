"""IPv6 flows as the monitor's views show them: Monitor.lookup takes IPv6
tuples (full addresses: an address whose fold collides is another flow),
`xdpmtcp trace` rows name [address]:port, and the mOS dialect's
SYN filters and mtcp_getpeername give the IPv6 addresses, never folds."""
from montraffic import Conv, write_pcap
from test_monitor_ipv6 import C6, S6, conversation, to_v6
from xdpmtcp import mos_api as M
from xdpmtcp.control.monitor_rows import flow_row

# the same fold as 2001:db8::1 (words 0 and 1 flipped by the same bits)
C6_TWIN = "2001:db9:0:1::1"


def run(tmp_path, syn_filter):
    frames = [to_v6(f) for f in conversation()] + conversation(Conv(cport=41000))
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "v6.pcap", frames)))
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    M.mtcp_bind_monitor_filter(mctx, s, M.monitor_filter(stream_syn_filter=syn_filter))
    seen = []

    def on_start(m, sock, side, ev, arg):
        cli, svr = M.mtcp_getpeername(m, sock)
        f = m.mon.lookup(svr[0], svr[1], cli[0], cli[1])       # either direction
        twin = m.mon.lookup(C6_TWIN, cli[1], svr[0], svr[1]) if ":" in cli[0] else None
        seen.append((cli, svr, flow_row(f)["local"], flow_row(f)["remote"], twin))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, on_start)
    M.mtcp_app_join(mctx)
    M.mtcp_destroy_context(mctx)
    return seen


def test_an_ipv6_syn_filter_takes_the_ipv6_flow_by_its_addresses(tmp_path):
    assert run(tmp_path, "src host " + C6) == [
        ((C6, 40000), (S6, 80), "[%s]:40000" % C6, "[%s]:80" % S6, None)]


def test_an_ipv4_syn_filter_takes_no_ipv6_flow(tmp_path):
    assert run(tmp_path, "src net 198.18.0.0/15") == [
        (("198.18.0.1", 41000), ("198.18.0.2", 80), "198.18.0.1:41000", "198.18.0.2:80", None)]


def test_without_a_filter_both_families_are_named_in_full(tmp_path):
    got = run(tmp_path, None)
    assert sorted(g[2] for g in got) == ["198.18.0.1:41000", "[%s]:40000" % C6]
