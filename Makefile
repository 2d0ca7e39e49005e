# Everything a newcomer needs: `make run` (set up + run the gateway on its embedded PFS server)
# and `make test` (set up + run the tests). Each target sets up what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 30600
PFS_PORT ?= 30650
DATA_DIR ?= data
PACHD_ADDRESS ?=
PROTO_SRC ?=
PYTEST_ARGS ?= -n 2  # both cores (pytest-xdist): the suite runs in about 5 min instead of 10

.PHONY: setup gen run pfsd test docs bench lint clean browser-deps client-deps soak
.PHONY: fuzz
FUZZ_EXAMPLES ?= 500
FUZZ_ARGS ?=

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

gen: setup
	$(PY) -m codegen.gen_stubs $(if $(PROTO_SRC),--proto-src $(PROTO_SRC))
	$(PY) -m codegen.check_spec

run: gen
	$(PY) -m gateway --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) \
		$(if $(PACHD_ADDRESS),--pachd-address $(PACHD_ADDRESS))

pfsd: gen
	$(PY) -m pfsd --listen $(HOST):$(PFS_PORT) --data-dir $(DATA_DIR)

test: gen
	$(PY) -m pytest $(PYTEST_ARGS)

# Headless Chromium for the explorer's browser test (Debian, as root); without it that test skips.
browser-deps:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Debian-packaged S3 clients (rclone, s3fs-fuse) for test_client_matrix.py and test_folders.py (as root); without them
# those tests skip with their reason. CI runs it before `make test`.
client-deps:
	command -v rclone >/dev/null && command -v s3fs >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq rclone s3fs; }

docs: gen
	$(PY) -m codegen.gen_docs

bench: gen
	$(PY) -m bench $(BENCH_ARGS)

soak: gen
	$(PY) -m bench.soak $(SOAK_ARGS)

# Spec-driven fuzzing (schemathesis) of a fresh gateway: FUZZ_EXAMPLES requests per operation.
fuzz: gen
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m bench.fuzz $(FUZZ_ARGS)

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf generated .cache docs/api
