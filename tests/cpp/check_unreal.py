#!/usr/bin/env python3
"""Static checks of the Unreal plugin in unreal/Offtrack (no engine needed).

- Offtrack.uplugin is valid JSON with the fields the engine reads, and every
  module it lists has Source/<Name>/<Name>.Build.cs.
- The Build.cs files and the module's library path point at exactly the files
  that `unreal/stage.sh --list` says staging produces, and the Android UPL
  copies those files.
- iOS privacy manifest: OfftrackPrivacy.bundle holds a valid
  PrivacyInfo.xcprivacy (the same file as the Unity package's) declaring no
  tracking, no collected data and exactly the required-reason API categories
  the library calls; the iOS branch copies the bundle into the app
  (AdditionalBundleResources) and FilterPlugin.ini packages it.
- Reflection basics UnrealHeaderTool would reject: a header with UCLASS,
  USTRUCT or UENUM includes its .generated.h last; one GENERATED_BODY per type.
- Every library setting in UOfftrackSettings sits behind an inline
  bOverride_ toggle, has no default value of its own, and MakeConfig passes
  it to the library only when its toggle is on.
- Initial Consent: a plain setting, always sent as the consent key; the
  consent nodes are Blueprint nodes.
- Use Engine HTTP: a plain setting, applied as the tracker is made; the
  FHttpModule transport starts requests on the game thread and answers them
  through offtrack::Completion only.
- The analytics provider declares every pure virtual of IAnalyticsProvider
  (UE 5.x) and keeps the base RecordEvent/StartSession overloads visible; the
  subsystem declares the Initialize/Deinitialize overrides.
Prints "N passed, M failed" last; exits non-zero on a failure.
"""
import json
import os
import plistlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from xml.parsers.expat import ExpatError
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "unreal" / "Offtrack"
THIRD_PARTY = PLUGIN / "Source" / "ThirdParty" / "OfftrackLibrary"

passed = 0
failed = 0


def check(ok: bool, what: str, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f" -- {detail}" if detail else ""))


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def norm(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


# ------------------------------------------------------------------ uplugin
uplugin_path = PLUGIN / "Offtrack.uplugin"
try:
    uplugin = json.loads(uplugin_path.read_text(encoding="utf-8"))
    check(True, "Offtrack.uplugin is valid JSON")
except (OSError, ValueError) as e:
    uplugin = {}
    check(False, "Offtrack.uplugin is valid JSON", str(e))

check(uplugin.get("FileVersion") == 3, "uplugin FileVersion is 3")
check(isinstance(uplugin.get("Version"), int), "uplugin Version is an integer")
for key in ("VersionName", "FriendlyName", "Description", "Category"):
    check(isinstance(uplugin.get(key), str) and uplugin.get(key) != "", f"uplugin has {key}")
check(uplugin.get("CanContainContent") is False, "uplugin CanContainContent is false (code only)")
# What marketplace packaging reads (FPluginDescriptor).
crate_version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(encoding="utf-8")).group(1)
check(uplugin.get("VersionName") == crate_version, "uplugin VersionName is the crate's version",
      f"{uplugin.get('VersionName')} vs {crate_version}")
check(re.fullmatch(r"5\.\d+\.\d+", str(uplugin.get("EngineVersion", ""))) is not None,
      "uplugin EngineVersion is a UE 5 version (major.minor.patch)", str(uplugin.get("EngineVersion")))
for key in ("CreatedBy", "CreatedByURL", "DocsURL", "SupportURL", "MarketplaceURL"):
    check(isinstance(uplugin.get(key), str), f"uplugin has {key} (a string)")
    if key != "CreatedBy" and uplugin.get(key):
        check(str(uplugin[key]).startswith("https://"), f"uplugin {key} is an https URL", str(uplugin[key]))
if not uplugin.get("DocsURL") or not uplugin.get("SupportURL"):
    print("info uplugin DocsURL/SupportURL empty: packaging/unreal-zip.sh fills them from OFFTRACK_DOCS_URL/OFFTRACK_SUPPORT_URL")
check(uplugin.get("Installed") is False, "uplugin Installed is false (the marketplace sets it)")
check(isinstance(uplugin.get("IsBetaVersion"), bool), "uplugin IsBetaVersion is a boolean")
check(uplugin.get("SupportedTargetPlatforms") == ["Win64", "Mac", "Linux", "LinuxArm64", "Android", "IOS"],
      "uplugin SupportedTargetPlatforms: Win64, Mac, Linux, LinuxArm64, Android, IOS",
      str(uplugin.get("SupportedTargetPlatforms")))

