# The C data path is built by cffi in API (out-of-line) mode; the rest of the
# package metadata lives in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["xdpmtcp/_core/build_core.py:build_ffi"])
