# The two commands a new user needs (both set everything up first):
#   make demo   - run the demo in a fresh network-namespace lab
#   make test   - run the whole test suite (unit + integration, then the VM
#                 suite's CI subset: native XDP on virtio-net, docs/testing.md)
PY := .venv/bin/python

.PHONY: setup demo test unit integration bench clean vm-test vm-test-ci

setup:
	@tools/setup

demo: setup
	@$(PY) -m xdpmtcp demo

test: setup
	@tools/run-tests
	@tools/vm/setup
	@tools/vm/vm test --suite ci

unit: setup
	@tools/run-tests tests/unit

integration: setup
	@tools/run-tests tests/integration

# The suite in a QEMU guest on virtio-net, native XDP (docs/testing.md);
# vm-test-ci: the CI-sized subset that proves native mode.
vm-test: setup
	@tools/vm/setup
	@tools/vm/vm test

vm-test-ci: setup
	@tools/vm/setup
	@tools/vm/vm test --suite ci

bench: setup
	@$(PY) tools/bench/rx_rate.py

clean:
	rm -rf build .venv *.egg-info xdpmtcp/_core/*.so xdpmtcp/_core/_xdpmtcp_core.c
