# bastionless — every command a user or CI runs. `make` alone lists them.
# Each target installs what it needs first (`make setup`), so a fresh clone needs nothing else.

SHELL := /bin/bash
# --norc: bash reads /etc/bash.bashrc also when stdin is a socket (a Node child's pipes) and SHLVL is
# unset, and under -u that file fails on PS1; a recipe never wants an rc file.
.SHELLFLAGS := --norc -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ENV ?=
ARGS ?=
# Every program runs as `node --import tsx FILE`: no parent process in between (the tsx CLI or npx)
# that would relay Ctrl-C a second time, SIGKILL a slow child, or swallow a signal.
RUN := node --import tsx
# $(call program,FILE): FILE with ENV and ARGS exactly as typed. ARGS is split into words as a shell
# splits them (quotes keep spaces in one argument) but never expanded, by make or by the shell:
# ARGS='--target $$HOSTNAME' passes $$HOSTNAME. exec leaves no shell between make and the program.
# make still reports a failure its own way (`Error N`, then exit 2), and dies of the terminal's
# Ctrl-C itself (130) whatever the program did: scripts run the program, or `bastionless`, directly.
# BASTIONLESS_MAKE_PID tells the program that its parent is make (its own parent pid), so that it
# ends what it opened if make dies; a program started some other way under make is never watched.
# Plain bash 3.2 (macOS's): no mapfile, and an empty array expanded as $${a[@]+"$${a[@]}"} under -u.
program = args='$(subst ','\'',$(value ARGS))'; \
	printf '%s' "$$args" | xargs -r printf '%s\0' >/dev/null 2>&1 || { echo "make: ARGS has an unmatched quote: $$args" >&2; exit 2; }; \
	argv=(); while IFS= read -r -d '' word; do argv+=("$$word"); done < <(printf '%s' "$$args" | xargs -r printf '%s\0'); \
	BASTIONLESS_MAKE_PID=$$PPID exec $(RUN) $(1) $(if $(value ENV),--env '$(subst ','\'',$(value ENV))') $${argv[@]+"$${argv[@]}"}
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?= true
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: help setup deps system demo test typecheck format unit tunnel exec cleanup localcloud bench soak iam build sea images conformance schema

help: ## List the targets
	@echo "bastionless — bastion-less access to private AWS resources through Session Manager and ECS Exec"
	@echo
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'
	@echo
	@echo "  Variables: ENV=<env> (tunnel, exec, cleanup), ARGS='<extra flags>' (passed as typed: quotes group, \$$ stays)"

setup: deps system ## Install npm dependencies and check (in CI: install) the system pieces

deps: node_modules/.package-lock.json

# npm ci only when node_modules is missing or older than the lockfile.
node_modules/.package-lock.json: package-lock.json package.json
	@echo "Installing npm dependencies (npm ci)…"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

