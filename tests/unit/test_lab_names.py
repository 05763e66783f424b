"""Lab naming and address math: pure functions, no privileges."""

import pytest

from xdpmtcp.lab import fixtures
from xdpmtcp.lab.topology import (IFNAME_MAX, PREFIX_MAX, LabError,
                                  check_subnet, host_address, ifname_for,
                                  make_lab_name, ns_name_for)


def test_name_is_prefix_plus_six_hex():
    name = make_lab_name("xm")
    assert name.startswith("xm") and len(name) == 8
    int(name[2:], 16)


def test_names_are_random():
    assert len({make_lab_name() for _ in range(50)}) == 50


def test_fixed_token_for_reproducible_names():
    assert make_lab_name("lab", token="abc123") == "lababc123"
    assert ns_name_for("lababc123", "stack") == "lababc123-stack"


@pytest.mark.parametrize("prefix", ["", "9x", "Xm", "x-m", "x_m",
                                    "a" * (PREFIX_MAX + 1)])
def test_bad_prefixes_rejected(prefix):
    with pytest.raises(LabError):
        make_lab_name(prefix)


def test_longest_prefix_still_fits_interface_names():
    name = make_lab_name("a" * PREFIX_MAX)
    for role in ("stack", "peer", "client", "monitor", "server"):
        for index in range(10):
            assert len(ifname_for(name, role, index)) <= IFNAME_MAX


def test_ifname_layout_and_limit():
    assert ifname_for("xm0a1b2c", "stack", 0) == "xm0a1b2cs0"
    assert ifname_for("xm0a1b2c", "monitor", 1) == "xm0a1b2cm1"
    with pytest.raises(LabError):
        ifname_for("x" * 14, "peer", 0)


def test_host_addresses():
    assert host_address("198.18.0.0/24", 1) == ("198.18.0.1", 24)
    assert host_address("198.18.0.0/24", 2) == ("198.18.0.2", 24)
    assert host_address("198.19.255.0/24", 254) == ("198.19.255.254", 24)
    assert host_address("198.18.4.0/30", 2) == ("198.18.4.2", 30)


@pytest.mark.parametrize("n", [0, 255, 256])
def test_host_number_must_be_usable(n):
    with pytest.raises(LabError):
        host_address("198.18.0.0/24", n)


@pytest.mark.parametrize("subnet", [
    "10.0.0.0/24",        # outside the benchmarking range
    "198.17.255.0/24",
    "198.20.0.0/24",
    "198.16.0.0/14",      # contains the range, not inside it
    "198.18.0.1/24",      # host bits set: probably a typo
    "198.18.0.0/31",      # no room for two hosts
    "not-a-subnet",
])
def test_bad_subnets_rejected(subnet):
    with pytest.raises(LabError):
        check_subnet(subnet)


def test_whole_range_accepted():
    assert check_subnet("198.18.0.0/15").num_addresses == 2 ** 17


def test_require_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    fixtures.require(True, "unused")
    with pytest.raises(pytest.skip.Exception):
        fixtures.require(False, "no netns")


def test_require_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no netns"):
        fixtures.require(False, "no netns")