KNOWN_TYPES = {"Runtime", "RuntimeNoCommandlet", "RuntimeAndProgram", "ClientOnly", "ServerOnly",
               "Editor", "EditorNoCommandlet", "Developer", "DeveloperTool", "UncookedOnly"}
KNOWN_PHASES = {"EarliestPossible", "PostConfigInit", "PostSplashScreen", "PreEarlyLoadingScreen",
                "PreLoadingScreen", "PreDefault", "Default", "PostDefault", "PostEngineInit", "None"}
KNOWN_PLATFORMS = {"Win64", "Mac", "Linux", "LinuxArm64", "Android", "IOS", "TVOS", "VisionOS"}
modules = uplugin.get("Modules", [])
check(isinstance(modules, list) and len(modules) >= 1, "uplugin lists modules")
for module in modules if isinstance(modules, list) else []:
    name = module.get("Name", "")
    check(module.get("Type") in KNOWN_TYPES, f"module {name}: Type {module.get('Type')!r}")
    check(module.get("LoadingPhase") in KNOWN_PHASES, f"module {name}: LoadingPhase {module.get('LoadingPhase')!r}")
    allow = module.get("PlatformAllowList", [])
    check(set(allow) <= KNOWN_PLATFORMS, f"module {name}: PlatformAllowList names known platforms", str(allow))
    check((PLUGIN / "Source" / name / f"{name}.Build.cs").is_file(), f"module {name}: Source/{name}/{name}.Build.cs exists")
    check("WhitelistPlatforms" not in module, f"module {name}: no UE4-only WhitelistPlatforms")
    check(set(allow) == set(uplugin.get("SupportedTargetPlatforms", [])),
          f"module {name}: PlatformAllowList is the plugin's SupportedTargetPlatforms", str(allow))

# ------------------------------------------------------------------ Build.cs
build_files = sorted(PLUGIN.glob("Source/**/*.Build.cs"))
check(len(build_files) == 2, "two Build.cs files (runtime and third-party module)",
      ", ".join(str(p.relative_to(PLUGIN)) for p in build_files))
for path in build_files:
    name = path.name[: -len(".Build.cs")]
    code = strip_comments(path.read_text(encoding="utf-8"))
    check(re.search(rf"public\s+class\s+{name}\s*:\s*ModuleRules", code) is not None,
          f"{path.name}: class {name} : ModuleRules")
    check(re.search(rf"public\s+{name}\s*\(\s*ReadOnlyTargetRules\s+Target\s*\)\s*:\s*base\s*\(\s*Target\s*\)", code) is not None,
          f"{path.name}: constructor takes ReadOnlyTargetRules")
    check(code.count("{") == code.count("}"), f"{path.name}: braces balance")

runtime_build = strip_comments((PLUGIN / "Source" / "Offtrack" / "Offtrack.Build.cs").read_text(encoding="utf-8"))
check('"OfftrackLibrary"' in runtime_build, "Offtrack.Build.cs depends on OfftrackLibrary")
check(re.search(r"bEnableExceptions\s*=\s*true", runtime_build) is not None,
      "Offtrack.Build.cs enables exceptions (offtrack.hpp throws offtrack::Error)")
for dep in ("Core", "CoreUObject", "Engine", "DeveloperSettings", "Analytics", "Projects", "HTTP"):
    check(f'"{dep}"' in runtime_build, f"Offtrack.Build.cs depends on {dep}")

lib_build = strip_comments((THIRD_PARTY / "OfftrackLibrary.Build.cs").read_text(encoding="utf-8"))
check(re.search(r"Type\s*=\s*ModuleType\.External", lib_build) is not None, "OfftrackLibrary is ModuleType.External")

# --------------------------------------------- paths against stage.sh --list
listing = subprocess.run(["bash", str(ROOT / "unreal" / "stage.sh"), "--list"], capture_output=True, text=True)
staged = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
check(listing.returncode == 0 and len(staged) > 0, "unreal/stage.sh --list runs", listing.stderr.strip())
staged_set = set(staged)

referenced = re.findall(r'PluginFile\(\s*"([^"]+)"\s*\)', lib_build)
check(len(referenced) > 0, "OfftrackLibrary.Build.cs names its files with PluginFile(...)")
used = set()
for rel in referenced:
    under = [s for s in staged if s.startswith(rel.rstrip("/") + "/")]
    if rel in staged_set:
        used.add(rel)
        check(True, f"Build.cs path is staged: {rel}")
    elif under:
        used.update(under)
        check(True, f"Build.cs directory holds staged files: {rel}")
    else:
        # A file, or a directory such as the privacy resource bundle.
        check((PLUGIN / rel).exists(), f"Build.cs path exists in the plugin: {rel}")
