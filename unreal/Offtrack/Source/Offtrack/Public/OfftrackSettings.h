#pragma once

#include "CoreMinimal.h"
#include "Engine/DeveloperSettings.h"
#include "OfftrackTypes.h"

#include "OfftrackSettings.generated.h"

/**
 * Project Settings -> Plugins -> Offtrack, saved in Config/DefaultGame.ini under
 * [/Script/Offtrack.OfftrackSettings]. Read when the tracker is created (first
 * game instance or analytics provider); changes apply to the next tracker.
 * Values are checked by the library, which logs the offending key.
 */
UCLASS(Config = Game, defaultconfig, meta = (DisplayName = "Offtrack"))
class OFFTRACK_API UOfftrackSettings : public UDeveloperSettings
{
	GENERATED_BODY()

public:
	virtual FName GetCategoryName() const override { return FName(TEXT("Plugins")); }

	/** Create the tracker at all. Off: every Offtrack node returns false. */
	UPROPERTY(Config, EditAnywhere, Category = "Collector")
	bool bEnabled = true;

	/** http:// or https:// base URL of the collector; hits are appended as a query string. */
	UPROPERTY(Config, EditAnywhere, Category = "Collector", meta = (DisplayName = "Endpoint URL"))
	FString Endpoint;

	/** Extra request headers. A User-Agent of offtrack/<version> is sent unless given here. */
	UPROPERTY(Config, EditAnywhere, Category = "Collector")
	TMap<FString, FString> Headers;

	/** Initial storage mode; SetStorageMode changes it at run time. */
	UPROPERTY(Config, EditAnywhere, Category = "Storage")
	EOfftrackStorageMode StorageMode = EOfftrackStorageMode::Required;

	/** Directory of the offline queue, relative to the project's Saved directory. */
	UPROPERTY(Config, EditAnywhere, Category = "Storage")
	FString StorageDirectory = TEXT("Offtrack");

	/** Send every stored hit when the app goes to the background (mobile). */
	UPROPERTY(Config, EditAnywhere, Category = "Storage")
	bool bDispatchOnEnterBackground = true;

	/** Name of the creation-time parameter (Unix seconds); empty turns it off. */
	UPROPERTY(Config, EditAnywhere, Category = "Request")
	FString TimestampParam = TEXT("ts");

	/** Add the timestamp only to hits that were stored (the "olt" style). */
	UPROPERTY(Config, EditAnywhere, Category = "Request")
	bool bTimestampOfflineOnly = false;

	/** If set, each request carries the hit's id under this name (for de-duplication). */
	UPROPERTY(Config, EditAnywhere, Category = "Request")
	FString IdParam;

	/** Whole-request timeout. */
	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (ClampMin = "1", ClampMax = "3600"))
	int32 RequestTimeoutSeconds = 10;

	/** Answers 5xx/408/429 before a stored hit is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1", ClampMax = "1000"))
	int32 MaxAttempts = 3;

	/** Limit on the final request URL. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "64", ClampMax = "1048576"))
	int32 MaxHitBytes = 8192;

	/** Stored hits; when full, the oldest is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1"))
	int64 MaxQueueHits = 100000;

	/** Sum of stored URL bytes; when full, the oldest is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1"))
	int64 MaxQueueBytes = 52428800;

	/** Bound on the in-memory queue of Never mode. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1"))
	int32 MaxMemoryHits = 1000;

	/** Stored hits older than this are dropped; 0 keeps them forever. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "0"))
	int64 MaxAgeSeconds = 2592000;

	/** The most shutting the tracker down may block. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "0"))
	int32 ShutdownTimeoutMs = 2000;

	/** Backoff after the first failure; doubles per failure up to RetryMaxMs. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1"))
	int32 RetryBaseMs = 1000;

	/** Longest backoff between retries. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "1"))
	int32 RetryMaxMs = 300000;

	/** Pause between two requests while draining the queue. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (ClampMin = "0"))
	int32 SendIntervalMs = 0;
};
