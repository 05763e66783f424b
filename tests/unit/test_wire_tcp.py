"""TCP segment view, options, flags and sequence arithmetic."""
import pytest

from xdpmtcp.wire import (MalformedFrame, TcpFlags, TcpOptions, TcpSegment, check_tcp_flags,
                          emit_tcp, emit_tcp_options, parse_tcp_options, seq_add, seq_diff,
                          seq_geq, seq_gt, seq_leq, seq_lt)

SRC, DST = "198.18.0.2", "198.18.0.1"
LINUX_SYN_OPTIONS = bytes.fromhex("020405b4" "0402" "080a00000001" "00000000" "01" "030307")


def segment(flags=TcpFlags.ACK, options=None, payload=b"", **kw):
    args = dict(src_port=40000, dst_port=80, seq=1000, ack=2000, window=502)
    args.update(kw)
    return emit_tcp(SRC, DST, args["src_port"], args["dst_port"], args["seq"], args["ack"],
                    flags, args["window"], options=options, payload=payload)


def bad_option_reason(data):
    with pytest.raises(MalformedFrame) as info:
        parse_tcp_options(data)
    return info.value.reason


# --- sequence numbers -------------------------------------------------------

def test_seq_add_wraps():
    assert seq_add(0xFFFFFFFF, 1) == 0
    assert seq_add(0xFFFFFFF0, 0x20) == 0x10
    assert seq_add(0, -1) == 0xFFFFFFFF
    assert seq_add(5, 3) == 8


def test_seq_compare_across_wrap():
    assert seq_lt(0xFFFFFFFF, 0)
    assert seq_gt(0, 0xFFFFFFFF)
    assert seq_lt(0xFFFFFF00, 0x100)
    assert not seq_lt(0x100, 0xFFFFFF00)
    assert seq_diff(5, 0xFFFFFFFB) == 10
    assert seq_diff(0xFFFFFFFB, 5) == -10


def test_seq_compare_equal_and_plain():
    assert seq_leq(7, 7) and seq_geq(7, 7)
    assert not seq_lt(7, 7) and not seq_gt(7, 7)
    assert seq_lt(1, 2) and seq_leq(1, 2) and not seq_geq(1, 2)
    assert seq_gt(2, 1) and seq_geq(2, 1) and not seq_leq(2, 1)


def test_seq_compare_at_half_distance():
    # Undefined by RFC 1982; like Linux before(), "lt" holds both ways there,
    # and each single comparison still gives exactly one of lt, eq, gt.
    a, b = 0x80000000, 0
    for x, y in ((a, b), (b, a)):
        assert [seq_lt(x, y), x == y, seq_gt(x, y)] == [True, False, False]
    assert seq_gt(0x7FFFFFFF, 0) and seq_lt(0, 0x7FFFFFFF)
    assert seq_lt(0x80000001, 0) and seq_gt(0, 0x80000001)


# --- flags ------------------------------------------------------------------

def test_flag_bits_match_rfc():
    assert [int(f) for f in (TcpFlags.FIN, TcpFlags.SYN, TcpFlags.RST, TcpFlags.PSH,
                             TcpFlags.ACK, TcpFlags.URG, TcpFlags.ECE, TcpFlags.CWR)] == \
        [1, 2, 4, 8, 16, 32, 64, 128]


@pytest.mark.parametrize("flags", [TcpFlags.SYN | TcpFlags.FIN, TcpFlags.SYN | TcpFlags.RST,
                                   TcpFlags.SYN | TcpFlags.RST | TcpFlags.ACK, 0xFF])
def test_bad_flag_combinations(flags):
    with pytest.raises(MalformedFrame) as info:
        check_tcp_flags(flags)
    assert info.value.reason == "bad-flag-combination"
    with pytest.raises(MalformedFrame) as info:
        TcpSegment(segment(flags))
    assert info.value.reason == "bad-flag-combination"
    assert TcpSegment(segment(flags), check_flags=False).flags == flags


@pytest.mark.parametrize("flags", [0, TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.FIN | TcpFlags.ACK,
                                   TcpFlags.RST, TcpFlags.RST | TcpFlags.ACK, TcpFlags.SYN | TcpFlags.ECE | TcpFlags.CWR])
def test_good_flag_combinations(flags):
    check_tcp_flags(flags)
    assert TcpSegment(segment(flags)).flags == flags


# --- options ----------------------------------------------------------------

def test_parse_linux_syn_options():
    opts = parse_tcp_options(LINUX_SYN_OPTIONS)
    assert opts == TcpOptions(mss=1460, sack_permitted=True, timestamp=(1, 0), window_scale=7)
    assert [kind for kind, _ in opts.items] == [2, 4, 8, 1, 3]


def test_emit_linux_syn_options_byte_exact():
    opts = TcpOptions(mss=1460, sack_permitted=True, timestamp=(1, 0), window_scale=7)
    assert emit_tcp_options(opts) == LINUX_SYN_OPTIONS


@pytest.mark.parametrize("opts", [
    TcpOptions(),
    TcpOptions(mss=536),
    TcpOptions(window_scale=14),
    TcpOptions(sack_permitted=True),
    TcpOptions(timestamp=(0xFFFFFFFF, 0x12345678)),
    TcpOptions(mss=1460, sack_permitted=True, window_scale=7),
    TcpOptions(timestamp=(5, 6), sack_blocks=[(100, 200), (0xFFFFFF00, 0x10)]),
    TcpOptions(sack_blocks=[(1, 2), (3, 4), (5, 6), (7, 8)]),
    TcpOptions(unknown=[(99, b"\xde\xad\xbe\xef")]),
    TcpOptions(mss=1400, unknown=[(30, b"\x01"), (253, b"")]),
])
def test_options_round_trip_and_alignment(opts):
    data = emit_tcp_options(opts)
    assert len(data) % 4 == 0 and len(data) <= 40
    assert parse_tcp_options(data) == opts