for rel in staged:
    check(rel in used, f"staged file is used by OfftrackLibrary.Build.cs: {rel}")

platforms = {
    "Win64": "/Win64/", "Mac": "/Mac/", "Linux": "/Linux/", "LinuxArm64": "/LinuxArm64/",
    "Android": "/Android/", "IOS": "/IOS/",
}
blocks = re.split(r"UnrealTargetPlatform\.", lib_build)[1:]
for platform, marker in platforms.items():
    block = next((b for b in blocks if re.match(rf"{platform}\b", b)), None)
    check(block is not None and marker in block, f"OfftrackLibrary.Build.cs has a branch for {platform} with its files")

# Desktop platforms load the library explicitly from the same place.
module_cpp = strip_comments((PLUGIN / "Source" / "Offtrack" / "Private" / "OfftrackModule.cpp").read_text(encoding="utf-8"))
loaded = re.findall(r'OFFTRACK_LIBRARY_PATH\s+TEXT\("([^"]+)"\)', module_cpp)
check(len(loaded) == 4, "OfftrackModule.cpp names the library of Win64, Mac, Linux and LinuxArm64", str(loaded))
for rel in loaded:
    check(rel in staged_set, f"OfftrackModule.cpp loads a staged file: {rel}")

# Android: the UPL copies the staged .so of each ABI into the APK.
upl_path = THIRD_PARTY / "OfftrackLibrary_UPL.xml"
try:
    upl = ET.parse(upl_path).getroot()
    check(True, "OfftrackLibrary_UPL.xml is well-formed XML")
except (OSError, ET.ParseError) as e:
    upl = None
    check(False, "OfftrackLibrary_UPL.xml is well-formed XML", str(e))
if upl is not None:
    copies = upl.findall("./resourceCopies/copyFile")
    check(len(copies) == 1, "the UPL copies one library per architecture")
    android_abis = sorted({PurePosixPath(s).parent.name for s in staged if "/Android/" in s})
    check(android_abis == ["arm64-v8a", "x86_64"], "Android ABIs staged", str(android_abis))
    for copy in copies:
        for abi in android_abis:
            src = copy.get("src", "").replace("$S(PluginDir)", str(THIRD_PARTY)).replace("$S(Architecture)", abi)
            rel = norm(os.path.relpath(norm(src), str(PLUGIN)))
            check(rel in staged_set, f"UPL copies a staged file for {abi}: {rel}")
            dst = copy.get("dst", "").replace("$S(Architecture)", abi)
            check(dst == f"$S(BuildDir)/libs/{abi}/libofftrack.so", f"UPL packs it as lib/{abi}/libofftrack.so", dst)
    check(upl.find("./soLoadLibrary/loadLibrary[@name='offtrack']") is not None, "the UPL loads libofftrack before the game")

# ------------------------------------------------ iOS privacy manifest
# The required-reason API categories the library calls on Apple platforms and
# the reason declared for each (README, "App Store privacy manifest"):
# file metadata (stat/fstat) inside the app container, and the uptime clock
# (std::time::Instant) for timeouts and backoff.
PRIVACY_CATEGORIES = {
    "NSPrivacyAccessedAPICategoryFileTimestamp": ["C617.1"],
    "NSPrivacyAccessedAPICategorySystemBootTime": ["35F9.1"],
}
PRIVACY_BUNDLE = "Source/ThirdParty/OfftrackLibrary/IOS/OfftrackPrivacy.bundle"
UNITY_MANIFEST = ROOT / "unity" / "Runtime" / "Plugins" / "iOS" / "PrivacyInfo.xcprivacy"


def load_plist(path: Path, what: str):
    try:
        with path.open("rb") as handle:
            value = plistlib.load(handle, fmt=plistlib.FMT_XML)
        check(isinstance(value, dict), f"{what} is an XML property list with a dictionary at its root")
        return value if isinstance(value, dict) else {}
    except (OSError, plistlib.InvalidFileException, ValueError, ExpatError) as e:
        check(False, f"{what} is an XML property list with a dictionary at its root", str(e))
        return {}


