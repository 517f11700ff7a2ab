#!/usr/bin/env bash
# Builds libofftrack and stages it, with the headers, where the Unreal plugin's
# Build.cs files expect it (unreal/Offtrack/Binaries/ThirdParty/... and
# unreal/Offtrack/Source/ThirdParty/OfftrackLibrary/...).
#
#   bash unreal/stage.sh                    # the host platform
#   bash unreal/stage.sh --target TRIPLE    # a cross target (repeatable); its
#                                           # toolchain must be set up for cargo
#   bash unreal/stage.sh --list             # every file staging can produce; builds nothing
#   bash unreal/stage.sh --plugin DIR ...   # stage into DIR, a copy of the plugin
#                                           # (packaging/unreal-zip.sh), not unreal/Offtrack
#
# Targets: x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu (cross-built
# on an x86_64 host by tests/platforms/aarch64.sh), x86_64-pc-windows-msvc
# (on Windows), x86_64-pc-windows-gnu (cross-built on Linux by
# tests/platforms/windows.sh: the DLL and an import library MSVC links),
# aarch64-apple-darwin, x86_64-apple-darwin (both:
# one universal dylib), aarch64-linux-android, x86_64-linux-android,
# aarch64-apple-ios.
#
# The library is built in its own cargo target directory (build/unreal/cargo,
# or $OFFTRACK_STAGE_TARGET_DIR) because the staged copy is linked with its
# own install name (SONAME / @rpath), which a plain `cargo build` does not set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

plugin=unreal/Offtrack
bin=Binaries/ThirdParty/OfftrackLibrary
src=Source/ThirdParty/OfftrackLibrary
all_targets=(
    x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-pc-windows-msvc
    x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin aarch64-linux-android
    x86_64-linux-android aarch64-apple-ios
)
headers=(offtrack.h offtrack.hpp)

# Staged files of one target, relative to the plugin directory. The first one
# is the library the build produces; the second, if any, its import library.
staged_files() {
    case $1 in
        x86_64-unknown-linux-gnu) echo "$bin/Linux/x86_64-unknown-linux-gnu/libofftrack.so" ;;
        aarch64-unknown-linux-gnu) echo "$bin/LinuxArm64/aarch64-unknown-linux-gnueabi/libofftrack.so" ;;
        x86_64-pc-windows-msvc | x86_64-pc-windows-gnu)
            echo "$bin/Win64/offtrack.dll"
            echo "$src/lib/Win64/offtrack.lib"
            ;;
        aarch64-apple-darwin | x86_64-apple-darwin) echo "$bin/Mac/libofftrack.dylib" ;;
        aarch64-linux-android) echo "$bin/Android/arm64-v8a/libofftrack.so" ;;
        x86_64-linux-android) echo "$bin/Android/x86_64/libofftrack.so" ;;
        aarch64-apple-ios) echo "$src/lib/IOS/libofftrack.a" ;;
        *) return 1 ;;
    esac
}

# cargo's output files for the target, in the order of staged_files.
built_files() {
    case $1 in
        *-windows-msvc) echo "offtrack.dll" "offtrack.dll.lib" ;;
        *-windows-gnu) echo "offtrack.dll" "offtrack.lib" ;;
        *-apple-darwin) echo "libofftrack.dylib" ;;
        *-apple-ios) echo "libofftrack.a" ;;
        *) echo "libofftrack.so" ;;
    esac
}

# Prints the highest GLIBC_ symbol version a staged Linux library needs, for
# information: Unreal's Linux toolchain targets glibc 2.17, and a library built
# against a newer glibc does not load on older systems.
report_glibc() {
    local need
    command -v objdump >/dev/null || { echo "glibc check skipped (objdump not found)"; return 0; }
    need=$(objdump -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V | tail -n 1 || true)
    echo "$1 needs ${need:-no versioned glibc symbols (or objdump cannot read it)}; Unreal's Linux toolchain targets GLIBC_2.17"
}

if [[ ${1:-} == --list ]]; then
    {
        for t in "${all_targets[@]}"; do staged_files "$t"; done
        for h in "${headers[@]}"; do echo "$src/include/$h"; done
    } | sort -u
    exit 0
fi

