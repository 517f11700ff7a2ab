#pragma once

#include "CoreMinimal.h"
#include "HAL/CriticalSection.h"
#include "Templates/Function.h"
#include "Interfaces/IAnalyticsProviderModule.h"
#include "Modules/ModuleManager.h"
#include "UObject/WeakObjectPtr.h"

#include <memory>
#include <string>
#include <vector>

namespace offtrack
{
class Tracker;
}

class FOfftrackAnalyticsProvider;
class UOfftrackSubsystem;
struct FOfftrackEvent;

OFFTRACK_API DECLARE_LOG_CATEGORY_EXTERN(LogOfftrack, Log, All);

/**
 * The Offtrack runtime module. It loads the library, owns the one tracker that
 * the game instance subsystems and the analytics provider share (one queue,
 * one worker, one order), and is the analytics provider module
 * ([Analytics] ProviderModuleName=Offtrack in DefaultEngine.ini).
 */
class OFFTRACK_API FOfftrackModule : public IAnalyticsProviderModule
{
public:
	static FOfftrackModule& Get()
	{
		return FModuleManager::LoadModuleChecked<FOfftrackModule>(TEXT("Offtrack"));
	}

	static bool IsAvailable()
	{
		return FModuleManager::Get().IsModuleLoaded(TEXT("Offtrack"));
	}

	// IModuleInterface
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;

	// IAnalyticsProviderModule. The engine's analytics nodes ask for the
	// provider on every call, so the same instance is returned each time.
	virtual TSharedPtr<IAnalyticsProvider> CreateAnalyticsProvider(const FAnalyticsProviderConfigurationDelegate& GetConfigValue) const override;

	/**
	 * The shared tracker, created from UOfftrackSettings on first use. Null when
	 * disabled, unconfigured, after ShutdownModule, or if creation failed (the
	 * reason is logged and returned by GetTrackerError). The tracker is
	 * destroyed when its last holder lets go, at the latest in ShutdownModule.
	 */
	std::shared_ptr<offtrack::Tracker> AcquireTracker() const;

	/** Why the last AcquireTracker returned null. */
	FString GetTrackerError() const;

	/**
	 * Supplies the key for encryption at rest (64 hex characters) each time
	 * the shared tracker is created. Set it before the first game instance
	 * starts (in your game module's StartupModule, or in your UGameInstance's
	 * Init before Super::Init), reading the key from the platform's secret
	 * store: Keychain on iOS and macOS, Android Keystore, DPAPI on Windows,
	 * never an .ini file or an asset. Called on the thread that creates the
	 * tracker (the game thread), with the module's tracker lock held: it must
	 * not call AcquireTracker. An empty result means no encryption, which
	 * the Require Encryption setting refuses. Applies to trackers created
	 * after this call: returns false if a tracker is already running (it
	 * keeps the key it was made with).
	 */
	bool SetEncryptionKeyProvider(TFunction<FString()> Provider);

	/**
	 * Query parameters the tracker last made by AcquireTracker adds itself
	 * (timestamp, id), which hits may not carry; the library's default
	 * timestamp name where the settings do not override it.
	 */
	std::vector<std::string> ReservedParamNames() const;

	/** Subsystems receive tracker events on the game thread while registered. */
	void AddListener(UOfftrackSubsystem* Subsystem);
	void RemoveListener(UOfftrackSubsystem* Subsystem);

private:
	void BroadcastToListeners(FOfftrackEvent&& Event) const;

	// Kept loaded until the process ends: a straggling holder of a closed
	// tracker may still call into the library (which answers a NULL handle).
	void* LibraryHandle = nullptr;
	bool bLibraryReady = false;

	mutable FCriticalSection TrackerLock;
	mutable std::weak_ptr<offtrack::Tracker> SharedTracker;
	mutable TSharedPtr<FOfftrackAnalyticsProvider> Provider;
	mutable std::vector<std::string> TrackerReservedNames;
	mutable FString TrackerError;
	TFunction<FString()> EncryptionKeyProvider;
	mutable bool bShutDown = false;

	mutable FCriticalSection ListenersLock;
	TArray<TWeakObjectPtr<UOfftrackSubsystem>> Listeners;
};