manifest_path = PLUGIN / PRIVACY_BUNDLE / "PrivacyInfo.xcprivacy"
manifest = load_plist(manifest_path, "OfftrackPrivacy.bundle/PrivacyInfo.xcprivacy")
check(set(manifest) == {"NSPrivacyTracking", "NSPrivacyTrackingDomains", "NSPrivacyCollectedDataTypes",
                        "NSPrivacyAccessedAPITypes"},
      "privacy manifest has the four top-level keys and no other", str(sorted(manifest)))
check(manifest.get("NSPrivacyTracking") is False, "privacy manifest: NSPrivacyTracking is false")
check(manifest.get("NSPrivacyTrackingDomains") == [], "privacy manifest: no tracking domains")
check(manifest.get("NSPrivacyCollectedDataTypes") == [],
      "privacy manifest: no collected data types (the app declares what its hits carry)")
accessed = manifest.get("NSPrivacyAccessedAPITypes")
declared = {}
if isinstance(accessed, list):
    for entry in accessed:
        if isinstance(entry, dict) and set(entry) == {"NSPrivacyAccessedAPIType", "NSPrivacyAccessedAPITypeReasons"}:
            declared[entry["NSPrivacyAccessedAPIType"]] = entry["NSPrivacyAccessedAPITypeReasons"]
        else:
            declared[repr(entry)] = None
check(isinstance(accessed, list) and len(accessed) == len(declared) and declared == PRIVACY_CATEGORIES,
      "privacy manifest declares exactly the required-reason categories the library calls",
      f"declared {declared}, expected {PRIVACY_CATEGORIES}")
check(manifest_path.is_file() and UNITY_MANIFEST.is_file()
      and manifest_path.read_bytes() == UNITY_MANIFEST.read_bytes(),
      "the Unreal and Unity privacy manifests are the same file")

bundle_info = load_plist(PLUGIN / PRIVACY_BUNDLE / "Info.plist", "OfftrackPrivacy.bundle/Info.plist")
check(bundle_info.get("CFBundlePackageType") == "BNDL" and "CFBundleExecutable" not in bundle_info,
      "OfftrackPrivacy.bundle is a resource bundle (BNDL, no executable)")
check(bundle_info.get("CFBundleShortVersionString") == uplugin.get("VersionName"),
      "OfftrackPrivacy.bundle version is the plugin's VersionName",
      f"{bundle_info.get('CFBundleShortVersionString')} vs {uplugin.get('VersionName')}")
bundle_files = sorted(p.name for p in (PLUGIN / PRIVACY_BUNDLE).iterdir()) if (PLUGIN / PRIVACY_BUNDLE).is_dir() else []
check(bundle_files == ["Info.plist", "PrivacyInfo.xcprivacy"],
      "OfftrackPrivacy.bundle holds Info.plist and PrivacyInfo.xcprivacy only", str(bundle_files))

ios_block = next((b for b in blocks if re.match(r"IOS\b", b)), "")
other_blocks = "".join(b for b in blocks if not re.match(r"IOS\b", b))
bundle_var = re.search(r'string\s+(\w+)\s*=\s*PluginFile\(\s*"' + re.escape(PRIVACY_BUNDLE) + r'"\s*\)\s*;', ios_block)
bundle_arg = rf'(?:{bundle_var.group(1)}|PluginFile\(\s*"{re.escape(PRIVACY_BUNDLE)}"\s*\))' if bundle_var else \
    rf'PluginFile\(\s*"{re.escape(PRIVACY_BUNDLE)}"\s*\)'
check(re.search(rf'AdditionalBundleResources\.Add\(\s*new\s+BundleResource\(\s*{bundle_arg}\s*,\s*""\s*\)\s*\)', ios_block)
      is not None,
      "the iOS branch copies OfftrackPrivacy.bundle to the root of the app (AdditionalBundleResources)")
check("AdditionalBundleResources" not in other_blocks, "no other platform copies the privacy bundle")
for name in ("Info.plist", "PrivacyInfo.xcprivacy"):
    check(re.search(rf'ExternalDependencies\.Add\(\s*Path\.Combine\(\s*{bundle_arg}\s*,\s*"{re.escape(name)}"\s*\)\s*\)',
                    ios_block) is not None,
          f"a change to OfftrackPrivacy.bundle/{name} invalidates the build (ExternalDependencies)")

filters = [line.strip() for line in (PLUGIN / "Config" / "FilterPlugin.ini").read_text(encoding="utf-8").splitlines()
           if line.strip().startswith("/")]


def packaged(rel: str) -> bool:
    path = "/" + rel
    return any(path == f or (f.endswith("/...") and path.startswith(f[: -len("...")])) for f in filters)


