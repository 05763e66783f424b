"""cffi builder for the C data path (API mode, out of line).

The cdef is made from the headers themselves, so every declaration exists
once: the public headers of include/ (whole, minus preprocessor lines) and
the cffi-marked block of bpf/xdpmtcp_meta.h, the layout shared with the
XDP program.

The sources sit in one folder per concern (docs/architecture.md); the
include path is include/, this folder and bpf/, so a file names a header
of its own folder plainly ("port.h"), one of another folder by its folder
("wire/frame.h"), and a public one by its name ("api.h").
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BPF_DIR = os.path.join(ROOT, "bpf")
INCLUDE_DIR = os.path.join(HERE, "include")
INCLUDE_DIRS = [INCLUDE_DIR, HERE, BPF_DIR]
COMPILE_ARGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]
# Every .c file in a folder here is part of the core; every header of
# include/ is a public one (api.h first: the others build on its types).
# A new module is just a file.
SOURCES = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "*", "*.c")))
PUBLIC_HEADERS = sorted((os.path.basename(p) for p in glob.glob(os.path.join(INCLUDE_DIR, "*.h"))),
                        key=lambda n: (n != "api.h", n))


def _rel(path):
    # setuptools prefers source paths relative to setup.py's directory.
    return os.path.relpath(path) if os.getcwd() == ROOT else path


def _cdef_from(text):
    keep = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not re.match(r"#define\s+\w+\s+-?(0x)?[0-9a-fA-F]+\b", stripped):
            continue
        keep.append(line)
    return "\n".join(keep)


def _meta_block():
    with open(os.path.join(BPF_DIR, "xdpmtcp_meta.h")) as f:
        text = f.read()
    m = re.search(r"/\* cffi-begin \*/(.*)/\* cffi-end \*/", text, re.S)
    if not m:
        raise RuntimeError("bpf/xdpmtcp_meta.h lost its cffi-begin/end markers")
    return m.group(1)


def _check_folders():
    """A source at the top of this folder would not be built: say so."""
    stray = sorted(n for n in os.listdir(HERE)
                   if n.endswith((".c", ".h")) and n != "_xdpmtcp_core.c")
    if stray:
        raise RuntimeError("xdpmtcp/_core/%s: the core's sources live in its folders, public "
                           "headers in include/ (docs/architecture.md)" % ", ".join(stray))


def build_ffi():
    _check_folders()
    ffi = FFI()
    ffi.cdef("typedef uint8_t __u8; typedef uint16_t __u16; typedef uint32_t __u32; typedef uint64_t __u64;")
    ffi.cdef(_cdef_from(_meta_block()))
    for name in PUBLIC_HEADERS:
        with open(os.path.join(INCLUDE_DIR, name)) as f:
            ffi.cdef(_cdef_from(f.read()))
    ffi.set_source(
        "xdpmtcp._core._xdpmtcp_core",
        "".join('#include "%s"\n' % name for name in PUBLIC_HEADERS),
        sources=[_rel(os.path.join(HERE, s)) for s in SOURCES],
        include_dirs=INCLUDE_DIRS,
        libraries=["xdp", "bpf"],
        extra_compile_args=COMPILE_ARGS,
    )
    return ffi


# setup.py's cffi_modules names build_ffi, which cffi calls when it builds:
# importing this file for its paths and flags (tools/bench) builds nothing.

def build_in_place():
    """Compile the core next to this file (development worktrees): the same
    result as `pip install -e .`, in a few seconds, without pip."""
    import shutil
    tmp = os.path.join(ROOT, "build", "cffi")
    os.makedirs(tmp, exist_ok=True)
    cwd = os.getcwd()
    os.chdir("/")  # absolute source paths: compile() runs in its tmpdir
    try:
        out = build_ffi().compile(tmpdir=tmp, target="_xdpmtcp_core.abi3.so")
    finally:
        os.chdir(cwd)
    dest = os.path.join(HERE, "_xdpmtcp_core.abi3.so")
    shutil.copyfile(out, dest + ".new")
    os.replace(dest + ".new", dest)  # atomic: running processes keep the old inode
    return dest


if __name__ == "__main__":
    print(build_in_place())
