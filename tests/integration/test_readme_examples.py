"""README's lab examples work as written: each code block that ends with
`xdpmtcp lab down NAME` is pasted line by line into a shell (with the
README's lab name replaced by a fresh lab's), every command exits 0, and
what README shows a command print starts as the real output does."""
import os
import re
import shutil

import pytest

from xdpmtcp.lab.fixtures import require_netns
from xdpmtcp.lab.pasted import PastedSession, env_with_xdpmtcp
from xdpmtcp.lab.stackproc import ROOT
from xdpmtcp.lab.topology import Lab

with open(os.path.join(ROOT, "README.md")) as f:
    README = f.read()
SAMPLE_LAB = re.search(r"^    lab (\w+) \(pair", README, re.M).group(1)
_COMMENT = re.compile(r"\s+#\s.*$")


def code_blocks(text):
    """Indented code blocks, each a list of lines without the indent."""
    blocks, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("    "):
            block.append(line[4:])
        elif block:
            blocks.append(block)
            block = []
    return blocks


def lab_examples():
    down = "# xdpmtcp lab down %s" % SAMPLE_LAB
    return [b for b in code_blocks(README) if any(line.startswith(down) for line in b)]


def steps(block):
    """(command, the output README shows for it) pairs; `lab up` left out:
    the test makes the lab."""
    out = []
    for line in block:
        if line.startswith("# "):
            out.append([_COMMENT.sub("", line[2:]).strip(), []])
        elif out:
            out[-1][1].append(line)
    return [(cmd, shown) for cmd, shown in out if not cmd.startswith("xdpmtcp lab up")]


def lab_queues(block):
    """--queues N of the block's `xdpmtcp lab up`, else 1."""
    for line in block:
        m = re.match(r"# xdpmtcp lab up .*--queues (\d+)", line)
        if m:
            return int(m.group(1))
    return 1


def first_words(text, n=3):
    lines = text.strip().splitlines()
    return lines[0].split()[:n] if lines else []


EXAMPLES = lab_examples()


def test_readme_has_its_lab_examples():
    assert len(EXAMPLES) == 3, [b[0] for b in EXAMPLES]


@pytest.mark.parametrize("block", EXAMPLES, ids=["responder", "load-test", "multi-queue"])
def test_readme_lab_example_works_as_written(block, tmp_path):
    require_netns()
    for tool in ("nc", "wrk", "nginx"):
        shutil.which(tool) or pytest.skip("%s is not installed (tools/setup installs it)" % tool)
    lab = Lab.create(prefix="xmread", auto_destroy=True, queues=lab_queues(block))
    os.symlink(os.path.join(ROOT, "examples"), tmp_path / "examples")
    session = PastedSession(env_with_xdpmtcp(str(tmp_path / "bin")), str(tmp_path))
    try:
        for command, shown in steps(block):
            output = session.run(command.replace(SAMPLE_LAB, lab.name))
            if shown and not command.endswith("&"):
                expected = "\n".join(shown).replace(SAMPLE_LAB, lab.name)
                assert first_words(output) == first_words(expected), (command, output)
    finally:
        session.close()
        if lab.name in [left.name for left in Lab.list()]:
            lab.destroy()