for name in ("Info.plist", "PrivacyInfo.xcprivacy"):
    check(packaged(f"{PRIVACY_BUNDLE}/{name}"), f"FilterPlugin.ini packages OfftrackPrivacy.bundle/{name}", str(filters))

# -------------------------------------------------- UnrealHeaderTool basics
for header in sorted(PLUGIN.glob("Source/Offtrack/**/*.h")):
    text = strip_comments(header.read_text(encoding="utf-8"))
    types = len(re.findall(r"^\s*(UCLASS|USTRUCT)\s*\(", text, flags=re.M))
    enums = len(re.findall(r"^\s*UENUM\s*\(", text, flags=re.M))
    if types + enums == 0:
        check(".generated.h" not in text, f"{header.name}: no .generated.h without reflected types")
        continue
    includes = re.findall(r'^\s*#\s*include\s+[<"]([^>"]+)[>"]', text, flags=re.M)
    check(bool(includes) and includes[-1] == f"{header.stem}.generated.h",
          f"{header.name}: includes {header.stem}.generated.h last", str(includes[-1:]))
    check(len(re.findall(r"\bGENERATED_BODY\s*\(\s*\)", text)) == types,
          f"{header.name}: one GENERATED_BODY() per UCLASS/USTRUCT")

settings_h = strip_comments((PLUGIN / "Source/Offtrack/Public/OfftrackSettings.h").read_text(encoding="utf-8"))
check(re.search(r'UCLASS\(\s*Config\s*=\s*Game\s*,\s*defaultconfig\s*,\s*meta\s*=\s*\(\s*DisplayName\s*=\s*"Offtrack"\s*\)\s*\)', settings_h) is not None,
      "UOfftrackSettings: UCLASS(Config=Game, defaultconfig, meta=(DisplayName=...))")
check(re.search(r"class\s+OFFTRACK_API\s+UOfftrackSettings\s*:\s*public\s+UDeveloperSettings", settings_h) is not None,
      "UOfftrackSettings derives from UDeveloperSettings")
config_props = re.findall(r"UPROPERTY\(\s*Config\s*,\s*EditAnywhere", settings_h)
check(len(config_props) == len(re.findall(r"UPROPERTY\(", settings_h)), "every settings property is Config, EditAnywhere")

# Library settings: each behind a bOverride_ toggle (FPostProcessSettings'
# convention), with no default value of its own, and sent only where
# overridden, so the library's defaults are the only ones.
LIBRARY_SETTINGS = ["TimestampParam", "TimestampOfflineOnly", "IdParam", "RequestTimeoutSeconds", "MaxAttempts",
                    "MaxHitBytes", "MaxQueueHits", "MaxQueueBytes", "MaxMemoryHits", "MaxAgeSeconds",
                    "ShutdownTimeoutMs", "RetryBaseMs", "RetryMaxMs", "SendIntervalMs",
                    "BatchEndpoint", "BatchFormat", "BatchMaxHits", "BatchMaxBytes"]
PROPERTY = re.compile(r"UPROPERTY\(([^;]*?)\)\s*([\w<>, ]+?)\s+(\w+)\s*(?:=\s*([^;]+))?;", re.S)
properties = {m.group(3): (m.group(1), m.group(2).strip(), (m.group(4) or "").strip()) for m in PROPERTY.finditer(settings_h)}
toggles = {name for name, (spec, _, _) in properties.items() if "InlineEditConditionToggle" in spec}
conditions = {}
for name, (spec, _, _) in properties.items():
    m = re.search(r'EditCondition\s*=\s*"(\w+)"', spec)
    if m:
        conditions[m.group(1)] = name
check(toggles == {"bOverride_" + n for n in LIBRARY_SETTINGS},
      "UOfftrackSettings: an InlineEditConditionToggle bOverride_ flag per library setting, and no other",
      str(sorted(toggles ^ {"bOverride_" + n for n in LIBRARY_SETTINGS})))
NEUTRAL = {"", "0", "false", "TEXT(\"\")"}
for setting in LIBRARY_SETTINGS:
    flag = "bOverride_" + setting
    spec, ftype, init = properties.get(flag, ("", "", ""))
    check(ftype == "bool" and init == "false", f"{flag} is a bool, off by default", f"{ftype} = {init}")
    value = conditions.get(flag)
    check(value in (setting, "b" + setting), f"{setting}: the value is edited only while {flag} is ticked", str(value))
    if value:
        init = properties[value][2]
        check(init in NEUTRAL, f"{value}: no default value of its own (the library's applies)", init)

