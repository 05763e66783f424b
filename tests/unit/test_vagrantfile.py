"""The Vagrantfile is valid Ruby and provisions with the same script as
`make test` (and so CI) and the image of `make vm-test`: tools/setup."""
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = "tools/setup"


def test_vagrantfile_is_valid_ruby():
    ruby = shutil.which("ruby")
    assert ruby, "ruby is missing: tools/setup installs it"
    r = subprocess.run([ruby, "-c", str(ROOT / "Vagrantfile")], capture_output=True, text=True)
    assert r.returncode == 0 and "Syntax OK" in r.stdout, r.stdout + r.stderr


def test_vagrant_make_test_ci_and_vm_image_share_one_setup_script():
    vagrant = (ROOT / "Vagrantfile").read_text()
    provision = re.findall(r'^\s*config\.vm\.provision\s+"shell",\s*inline:\s*"([^"]*)"', vagrant, re.M)
    assert len(provision) == 1 and provision[0].split("&&")[-1].strip() == SETUP, provision
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^setup:\n\t@%s$" % re.escape(SETUP), makefile, re.M)
    assert re.search(r"^test: setup$", makefile, re.M)
    assert re.search(r"^vm-test: setup", makefile, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
    # the guest image: tools/setup again, in a chroot (tools/vm/image.py)
    image = (ROOT / "tools" / "vm" / "image.py").read_text()
    assert re.search(r'in_chroot\(.*"[^"]*cd %s && tools/setup"', image), "the image is not built by tools/setup"
