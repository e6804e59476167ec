# fence build and test entry points. See README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# On linux/amd64 the ELF entry point is nsexec/spawn's, which maps the
# binary's data (internal/prefault) and spawns the sandbox's init stage
# ahead of the runtime's start, and the segments are aligned to 2 MB for
# huge-page mappings (spawn.LDFlags; a test checks the two agree).
# Elsewhere there are none.
# GOOS and GOARCH given on make's command line count too (make build
# GOARCH=arm64): $(shell) sees only the environment's.
ENTRY   := $(if $(filter linux/amd64,$(or $(GOOS),$(shell $(GO) env GOOS))/$(or $(GOARCH),$(shell $(GO) env GOARCH))),-E=github.com/nsfence/fence/nsexec/spawn.entry -R=0x200000)
# Go 1.26's Green Tea collector off (spawn.GoExperiment), added to the
# environment's GOEXPERIMENT, where the toolchain still accepts that (go env
# refuses a setting it does not know; Go 1.27 is to drop this one): a
# span's first allocation then faults in one page instead of two, ~0.3-0.6
# ms per start (docs/benchmarking.md, "Spans without their mark bits").
comma   := ,
GOEXP   := $(shell GOEXPERIMENT=$(if $(GOEXPERIMENT),$(GOEXPERIMENT)$(comma))nogreenteagc $(GO) env GOEXPERIMENT 2>/dev/null)
# The runtime overlay (internal/rtoverlay): the toolchain's runtime with
# sysmon kept awake for a second in the init stage, and its cgroup lookup
# skipped where GOMAXPROCS is set (the init stage's), ~0.2 ms per start
# (docs/benchmarking.md, "The network namespace on PID 1's main thread").
# For Linux targets, where the toolchain's runtime is one the overlay
# fits; else, or if mkoverlay cannot run, the build goes on without it (a
# note says why). mkoverlay runs on this machine: GOOS and GOARCH are the
# target's.
TARGETOS := $(or $(GOOS),$(shell $(GO) env GOOS))
OVERLAY  := .build/overlay
LDFLAGS := $(ENTRY) -s -w -X main.version=$(VERSION) -X main.gitCommit=$(COMMIT) -X main.buildTime=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: all build install test test-deps vet seccomp schema perf bench clean

all: build
	./fence --version

# The binary is static: no cgo, no libseccomp at run time (the seccomp
# filter is compiled at build time and embedded; see `make seccomp`).
# The linker's output is rewritten, not used as is: an executable's page
# cache keeps the shape of the writes that filled it, and every fence start
# ran ~1 ms slower from the linker's (written through mmap) and 0.2-0.4 ms
# slower from a cp (copy_file_range) than from one write(2) of the whole
# file, which dd with a block larger than the binary makes
# (docs/benchmarking.md, "The binary's page cache"). install does the same.
# $(call write1,SRC,DST): DST made executable, written with dd's single
# 64 MiB write (its statistics are printed only if it fails).
write1 = dd if=$(1) of=$(2) bs=67108864 2>$(2).log || { cat $(2).log; rm -f $(2).log $(2); exit 1; }; rm -f $(2).log; chmod 755 $(2)

build:
	@mkdir -p $(OVERLAY) && rm -f $(OVERLAY)/overlay.json && { GOOS= GOARCH= $(GO) run ./internal/rtoverlay/mkoverlay -goroot "$$($(GO) env GOROOT)" -goos $(TARGETOS) -o $(OVERLAY) || echo "fence: building without the runtime overlay: mkoverlay failed" >&2; }
	$(if $(GOEXP),GOEXPERIMENT=$(GOEXP)) CGO_ENABLED=0 $(GO) build $$(test -f $(OVERLAY)/overlay.json && echo -overlay=$(OVERLAY)/overlay.json) -trimpath -ldflags '$(LDFLAGS)' -o fence.link ./cmd/fence
	$(call write1,fence.link,fence.tmp)
	mv -f fence.tmp fence && rm -f fence.link

# Installs ./fence as $(DESTDIR)$(PREFIX)/bin/fence, written in one piece
# (see build) and renamed into place, so that a running fence is not
# changed under it. It does not build: `make && sudo make install` (root's
# PATH often lacks go, and a build as root would leave root's files here).
PREFIX ?= /usr/local
install:
	@test -x fence || { echo "make install: ./fence is missing: run make first"; exit 1; }
	mkdir -p $(DESTDIR)$(PREFIX)/bin
	$(call write1,fence,$(DESTDIR)$(PREFIX)/bin/.fence.tmp)
	mv -f $(DESTDIR)$(PREFIX)/bin/.fence.tmp $(DESTDIR)$(PREFIX)/bin/fence

# Test dependencies: libseccomp-dev and pkg-config (the filter sync test
# compiles the policy with libseccomp, which cgo finds with pkg-config), and
# the tools the end-to-end tests drive inside the sandbox (and strace, which
# fakes an old Landlock ABI around fence). Installed only
# when missing.
test-deps:
	@missing=""; \
	[ -f /usr/include/seccomp.h ] || missing="$$missing libseccomp-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v script >/dev/null || missing="$$missing bsdutils"; \
	command -v unshare >/dev/null || missing="$$missing util-linux"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v strace >/dev/null || missing="$$missing strace"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

# The whole suite. Run as root it covers both the root and the unprivileged
# (nobody) paths of the sandbox; run as a normal user it covers that user.
test: test-deps
	$(GO) test -count=1 ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=freebsd $(GO) vet ./...
	GOOS=linux GOARCH=arm64 $(GO) vet ./...
	GOOS=linux GOARCH=386 $(GO) vet ./...
	GOOS=linux GOARCH=riscv64 $(GO) vet ./...

vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=freebsd $(GO) vet ./...
	GOOS=linux GOARCH=arm64 $(GO) vet ./...
	GOOS=linux GOARCH=386 $(GO) vet ./...
	GOOS=linux GOARCH=riscv64 $(GO) vet ./...

# Regenerate the embedded seccomp programs from nsexec/seccomp/gen/gen.go.
seccomp: test-deps
	CGO_ENABLED=1 $(GO) run ./nsexec/seccomp/gen/genbpf nsexec/seccomp

# Regenerate the JSON Schema from the config types.
schema:
	$(GO) run ./config/internal/schemagen

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./perf/

# The overhead-factor harness (docs/benchmarking.md): every workload
# unsandboxed and through ./fence, interleaved, with perf stat / strace
# attribution and scaling. Options go in ARGS, e.g.
# make perf ARGS='-q --network' or make perf ARGS='--compare /usr/local/bin/fence'.
perf: build
	$(GO) run ./perf/cmd/fenceperf -b ./fence $(ARGS)

# Attribution only: perf stat, strace -f -c and the stage timeline of
# `fence -- true`.
perf-profile: build
	$(GO) run ./perf/cmd/fenceperf -b ./fence --sections profile $(ARGS)

.PHONY: perf-profile

clean:
	rm -rf fence fence.link fence.tmp fence.tmp.log .build
