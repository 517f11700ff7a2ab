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

# require_tools WHAT APT_PACKAGES CMD...: prints the SKIPPED line and
# returns 1 if a tool is missing.
require_tools() {
    local what=$1 apt=$2 missing
    shift 2
    missing=$(cross_tools_missing "$@")
    if [[ -n ${missing// /} ]]; then
        skipped "$what" "$apt" "$missing"
        return 1
    fi
}

# run_c_suite LABEL EXE RUNNER...: the C suite under an emulator; its last
# line must say nothing failed (CRs of Windows programs are dropped).
run_c_suite() {
    local label=$1 exe=$2 t0=$SECONDS
    shift 2
    echo "== $label: C suite ($*)"
    "$@" "$exe" | tr -d '\r' | tee "$exe.txt"
    if ! grep -qE '^[0-9]+ passed, 0 failed$' "$exe.txt"; then
        echo "$label: C suite FAILED" >&2
        return 1
    fi
    echo "$label: C suite $((SECONDS - t0)) s"
}

# run_kill_test LABEL KILLS EXE RUNNER...: tests/platforms/kill_test.py
# against a scratch store (STORE_PATH_OF, if set, turns its path into the
# one the program sees).
run_kill_test() {
    local label=$1 kills=$2 exe=$3 t0=$SECONDS store
    shift 3
    echo "== $label: kill test"
    store=$(mktemp -d)
    local seen=$store/q
    [[ -n ${STORE_PATH_OF:-} ]] && seen=$("$STORE_PATH_OF" "$seen")
    python3 tests/platforms/kill_test.py "$kills" "$seen" "$@" -- "$exe"
    local rc=$?
    rm -rf "$store"
    echo "$label: kill test $((SECONDS - t0)) s"
    return $rc
}