system: ## Check moto_server, PostgreSQL, psql, tmux, zsh, podman and the AWS CLI (installs Debian packages in CI as root)
	@missing_apt=""; \
	command -v psql >/dev/null || missing_apt="$$missing_apt postgresql-client"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing_apt="$$missing_apt postgresql"; \
	command -v tmux >/dev/null || missing_apt="$$missing_apt tmux"; \
	command -v zsh >/dev/null || missing_apt="$$missing_apt zsh"; \
	for tool in podman runc debootstrap gpg; do PATH="$$PATH:/usr/sbin:/sbin" command -v $$tool >/dev/null || missing_apt="$$missing_apt $$tool"; done; \
	if [ -n "$$missing_apt" ]; then \
	  if [ -n "$${CI:-}" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing$$missing_apt (apt-get)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing_apt >/dev/null; \
	  else \
	    echo "Missing:$$missing_apt. Install with: sudo apt-get install -y$$missing_apt" >&2; exit 1; \
	  fi; \
	fi; \
	if ! command -v moto_server >/dev/null; then \
	  echo 'Missing: moto_server (the local cloud'"'"'s AWS). Install with: python3 -m pip install "moto[server]==5.2.1"' >&2; exit 1; \
	fi; \
	if ! command -v aws >/dev/null; then \
	  echo 'Missing: the AWS CLI (used by the local cloud tests). Install with: python3 -m pip install awscli' >&2; exit 1; \
	fi

typecheck: deps ## Strict TypeScript check, ESLint and prettier --check of lib/, scripts/, docker/ and test/
	@npx tsc -p . --noEmit
	@npx eslint --max-warnings 0 .
	@npx prettier --check --log-level warn "**/*.{ts,mts,mjs,js,cjs}"

format: deps ## Rewrite the code as prettier formats it (make typecheck checks it)
	@npx prettier --write --log-level warn "**/*.{ts,mts,mjs,js,cjs}"

unit: deps ## Run the unit tests only (no local cloud)
	@npx vitest run test/unit

schema: deps ## Rewrite bastionless.config.schema.json, the config file's JSON Schema, from lib/config-schema.ts
	@$(RUN) --input-type=module -e 'import { writeFileSync } from "node:fs"; import { CONFIG_SCHEMA_FILE, configJsonSchemaText } from "./lib/config-json-schema.ts"; writeFileSync(CONFIG_SCHEMA_FILE, configJsonSchemaText()); console.log(`Wrote $${CONFIG_SCHEMA_FILE}.`);'

test: setup typecheck ## Typecheck and run the whole test suite against the local cloud
	@npx vitest run

demo: setup ## The main job on the local cloud: tunnel to a database, query through it, clean up, prove nothing is left
	@$(RUN) test/demo.mts $(ARGS)

tunnel: deps ## Open a tunnel to a private database: make tunnel ENV=stg [ARGS="--target stg-db"]
	@$(call program,scripts/portforward.mts)

exec: deps ## ECS Exec into a task with discovery and pre-flight checks: make exec ENV=stg [ARGS="--check"]
	@$(call program,scripts/exec.mts)

cleanup: deps ## Remove orphaned instances, activations, parameters and tasks: a dry run without a terminal; ARGS=--yes applies
	@$(call program,scripts/cleanup-orphans.mts)

localcloud: setup ## Run the local cloud with the demo world on :4566 (Ctrl-C stops it)
	@$(RUN) test/localcloud/cli.mts --world demo $(ARGS)

build: deps ## Bundle every program into dist/*.mjs (plain node; what images copy)
	@npm run --silent build

# Node's single executable applications (Node 20: CommonJS main, postject injects the blob): the ESM
# bundle first, then the same bundle as CommonJS, then a copy of this node with it inside. The fuse is
# spelled here, never in package.json: the bundle carries package.json (--version), and postject
# refuses a blob in which the fuse appears.
SEA_FUSE := NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
sea: deps ## Build dist/bastionless: one executable with Node inside, for machines without Node (Linux, this Node's platform)
	@npx esbuild scripts/bastionless.mts --bundle --platform=node --format=esm --target=node20 --outfile=dist/sea/bastionless.mjs --log-level=warning
	@npx esbuild dist/sea/bastionless.mjs --platform=node --format=cjs --target=node20 --outfile=dist/sea/bastionless.cjs --log-level=warning
	@node --experimental-sea-config docker/sea-config.json >dist/sea/blob.log 2>&1 || { cat dist/sea/blob.log >&2; exit 1; }
	@cp "$$(node -p process.execPath)" dist/bastionless
	@npx postject dist/bastionless NODE_SEA_BLOB dist/sea/bastionless.blob --sentinel-fuse $(SEA_FUSE) >dist/sea/postject.log 2>&1 || { cat dist/sea/postject.log >&2; exit 1; }
	@echo "Built dist/bastionless ($$(du -m dist/bastionless | cut -f1) MB): copy it onto PATH; it needs no Node."

bench: setup ## Run the benchmarks and rewrite BENCHMARKS.md (ARGS=--quick for a short run)
	@npm run --silent build
	@$(RUN) test/bench/run.mts $(ARGS)

soak: setup ## The long reliability run (~30 min): 300 chaos lifecycles, 10 min of tunnel integrity, then the counts
	@$(RUN) test/reliability/soak.mts

# ARCH=arm64 needs qemu-user-static and binfmt_misc (docker/README.md); make test builds amd64 only.
images: setup ## Build the bastion image and the app example with podman (no daemon, no registry; cached in /var/tmp/bastionless-images) [ARCH=arm64]
	@$(RUN) docker/images.mts $(if $(ARCH),--arch $(ARCH))

iam: ## Print the IAM policies filled in: make iam ENV=stg ACCOUNT=123456789012 REGION=ap-northeast-1 [KMS_KEY=<key id>] [EXEC_LOG_BUCKET=<bucket>]
	@$(RUN) docker/iam/render.mts --env "$(ENV)" --account "$(ACCOUNT)" --region "$(REGION)" --kms-key "$(KMS_KEY)" --exec-log-bucket "$(EXEC_LOG_BUCKET)"

# AWS's own agent and plugin beside ours, on the local cloud; never part of make test (CI has no AWS binaries).
conformance: setup ## AWS's plugin and agent against the local cloud, beside the native client and the emulated agent: make conformance PLUGIN=<path> AGENT_DIR=<dir> [MIB=1]
	@$(RUN) test/conformance/run.mts --plugin '$(PLUGIN)' --agent-dir '$(AGENT_DIR)' --mib '$(or $(MIB),1)' $(ARGS)