targets=()
while (($#)); do
    case $1 in
        --target)
            [[ $# -ge 2 ]] || { echo "stage.sh: --target needs a value" >&2; exit 2; }
            targets+=("$2")
            shift 2
            ;;
        --plugin)
            [[ $# -ge 2 && -f $2/Offtrack.uplugin ]] || { echo "stage.sh: --plugin needs a copy of the plugin (a folder with Offtrack.uplugin)" >&2; exit 2; }
            plugin=$2
            shift 2
            ;;
        -h | --help)
            sed -n '2,23p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            echo "stage.sh: unknown argument $1 (see --help)" >&2
            exit 2
            ;;
    esac
done

command -v cargo >/dev/null || { echo "stage.sh: cargo is required (Rust toolchain)" >&2; exit 1; }
host=$(rustc -vV | sed -n 's/^host: //p')
((${#targets[@]})) || targets=("$host")
target_dir=${OFFTRACK_STAGE_TARGET_DIR:-build/unreal/cargo}

mac_slices=()
for t in "${targets[@]}"; do
    files=$(staged_files "$t") || { echo "stage.sh: unsupported target $t" >&2; exit 2; }

    crate_type=cdylib
    link_args=()
    case $t in
        *-apple-ios) crate_type=staticlib ;;
        # Without a SONAME the linker records the build path in the game binary.
        *-linux-gnu | *-linux-android) link_args=(-C "link-arg=-Wl,-soname,libofftrack.so") ;;
        *-apple-darwin) link_args=(-C "link-arg=-Wl,-install_name,@rpath/libofftrack.dylib") ;;
    esac

    cargo_target=()
    out_dir=$target_dir/release
    if [[ $t != "$host" ]]; then
        cargo_target=(--target "$t")
        out_dir=$target_dir/$t/release
    fi

    if [[ $crate_type == staticlib ]]; then
        # Printed so it can be compared with PublicFrameworks/PublicSystemLibraries
        # in OfftrackLibrary.Build.cs.
        link_args+=(--print native-static-libs)
    fi

    if [[ $t == x86_64-pc-windows-gnu ]]; then
        # Cross-built with mingw (README "Platforms"), with its import library.
        bash tests/platforms/windows.sh build
        out_dir=${CROSS_TARGET_DIR:-$PWD/target/cross}/$t/release
    elif [[ $t == aarch64-unknown-linux-gnu && $host != "$t" ]]; then
        # Cross-built with the aarch64 gcc (README "Platforms"), with its SONAME.
        bash tests/platforms/aarch64.sh build
        out_dir=${CROSS_TARGET_DIR:-$PWD/target/cross}/$t/release
    else
        echo "== cargo rustc ($t, $crate_type)"
        # The ${a[@]+...} form keeps empty arrays working under set -u in bash 3.2 (macOS).
        cargo rustc --release --lib --crate-type "$crate_type" ${cargo_target[@]+"${cargo_target[@]}"} \
            --target-dir "$target_dir" -- ${link_args[@]+"${link_args[@]}"}
    fi

    read -r -a outputs <<<"$(built_files "$t")"
    i=0
    while read -r rel; do
        from=$out_dir/${outputs[$i]}
        [[ -f $from ]] || { echo "stage.sh: $from was not built" >&2; exit 1; }
        if [[ $t == *-apple-darwin ]]; then
            mac_slices+=("$from")
        else
            mkdir -p "$(dirname "$plugin/$rel")"
            cp "$from" "$plugin/$rel"
            echo "staged $plugin/$rel"
            if [[ $t == *-linux-gnu ]]; then report_glibc "$plugin/$rel"; fi
        fi
        i=$((i + 1))
    done <<<"$files"
done

if ((${#mac_slices[@]})); then
    rel=$(staged_files aarch64-apple-darwin)
    mkdir -p "$(dirname "$plugin/$rel")"
    if ((${#mac_slices[@]} > 1)); then
        # One universal dylib for Apple silicon and Intel Macs.
        lipo -create "${mac_slices[@]}" -output "$plugin/$rel"
    else
        cp "${mac_slices[0]}" "$plugin/$rel"
    fi
    echo "staged $plugin/$rel"
fi

mkdir -p "$plugin/$src/include"
for h in "${headers[@]}"; do
    cp "include/$h" "$plugin/$src/include/$h"
    echo "staged $plugin/$src/include/$h"
done
