# Every target bootstraps .venv itself: a fresh machine needs only Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
DEV_STAMP := $(VENV)/.stamp-dev
MODELS_STAMP := functions/models/mediapipe/.stamp
# Standalone CLI tools with pinned dependency trees of their own (see pyproject.toml).
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.stamp-tools
CHECKOV_VERSION := 3.3.30
# The CPU build first: the `inference` extra's torch requirement is then already met, so pip
# never pulls a CUDA build (several GB) onto a test machine.
TORCH ?= torch==2.13.0

.PHONY: venv image-env lambda-deps demo test test-fast lint bench load calibrate build clean

$(DEV_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is required (none found on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q '$(TORCH)'
	$(BIN)/python -m pip install -q -e '.[dev,inference]'
	@touch $@

# MediaPipe's .tflite files, from the pinned wheel with pinned hashes (again whenever the list changes).
$(MODELS_STAMP): $(DEV_STAMP) functions/headshot/mediapipe_models.py
	$(BIN)/python -m infra.build.mediapipe_models >/dev/null
	@touch $@

$(TOOLS_STAMP): Makefile
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install -q 'checkov==$(CHECKOV_VERSION)'
	@touch $@

venv: $(DEV_STAMP) $(MODELS_STAMP) $(TOOLS_STAMP)

# The inference image's Python environment without Docker (infra/build/image_env.py): a one-time
# build, cached per requirements hash, made before pytest so its minutes are reported on their own.
image-env: $(DEV_STAMP)
	@$(BIN)/python -m infra.build.image_env >/dev/null

# The Lambda artefacts' python3.12 wheels (build/lambda-deps, per requirements hash): the networked,
# one-time part of `make build`; tests/infra/test_artifacts.py then builds from this cache offline.
# Without a package index this step only warns: the artefact test then skips and says why.
lambda-deps: $(DEV_STAMP)
	@start=$$(date +%s); if $(BIN)/python -m infra.build.lambdas --deps-only; then \
	echo "lambda wheel cache: ready in $$(( $$(date +%s) - start )) s (build/lambda-deps)" >&2; \
	else echo "lambda wheel cache: not filled (pip failed above); tests/infra/test_artifacts.py tries again and skips if the index is unreachable" >&2; fi

## make demo: one job end to end on the local stack (PHOTOS="a.jpg b.jpg" to use your own)
demo: $(DEV_STAMP) $(MODELS_STAMP)
	$(BIN)/headshot demo $(PHOTOS)

# One worker per core. loadfile keeps each test file on one worker, so a module's or a file's
# expensive fixtures (the local stacks of tests/integration/test_pipeline.py, the Lambda build of
# tests/infra/test_artifacts.py, the image server of tests/container/test_image_env.py) are made once
# and never by two workers at the same time; the environments they need are built before pytest.
# Files are handed out in collection order (container, infra, integration, then the many small
# unit-test files, which even out the workers' last minutes), not xdist's default of most tests
# first, which leaves the few-test, long-running files (the fault drills, the Lambda build, the
# image server) for the end.
XDIST := -n auto --dist loadfile --no-loadscope-reorder
# The edit loop's tier: the use cases on the in-memory fakes (tests/fakes.py), the inference contract,
# webhooks, settings, the job model and the policy table. No face model and no moto server is
# started, so it runs in seconds, serially (worker start-up would cost more than it saves).
FAST_TESTS := tests/unit/usecases tests/unit/test_contract.py tests/unit/test_api_bodies.py \
	tests/unit/test_webhooks.py tests/unit/test_webhook_signing.py tests/unit/test_settings.py \
	tests/unit/test_jobs.py tests/unit/test_policy.py tests/unit/test_color.py

## make test: the whole suite in parallel (unit, integration, container, infra; ruff and mypy run as tests too)
test: $(DEV_STAMP) $(MODELS_STAMP) $(TOOLS_STAMP) image-env lambda-deps
	@$(BIN)/python -m pytest $(XDIST); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; fi; exit $$rc

## make test-fast: the edit loop (≤ 60 s): ruff on the Python files changed since HEAD, then the fast unit tests
## (`make lint` adds mypy, incremental)
test-fast: $(DEV_STAMP) $(MODELS_STAMP)
	@changed="$$( { git diff --name-only --diff-filter=d HEAD -- '*.py'; git ls-files --others --exclude-standard -- '*.py'; } | sort -u)"; \
	if [ -n "$$changed" ]; then \
		echo "ruff on $$(echo "$$changed" | wc -l) changed file(s)"; \
		$(BIN)/ruff check $$changed && $(BIN)/ruff format --check $$changed || exit 1; \
	fi
	@$(BIN)/python -m pytest -q -m "not slow and not photos" $(FAST_TESTS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; fi; exit $$rc

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make bench: photo checks, studio per-output CPU time, local-stack budgets, diffusion on GPU when CUDA is there (see docs/PERFORMANCE.md)
bench: $(DEV_STAMP) $(MODELS_STAMP)
	$(BIN)/python tests/benchmarks/bench_check.py
	$(BIN)/python inference_container/bench_studio.py
	$(BIN)/python tests/benchmarks/bench_gate.py
	$(BIN)/python tests/benchmarks/bench_local.py
	@# The diffusion backend end to end on the GPU: only where CUDA is (never an estimate without one).
	@if $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then \
		$(BIN)/python inference_container/bench_gpu.py; \
	else echo "bench_gpu.py skipped: no CUDA device, the diffusion backend is not measured on GPU"; fi

## make load: 200 concurrent mixed jobs on a fresh local stack, every outcome, webhook and erasure checked (docs/PERFORMANCE.md)
## (tens of minutes on 2 cores: never-uploaded jobs expire after the 900 s upload window; LOAD_ARGS="--jobs 20 --upload-window 60" is quick)
LOAD_ARGS ?= --jobs 200 --concurrency 200 --upload-window 900
load: $(DEV_STAMP) $(MODELS_STAMP)
	$(BIN)/python tests/benchmarks/load_local.py $(LOAD_ARGS)

## make build: Lambda artefacts for python3.12/x86_64 without Docker (an offline `sam build`)
build: $(DEV_STAMP) $(MODELS_STAMP)
	$(BIN)/python -m infra.build.lambdas

## make calibrate: re-measure the policy metrics on real and degraded photos (docs/CALIBRATION.md)
calibrate: $(DEV_STAMP) $(MODELS_STAMP)
	$(BIN)/python -m tests.benchmarks.calibrate_policy > docs/calibration/measurements.md
	@echo "wrote docs/calibration/measurements.md"
	$(BIN)/python tests/benchmarks/calibrate_gate.py > docs/calibration/gate.md
	@echo "wrote docs/calibration/gate.md"

clean:
	rm -rf $(VENV) $(TOOLS_VENV) functions/models .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info functions/*.egg-info
