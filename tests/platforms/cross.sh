# Sourced by the platform scripts: builds the library for another target
# with Debian's rustc (packages rustc-web, cargo-web, rust-web-src), whose
# std sources let cargo compile std for the target (-Zbuild-std): rustup
# here has only the host's prebuilt std and cannot download others.
# Each target builds into target/cross/<triple>/ (the host build is untouched).

CROSS_RUSTC=${CROSS_RUSTC:-/usr/bin/rustc}
CROSS_CARGO=${CROSS_CARGO:-/usr/bin/cargo}
CROSS_TARGET_DIR=${CROSS_TARGET_DIR:-$PWD/target/cross}
CROSS_APT="rustc-web cargo-web rust-web-src"

# cross_tools_missing CMD...: prints the missing commands (nothing if all are there).
cross_tools_missing() {
    local missing=()
    [[ -x $CROSS_RUSTC && -x $CROSS_CARGO && -d /usr/lib/rustlib/src/rust/library ]] ||
        missing+=("Debian rustc with std sources")
    local c
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || [[ -x $c ]] || missing+=("$c"); done
    echo "${missing[*]}"
}

# skipped WHAT APT_PACKAGES MISSING: the loud line of a suite that cannot run.
skipped() {
    echo "SKIPPED: $1: missing $3 (apt-get install -y $2)"
}

# cross_cargo SUBCOMMAND TARGET [ARGS...]: cargo for TARGET with std built from source.
cross_cargo() {
    local sub=$1 target=$2
    shift 2
    RUSTC=$CROSS_RUSTC RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CROSS_TARGET_DIR \
        "$CROSS_CARGO" "$sub" --release --lib -Zbuild-std=std,panic_unwind --target "$target" "$@"
}
