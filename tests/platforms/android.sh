#!/usr/bin/env bash
# Android (arm64-v8a, armeabi-v7a, x86_64): type-checks the whole crate for
# each ABI. No NDK can be installed here, so nothing links: ring's C is
# compiled by Debian's clang with glibc's aarch64 headers standing in for
# bionic's (good for a compile check only, never for a shipped build). The
# 16 KB page alignment Google Play requires is in .cargo/config.toml, so an
# NDK build (README "Platforms") produces compliant libraries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/platforms/cross.sh

apt="$CROSS_APT clang libc6-dev-arm64-cross"
missing=$(cross_tools_missing clang)
[[ -d /usr/aarch64-linux-gnu/include ]] || missing="$missing libc6-dev-arm64-cross"
if [[ -n ${missing// /} ]]; then
    skipped "Android type-check" "$apt" "$missing"
    exit 0
fi
started=$SECONDS
for pair in aarch64-linux-android:aarch64-linux-android24 \
            armv7-linux-androideabi:armv7a-linux-androideabi24 \
            x86_64-linux-android:x86_64-linux-android24; do
    target=${pair%%:*} clang_target=${pair#*:}
    t0=$SECONDS
    echo "== android: cargo check --target $target"
    var=${target//-/_}
    env "CC_$var=clang" "CFLAGS_$var=--target=$clang_target -isystem /usr/aarch64-linux-gnu/include" \
        "AR_$var=ar" bash -c 'source tests/platforms/cross.sh; cross_cargo check "$0"' "$target"
    echo "android: $target checked in $((SECONDS - t0)) s"
done
echo "android: all $((SECONDS - started)) s"
