# make demo: set up everything on a fresh machine, then animate the embedded face into out/.
# make test: set up everything, then run ruff, mypy and the whole test suite.
# make bench: set up everything, then print the benchmark figures recorded in docs/benchmarks.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# EGL/Mesa for offscreen rendering on the CPU, OSMesa for the fallback renderer, a font for captions.
SYSTEM_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libosmesa6 fonts-dejavu-core

.PHONY: demo test bench system clean

demo: system $(STAMP)
	$(BIN)/facetalk demo -o out

test: system $(STAMP)
	$(BIN)/ruff check src tests bench assets
	$(BIN)/mypy src
	$(BIN)/pytest -q

bench: system $(STAMP)
	$(BIN)/python bench/render_speed.py

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
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
