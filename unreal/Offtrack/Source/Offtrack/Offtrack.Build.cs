using UnrealBuildTool;

public class Offtrack : ModuleRules
{
	public Offtrack(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		// offtrack.hpp reports failures as C++ exceptions; they are caught
		// inside this module and never cross into engine code.
		bEnableExceptions = true;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
			"DeveloperSettings",
			"Analytics",
		});

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"Projects",          // IPluginManager: where the plugin's binaries are
			"HTTP",              // FHttpModule, for Use Engine HTTP
			"OfftrackLibrary",   // the prebuilt library and its headers
		});
	}
}
