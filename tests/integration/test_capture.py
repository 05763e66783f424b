"""Captured kernel-to-kernel transfers and tshark's reading of them: the
reference the monitor's reassembly will be held to."""
import hashlib

import pytest

from xdpmtcp.lab.capture import CaptureError, capture_impaired_transfer, tshark_follow
from xdpmtcp._core import lib
from xdpmtcp.phy import PcapSource

pytestmark = pytest.mark.integration


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_tshark_follow_of_a_clean_capture_is_what_was_sent(inline_lab, tmp_path, need_tool):
    for tool in ("tcpdump", "tshark"):
        need_tool(tool)
    lab = inline_lab
    cap = capture_impaired_transfer(lab, 2_000_000, None, str(tmp_path / "t.pcap"),
                                    reply_bytes=500_000)
    assert (cap.client_sent, cap.server_sent) == (2_000_000, 500_000)
    assert cap.server_received_sha256 == cap.client_sent_sha256
    assert cap.client_received_sha256 == cap.server_sent_sha256
    assert cap.capture_drops == 0
    assert cap.bridge["c2s"]["dropped"] == 0 and cap.bridge["c2s"]["forwarded"] > 0

    f = tshark_follow(cap.pcap, 0)
    assert f.node0.startswith(lab.client.ip + ":")
    assert f.node1 == f"{lab.server.ip}:5001"
    assert (len(f.data0), len(f.data1)) == (2_000_000, 500_000)
    assert sha(f.data0) == cap.client_sent_sha256
    assert sha(f.data1) == cap.server_sent_sha256

    # the same file through our reader: every TCP segment, nothing skipped,
    # and (offloads off in the lab) real checksums on every frame, both ways
    with PcapSource(cap.pcap) as src:
        frames = list(src.frames())
        st = src.stats()
    assert sum(fr.payload_len for fr in frames) >= 2_500_000
    assert st["frames"] == st["records"] and st["oversize"] == st["truncated_records"] == 0
    verdicts = {lib.xc_frame_verify(fr.data, len(fr.data)) for fr in frames}
    assert verdicts <= {lib.XC_FRAME_OK, lib.XC_FRAME_NOT_IPV4}
    assert max(len(fr.data) for fr in frames) <= 1514      # no GSO super-frames

    with pytest.raises(CaptureError, match="no TCP stream 7"):
        tshark_follow(cap.pcap, 7)
