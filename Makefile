# Offtrack: build, demo and tests. `make demo` and `make test` work on a
# fresh machine with the Rust toolchain, gcc and python3.
CARGO ?= cargo

.PHONY: all build demo inspect test test-inspect test-rust test-nohttp test-c test-python test-unity test-cpp test-reliability bench bench-smoke fuzz stage-unreal build-unity-plugins header-check clean \
	build-windows test-windows build-aarch64 test-aarch64 check-android test-platforms \
	install test-install dist test-dist test-packages unity-tarball unreal-zip

all: build

build:
	$(CARGO) build --release

demo: build
	bash demo/run.sh

test: build inspect header-check test-rust test-nohttp test-c test-python test-unity test-cpp test-install test-reliability test-inspect test-platforms test-dist test-packages bench-smoke
	@echo "== all suites passed"

test-rust:
	$(CARGO) test --release

# The QA tool (README "QA: inspecting a store"): target/release/offtrack-inspect.
inspect:
	$(CARGO) build --release -p offtrack-inspect

# Its unit tests, then stores made through the library and read by the tool.
test-inspect: build inspect
	$(CARGO) test --release -p offtrack-inspect
	bash tests/inspect/run.sh

# The library without its HTTP client (feature `http` off, DESIGN.md §9):
# its unit tests, and its stripped size next to the default build's.
test-nohttp:
	CARGO_TARGET_DIR=target/nohttp $(CARGO) test --release --no-default-features --lib
	CARGO_TARGET_DIR=target/nohttp $(CARGO) build --release --no-default-features
	@echo "stripped libofftrack.so: $$(stat -c %s target/nohttp/release/libofftrack.so) bytes without an HTTP client, $$(stat -c %s target/release/libofftrack.so) with it"

test-c: build
	bash tests/c/run.sh

test-python: build
	bash tests/python/run.sh

test-unity: build
	bash tests/unity/run.sh

test-cpp: build
	bash tests/cpp/run.sh

# Other platforms (README "Platforms"), each built in target/cross/<triple>/
# with Debian's rustc and std sources; a missing tool prints a SKIPPED line
# with its apt-get command. Windows: offtrack.dll + offtrack.lib, the C suite
# and a kill test under Wine. Linux aarch64: .so/.a, the same under qemu-user.
# Android: the crate type-checked for three ABIs (no NDK here).
build-windows:
	bash tests/platforms/windows.sh build

test-windows:
	bash tests/platforms/windows.sh

build-aarch64:
	bash tests/platforms/aarch64.sh build

test-aarch64:
	bash tests/platforms/aarch64.sh

check-android:
	bash tests/platforms/android.sh

test-platforms: test-windows test-aarch64 check-android

# Headers, libraries, pkg-config and CMake files under $(DESTDIR)$(PREFIX)
# (packaging/install.sh). TARGET=<triple> installs a cross build instead
# (x86_64-pc-windows-gnu, aarch64-unknown-linux-gnu: make build-windows or
# build-aarch64 first).
PREFIX ?= /usr/local
DESTDIR ?=
TARGET ?=
install: $(if $(TARGET),,build)
	bash packaging/install.sh --prefix "$(PREFIX)" --destdir "$(DESTDIR)" $(if $(TARGET),--target "$(TARGET)")

# C and C++ programs built against an installed tree with CMake and
# pkg-config, shared and static, sending to a local collector.
test-install: build
	bash tests/install/run.sh

# One archive per platform in dist/ (packaging/dist.sh; builds the cross
# targets it can, SKIPPED for a missing toolchain).
dist: build
	bash packaging/dist.sh

# dist twice, byte for byte the same, each archive's exact file list.
# After test-platforms in `test`, so the cross builds are already there.
test-dist: build
	bash tests/install/dist.sh

# Ready-to-install packages (packaging/): the Unity tarball and the Unreal
# zip, each built twice and compared byte for byte, and their file lists.
# After test-platforms, so the Windows and aarch64 libraries are built.
DIST ?= dist
test-packages: build build-windows build-aarch64
	python3 tests/dist/check_packages.py

unity-tarball: build
	bash packaging/unity-tarball.sh $(DIST)

unreal-zip: build
	bash packaging/unreal-zip.sh $(DIST)

# Fault, bad-input, security and a short fuzz run (see RELIABILITY.md).
test-reliability: build
	bash tests/reliability/run.sh

# The benchmark table (BENCHMARKS.md); BENCH_FULL=1 adds 1M queued hits.
bench: build
	bash bench/run.sh

# Seconds: keeps the benchmark harness from rotting.
bench-smoke: build
	bash bench/run.sh --smoke

# Longer fuzzing: FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

# Builds in its own target directory (a second full build): not part of `test`.
stage-unreal: build
	bash unreal/stage.sh

build-unity-plugins: build
	bash unity/build-plugins.sh

# build.rs regenerates include/offtrack.h; a difference from the committed
# header means the committed one is stale.
header-check: build
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- include/offtrack.h || \
	  { echo "include/offtrack.h is stale: commit the header build.rs generated"; exit 1; }; \
	else echo "header-check: not a git checkout, skipped"; fi

clean:
	$(CARGO) clean
	rm -rf build .venv
