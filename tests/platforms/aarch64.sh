#!/usr/bin/env bash
# Linux aarch64: builds libofftrack.so and .a with the cross gcc, then runs
# the C suite and a kill test under qemu-user (against a collector on
# 127.0.0.1 of the host). qemu-user runs ARM code with the host's memory
# ordering: it proves the build and the behaviour, not weak-memory safety.
#   bash tests/platforms/aarch64.sh build    # the libraries only
#   bash tests/platforms/aarch64.sh          # build, then test under qemu
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/platforms/cross.sh

target=aarch64-unknown-linux-gnu
apt="$CROSS_APT gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
require_tools "Linux aarch64 build and tests" "$apt" aarch64-linux-gnu-gcc || exit 0

out=$CROSS_TARGET_DIR/$target/release
started=$SECONDS
echo "== aarch64: build $target"
# The SONAME keeps the build path out of what links the library (the
# Unreal plugin ships this .so: unreal/stage.sh --target $target).
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-Wl,-soname,libofftrack.so" \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc cross_cargo build "$target"
echo "aarch64: $(wc -c <"$out/libofftrack.so") bytes libofftrack.so, libofftrack.a; $((SECONDS - started)) s"
[[ ${1:-} == build ]] && exit 0

require_tools "Linux aarch64 tests under qemu" qemu-user qemu-aarch64 || exit 0
bin=build/aarch64
rm -rf "$bin" && mkdir -p "$bin"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -I include -I tests/c -O1)
ldflags=(-L "$out" -lofftrack "-Wl,-rpath,$out" -lpthread -ldl -lm)
aarch64-linux-gnu-gcc "${cflags[@]}" tests/c/test_offtrack.c -o "$bin/test_offtrack" "${ldflags[@]}"
aarch64-linux-gnu-gcc "${cflags[@]}" tests/c/kill_child.c -o "$bin/kill_child" "${ldflags[@]}"
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)

run_c_suite aarch64 "$bin/test_offtrack" "${qemu[@]}"
run_kill_test aarch64 "${AARCH64_KILLS:-10}" "$bin/kill_child" "${qemu[@]}"
echo "aarch64: all $((SECONDS - started)) s"