make_config = re.search(r"offtrack::Config\s+MakeConfig\([^)]*\)\s*\{(.*?)\n\}", module_cpp, re.S)
check(make_config is not None, "OfftrackModule.cpp defines MakeConfig")
if make_config:
    body = make_config.group(1)
    for setting in LIBRARY_SETTINGS:
        key = re.sub(r"(?<!^)([A-Z])", r"_\1", setting).lower()
        calls = re.findall(r"\.\s*" + key + r"\s*\(", body)
        guarded = re.findall(r"if\s*\(\s*Settings\.bOverride_" + setting + r"\s*\)\s*\{\s*Config\s*\.\s*" + key + r"\s*\(", body)
        check(len(calls) == 1 and len(guarded) == 1, f"MakeConfig sends {key} only if bOverride_{setting}",
              f"{len(calls)} calls, {len(guarded)} guarded")

# Initial consent: a plain setting (a privacy choice belongs in plain sight,
# not behind an override toggle), always sent, at the library's default.
check(re.search(r"UPROPERTY\(\s*Config\s*,\s*EditAnywhere[^;]*?\)\s*EOfftrackConsent\s+InitialConsent\s*=\s*EOfftrackConsent::Granted\s*;", settings_h) is not None,
      "UOfftrackSettings::InitialConsent is a Config EOfftrackConsent, Granted by default")
check(make_config is not None and re.search(r"\.\s*consent\s*\(\s*OfftrackConvert::ToNative\s*\(\s*Settings\.InitialConsent\s*\)\s*\)", make_config.group(1)) is not None,
      "MakeConfig sends InitialConsent as the consent key")
types_h = strip_comments((PLUGIN / "Source/Offtrack/Public/OfftrackTypes.h").read_text(encoding="utf-8"))
consent_enum = types_h.split("enum class EOfftrackConsent", 1)[-1].split("};", 1)[0]
for name, value in (("Granted", 0), ("Pending", 1), ("Denied", 2)):
    check(re.search(rf"\b{name}\s*=\s*{value}\b", consent_enum) is not None,
          f"EOfftrackConsent::{name} is TRACKER_CONSENT_{name.upper()} ({value})")

# Encryption at rest: the key comes from the game at run time (a provider
# called when the tracker is made), never from a setting; Require Encryption
# refuses to make a tracker without one.
check(re.search(r"UPROPERTY\(\s*Config\s*,\s*EditAnywhere[^;]*?\)\s*bool\s+bRequireEncryption\s*=\s*false\s*;", settings_h) is not None,
      "UOfftrackSettings::bRequireEncryption is a Config bool, off by default")
check(re.search(r"Encryption\w*Key\b(?!Provider)", re.sub(r"bRequireEncryption", "", settings_h)) is None,
      "no encryption key among the settings (ini files ship with the game)")
module_decl = strip_comments((PLUGIN / "Source/Offtrack/Public/OfftrackModule.h").read_text(encoding="utf-8"))
check(re.search(r"bool\s+SetEncryptionKeyProvider\s*\(\s*TFunction<FString\(\)>\s+Provider\s*\)\s*;", module_decl) is not None,
      "FOfftrackModule::SetEncryptionKeyProvider(TFunction<FString()>) is declared")
check(make_config is not None and re.search(r"if\s*\(\s*!EncryptionKey\.IsEmpty\(\)\s*\)\s*\{\s*Config\s*\.\s*encryption_key\s*\(\s*ToUtf8\s*\(\s*EncryptionKey\s*\)\s*\)", make_config.group(1)) is not None,
      "MakeConfig sends the provider's key as encryption_key, only when there is one")
acquire_for_key = re.search(r"FOfftrackModule::AcquireTracker\(\)\s*const\s*\{(.*?)\n\}", module_cpp, re.S)
key_body = acquire_for_key.group(1) if acquire_for_key else ""
refusal = re.search(r"if\s*\(\s*EncryptionKey\.IsEmpty\(\)\s*&&\s*Settings->bRequireEncryption\s*\)\s*\{[^}]*return\s+nullptr\s*;", key_body)
check(refusal is not None and refusal.start() < key_body.find("MakeDirectory"),
      "AcquireTracker refuses before touching the disk when Require Encryption has no key")

# Use Engine HTTP: a plugin setting (no override toggle, off by default) that
# gives the tracker a transport through FHttpModule before its first hit.
check(re.search(r"UPROPERTY\(\s*Config\s*,\s*EditAnywhere[^;]*?\)\s*bool\s+bUseEngineHttp\s*=\s*false\s*;", settings_h) is not None,
      "UOfftrackSettings::bUseEngineHttp is a Config bool, off by default")
