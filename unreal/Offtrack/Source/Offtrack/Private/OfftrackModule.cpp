#include "OfftrackModule.h"

#include "Async/Async.h"
#include "HAL/FileManager.h"
#include "HAL/PlatformProcess.h"
#include "Interfaces/IPluginManager.h"
#include "Misc/Paths.h"
#include "Misc/ScopeLock.h"
#include "OfftrackAnalyticsProvider.h"
#include "OfftrackConvert.h"
#include "OfftrackHttpTransport.h"
#include "OfftrackSettings.h"
#include "OfftrackSubsystem.h"

DEFINE_LOG_CATEGORY(LogOfftrack);

IMPLEMENT_MODULE(FOfftrackModule, Offtrack)

// Where unreal/stage.sh puts the shared library, relative to the plugin
// directory. Desktop platforms load it from there before the first call
// (delay-loaded where the platform supports it, as on Win64; on Linux the
// module already needs it to load); Android loads it from the APK and iOS
// links it statically.
#if PLATFORM_WINDOWS
#define OFFTRACK_LIBRARY_PATH TEXT("Binaries/ThirdParty/OfftrackLibrary/Win64/offtrack.dll")
#elif PLATFORM_MAC
#define OFFTRACK_LIBRARY_PATH TEXT("Binaries/ThirdParty/OfftrackLibrary/Mac/libofftrack.dylib")
#elif PLATFORM_LINUX && PLATFORM_CPU_ARM_FAMILY
#define OFFTRACK_LIBRARY_PATH TEXT("Binaries/ThirdParty/OfftrackLibrary/LinuxArm64/aarch64-unknown-linux-gnueabi/libofftrack.so")
#elif PLATFORM_LINUX
#define OFFTRACK_LIBRARY_PATH TEXT("Binaries/ThirdParty/OfftrackLibrary/Linux/x86_64-unknown-linux-gnu/libofftrack.so")
#endif

namespace
{
uint64 ToCount(int64 Value)
{
	// Negative values cannot come from the clamped settings UI, but ini files
	// are hand-edited: 0 lets the library reject the key with its own message.
	return Value > 0 ? static_cast<uint64>(Value) : 0;
}

offtrack::Config MakeConfig(const UOfftrackSettings& Settings, const FString& StorageDirectory, const FString& EncryptionKey)
{
	using OfftrackConvert::ToUtf8;
	offtrack::Config Config;
	// The plugin's own settings, always sent.
	Config.endpoint(ToUtf8(Settings.Endpoint))
		.storage_path(ToUtf8(StorageDirectory))
		.storage(OfftrackConvert::ToNative(Settings.StorageMode))
		.consent(OfftrackConvert::ToNative(Settings.InitialConsent));
	if (!EncryptionKey.IsEmpty())
	{
		Config.encryption_key(ToUtf8(EncryptionKey));
	}
	for (const TPair<FString, FString>& Header : Settings.Headers)
	{
		Config.header(ToUtf8(Header.Key), ToUtf8(Header.Value));
	}
	// Library settings only where overridden: the library's own defaults
	// apply to the rest.
	if (Settings.bOverride_TimestampParam)
	{
		Config.timestamp_param(ToUtf8(Settings.TimestampParam));
	}
	if (Settings.bOverride_TimestampOfflineOnly)
	{
		Config.timestamp_offline_only(Settings.bTimestampOfflineOnly);
	}
	if (Settings.bOverride_IdParam)
	{
		Config.id_param(ToUtf8(Settings.IdParam));
	}
	if (Settings.bOverride_RequestTimeoutSeconds)
	{
		Config.request_timeout_seconds(ToCount(Settings.RequestTimeoutSeconds));
	}
	if (Settings.bOverride_MaxAttempts)
	{
		Config.max_attempts(ToCount(Settings.MaxAttempts));
	}
	if (Settings.bOverride_MaxHitBytes)
	{
		Config.max_hit_bytes(ToCount(Settings.MaxHitBytes));
	}
	if (Settings.bOverride_MaxQueueHits)
	{
		Config.max_queue_hits(ToCount(Settings.MaxQueueHits));
	}
	if (Settings.bOverride_MaxQueueBytes)
	{
		Config.max_queue_bytes(ToCount(Settings.MaxQueueBytes));
	}
	if (Settings.bOverride_MaxMemoryHits)
	{
		Config.max_memory_hits(ToCount(Settings.MaxMemoryHits));
	}
	if (Settings.bOverride_MaxAgeSeconds)
	{
		Config.max_age_seconds(ToCount(Settings.MaxAgeSeconds));
	}
	if (Settings.bOverride_ShutdownTimeoutMs)
	{
		Config.shutdown_timeout_ms(ToCount(Settings.ShutdownTimeoutMs));
	}
	if (Settings.bOverride_RetryBaseMs)
	{
		Config.retry_base_ms(ToCount(Settings.RetryBaseMs));
	}
	if (Settings.bOverride_RetryMaxMs)
	{
		Config.retry_max_ms(ToCount(Settings.RetryMaxMs));
	}
	if (Settings.bOverride_SendIntervalMs)
	{
		Config.send_interval_ms(ToCount(Settings.SendIntervalMs));
	}
	if (Settings.bOverride_BatchEndpoint)
	{
		Config.batch_endpoint(ToUtf8(Settings.BatchEndpoint));
	}
	if (Settings.bOverride_BatchFormat)
	{
		Config.batch_format(Settings.BatchFormat == EOfftrackBatchFormat::Json ? offtrack::BatchFormat::Json : offtrack::BatchFormat::Lines);
	}
	if (Settings.bOverride_BatchMaxHits)
	{
		Config.batch_max_hits(ToCount(Settings.BatchMaxHits));
	}
	if (Settings.bOverride_BatchMaxBytes)
	{
		Config.batch_max_bytes(ToCount(Settings.BatchMaxBytes));
	}
	return Config;
}
} // namespace

