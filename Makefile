# Developer playground: installs the pinned GraphiQL/React from
# web/playground/package-lock.json and builds them into
# internal/playground/dist, which the Go binary embeds. The stamp makes a
# second run free while nothing it depends on has changed.
PLAYGROUND_DIR := web/playground
PLAYGROUND_STAMP := internal/playground/dist/.stamp
PLAYGROUND_SOURCES := $(PLAYGROUND_DIR)/package.json $(PLAYGROUND_DIR)/package-lock.json \
	$(PLAYGROUND_DIR)/build.mjs $(PLAYGROUND_DIR)/src/index.html $(PLAYGROUND_DIR)/src/app.js \
	$(PLAYGROUND_DIR)/src/app.css $(PLAYGROUND_DIR)/src/favicon.svg

.PHONY: playground
playground: $(PLAYGROUND_STAMP)

$(PLAYGROUND_STAMP): $(PLAYGROUND_SOURCES)
	npm ci --prefix $(PLAYGROUND_DIR) --no-audit --no-fund
	node $(PLAYGROUND_DIR)/build.mjs
	touch $@

# The two commands a newcomer needs (see README.md).

.PHONY: run
run: playground ## run the gateway with embedded defaults on http://localhost:8080/
	go run .

.PHONY: test
test: playground ## run the whole test suite (PostgreSQL/Redis tests skip locally when absent)
	go vet ./...
	go test -race -count=1 ./...

# graph/ is generated from schema.graphqls and gqlgen.yml; never edit it.
# So is bench/baregql/graph/, the benchmark's bare gqlgen server, from the
# schema and gqlgen.yml beside it (gqlgen reads the gqlgen.yml of the
# directory it runs in).
.PHONY: generate
generate:
	go tool gqlgen generate
	cd bench/baregql && go tool gqlgen generate

# Fails when graph/ or bench/baregql/graph/ is not what gqlgen generates
# from its schema.
.PHONY: check-generated
check-generated:
	go tool gqlgen generate
	@git diff --exit-code --stat -- graph/ || { echo "graph/ is out of date: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- graph/)" || { git status --porcelain -- graph/; echo "graph/ has untracked generated files: run make generate and commit"; exit 1; }
	cd bench/baregql && go tool gqlgen generate
	@git diff --exit-code --stat -- bench/baregql/graph/ || { echo "bench/baregql/graph/ is out of date: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- bench/baregql/graph/)" || { git status --porcelain -- bench/baregql/graph/; echo "bench/baregql/graph/ has untracked generated files: run make generate and commit"; exit 1; }
