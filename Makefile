# Two commands on a fresh clone: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000
export PORT

.PHONY: install tools run test test-fast lint format check-migrations bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev,embedded]"
	@touch $(STAMP)

install: $(STAMP)

# Node tools for the contract tests: Prism mock servers from the providers' OpenAPI specs
# (tests/fakes/prism.py pins the same version). Nothing happens when that version is there.
PRISM_VERSION := 5.14.2
TOOLS := .tools
PRISM := $(TOOLS)/node_modules/.bin/prism

tools:
	@if [ -x $(PRISM) ] && [ "$$($(PRISM) --version 2>/dev/null)" = "$(PRISM_VERSION)" ]; then \
	  echo "prism $(PRISM_VERSION) already in $(TOOLS)/"; \
	else \
	  npm install --prefix $(TOOLS) --no-audit --no-fund --save-exact \
	    @stoplight/prism-cli@$(PRISM_VERSION); \
	fi

# Embedded PostgreSQL and Redis under .data/ unless DATABASE_URL / REDIS_URL are set; then
# migrate, seed the demo, serve on $(PORT) with a worker. Ctrl-C stops everything.
run: install
	@DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-config.settings.local} exec $(BIN)/python -m config.stack run

# The whole suite on the same set-up. Pass pytest arguments with ARGS="-k login".
test: install
	@exec $(BIN)/python -m config.stack test $(ARGS)

# The same without the tests marked slow (browser, contract, stack, many threads, big data):
# for the edit-test loop. CI runs `make test`.
test-fast: install
	@exec $(BIN)/python -m config.stack test -m "not slow" $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy apps config
	$(BIN)/python -m config.stack exec -- $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf .data $(VENV)