def test_padding_uses_nops():
    data = emit_tcp_options(TcpOptions(unknown=[(99, b"\x01")]))
    assert data == bytes([99, 3, 1, 1])
    assert emit_tcp_options(TcpOptions(window_scale=2)) == bytes([1, 3, 3, 2])


def test_emit_refuses_options_that_do_not_fit():
    with pytest.raises(ValueError):
        emit_tcp_options(TcpOptions(timestamp=(1, 2), sack_blocks=[(1, 2)] * 4))
    with pytest.raises(ValueError):
        emit_tcp_options(TcpOptions(sack_blocks=[(1, 2)] * 5))
    with pytest.raises(ValueError):
        emit_tcp_options(TcpOptions(mss=70000))
    with pytest.raises(ValueError):
        emit_tcp_options(TcpOptions(timestamp=(2 ** 32, 0)))


def test_unknown_option_kept_and_eol_ends_parsing():
    opts = parse_tcp_options(bytes([99, 4, 0xAB, 0xCD, 1, 0, 0x02, 0x01]))
    assert opts.unknown == [(99, b"\xab\xcd")]
    assert opts.mss is None  # the bytes after EOL are padding, not an MSS
    assert [kind for kind, _ in opts.items] == [99, 1, 0]


def test_last_duplicate_option_wins():
    assert parse_tcp_options(bytes.fromhex("02040100020405b4")).mss == 1460


@pytest.mark.parametrize("data", [
    bytes([2, 1, 0, 0]),                 # length below 2
    bytes([99, 0, 0, 0]),                # length 0 would loop forever
    bytes([1, 1, 1, 2]),                 # kind without a length byte
    bytes([2, 4, 5]),                    # MSS runs past the header
    bytes([99, 9, 0, 0, 0, 0, 0, 0]),    # unknown kind runs past the header
    bytes([2, 3, 5, 1]),                 # MSS with length 3
    bytes([3, 4, 7, 0]),                 # window scale with length 4
    bytes([4, 3, 0, 1]),                 # SACK-permitted with length 3
    bytes([8, 8, 0, 0, 0, 1, 0, 0]),     # timestamp with length 8
    bytes([5, 2, 1, 1]),                 # SACK with no blocks
    bytes([5, 11]) + bytes(9) + b"\x01", # SACK not 2 + 8n
])
def test_malformed_options(data):
    assert bad_option_reason(data) == "bad-tcp-option"


def test_malformed_option_rejects_whole_segment():
    with pytest.raises(MalformedFrame) as info:
        TcpSegment(segment(options=bytes([2, 3, 5, 1])))
    assert info.value.reason == "bad-tcp-option"


# --- segment view -----------------------------------------------------------

def test_segment_fields_round_trip():
    opts = TcpOptions(timestamp=(11, 22))
    data = emit_tcp(SRC, DST, 40000, 5001, 0xFFFFFFF0, 77, TcpFlags.PSH | TcpFlags.ACK, 1234,
                    options=opts, payload=b"hello", urgent=9)
    seg = TcpSegment(data)
    assert (seg.src_port, seg.dst_port, seg.seq, seg.ack) == (40000, 5001, 0xFFFFFFF0, 77)
    assert seg.flags == TcpFlags.PSH | TcpFlags.ACK and TcpFlags.SYN not in seg.flags
    assert (seg.window, seg.urgent) == (1234, 9)
    assert (seg.data_offset, seg.header_length) == (8, 32)
    assert seg.options == opts
    assert bytes(seg.options_bytes) == emit_tcp_options(opts)
    assert bytes(seg.payload) == b"hello"
    assert seg.seq_length == 5
    assert seg.checksum == int.from_bytes(data[16:18], "big")
    assert seg.checksum_ok(SRC, DST)
    assert not seg.checksum_ok(SRC, "198.18.0.9")


def test_seq_length_counts_syn_and_fin():
    assert TcpSegment(segment(TcpFlags.SYN)).seq_length == 1
    assert TcpSegment(segment(TcpFlags.FIN | TcpFlags.ACK, payload=b"ab")).seq_length == 3
    assert TcpSegment(segment(TcpFlags.ACK)).seq_length == 0


def test_emit_pads_raw_option_bytes():
    seg = TcpSegment(segment(options=bytes([3, 3, 7])))
    assert bytes(seg.options_bytes) == bytes([3, 3, 7, 1])
    assert seg.options.window_scale == 7


def test_emit_rejects_bad_values():
    with pytest.raises(ValueError):
        segment(flags=0x100)
    with pytest.raises(ValueError):
        segment(seq=2 ** 32)
    with pytest.raises(ValueError):
        segment(options=bytes(41))
    with pytest.raises(ValueError):  # struct's range error surfaces as ValueError
        segment(window=0x10000)


def test_truncated_tcp():
    with pytest.raises(MalformedFrame) as info:
        TcpSegment(segment()[:19])
    assert info.value.reason == "truncated-tcp"


@pytest.mark.parametrize("offset_byte", [0x00, 0x40, 0x70, 0xF0])
def test_bad_data_offset(offset_byte):
    data = bytearray(segment(options=bytes([1, 1, 1, 1])))  # 24-byte header, no payload
    data[12] = offset_byte
    with pytest.raises(MalformedFrame) as info:
        TcpSegment(data)
    assert info.value.reason == "bad-tcp-data-offset"


def test_accessors_are_views_not_copies():
    data = bytearray(segment(payload=b"abc"))
    seg = TcpSegment(data)
    data[-1] = ord("z")
    assert bytes(seg.payload) == b"abz"
