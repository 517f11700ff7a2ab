#!/usr/bin/env bash
# The C# suite of the Unity package, under Mono, against the library that
# `cargo build --release` produced (it does not build the library itself):
#   1. compiles the engine-free core with mcs (C# 7.2), also with the iOS,
#      WebGL, Android and Editor defines;
#   2. compile check: the MonoBehaviour layer and the sample against a
#      hand-written UnityEngine/UnityEditor stand-in (tests/unity/standin/),
#      once per platform define set (the tests only read the layer's metadata
#      and run its config building);
#   3. runs tests/unity/*.cs and the package's Edit Mode tests under mono,
#      against the real library and a loopback collector.
# Ends with the line "N passed, M failed"; exits non-zero if M > 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

if ! command -v mcs >/dev/null 2>&1 || ! command -v mono >/dev/null 2>&1; then
    echo "######################################################################"
    echo "SKIPPED: C# suite needs Mono: apt-get install -y mono-mcs mono-runtime"
    echo "######################################################################"
    exit 0
fi

lib=target/release/libofftrack.so
if [[ ! -f $lib ]]; then
    echo "tests/unity: missing $lib -- build the library first (cargo build --release, or make)" >&2
    exit 2
fi

out=build/unity
rm -rf "$out"
mkdir -p "$out/variants" "$out/layer"

passed=0
failed=0

# compile NAME MCS-ARGS...: one counted check.
compile() {
    local name=$1
    shift
    local log
    if log=$(mcs -langversion:7.2 "$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok   compile: $name"
    else
        failed=$((failed + 1))
        echo "FAIL compile: $name"
        printf '%s\n' "$log" | sed 's/^/     /'
    fi
}

finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

core_src=(unity/Runtime/Core/*.cs)
layer_src=(unity/Runtime/Unity/*.cs)
sample_src=(unity/Samples~/*/*.cs)
# Defines Unity sets in every build; the platform ones are added per check.
unity_defines="UNITY_5_3_OR_NEWER;UNITY_2019_4_OR_NEWER"

echo "== mcs $(mcs --version | sed 's/.*version //'), mono $(mono --version | head -n 1 | sed 's/.*version \([^ ]*\).*/\1/')"

compile "engine-free core (Offtrack.Core.dll)" \
    -target:library -warnaserror -out:"$out/Offtrack.Core.dll" "${core_src[@]}"
if [[ ! -f $out/Offtrack.Core.dll ]]; then
    finish
    exit 1
fi

for variant in "ios-player:UNITY_IOS" "webgl-player:UNITY_WEBGL" \
               "ios-editor:UNITY_IOS;UNITY_EDITOR" "android-player:UNITY_ANDROID"; do
    name=${variant%%:*}
    mkdir -p "$out/variants/$name"
    compile "core, $name defines" -target:library -warnaserror \
        -define:"$unity_defines;${variant#*:}" -out:"$out/variants/$name/Offtrack.Core.dll" "${core_src[@]}"
done

# The stand-in is never shipped; see its header for the little of it that runs.
compile "UnityEngine/UnityEditor stand-in" \
    -target:library -warnaserror -out:"$out/layer/UnityStandIn.dll" tests/unity/standin/UnityEngine.cs
for variant in "linux-player:UNITY_STANDALONE_LINUX" "linux-editor:UNITY_EDITOR;UNITY_STANDALONE_LINUX" \
               "ios-player:UNITY_IOS" "ios-editor:UNITY_EDITOR;UNITY_IOS" "android-player:UNITY_ANDROID" \
               "webgl-player:UNITY_WEBGL" "windows-player:UNITY_STANDALONE_WIN" "macos-player:UNITY_STANDALONE_OSX"; do
    name=${variant%%:*}
    mkdir -p "$out/layer/$name"
    compile "MonoBehaviour layer (Offtrack.Unity), $name defines" -target:library -warnaserror \
        -define:"$unity_defines;${variant#*:}" -r:"$out/Offtrack.Core.dll" -r:"$out/layer/UnityStandIn.dll" \
        -out:"$out/layer/$name/Offtrack.Unity.dll" "${layer_src[@]}"
done
compile "sample script (Samples~)" -target:library -warnaserror -define:"$unity_defines" \
    -r:"$out/Offtrack.Core.dll" -r:"$out/layer/UnityStandIn.dll" -r:"$out/layer/linux-player/Offtrack.Unity.dll" \
    -out:"$out/layer/Offtrack.Sample.dll" "${sample_src[@]}"

# The test program: its own checks plus the package's Edit Mode tests
# (unity/Tests/Editor), which run here on a stand-in of the NUnit subset they use.
compile "test program" -target:exe -out:"$out/OfftrackMonoTests.exe" \
    -r:"$out/Offtrack.Core.dll" -r:System.dll -r:System.Core.dll -r:System.Xml.dll \
    tests/unity/*.cs tests/unity/standin/NUnit.cs unity/Tests/Editor/*.cs unity/Runtime/Core/Json.cs
if [[ ! -f $out/OfftrackMonoTests.exe ]]; then
    finish
    exit 1
fi

echo "== mono $out/OfftrackMonoTests.exe"
# DllImport("offtrack") resolves to libofftrack.so through the loader's search path.
log=$out/mono.log
status=0
LD_LIBRARY_PATH="$root/target/release${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    timeout --kill-after=10 600 mono --debug "$out/OfftrackMonoTests.exe" "$root" "$@" 2>&1 | tee "$log" \
    || status=$?
summary=$(grep -E '^mono: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
if [[ -n $summary ]]; then
    read -r p f <<<"$(sed -E 's/^mono: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$summary")"
    passed=$((passed + p))
    failed=$((failed + f))
    if ((f == 0 && status != 0)); then
        echo "FAIL mono exited with status $status after its summary"
        failed=$((failed + 1))
    fi
else
    echo "FAIL mono run ended without a summary (status $status: crash or timeout)"
    failed=$((failed + 1))
fi

finish
