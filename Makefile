# badgateway.doctor — the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need (Debian packages, the venv, the lab's base image) by themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
LAB := $(BIN)/python tests/lab/labctl.py
DEMO_FAULT ?= socket_dir_permission
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/tests/output/collections
export ANSIBLE_NOCOLOR := 1

.PHONY: help deps venv collection-link unit sanity lint integration test demo demo-down build bench clean compat docs importer ee

help:
	@echo "make demo   - boot the lab, inject a real fault ($(DEMO_FAULT)), diagnose it, tear down"
	@echo "make test   - unit tests, ansible-test sanity, ansible-lint, lab integration tests"
	@echo "make bench  - benchmarks (see bench/README.md)"
	@echo "make compat - every ansible-core 2.17..newest x its Pythons, target code on Python 3.8..3.13, the lab"
	@echo "make docs   - lint the docs and build the docs site (docs/_build/html)"
	@echo "make importer - galaxy-importer on the built tarball;  make ee - the execution environment test"

deps:
	@bash tests/install-deps.sh

$(BIN)/.installed: requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed

collection-link:
	@mkdir -p tests/output/collections/ansible_collections/badgateway
	@ln -sfn $(CURDIR) tests/output/collections/ansible_collections/badgateway/doctor

unit: venv collection-link
	$(BIN)/python -m pytest tests/unit -q

sanity: venv
	VENV=$(CURDIR)/$(VENV) bash tests/sanity.sh

lint: venv collection-link
	$(BIN)/ansible-lint --profile production

integration: deps venv collection-link
	$(BIN)/python -m pytest tests/integration -q -rs

test: deps venv collection-link
	@bash tests/run-all.sh

demo: deps venv collection-link
	@bash tests/demo.sh $(DEMO_FAULT)

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path dist .

bench: venv collection-link
	@bash bench/run-all.sh

compat: venv collection-link
	$(BIN)/python tests/compat/compat.py

docs: venv
	@bash docs/build-site.sh

importer: venv
	@bash tests/compat/galaxy-importer.sh

ee: venv
	$(BIN)/python -m pytest tests/compat/test_execution_environment.py -q -p no:cacheprovider

clean:
	-$(LAB) down --name bgd; $(LAB) down --name bgd-s; $(LAB) down --name bgd-demo
	rm -rf dist tests/output .pytest_cache badgateway-report docs/_build