acquire = re.search(r"FOfftrackModule::AcquireTracker\(\)\s*const\s*\{(.*?)\n\}", module_cpp, re.S)
acquire_body = acquire.group(1) if acquire else ""
check(re.search(r"if\s*\(\s*Settings->bUseEngineHttp\s*\)\s*\{\s*[^}]*->\s*set_transport\s*\(\s*OfftrackHttpTransport::MakeHandler\(\)\s*\)", acquire_body) is not None,
      "AcquireTracker sets the FHttpModule transport only if bUseEngineHttp")
check(acquire_body.find("set_transport") > acquire_body.find("on_event") >= 0
      and acquire_body.find("set_transport") < acquire_body.find("return Tracker;"),
      "the transport is set right after the tracker is made, before anyone can send a hit")
transport_cpp = strip_comments((PLUGIN / "Source/Offtrack/Private/OfftrackHttpTransport.cpp").read_text(encoding="utf-8"))
for call in ("FHttpModule::Get().CreateRequest()", "->SetURL(", "->SetVerb(", "->SetHeader(", "->SetContent(",
             "->SetTimeout(", "->OnProcessRequestComplete().BindLambda(", "->ProcessRequest()", "->GetResponseCode()",
             "->GetHeader(TEXT(\"Retry-After\"))"):
    check(call in transport_cpp, f"OfftrackHttpTransport.cpp calls {call}")
check(re.search(r"AsyncTask\(\s*ENamedThreads::GameThread", transport_cpp) is not None,
      "requests are started on the game thread")
check(re.search(r"if\s*\(\s*!Done\.tracker_alive\(\)\s*\)", transport_cpp) is not None,
      "a request whose tracker is gone is not started")
check(re.search(r"BindLambda\(\s*\[Done\b", transport_cpp) is not None,
      "the completion delegate holds the offtrack::Completion by value, not the tracker")
check(re.search(r"if\s*\(\s*!bSucceeded[^)]*\)\s*\{\s*Done\.fail\(", transport_cpp) is not None,
      "no response (bConnectedSuccessfully false) is reported as status 0 with an error")
check(re.search(r"(?<![\w.])(tracker_transport_complete|tracker_set_transport)\s*\(", transport_cpp) is None,
      "the transport goes through offtrack.hpp, never the C calls")

subsystem_h = strip_comments((PLUGIN / "Source/Offtrack/Public/OfftrackSubsystem.h").read_text(encoding="utf-8"))
check(re.search(r"class\s+OFFTRACK_API\s+UOfftrackSubsystem\s*:\s*public\s+UGameInstanceSubsystem", subsystem_h) is not None,
      "UOfftrackSubsystem derives from UGameInstanceSubsystem")
check(re.search(r"virtual\s+void\s+Initialize\s*\(\s*FSubsystemCollectionBase\s*&\s*\w+\s*\)\s*override", subsystem_h) is not None,
      "UOfftrackSubsystem overrides Initialize(FSubsystemCollectionBase&)")
check(re.search(r"virtual\s+void\s+Deinitialize\s*\(\s*\)\s*override", subsystem_h) is not None,
      "UOfftrackSubsystem overrides Deinitialize()")
for fn in ("SendHit", "Dispatch", "Flush", "SetStorageMode", "GetOfflineCount", "DeleteOfflineHits",
           "SetConsent", "GetConsent"):
    check(re.search(r"UFUNCTION\(\s*Blueprint(Callable|Pure)[^)]*\)\s*[\w:<> ]+\b" + fn + r"\s*\(", subsystem_h) is not None,
          f"UOfftrackSubsystem::{fn} is a Blueprint node")
for delegate in ("OnHitSent", "OnHitStored", "OnHitDropped"):
    check(re.search(r"UPROPERTY\(\s*BlueprintAssignable[^)]*\)\s*FOfftrackHitEvent\s+" + delegate + r"\s*;", subsystem_h) is not None,
          f"UOfftrackSubsystem::{delegate} is BlueprintAssignable")