void FOfftrackModule::StartupModule()
{
#ifdef OFFTRACK_LIBRARY_PATH
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("Offtrack"));
	const FString LibraryPath = Plugin.IsValid() ? FPaths::Combine(Plugin->GetBaseDir(), OFFTRACK_LIBRARY_PATH) : FString();
	LibraryHandle = LibraryPath.IsEmpty() ? nullptr : FPlatformProcess::GetDllHandle(*LibraryPath);
	bLibraryReady = LibraryHandle != nullptr;
	if (!bLibraryReady)
	{
		// Calling into a delay-loaded library that is missing would crash, so
		// Offtrack stays off instead.
		UE_LOG(LogOfftrack, Error, TEXT("Offtrack: could not load %s. Stage the library with unreal/stage.sh (see the plugin README); Offtrack stays off."), *LibraryPath);
		return;
	}
#else
	bLibraryReady = true;
#endif
	UE_LOG(LogOfftrack, Log, TEXT("Offtrack library %s"), *OfftrackConvert::FromUtf8(std::string(offtrack::version())));
}

void FOfftrackModule::ShutdownModule()
{
	TSharedPtr<FOfftrackAnalyticsProvider> OldProvider;
	std::shared_ptr<offtrack::Tracker> Live;
	{
		FScopeLock Guard(&TrackerLock);
		bShutDown = true;
		OldProvider = MoveTemp(Provider);
		Provider.Reset();
		Live = SharedTracker.lock();
		SharedTracker.reset();
	}
	if (OldProvider.IsValid())
	{
		OldProvider->EndSession();
		OldProvider->Detach();
	}
	if (Live)
	{
		// Destroys the tracker with its event handler still registered, so the
		// Dropped events of the destroy reach the listeners still registered;
		// no native callback runs after this. Other holders keep an empty
		// Tracker whose calls fail cleanly.
		Live->close();
	}
	FScopeLock Guard(&ListenersLock);
	Listeners.Reset();
}

TSharedPtr<IAnalyticsProvider> FOfftrackModule::CreateAnalyticsProvider(const FAnalyticsProviderConfigurationDelegate& GetConfigValue) const
{
	// Configured from Project Settings; the ini delegate carries nothing Offtrack needs.
	FScopeLock Guard(&TrackerLock); // recursive: AcquireTracker takes it again
	if (Provider.IsValid())
	{
		return Provider;
	}
	std::shared_ptr<offtrack::Tracker> Tracker = AcquireTracker();
	if (!Tracker)
	{
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack analytics provider unavailable: %s"), *TrackerError);
		return nullptr;
	}
	Provider = MakeShared<FOfftrackAnalyticsProvider>(MoveTemp(Tracker), ReservedParamNames());
	return Provider;
}

