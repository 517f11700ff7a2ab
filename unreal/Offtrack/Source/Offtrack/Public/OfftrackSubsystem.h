#pragma once

#include "CoreMinimal.h"
#include "Subsystems/GameInstanceSubsystem.h"
#include "Templates/Function.h"
#include "OfftrackTypes.h"

#include <memory>

#include "OfftrackSubsystem.generated.h"

namespace offtrack
{
class Tracker;
}

/**
 * Offtrack for one game instance: Blueprint nodes over the shared tracker and
 * its events, broadcast on the game thread. Sends every stored hit when the
 * app goes to the background. Call from the game thread.
 */
UCLASS()
class OFFTRACK_API UOfftrackSubsystem : public UGameInstanceSubsystem
{
	GENERATED_BODY()

public:
	virtual void Initialize(FSubsystemCollectionBase& Collection) override;
	virtual void Deinitialize() override;

	/** Hands a hit to the tracker: a query string ("event=level_start&level=3") or a full URL on the endpoint's origin. Never waits for the network. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool SendHit(const FString& Hit);

	/** Sends every stored hit, oldest first, in the background. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool Dispatch();

	/** Blocks until earlier work is done and the queue is on disk, at most TimeoutMs. False on timeout. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool Flush(int32 TimeoutMs = 2000);

	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool SetStorageMode(EOfftrackStorageMode Mode);

	UFUNCTION(BlueprintPure, Category = "Offtrack")
	EOfftrackStorageMode GetStorageMode() const;

	/** Hits in the offline queue; -1 if the tracker is not running. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	int64 GetOfflineCount() const;

	/** Deletes every stored hit; returns how many (-1 on failure). */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	int64 DeleteOfflineHits();

	/** Reachability hint: false stops automatic attempts, true probes the collector at once. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool SetOnline(bool bOnline);

	/** Privacy opt-out, remembered across runs: the older name of SetConsent (true is Denied, false Granted). */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool SetOptOut(bool bOptOut);

	/**
	 * The player's answer to the consent question, remembered across runs.
	 * Pending keeps hits and sends nothing (not even Dispatch); Granted sends
	 * what was kept, in order, each with the time it was made; Denied purges
	 * the queue and drops new hits.
	 */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	bool SetConsent(EOfftrackConsent Consent);

	/** The current consent; the Initial Consent setting if the tracker is not running. */
	UFUNCTION(BlueprintPure, Category = "Offtrack")
	EOfftrackConsent GetConsent() const;

	/** Counters and state as JSON. */
	UFUNCTION(BlueprintCallable, Category = "Offtrack")
	FString GetStatsJson() const;

	/** True when the tracker was created (settings enabled and valid). */
	UFUNCTION(BlueprintPure, Category = "Offtrack")
	bool IsRunning() const;

	/** The message of the last failed Offtrack node. */
	UFUNCTION(BlueprintPure, Category = "Offtrack")
	FString GetLastError() const { return LastError; }

	/** The collector accepted a hit. */
	UPROPERTY(BlueprintAssignable, Category = "Offtrack")
	FOfftrackHitEvent OnHitSent;

	/** A hit was kept for later: on disk, or in memory while consent is pending in Never mode. */
	UPROPERTY(BlueprintAssignable, Category = "Offtrack")
	FOfftrackHitEvent OnHitStored;

	/** A hit is gone without being delivered; Reason says why. */
	UPROPERTY(BlueprintAssignable, Category = "Offtrack")
	FOfftrackHitEvent OnHitDropped;

	/** Game thread only; called by the module for each tracker event. */
	void BroadcastEvent(const FOfftrackEvent& Event);

private:
	void HandleLeavingForeground();
	bool Run(const TCHAR* Operation, TFunctionRef<void(offtrack::Tracker&)> Body) const;

	std::shared_ptr<offtrack::Tracker> Tracker;
	FDelegateHandle WillDeactivateHandle;
	FDelegateHandle WillEnterBackgroundHandle;
	mutable FString LastError;
	bool bActive = false;
};
