# The two commands a fresh machine needs: `make demo` (the main job on the bundled sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE := data/sample

.PHONY: install demo test test-fast clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(SAMPLE)/manifest.jsonl: | install
	$(BIN)/ray-eval dataset synth --out $(SAMPLE) --n 60 --seed 0

demo: install $(SAMPLE)/manifest.jsonl
	$(BIN)/ray-eval run -c configs/demo.yaml

test: install
	$(BIN)/ruff check ray_eval tests jobs
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not ray and not jobs"

clean:
	rm -rf $(VENV) $(SAMPLE) runs
