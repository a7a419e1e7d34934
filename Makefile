# make demo: set up everything on a fresh machine, then animate the bundled example speech into out/.
# make test: set up everything, then run ruff, mypy and the whole test suite.
# make bench: set up everything, then print the benchmark figures recorded in docs/benchmarks.md and docs/performance.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# EGL/Mesa for offscreen rendering on the CPU, OSMesa for the fallback renderer, a font for captions,
# Node.js for the glTF-Validator used by the tests, alsa-utils for its recordings of real speech (tests),
# espeak-ng for the synthetic corpus's second family of voices, headless Chromium for the viewer's test.
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libosmesa6 fonts-dejavu-core nodejs alsa-utils espeak-ng \
  chromium-headless-shell
# The Khronos glTF-Validator (npm) checks exported GLB files in the tests, as an independent reader.
GLTF_VALIDATOR := $(VENV)/node/node_modules/gltf-validator
GLTF_VALIDATOR_VERSION := 2.0.0-dev.3.10
# three.js (npm) for the browser viewer of `facetalk serve`, served from the venv (never a CDN).
THREE := $(VENV)/node/node_modules/three
THREE_VERSION := 0.187.0

.PHONY: demo test bench system clean

demo: system $(STAMP) $(THREE)
	$(BIN)/facetalk animate assets/speech/example.wav --text-file assets/speech/example.txt --emotion happy:0.5 -o out

test: system $(STAMP) $(GLTF_VALIDATOR) $(THREE)
	$(BIN)/ruff check src tests bench assets weights docs/figures
	$(BIN)/mypy src
	$(BIN)/pytest -q

bench: system $(STAMP)
	$(BIN)/python bench/render_speed.py
	$(BIN)/python bench/encoders_speed.py
	$(BIN)/python bench/composite_regional_speed.py
	$(BIN)/python bench/pipeline_speed.py

system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "facetalk needs these system packages; run:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,synth]'
	touch $(STAMP)

$(GLTF_VALIDATOR):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node gltf-validator@$(GLTF_VALIDATOR_VERSION); \
	else \
	  echo "npm not found: the glTF-Validator test will be skipped (install Node.js to run it)"; \
	fi

$(THREE):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/node three@$(THREE_VERSION); \
	else \
	  echo "npm not found: the viewer of facetalk serve needs three.js (install Node.js, then make)"; \
	fi

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
