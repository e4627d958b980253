# Celeste: the two commands are `make dev` and `make test`; both install what is missing first.
PYTHON ?= python3
STACK := $(PYTHON) tools/stack.py

.PHONY: bench-catalogue bench-orders bench-hot-code dev test setup test-unit test-integration test-e2e test-rules test-deploy test-browser lint format typecheck clean admin openapi

dev: ## run emulators + Redis + seeded demo data until Ctrl-C (data kept; CLEAN=1 starts empty)
	$(STACK) dev $(if $(CLEAN),--clean)

test: ## every test layer (unit, integration, e2e, rules, deploy, browser)
	$(STACK) test

setup: ## install what is missing (venv, firebase-tools, Java, Firestore emulator launcher, Redis)
	$(STACK) setup

admin: ## promote an existing user: make admin EMAIL=a@b.c (emulators), or PROJECT=id for a live one
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=someone@example.com [PROJECT=project-id]" >&2; exit 2; }
	functions/venv/bin/python tools/make_admin.py "$(EMAIL)" $(if $(PROJECT),--project "$(PROJECT)",--emulator)

test-unit:
	$(STACK) test unit
test-integration:
	$(STACK) test integration
test-e2e:
	$(STACK) test e2e
test-rules:
	$(STACK) test rules
test-deploy:
	$(STACK) test deploy
test-browser: ## the storefront in headless Chromium (installs Debian's chromium when missing)
	$(STACK) test browser

openapi: ## regenerate functions/celeste_functions/openapi.json (served by the openapi function) from the routes
	$(PYTHON) tools/openapi.py

lint: setup ## ruff check, ruff format --check, mypy (strict; pyproject.toml), eslint (web/) -- what .ci/run runs first
	functions/venv/bin/ruff check .
	functions/venv/bin/ruff format --check .
	functions/venv/bin/mypy
	node_modules/.bin/eslint web tests/rules tests/web eslint.config.mjs

format: setup
	functions/venv/bin/ruff format .
	functions/venv/bin/ruff check --fix .

clean:
	rm -rf .emulators functions/vendor .firebase.*.json

bench-catalogue: setup ## catalogue read latency (hit/miss/Redis down) and reads per request
	functions/venv/bin/python benchmarks/catalogue.py

bench-orders: setup ## order placement -> settled latency and throughput
	functions/venv/bin/python benchmarks/orders.py

bench-hot-code: setup ## reservations/s against one hot discount code
	functions/venv/bin/python benchmarks/hot_code.py
