# formicr: every target creates and reuses .venv in the repository root.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-base
TSTAMP  := $(VENV)/.installed-train
REDIS_HOST ?= 127.0.0.1
REDIS_PORT ?= 6379
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test train bench sweep lint clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,train]"
	touch $@

## demo: generate sample forms (if missing), read them in-process, write CSVs + annotated PNGs
demo: $(STAMP)
	$(BIN)/python -m worker.demo

## test: make sure Redis answers (start or install it if not), then run pytest
test: $(TSTAMP)
	./scripts/ensure-redis.sh $(REDIS_HOST) $(REDIS_PORT)
	./scripts/check-compose.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra

## train: reproduce models/formicr.onnx + .json from ../shared/data
train: $(TSTAMP)
	$(BIN)/formicr train --out runs/shipped --epochs 25 --refit-all
	$(BIN)/formicr export --run runs/shipped --out models --name formicr

## bench: classifier, page pipeline and queue benchmarks (ratios measured in one run)
bench: $(TSTAMP)
	./scripts/ensure-redis.sh $(REDIS_HOST) $(REDIS_PORT)
	$(BIN)/python -m bench.classifier
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.queue
	$(BIN)/python -m bench.forms
	$(BIN)/python -m bench.pasted
	$(BIN)/python -m bench.review
	$(BIN)/python -m bench.lowercase

sweep: $(STAMP)  # every bench.forms variant in one table (python -m bench.sweep --help)
	$(BIN)/python -m bench.sweep


lint: $(STAMP)
	$(BIN)/ruff check .
