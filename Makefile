# podwire: build, test, benchmark and demo targets. See README.md.
#
# Every target that needs DPDK or hugepages depends on `setup`, which runs
# scripts/setup-node.sh only when `scripts/setup-node.sh --check` finds something
# missing. Nothing here prompts, so it runs unattended under CI=true.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO ?= go
MODULE := github.com/podwire/podwire
DPDK_PKG := $(MODULE)/dpdk
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CURDIR)/.tools/staticcheck
GO_TEST_FLAGS ?=
BENCH_ARGS ?=
# FUZZTIME is how long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10s
DEMO_ARGS ?=

# Test tools from the separate tools module (tools/go.mod pins them): cnitool,
# the Multus thin plugin and the standard CNI plugins, for the deploy/ tests.
TOOLS_CNI := $(CURDIR)/.tools/cni
TOOLS_CNI_PKGS := \
	github.com/containernetworking/cni/cnitool \
	gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus \
	github.com/containernetworking/plugins/plugins/ipam/host-local \
	github.com/containernetworking/plugins/plugins/ipam/static \
	github.com/containernetworking/plugins/plugins/main/bridge \
	github.com/containernetworking/plugins/plugins/main/loopback \
	github.com/containernetworking/plugins/plugins/meta/tuning

.PHONY: help setup build test fuzz vet nocgo bench lint demo clean tools

help:
	@echo "targets:"
	@echo "  setup   prepare the node (DPDK packages, hugepages) if needed; needs root"
	@echo "  build   build everything; commands go to bin/"
	@echo "  test    setup, go vet, CGO_ENABLED=0 build of dpdk-free packages, go test, fuzz"
	@echo "  fuzz    run each go fuzz target for FUZZTIME ($(FUZZTIME))"
	@echo "  bench   setup, build, run bench/cmd/iofwd-bench"
	@echo "  demo    setup, build, run bin/podwire-demo"
	@echo "  lint    go vet and staticcheck $(STATICCHECK_VERSION)"
	@echo "  tools   build cnitool, Multus and CNI plugins from tools/ into .tools/cni/"
	@echo "  kube-tools  build kube-apiserver and etcd from tools/kube/ into .tools/kube/"
	@echo "  clean   remove bin/ and .tools/"

setup:
	@bash scripts/setup-node.sh --check >/dev/null 2>&1 || bash scripts/setup-node.sh

build:
	@mkdir -p bin
	$(GO) build ./...
	@if [ -n "$$($(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./cmd/... 2>/dev/null)" ]; then \
		echo "$(GO) build -o bin/ ./cmd/..."; \
		$(GO) build -o bin/ ./cmd/...; \
	else \
		echo "build: no commands under cmd/ yet"; \
	fi

vet:
	$(GO) vet ./...

# nocgo builds, with CGO_ENABLED=0, every package that neither is nor depends on
# $(DPDK_PKG) (or a cgo package under dpdk/): cgo lives in dpdk/ only, so the rest,
# cni/ and cmd/podwire among them, must build without it.
nocgo:
	@cgo="$(DPDK_PKG) $$({ $(GO) list -f '{{if .CgoFiles}}{{.ImportPath}}{{end}}' ./dpdk/... 2>/dev/null || true; } | tr '\n' ' ')"; \
	pkgs="$$($(GO) list -f '{{.ImportPath}} {{join .Deps " "}}' ./... | \
		awk -v cgo="$$cgo" 'BEGIN { n = split(cgo, c, " "); for (i = 1; i <= n; i++) bad[c[i]] = 1 } \
			{ for (i = 1; i <= NF; i++) if ($$i in bad) next; print $$1 }')"; \
	if [ -z "$$pkgs" ]; then \
		echo "nocgo: every package depends on dpdk; skipped"; \
	else \
		echo "CGO_ENABLED=0 $(GO) build -o /dev/null" $$pkgs; \
		CGO_ENABLED=0 $(GO) build -o /dev/null $$pkgs; \
	fi

# -p 1: DPDK tests in different packages never run at the same time (2 cores,
# shared hugepages).
test: setup tools kube-tools
	$(GO) vet ./...
	@$(MAKE) --no-print-directory nocgo
	$(GO) test -p 1 -count=1 -timeout 30m $(GO_TEST_FLAGS) ./...
	@$(MAKE) --no-print-directory fuzz

# fuzz runs every fuzz target (go test -fuzz takes one at a time) for
# FUZZTIME with one worker: the hostile-input decoders of podwired's config,
# the control API and the CNI plugin, and the forwarder's switching of
# arbitrary frames (FuzzSwitch, on real mbufs). `go test` runs their seed corpora
# (f.Add and testdata/fuzz/) as regular tests; a failure here writes the
# input to the package's testdata/fuzz/<target>/. -vet=off: `test` has
# run go vet already.
fuzz: setup
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME) -parallel 1 ./daemon
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzNetworkRequest$$' -fuzztime $(FUZZTIME) -parallel 1 ./api
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzAttachmentRequest$$' -fuzztime $(FUZZTIME) -parallel 1 ./api
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzLoadConf$$' -fuzztime $(FUZZTIME) -parallel 1 ./cni
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzNetworksAnnotation$$' -fuzztime $(FUZZTIME) -parallel 1 ./cni
	$(GO) test -vet=off -run '^$$' -fuzz '^FuzzSwitch$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 200x -parallel 1 ./forwarder

tools:
	@mkdir -p $(TOOLS_CNI)
	CGO_ENABLED=0 $(GO) build -C tools -o $(TOOLS_CNI)/ $(TOOLS_CNI_PKGS)

# kube-apiserver (k8s.io/kubernetes used as a module) and a minimal embedded
# etcd from the separate tools/kube module, for the CNI tests that publish
# network-status to a real API server (cni/netstatus_test.go). A cold build
# costs about 14 CPU-minutes (34 min on a busy 2-core machine); with the Go
# build cache warm it takes seconds.
TOOLS_KUBE := $(CURDIR)/.tools/kube
TOOLS_KUBE_PKGS := k8s.io/kubernetes/cmd/kube-apiserver ./etcd

.PHONY: kube-tools
kube-tools:
	@mkdir -p $(TOOLS_KUBE)
	CGO_ENABLED=0 $(GO) build -C tools/kube -o $(TOOLS_KUBE)/ $(TOOLS_KUBE_PKGS)

bench: setup build
	$(GO) run ./bench/cmd/iofwd-bench $(BENCH_ARGS)
	$(GO) run ./bench/cmd/l2-bench -podwired bin/podwired $(L2_BENCH_ARGS)

demo: setup build
	bin/podwire-demo $(DEMO_ARGS)

# staticcheck type-checks the cgo package too, so lint needs the DPDK headers.
lint: setup
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || { \
		echo "GOBIN=$(CURDIR)/.tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; \
		GOBIN=$(CURDIR)/.tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	}
	$(GO) vet ./...
	$(STATICCHECK) ./...

clean:
	rm -rf bin .tools
	rm -f bench/results/*.tmp
