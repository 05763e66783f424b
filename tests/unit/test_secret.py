"""The per-boot ISN/cookie secret: one key for every process, kept root-only."""
import os
import stat
import subprocess
import sys

from xdpmtcp.kernel import secret as bs

READ_KEY = ("import sys; from pathlib import Path; from xdpmtcp.kernel import secret as bs; "
            "sys.stdout.write(bs.boot_secret(Path(sys.argv[1])).hex())")


def key_in_new_process(path):
    return bytes.fromhex(subprocess.run([sys.executable, "-c", READ_KEY, str(path)], check=True,
                                        capture_output=True, text=True).stdout)


def test_every_process_reads_the_same_key(tmp_path):
    path = tmp_path / "run" / "isn.key"
    first = key_in_new_process(path)
    assert len(first) == bs.KEY_BYTES
    assert key_in_new_process(path) == first           # a restarted process: the same key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_damaged_key_file_is_replaced(tmp_path):
    path = tmp_path / "isn.key"
    path.write_bytes(b"short")
    key = key_in_new_process(path)
    assert len(key) == bs.KEY_BYTES and path.read_bytes() == key


def test_unwritable_place_falls_back_to_a_process_key(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert len(key_in_new_process(blocker / "isn.key")) == bs.KEY_BYTES
