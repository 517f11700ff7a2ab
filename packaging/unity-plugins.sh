# Sourced (from the repository root) by unity/build-plugins.sh and
# packaging/unity-tarball.sh: where each platform's native binary comes from,
# and how it goes into a copy of the Unity package with its import settings.
#
# The import settings (.meta, stable GUIDs) of the binaries and of their
# platform folders live in packaging/unity/plugin-meta/, not in the package:
# a package installed from git must not carry the .meta of a binary it does
# not have (Unity reports it, and may delete it). They are copied in with the
# binary, and only then.

UNITY_PLUGIN_META=packaging/unity/plugin-meta

# unity_plugin_binaries: one line "REL SRC TRIPLE..." per platform: REL under
# Runtime/Plugins/, SRC the build output it is copied from (it may not exist),
# the target triples it is built for. UNITY_PLUGIN_<KEY> overrides a SRC.
unity_plugin_binaries() {
    local host linux win
    host="$(uname -s)-$(uname -m)"
    linux=target/x86_64-unknown-linux-gnu/release/libofftrack.so
    [[ $host == Linux-x86_64 ]] && linux=target/release/libofftrack.so
    # Cross-built with mingw here (tests/platforms/windows.sh), or MSVC on Windows.
    win=${CROSS_TARGET_DIR:-target/cross}/x86_64-pc-windows-gnu/release/offtrack.dll
    local win_triple=x86_64-pc-windows-gnu
    case $host in
        MINGW*-x86_64 | MSYS*-x86_64 | CYGWIN*-x86_64) win=target/release/offtrack.dll win_triple=x86_64-pc-windows-msvc ;;
    esac
    echo "Linux/x86_64/libofftrack.so ${UNITY_PLUGIN_LINUX_X86_64:-$linux} x86_64-unknown-linux-gnu"
    echo "Windows/x86_64/offtrack.dll ${UNITY_PLUGIN_WINDOWS_X86_64:-$win} $win_triple"
    # The universal (lipo) dylib of README.md, "Native binaries".
    echo "macOS/libofftrack.dylib ${UNITY_PLUGIN_MACOS:-target/universal-apple-darwin/release/libofftrack.dylib} aarch64-apple-darwin x86_64-apple-darwin"
    echo "Android/arm64-v8a/libofftrack.so ${UNITY_PLUGIN_ANDROID_ARM64:-target/aarch64-linux-android/release/libofftrack.so} aarch64-linux-android"
    echo "iOS/libofftrack.a ${UNITY_PLUGIN_IOS:-target/aarch64-apple-ios/release/libofftrack.a} aarch64-apple-ios"
}

# unity_place_plugin PACKAGE_DIR SRC REL: copies SRC to
# PACKAGE_DIR/Runtime/Plugins/REL with its .meta, and the .meta of each of its
# folders under Runtime/Plugins/ that has none yet.
unity_place_plugin() {
    local pkg=$1 src=$2 rel=$3 plugins=$1/Runtime/Plugins dir
    if [[ ! -f $UNITY_PLUGIN_META/$rel.meta ]]; then
        echo "unity: no import settings $UNITY_PLUGIN_META/$rel.meta for $rel" >&2
        return 1
    fi
    mkdir -p "$plugins/$(dirname "$rel")"
    cp "$src" "$plugins/$rel"
    cp "$UNITY_PLUGIN_META/$rel.meta" "$plugins/$rel.meta"
    dir=$(dirname "$rel")
    while [[ $dir != . ]]; do
        if [[ ! -f $plugins/$dir.meta ]]; then
            cp "$UNITY_PLUGIN_META/$dir.meta" "$plugins/$dir.meta" || return 1
        fi
        dir=$(dirname "$dir")
    done
}
