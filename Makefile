# pbxhooks developer entry points. `make run` and `make test` are the
# README's contract; .ci/run calls `make test`.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
SERVICES := api ingest matcher deliverer connector
# Every module of the workspace, for per-module commands.
MODULES := cli pkg proto scripts testkit $(addprefix services/,$(SERVICES))
# Modules outside go.work, each built with GOWORK=off so their heavy
# dependencies (kustomize, k8s.io/*, the Prometheus server) never reach the
# services' graph.
K8S_CHECK := deployments/k8s/check
METRICS_CHECK := scripts/metricscheck
OUTSIDE_MODULES := $(K8S_CHECK) deployments/k8s/apiserver $(METRICS_CHECK)
TEST_TIMEOUT ?= 30m
# The API's OpenAPI document (source openapi.yaml, generated openapi.json).
OPENAPI := services/api/internal/openapi

.PHONY: all build run test test-short lint fmt generate check-generated tools tidy clean k8s-check

all: build

## build: compile the four services, the dev launcher and the pbxhooks CLI into bin/
build:
	$(GO) build -o $(BIN)/ $(foreach s,$(SERVICES),./services/$(s)/cmd/$(s)) ./scripts/devstack ./cli/cmd/pbxhooks

## run: the whole pipeline in the foreground (embedded NATS, private PostgreSQL unless NATS_URL / DATABASE_URL)
run: build
	exec $(BIN)/devstack -bin $(BIN) -data $(CURDIR)/.data

## test: every test of every module, with the race detector, plus the generated-code drift check
## and the Kubernetes manifest checks (deployments/k8s/check)
test: check-generated
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) work
	cd $(K8S_CHECK) && GOWORK=off $(GO) test -race -count=1 ./...
	cd $(METRICS_CHECK) && GOWORK=off $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## k8s-check: apply every manifest variant to a real kube-apiserver (with etcd, on 127.0.0.1)
## with server-side dry run; builds kube-apiserver and kubectl on first use (see README)
k8s-check:
	scripts/k8s-check.sh

## lint: gofmt, go vet and staticcheck (pinned in scripts/tools) over all modules
lint: tools
	@unformatted=$$(gofmt -l $(MODULES) $(OUTSIDE_MODULES)); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet work
	$(BIN)/staticcheck work
	cd $(K8S_CHECK) && GOWORK=off $(GO) vet ./... && GOWORK=off $(BIN)/staticcheck ./...
	cd $(METRICS_CHECK) && GOWORK=off $(GO) vet ./... && GOWORK=off $(BIN)/staticcheck ./...

fmt:
	gofmt -w $(MODULES) $(OUTSIDE_MODULES)

## tools: build the pinned code generators and linters (scripts/tools/go.mod) into bin/
tools:
	cd scripts/tools && GOWORK=off $(GO) build -o $(BIN)/ tool

## generate: regenerate protobuf Go code (buf), SQL queries (sqlc), and from the OpenAPI document
## (services/api/internal/openapi/openapi.yaml) the served openapi.json and the typed client pkg/apiclient
generate: tools
	cd proto && $(BIN)/buf lint && $(BIN)/buf generate
	cd pkg/store && $(BIN)/sqlc generate
	$(GO) run ./scripts/openapijson -in $(OPENAPI)/openapi.yaml -out $(OPENAPI)/openapi.json
	cd pkg/apiclient && $(BIN)/oapi-codegen -config oapi-codegen.yaml $(CURDIR)/$(OPENAPI)/openapi.json

## check-generated: fail when committed generated code differs from its sources
check-generated: generate
	@drift=$$(git status --porcelain -- proto pkg/store pkg/apiclient $(OPENAPI)); if [ -n "$$drift" ]; then \
		echo "generated code differs from the committed code; run 'make generate' and commit:"; \
		echo "$$drift"; exit 1; fi

## tidy: go mod tidy in every module, as a module build without the workspace sees it
tidy:
	for m in $(MODULES) $(OUTSIDE_MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done

clean:
	rm -rf $(BIN)

## console-screenshots: run the console's browser test and keep its screenshots in docs/console/
.PHONY: console-screenshots
console-screenshots:
	$(GO) test -count=1 -run TestConsoleInBrowser ./scripts/e2e -screenshots

## bench: the full benchmark (docs/BENCHMARKS.md): throughput, latency, cost, limit, isolation, 1,000,000-event backlog
.PHONY: bench bench-short chaos chaos-short compose-check
bench:
	$(GO) run ./scripts/bench

## bench-short: the same scenarios at small sizes, under two minutes
bench-short:
	$(GO) run ./scripts/bench -short

## chaos: the whole fault suite (scripts/chaos), long form included
chaos:
	$(GO) test -count=1 -timeout 60m -tags chaoslong -v ./scripts/chaos

## chaos-short: the fault suite's short form, as `make test` runs it
chaos-short:
	$(GO) test -count=1 -timeout 10m -v ./scripts/chaos

## compose-check: docker-compose.yml started for real (every image built here, no registry), the README's curl flow against it, then torn down; needs root or a running Docker engine
compose-check:
	$(GO) run ./scripts/composecheck
