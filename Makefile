# One Makefile for set-up, the main job, tests and lint. `make help` lists the targets.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Offscreen MuJoCo rendering on a CPU-only machine (EGL through Mesa llvmpipe).
export MUJOCO_GL ?= egl
# Small MLPs on a shared CPU: one thread each is 10-46x faster than several (STACK.md).
export OMP_NUM_THREADS ?= 1

.PHONY: help install demo test test-fast lint format clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# torch==2.13.0 first, and every later install under constraints.txt: otherwise pip resolves
# the newest CUDA build of torch for stable-baselines3 (several GB).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)  ## create .venv and install the toolkit with its dev tools

# The main job: GAN-GCL on the shipped InvertedPendulum-v5 demos, then its evaluation table,
# whose re-optimisation trains a fresh linear policy (ARS) on the learned reward alone.
DEMO_RUN ?= outputs/demo/$(shell date +%Y-%m-%d_%H-%M-%S)
DEMO_RUN := $(DEMO_RUN)
DEMO_REOPT_STEPS ?= 150000
demo: $(STAMP)  ## the main job: learn a reward from demonstrations and evaluate it
	$(VENV)/bin/irl-train experiment=demo hydra.run.dir=$(DEMO_RUN)
	$(VENV)/bin/irl-eval run_dir=$(DEMO_RUN) reopt_algo=ars reopt_steps=$(DEMO_REOPT_STEPS)

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the suite without tests marked slow
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)  ## ruff (lint + format check) and mypy on irl/
	$(VENV)/bin/ruff check irl envs tests benchmarks
	$(VENV)/bin/ruff format --check irl envs tests benchmarks
	$(VENV)/bin/mypy

format: $(STAMP)  ## apply ruff's formatter and safe fixes
	$(VENV)/bin/ruff format irl envs tests benchmarks
	$(VENV)/bin/ruff check --fix irl envs tests benchmarks

clean:  ## remove the virtual environment and run outputs
	rm -rf $(VENV) outputs multirun .pytest_cache .mypy_cache .ruff_cache
