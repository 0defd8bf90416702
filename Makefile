# fraudops — the two commands a newcomer needs are `make up` and `make test`.
SHELL := /bin/bash
FRAUDOPS := node bin/fraudops.cjs
NPM_STAMP := node_modules/.fraudops-npm-stamp

.DEFAULT_GOAL := help
.PHONY: help install up down status logs test test-unit check typecheck lint format

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(NPM_STAMP): package.json package-lock.json
	@# npm ci rejects the lockfile here: the registry lacks other platforms' optional binaries (npm/cli#9846)
	npm install --no-audit --no-fund --no-save
	@touch $@

.env:
	cp .env.example .env

install: $(NPM_STAMP) .env ## install npm packages and the local stack (idempotent)
	$(FRAUDOPS) stack install

up: install ## run the whole system: stack, workers, API, scorer, simulated data, one training run awaiting approval
	$(FRAUDOPS) up
	@$(FRAUDOPS) stack status

down: ## stop everything `make up` started
	@if [ -d node_modules ]; then $(FRAUDOPS) down; fi

status: ## show each service, its version and URL
	@$(FRAUDOPS) stack status

logs: ## print the last lines of every service log
	@$(FRAUDOPS) stack logs

check: typecheck lint ## type-check and lint

typecheck: $(NPM_STAMP)
	npx tsc --noEmit -p tsconfig.json

lint: $(NPM_STAMP)
	npx biome check .

format: $(NPM_STAMP) ## format the code in place
	npx biome check --write .

test-unit: install ## unit tests only (no services needed)
	node tests/run.mjs unit

test: install check ## install, start the stack, run every test, stop what it started
	bash tests/with-stack.sh
