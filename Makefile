# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: venv test demo bench lint typecheck clean cassettes demo-streamlit

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check telemetry fakes contract_tests tests benchmarks examples
	$(PY) -m ruff format --check telemetry fakes contract_tests tests benchmarks examples
	$(PY) -m mypy
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) examples/demo.py

# The example Streamlit app (examples/streamlit_app) against the fakes; what they received:
# curl http://127.0.0.1:$(FAKES_PORT)/_fakes/events
FAKES_PORT ?= 8765
demo-streamlit: $(STAMP)
	@$(PY) -m fakes serve --port $(FAKES_PORT) & fakes=$$!; trap 'kill $$fakes' EXIT INT TERM; \
	echo "fakes on http://127.0.0.1:$(FAKES_PORT); events: curl http://127.0.0.1:$(FAKES_PORT)/_fakes/events"; \
	TELEMETRY_ENDPOINT=http://127.0.0.1:$(FAKES_PORT) GA_MEASUREMENT_ID=G-DEMO000001 \
	GA_API_SECRET=demo-ga-secret-not-real AMPLITUDE_API_KEY=demo-amplitude-key-not-real \
	$(PY) -m streamlit run examples/streamlit_app/app.py --server.address 127.0.0.1 \
		--server.headless true --browser.gatherUsageStats false

bench: $(STAMP)
	@$(PY) -c 'import posthog, segment.analytics' 2>/dev/null || \
		$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(PY) benchmarks/run_all.py

# Re-record cassettes/ against the fakes; LIVE=1 re-records against the real vendors (README, "Cassettes").
cassettes: $(STAMP)
	$(PY) scripts/record_cassettes.py $(if $(LIVE),--live,)

lint: $(STAMP)
	$(PY) -m ruff check telemetry fakes contract_tests tests benchmarks examples
	$(PY) -m ruff format --check telemetry fakes contract_tests tests benchmarks examples

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
