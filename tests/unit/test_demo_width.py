"""The demo's lab table fits an 80-column terminal, however long the names."""
from rich.console import Console

from xdpmtcp.commands.demo import lab_table
from xdpmtcp.lab.topology import Host, Lab, make_lab_name


def longest_lab():
    name = make_lab_name("xmdemo")
    hosts = {role: Host(name=role, ns="%s-%s" % (name, role), ifname="%s%s0" % (name, role[0]),
                        ip="198.18.255.254", prefixlen=24, mac="aa:bb:cc:dd:ee:ff")
             for role in ("stack", "peer")}
    return Lab(name, "pair", "198.18.0.0/24", hosts=hosts)


def test_lab_table_fits_80_columns():
    console = Console(width=80, record=True, soft_wrap=True, highlight=False)
    lab = longest_lab()
    console.print(lab_table(lab))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80, lines
    assert any(lab.stack.ifname in line and "aa:bb:cc:dd:ee:ff" in line for line in lines)
    assert any(lab.name in line for line in lines)