std::shared_ptr<offtrack::Tracker> FOfftrackModule::AcquireTracker() const
{
	FScopeLock Guard(&TrackerLock);
	if (std::shared_ptr<offtrack::Tracker> Existing = SharedTracker.lock())
	{
		return Existing;
	}
	if (bShutDown)
	{
		TrackerError = TEXT("the Offtrack module has shut down");
		return nullptr;
	}
	if (!bLibraryReady)
	{
		TrackerError = TEXT("the Offtrack library is not loaded (see the log)");
		return nullptr;
	}
	const UOfftrackSettings* Settings = GetDefault<UOfftrackSettings>();
	if (!Settings->bEnabled)
	{
		TrackerError = TEXT("disabled in Project Settings -> Plugins -> Offtrack");
		return nullptr;
	}
	if (Settings->Endpoint.IsEmpty())
	{
		TrackerError = TEXT("no Endpoint URL in Project Settings -> Plugins -> Offtrack");
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack: %s"), *TrackerError);
		return nullptr;
	}

	const FString EncryptionKey = EncryptionKeyProvider ? EncryptionKeyProvider() : FString();
	if (EncryptionKey.IsEmpty() && Settings->bRequireEncryption)
	{
		TrackerError = TEXT("Require Encryption is on and no encryption key was supplied (FOfftrackModule::SetEncryptionKeyProvider)");
		UE_LOG(LogOfftrack, Error, TEXT("Offtrack: %s"), *TrackerError);
		return nullptr;
	}

	// The library opens the directory with plain OS calls, so it needs the
	// real path: on iOS and Android the engine's own paths (ProjectSavedDir)
	// are mapped by its file layer and mean nothing to the OS as they are.
	const FString SavedSubdirectory = FPaths::Combine(FPaths::ProjectSavedDir(), Settings->StorageDirectory);
	const FString StorageDirectory = IFileManager::Get().ConvertToAbsolutePathForExternalAppForWrite(*SavedSubdirectory);
	// Created through the engine path, which the file layer maps the same way on every platform.
	IFileManager::Get().MakeDirectory(*SavedSubdirectory, true);
	try
	{
		const offtrack::Config Config = MakeConfig(*Settings, StorageDirectory, EncryptionKey);
		std::shared_ptr<offtrack::Tracker> Tracker = std::make_shared<offtrack::Tracker>(Config);
		// Registered before the first hit: a new tracker does no work until
		// then, so no event is missed. Runs on the tracker's worker thread.
		Tracker->on_event([this](const offtrack::Event& Native)
		{
			BroadcastToListeners(OfftrackConvert::FromNative(Native));
		});
		if (Settings->bUseEngineHttp)
		{
			// Also before the first hit, so no request goes through the library's own client.
			Tracker->set_transport(OfftrackHttpTransport::MakeHandler());
		}
		SharedTracker = Tracker;
		TrackerReservedNames = Config.reserved_param_names();
		TrackerError.Reset();
		UE_LOG(LogOfftrack, Log, TEXT("Offtrack: sending to %s, offline queue in %s"), *Settings->Endpoint, *StorageDirectory);
		return Tracker;
	}
	catch (const offtrack::Error& Failure)
	{
		TrackerError = OfftrackConvert::FromUtf8(Failure.what());
		UE_LOG(LogOfftrack, Error, TEXT("Offtrack: could not create the tracker: %s"), *TrackerError);
		return nullptr;
	}
}

bool FOfftrackModule::SetEncryptionKeyProvider(TFunction<FString()> Provider)
{
	FScopeLock Guard(&TrackerLock);
	if (SharedTracker.lock())
	{
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack: SetEncryptionKeyProvider after the tracker was created; it applies to the next one"));
		EncryptionKeyProvider = MoveTemp(Provider);
		return false;
	}
	EncryptionKeyProvider = MoveTemp(Provider);
	return true;
}

FString FOfftrackModule::GetTrackerError() const
{
	FScopeLock Guard(&TrackerLock);
	return TrackerError;
}

std::vector<std::string> FOfftrackModule::ReservedParamNames() const
{
	FScopeLock Guard(&TrackerLock);
	return TrackerReservedNames;
}

void FOfftrackModule::AddListener(UOfftrackSubsystem* Subsystem)
{
	FScopeLock Guard(&ListenersLock);
	Listeners.AddUnique(Subsystem);
}

void FOfftrackModule::RemoveListener(UOfftrackSubsystem* Subsystem)
{
	FScopeLock Guard(&ListenersLock);
	Listeners.RemoveAll([Subsystem](const TWeakObjectPtr<UOfftrackSubsystem>& Weak)
	{
		return !Weak.IsValid() || Weak.Get() == Subsystem;
	});
}

void FOfftrackModule::BroadcastToListeners(FOfftrackEvent&& Event) const
{
	// Worker thread: copying weak pointers is safe here; resolving them is
	// left to the game thread.
	TArray<TWeakObjectPtr<UOfftrackSubsystem>> Targets;
	{
		FScopeLock Guard(&ListenersLock);
		Targets = Listeners;
	}
	if (Targets.Num() == 0)
	{
		return;
	}
	AsyncTask(ENamedThreads::GameThread, [Targets = MoveTemp(Targets), Event = MoveTemp(Event)]()
	{
		for (const TWeakObjectPtr<UOfftrackSubsystem>& Weak : Targets)
		{
			if (UOfftrackSubsystem* Subsystem = Weak.Get())
			{
				Subsystem->BroadcastEvent(Event);
			}
		}
	});
}
