# Entry points for users and CI. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
SSLYZE_VENV ?= .cache/sslyze-venv
PYTHON    ?= python3
BIN       := $(CURDIR)/$(VENV)/bin
PYTEST_WORKERS ?= 2
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

export PATH := $(BIN):$(PATH):/usr/sbin:/sbin
export ANSIBLE_ROLES_PATH := $(CURDIR)/roles
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export NO_COLOR := 1
export PY_COLORS := 0
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0

# Mitogen runs Ansible's tasks through one Python interpreter per host that
# stays up for the whole run, instead of sending and starting each module
# anew: about half the controller's CPU per converge
# (docs/drills-and-benchmarks.md, "Mitogen": what it gave, its limits).
# MITOGEN=0 runs plain Ansible (ansible.cfg's defaults), for any target:
# `make test MITOGEN=0`. The strategy is Mitogen's linear one without its
# CPU pinning (playbooks/strategy_plugins/stack_mitogen_linear.py says why).
MITOGEN ?= 1
ifeq ($(MITOGEN),1)
export ANSIBLE_STRATEGY_PLUGINS := $(CURDIR)/playbooks/strategy_plugins
export ANSIBLE_STRATEGY := stack_mitogen_linear
endif

.PHONY: help up down drills bench setup setup-containers deps venv sslyze images container-images lint yamllint ansible-lint docs pytest molecule test converge verify destroy clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

LOCAL := -i inventory/local

# New containers are fresh servers with root's key: the first converge logs
# in as root (playbooks/preflight.yml falls back to it where the admin does
# not exist yet) and creates the admin every later run logs in as.
up: deps venv ## Bring the whole stack up on local containers and print its URL
	ansible-playbook $(LOCAL) playbooks/local_up.yml
	ansible-playbook $(LOCAL) site.yml
	ansible-playbook $(LOCAL) playbooks/local_report.yml

down: venv ## Remove the local containers (make up brings them back)
	ansible-playbook $(LOCAL) playbooks/local_down.yml

drills: venv ## Drills on the local stack (make up first): deploy, host loss, reload, backup, failover, bad inputs
	python tests/drills/drills.py $(DRILLS)

bench: deps venv ## Benchmarks: converge cost, serving through Nginx, scale, deploy and rollback (about 45 min; make up first)
	python bench/bench.py $(BENCH)

# Packages and dockerd first (the venvs need python3-venv, the images
# debootstrap), then the images and the venvs side by side.
setup: setup-containers ## Everything the tests need: packages, dockerd, images, venvs
	bash scripts/build-vm-image.sh

# What every scenario but the audit one needs. make test leaves the audit
# scenario's VMs to its own create step (it builds them when missing),
# inside a lane, rather than before any lane can start (about 80 s).
setup-containers:
	bash scripts/bootstrap.sh --no-images
	$(MAKE) --no-print-directory -j3 container-images venv sslyze

deps: ## Install docker.io and debootstrap, start dockerd, build the base images
	bash scripts/bootstrap.sh

venv: $(VENV)/.stamp ## The project virtualenv with the pinned tools

$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

sslyze: $(SSLYZE_VENV)/.stamp ## sslyze in its own venv (it pins an older cryptography)

$(SSLYZE_VENV)/.stamp: requirements-sslyze.txt
	$(PYTHON) -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/pip install --quiet -r requirements-sslyze.txt
	touch $@

images: container-images ## Build the Debian base images and the audit scenario's VM (skipped when they exist)
	bash scripts/build-vm-image.sh

container-images:
	bash scripts/build-images.sh

lint: yamllint ansible-lint ## yamllint and ansible-lint (production profile)

yamllint: venv
	yamllint --strict .

ansible-lint: venv
	ansible-lint --profile production

docs: venv ## Rewrite each role's README variables table from its argument specs and defaults
	python scripts/role_docs.py

pytest: venv ## Fast tests that need no container (variables, inventories)
	pytest -q -n $(PYTEST_WORKERS) tests

molecule: setup ## Every Molecule scenario (SCENARIOS="a b" for some)
	bash scripts/molecule-all.sh $(SCENARIOS)

# One whole-stack converge (the stack scenario) serves the stack's tests, the
# monitoring tests and the drills (molecule/stack/tests/test_operations.py).
# pytest runs as one of the two lanes' jobs, the last one (scripts/molecule-all.sh).
test: setup-containers ## Everything CI runs: lint, pytest, every scenario (the stack one runs the drills too)
	bash scripts/molecule-all.sh lint pytest $(SCENARIOS)

converge: setup ## Converge one scenario and keep it: make converge S=common
	molecule converge -s $(S)

verify: venv ## Run the verify step of a converged scenario: make verify S=common
	molecule verify -s $(S)

destroy: venv ## Remove a scenario's containers: make destroy S=common
	molecule destroy -s $(S)

clean: ## Remove the virtualenv
	rm -rf $(VENV)
