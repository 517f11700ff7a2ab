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
missing=$(cross_tools_missing aarch64-linux-gnu-gcc)
if [[ -n $missing ]]; then
    skipped "Linux aarch64 build and tests" "$apt" "$missing"
    exit 0
fi

out=$CROSS_TARGET_DIR/$target/release
started=$SECONDS
echo "== aarch64: build $target"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc cross_cargo build "$target"
echo "aarch64: $(wc -c <"$out/libofftrack.so") bytes libofftrack.so, libofftrack.a; $((SECONDS - started)) s"
[[ ${1:-} == build ]] && exit 0

missing=$(cross_tools_missing qemu-aarch64)
if [[ -n $missing ]]; then
    skipped "Linux aarch64 tests under qemu" "qemu-user" "$missing"
    exit 0
fi
bin=build/aarch64
rm -rf "$bin" && mkdir -p "$bin"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -I include -I tests/c -O1)
ldflags=(-L "$out" -lofftrack "-Wl,-rpath,$out" -lpthread -ldl -lm)
aarch64-linux-gnu-gcc "${cflags[@]}" tests/c/test_offtrack.c -o "$bin/test_offtrack" "${ldflags[@]}"
aarch64-linux-gnu-gcc "${cflags[@]}" tests/c/kill_child.c -o "$bin/kill_child" "${ldflags[@]}"
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)

echo "== aarch64: C suite under qemu-user"
t0=$SECONDS
"${qemu[@]}" "$bin/test_offtrack" | tee "$bin/test_offtrack.txt"
if ! grep -qE '^[0-9]+ passed, 0 failed$' "$bin/test_offtrack.txt"; then
    echo "aarch64: C suite FAILED under qemu" >&2
    exit 1
fi
echo "aarch64: C suite $((SECONDS - t0)) s"

echo "== aarch64: kill test under qemu-user"
t0=$SECONDS
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT
python3 tests/platforms/kill_test.py "${AARCH64_KILLS:-10}" "$store/q" "${qemu[@]}" -- "$bin/kill_child"
echo "aarch64: kill test $((SECONDS - t0)) s; all $((SECONDS - started)) s"
