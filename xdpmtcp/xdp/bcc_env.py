"""Point BCC at kernel headers it accepts.

BCC wants /lib/modules/$(uname -r)/build.  Where that is missing (as on
these machines), tools/setup merges the distribution's arch and common
header packages into build/kheaders; BCC_KERNEL_SOURCE points BCC there.
"""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BPF_DIR = REPO_ROOT / "bpf"
MERGED_HEADERS = REPO_ROOT / "build" / "kheaders"


def kernel_headers_note():
    """Set BCC_KERNEL_SOURCE if needed; returns a one-line note or None."""
    if os.environ.get("BCC_KERNEL_SOURCE"):
        return None
    release = os.uname().release
    if Path("/lib/modules", release, "build", "include").is_dir():
        return None
    if (MERGED_HEADERS / "include").is_dir():
        os.environ["BCC_KERNEL_SOURCE"] = str(MERGED_HEADERS)
        src = (MERGED_HEADERS / ".source").read_text().split()[0] if (MERGED_HEADERS / ".source").exists() else "?"
        return "no /lib/modules/%s/build; BCC uses %s (merged in %s)" % (
            release, os.path.basename(src), MERGED_HEADERS)
    raise RuntimeError(
        "no kernel headers for BCC: /lib/modules/%s/build is missing and %s "
        "was not prepared; run tools/setup" % (release, MERGED_HEADERS))
