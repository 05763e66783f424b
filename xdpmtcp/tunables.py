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
    xdp_mode: str = _t("auto", "XDP attach mode: native, skb, or auto (native, then skb)")
    xdp_max_flows: int = _t(262144, "capacity of the owned 4-tuple map (active opens)")
    xdp_max_listen: int = _t(1024, "capacity of the owned listen-port map")
    xdp_max_queues: int = _t(64, "XSKMAP entries: one per RX queue")
    pcap_max_bytes: int = _t(0, "cap of a pcap tap file; 0 = none; at the cap frames are counted, not written")
    # --- kernel contract ------------------------------------------------------
    ephemeral_ports: tuple = _t((61000, 61999), "ports for active opens, reserved with the kernel")
    neighbour_timeout_s: float = _t(1.0, "wait for the kernel to resolve a next hop's MAC")

    @classmethod
    def describe(cls):
        """[(name, default, doc)] for --help texts and the docs."""
        return [(f.name, f.default, f.metadata["doc"]) for f in fields(cls)]


DEFAULTS = Tunables()