provider_h = strip_comments((PLUGIN / "Source/Offtrack/Private/OfftrackAnalyticsProvider.h").read_text(encoding="utf-8"))
pure_virtuals = {
    "StartSession": r"bool\s+StartSession\s*\(\s*const\s+TArray<FAnalyticsEventAttribute>\s*&\s*\w+\s*\)",
    "EndSession": r"void\s+EndSession\s*\(\s*\)",
    "GetSessionID": r"FString\s+GetSessionID\s*\(\s*\)\s*const",
    "SetSessionID": r"bool\s+SetSessionID\s*\(\s*const\s+FString\s*&\s*\w+\s*\)",
    "FlushEvents": r"void\s+FlushEvents\s*\(\s*\)",
    "SetUserID": r"void\s+SetUserID\s*\(\s*const\s+FString\s*&\s*\w+\s*\)",
    "GetUserID": r"FString\s+GetUserID\s*\(\s*\)\s*const",
    "RecordEvent": r"void\s+RecordEvent\s*\(\s*const\s+FString\s*&\s*\w+\s*,\s*const\s+TArray<FAnalyticsEventAttribute>\s*&\s*\w+\s*\)",
}
for fn, signature in pure_virtuals.items():
    check(re.search(r"virtual\s+" + signature + r"\s*override\s*;", provider_h) is not None,
          f"FOfftrackAnalyticsProvider overrides IAnalyticsProvider::{fn}")
# UE 5.7 adds a virtual RecordEvent overload; overriding one overload without
# these hides the others, which -Woverloaded-virtual turns into an error.
for fn in ("RecordEvent", "StartSession"):
    check(re.search(r"using\s+IAnalyticsProvider::" + fn + r"\s*;", provider_h) is not None,
          f"FOfftrackAnalyticsProvider keeps the base overloads of {fn} visible (using)")
# Pure virtuals of IAnalyticsProvider since UE 5.4 (of IAnalyticsProviderET before).
since_54 = {
    "SetDefaultEventAttributes": r"void\s+SetDefaultEventAttributes\s*\(\s*TArray<FAnalyticsEventAttribute>\s*&&\s*\w+\s*\)",
    "GetDefaultEventAttributesSafe": r"TArray<FAnalyticsEventAttribute>\s+GetDefaultEventAttributesSafe\s*\(\s*\)\s*const",
    "GetDefaultEventAttributeCount": r"int32\s+GetDefaultEventAttributeCount\s*\(\s*\)\s*const",
    "GetDefaultEventAttribute": r"FAnalyticsEventAttribute\s+GetDefaultEventAttribute\s*\(\s*int\s+\w+\s*\)\s*const",
}
for fn, signature in since_54.items():
    check(re.search(r"virtual\s+" + signature + r"\s*OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE\s*;", provider_h) is not None,
          f"FOfftrackAnalyticsProvider implements {fn} (pure virtual since UE 5.4)")

module_h = strip_comments((PLUGIN / "Source/Offtrack/Public/OfftrackModule.h").read_text(encoding="utf-8"))
check(re.search(r"TSharedPtr<IAnalyticsProvider>\s+CreateAnalyticsProvider\s*\(\s*const\s+FAnalyticsProviderConfigurationDelegate\s*&\s*\w+\s*\)\s*const\s+override", module_h) is not None,
      "FOfftrackModule overrides IAnalyticsProviderModule::CreateAnalyticsProvider(...) const")
check(re.search(r"IMPLEMENT_MODULE\(\s*FOfftrackModule\s*,\s*Offtrack\s*\)", module_cpp) is not None,
      "IMPLEMENT_MODULE(FOfftrackModule, Offtrack) matches the uplugin module name")

# ----------------------------------------- the staged host library, if any
host_so = PLUGIN / "Binaries/ThirdParty/OfftrackLibrary/Linux/x86_64-unknown-linux-gnu/libofftrack.so"
if host_so.is_file():
    try:
        dyn = subprocess.run(["readelf", "-d", str(host_so)], capture_output=True, text=True).stdout
        check("Library soname: [libofftrack.so]" in dyn, "staged Linux library has SONAME libofftrack.so")
    except OSError:
        print("skip staged Linux library SONAME (readelf not found)")
    try:
        # Information only: Unreal's Linux toolchain targets glibc 2.17.
        symbols = subprocess.run(["objdump", "-T", str(host_so)], capture_output=True, text=True).stdout
        versions = {tuple(int(n) for n in v.split(".")) for v in re.findall(r"GLIBC_([0-9]+(?:\.[0-9]+)*)", symbols)}
        if versions:
            print(f"info staged Linux library needs GLIBC_{'.'.join(map(str, max(versions)))} (Unreal targets GLIBC_2.17)")
    except OSError:
        print("skip staged Linux library glibc version (objdump not found)")
else:
    print("skip staged Linux library checks (run unreal/stage.sh to stage it)")

print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
