# The README's two commands: `make demo` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0

.PHONY: demo test lint unit bench clean zip-size

demo:
	scripts/bootstrap.sh local
	$(VENV)/bin/ecr-replicate local demo

test:
	scripts/bootstrap.sh dev
	$(MAKE) lint
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint:
	$(VENV)/bin/ruff check functions src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

zip-size:  # the Lambda package's zipped size (the README's figure), built for arm64 / Python 3.12
	scripts/bootstrap.sh dev
	scripts/zip_size.sh

bench:
	scripts/bootstrap.sh dev
	$(PY) -m bench.copy_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
