// The prebuilt Offtrack library (Rust, C ABI) and its headers, as staged by
// unreal/stage.sh. Every library path below is one that stage.sh produces;
// tests/cpp/check_unreal.py compares the two. The iOS privacy bundle is
// committed with the plugin, not staged.
using System.IO;
using UnrealBuildTool;

public class OfftrackLibrary : ModuleRules
{
	public OfftrackLibrary(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;

		// offtrack.h and offtrack.hpp, copied here by stage.sh.
		PublicSystemIncludePaths.Add(PluginFile("Source/ThirdParty/OfftrackLibrary/include"));

		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			// The import library of offtrack.dll (built with MSVC, or with
			// mingw-w64 and its .def: stage.sh --target x86_64-pc-windows-gnu).
			PublicAdditionalLibraries.Add(PluginFile("Source/ThirdParty/OfftrackLibrary/lib/Win64/offtrack.lib"));
			// Loaded by FOfftrackModule from the plugin's binaries before first use.
			PublicDelayLoadDLLs.Add("offtrack.dll");
			RuntimeDependencies.Add(PluginFile("Binaries/ThirdParty/OfftrackLibrary/Win64/offtrack.dll"));
		}
		else if (Target.Platform == UnrealTargetPlatform.Mac)
		{
			string Dylib = PluginFile("Binaries/ThirdParty/OfftrackLibrary/Mac/libofftrack.dylib");
			PublicDelayLoadDLLs.Add(Dylib);
			RuntimeDependencies.Add(Dylib);
		}
		else if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			string SharedObject = PluginFile("Binaries/ThirdParty/OfftrackLibrary/Linux/x86_64-unknown-linux-gnu/libofftrack.so");
			PublicAdditionalLibraries.Add(SharedObject);
			PublicDelayLoadDLLs.Add(SharedObject);
			RuntimeDependencies.Add(SharedObject);
		}
		else if (Target.Platform == UnrealTargetPlatform.LinuxArm64)
		{
			string SharedObject = PluginFile("Binaries/ThirdParty/OfftrackLibrary/LinuxArm64/aarch64-unknown-linux-gnueabi/libofftrack.so");
			PublicAdditionalLibraries.Add(SharedObject);
			PublicDelayLoadDLLs.Add(SharedObject);
			RuntimeDependencies.Add(SharedObject);
		}
		else if (Target.Platform == UnrealTargetPlatform.Android)
		{
			// One library per ABI; the Android toolchain links the one whose
			// directory names the architecture being built.
			PublicAdditionalLibraries.Add(PluginFile("Binaries/ThirdParty/OfftrackLibrary/Android/arm64-v8a/libofftrack.so"));
			PublicAdditionalLibraries.Add(PluginFile("Binaries/ThirdParty/OfftrackLibrary/Android/x86_64/libofftrack.so"));
			// Packs the library into the APK (lib/<abi>/) and loads it before the game.
			AdditionalPropertiesForReceipt.Add("AndroidPlugin", PluginFile("Source/ThirdParty/OfftrackLibrary/OfftrackLibrary_UPL.xml"));
		}
		else if (Target.Platform == UnrealTargetPlatform.IOS)
		{
			// Static on iOS, where apps carry no loose dylibs. Only one Rust static
			// library may be linked into the app: two would clash on Rust's own symbols.
			PublicAdditionalLibraries.Add(PluginFile("Source/ThirdParty/OfftrackLibrary/lib/IOS/libofftrack.a"));
			// What `cargo rustc --crate-type staticlib -- --print native-static-libs`
			// reports for Apple targets: -framework Security -framework CoreFoundation
			// -liconv -lSystem -lc -lm (the last three are linked by default).
			PublicFrameworks.AddRange(new string[] { "Security", "CoreFoundation" });
			PublicSystemLibraries.Add("iconv");
			// The library's App Store privacy manifest. A static library carries no
			// resources, so the manifest travels in a resource bundle of its own,
			// copied to the root of the app bundle; the game's own PrivacyInfo.xcprivacy
			// at that root is left alone.
			string PrivacyBundle = PluginFile("Source/ThirdParty/OfftrackLibrary/IOS/OfftrackPrivacy.bundle");
			AdditionalBundleResources.Add(new BundleResource(PrivacyBundle, ""));
			ExternalDependencies.Add(Path.Combine(PrivacyBundle, "Info.plist"));
			ExternalDependencies.Add(Path.Combine(PrivacyBundle, "PrivacyInfo.xcprivacy"));
		}
	}

	// The prebuilt library is used as it is: nothing here builds Rust. A file
	// missing for the platform being built stops the build with a message
	// rather than a linker error.
	private string PluginFile(string RelativePath)
	{
		string FullPath = Path.Combine(PluginDirectory, RelativePath);
		if (!File.Exists(FullPath) && !Directory.Exists(FullPath))
		{
			throw new BuildException("Offtrack: " + FullPath + " is missing. This copy of the plugin has no library for "
				+ Target.Platform + ": use a release zip that includes it, or build it with unreal/stage.sh (unreal/Offtrack/README.md).");
		}
		return FullPath;
	}
}
