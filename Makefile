# The two commands a new user needs (both set everything up first):
#   make demo   - run the demo in a fresh network-namespace lab
#   make test   - run the whole test suite (unit + integration)
PY := .venv/bin/python

.PHONY: setup demo test unit integration bench clean

setup:
	@tools/setup

demo: setup
	@$(PY) -m xdpmtcp demo

test: setup
	@tools/run-tests

unit: setup
	@tools/run-tests tests/unit

integration: setup
	@tools/run-tests tests/integration

bench: setup
	@$(PY) tools/bench/rx_rate.py

clean:
	rm -rf build .venv *.egg-info xdpmtcp/_core/*.so xdpmtcp/_core/_xdpmtcp_core.c
