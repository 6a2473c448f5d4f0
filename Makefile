# Baton — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test venv build migrate seed worker package audit bench clean fuzz

# uv installs the pinned requirements in seconds (pip took about 40 s); pip remains the fallback.
$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	($(BIN)/pip install --quiet uv==0.13.9 && $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt) || \
	  ($(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -r requirements-dev.txt)
	touch $(BIN)/activate

venv: $(BIN)/activate

# The PWA: npm ci + esbuild into static/dist (skipped with a warning when npm is missing).
build:
	@if [ -f static/package.json ]; then \
	  if command -v npm >/dev/null; then cd static && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	  else echo "WARNING: npm not found; the phone app is not built (the API still runs)"; fi; \
	fi

migrate: venv
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask seed demo

# Serve on 0.0.0.0:5000 with the background worker in the same process, after migrating and seeding.
run: venv build seed
	$(BIN)/flask push init-vapid --if-missing
	$(BIN)/flask serve --host 0.0.0.0 --port 5000

worker: venv
	$(BIN)/flask worker

# The whole suite, on SQLite and on PostgreSQL. One worker more than there are cores: many tests wait on
# PostgreSQL, a browser or a gunicorn subprocess (2 cores: 157 s with 3 workers, 178 s with 2, 190 s with 4).
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
test: venv build
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

audit: venv
	$(BIN)/pip install --quiet pip-audit==2.10.1
	$(BIN)/pip-audit --strict -r requirements.txt

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) static/dist static/node_modules .pytest_cache

# The Lambda package, built from a clean runtime-only environment on the runtime's Python (3.12).
PACKAGE_PYTHON ?= $(firstword $(wildcard /usr/bin/python3.12 /usr/local/bin/python3.12 /root/.pyenv/versions/3.12*/bin/python3.12) python3)
package: build
	rm -rf /tmp/baton-package-venv && $(PACKAGE_PYTHON) -m venv /tmp/baton-package-venv
	/tmp/baton-package-venv/bin/pip install --quiet --upgrade pip
	/tmp/baton-package-venv/bin/pip install --quiet -r requirements.txt zappa==0.63.0
	. /tmp/baton-package-venv/bin/activate && AWS_DEFAULT_REGION=ap-east-1 zappa package dev -o /tmp/baton-lambda.zip
	@ls -l /tmp/baton-lambda.zip | awk '{printf "Lambda package: %.1f MB zipped\n", $$5/1048576}'

# Hardening (tests/hardening, bench/load). `make test` already runs a small, deterministic fuzz pass.
.PHONY: load soak
FUZZ_EXAMPLES ?= 100
# Long property-based fuzzing of every API operation as each role, with random data (BATON_FUZZ_SEED=n to replay one).
fuzz: venv
	BATON_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) BATON_FUZZ_RANDOM=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/hardening/test_fuzz.py $(PYTEST_ARGS)

LOAD_SECONDS ?= 180
SOAK_SECONDS ?= 600
LOAD_USERS ?= 60
LOAD_WORKERS ?= 4
# Load: gunicorn on a fresh PostgreSQL database on 127.0.0.1, locust headless; prints throughput, p95/p99, errors.
load: venv
	$(BIN)/python bench/load/run_load.py --seconds $(LOAD_SECONDS) --users $(LOAD_USERS) --workers $(LOAD_WORKERS)

# Soak: the same mix for longer, sampling each worker's RSS; prints first/last/max RSS per worker and the slope.
soak: venv
	$(BIN)/python bench/load/run_load.py --seconds $(SOAK_SECONDS) --users $(LOAD_USERS) --workers $(LOAD_WORKERS) --soak
