"""The one exception the wire layer raises on bad input, with named reasons.

Anomalies are counted and matched by ``reason``, a short fixed string, never
by parsing the message text.
"""

__all__ = [
    "MalformedFrame", "REASONS",
    "TRUNCATED_ETHERNET", "NOT_IPV4", "TRUNCATED_IPV4", "BAD_IPV4_VERSION",
    "BAD_IPV4_IHL", "BAD_IPV4_TOTAL_LENGTH", "BAD_IPV4_CHECKSUM",
    "IPV4_FRAGMENT", "NOT_TCP", "TRUNCATED_TCP", "BAD_TCP_DATA_OFFSET",
    "BAD_TCP_OPTION", "BAD_FLAG_COMBINATION", "BAD_TCP_CHECKSUM",
]

TRUNCATED_ETHERNET = "truncated-ethernet"        # shorter than the MAC header (+ VLAN tag)
NOT_IPV4 = "not-ipv4"                            # ethertype is not IPv4
TRUNCATED_IPV4 = "truncated-ipv4"                # buffer shorter than the IPv4 header
BAD_IPV4_VERSION = "bad-ipv4-version"            # version nibble is not 4
BAD_IPV4_IHL = "bad-ipv4-ihl"                    # IHL below 5 words
BAD_IPV4_TOTAL_LENGTH = "bad-ipv4-total-length"  # total length < header or > buffer
BAD_IPV4_CHECKSUM = "bad-ipv4-checksum"          # header checksum does not verify
IPV4_FRAGMENT = "ipv4-fragment"                  # MF set or offset != 0 (no reassembly)
NOT_TCP = "not-tcp"                              # IPv4 protocol is not TCP
TRUNCATED_TCP = "truncated-tcp"                  # shorter than the fixed TCP header
BAD_TCP_DATA_OFFSET = "bad-tcp-data-offset"      # data offset < 5 or past the segment
BAD_TCP_OPTION = "bad-tcp-option"                # option length/kind inconsistent
BAD_FLAG_COMBINATION = "bad-flag-combination"    # SYN+FIN or SYN+RST
BAD_TCP_CHECKSUM = "bad-tcp-checksum"            # TCP checksum does not verify

REASONS = frozenset({
    TRUNCATED_ETHERNET, NOT_IPV4, TRUNCATED_IPV4, BAD_IPV4_VERSION,
    BAD_IPV4_IHL, BAD_IPV4_TOTAL_LENGTH, BAD_IPV4_CHECKSUM, IPV4_FRAGMENT,
    NOT_TCP, TRUNCATED_TCP, BAD_TCP_DATA_OFFSET, BAD_TCP_OPTION,
    BAD_FLAG_COMBINATION, BAD_TCP_CHECKSUM,
})


class MalformedFrame(ValueError):
    """A frame the wire layer refuses; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason, detail=""):
        if reason not in REASONS:
            # A typo here would silently create a new counter name.
            raise ValueError("unknown MalformedFrame reason %r" % (reason,))
        self.reason = reason
        self.detail = detail
        super().__init__("%s: %s" % (reason, detail) if detail else reason)
