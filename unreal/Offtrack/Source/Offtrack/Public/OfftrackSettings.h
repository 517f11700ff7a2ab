#pragma once

#include "CoreMinimal.h"
#include "Engine/DeveloperSettings.h"
#include "OfftrackTypes.h"

#include "OfftrackSettings.generated.h"

/**
 * Project Settings -> Plugins -> Offtrack, saved in Config/DefaultGame.ini under
 * [/Script/Offtrack.OfftrackSettings]. Read when the tracker is created (first
 * game instance or analytics provider); changes apply to the next tracker.
 * Values are checked by the library, which logs the offending key. Enabled,
 * Endpoint, Headers (when not empty), Storage Mode, Storage Directory, Initial
 * Consent, Require Encryption and Use Engine HTTP are the plugin's own and
 * always apply; the
 * library settings apply only where overridden.
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

	/**
	 * Consent until the player has answered. Pending, for a game that asks
	 * first: hits are kept and nothing is sent until SetConsent(Granted).
	 * The answer given with SetConsent is remembered in the storage
	 * directory and wins over this setting in later runs.
	 */
	UPROPERTY(Config, EditAnywhere, Category = "Privacy")
	EOfftrackConsent InitialConsent = EOfftrackConsent::Granted;

	/**
	 * Create the tracker only with a key for encryption at rest, so that a
	 * missing key never means hits stored in plain text. The key itself is
	 * never a setting (ini files ship with the game): the game supplies it
	 * from the platform's secret store with
	 * FOfftrackModule::SetEncryptionKeyProvider.
	 */
	UPROPERTY(Config, EditAnywhere, Category = "Privacy")
	bool bRequireEncryption = false;

	/**
	 * Send requests through the engine's HTTP module (FHttpModule: its proxy
	 * settings and platform HTTP stack) instead of the library's own client.
	 * Requests start on the game thread. The engine follows redirects itself;
	 * a redirected request counts as unreachable, as the library counts a 3xx.
	 */
	UPROPERTY(Config, EditAnywhere, Category = "Transport", meta = (DisplayName = "Use Engine HTTP"))
	bool bUseEngineHttp = false;

	// Library settings. Each is sent only while its bOverride_ box is ticked
	// (the inline checkbox, as in FPostProcessSettings), so every other one
	// keeps the library's own default (the Offtrack README, "Configuration");
	// none of those defaults is repeated here.

	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (InlineEditConditionToggle))
	bool bOverride_TimestampParam = false;

	/** Name of the creation-time parameter (Unix seconds); empty turns it off. */
	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (EditCondition = "bOverride_TimestampParam"))
	FString TimestampParam;

	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (InlineEditConditionToggle))
	bool bOverride_TimestampOfflineOnly = false;

	/** Add the timestamp only to hits that were stored (the "olt" style). */
	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (EditCondition = "bOverride_TimestampOfflineOnly"))
	bool bTimestampOfflineOnly = false;

	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (InlineEditConditionToggle))
	bool bOverride_IdParam = false;

	/** If set, each request carries the hit's id under this name (for de-duplication). */
	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (EditCondition = "bOverride_IdParam"))
	FString IdParam;

	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (InlineEditConditionToggle))
	bool bOverride_RequestTimeoutSeconds = false;

	/** Whole-request timeout in seconds. */
	UPROPERTY(Config, EditAnywhere, Category = "Request", meta = (EditCondition = "bOverride_RequestTimeoutSeconds", ClampMin = "1", ClampMax = "3600"))
	int32 RequestTimeoutSeconds = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (InlineEditConditionToggle))
	bool bOverride_BatchEndpoint = false;

	/** URL on the endpoint's origin that takes a POST of many hits: a stored queue then goes out in a few requests. Empty: one GET per hit. */
	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (EditCondition = "bOverride_BatchEndpoint"))
	FString BatchEndpoint;

	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (InlineEditConditionToggle))
	bool bOverride_BatchFormat = false;

	/** The body of a batch: one query string per line, or Matomo's JSON bulk format. */
	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (EditCondition = "bOverride_BatchFormat"))
	EOfftrackBatchFormat BatchFormat;

	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (InlineEditConditionToggle))
	bool bOverride_BatchMaxHits = false;

	/** Most hits in one batch. */
	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (EditCondition = "bOverride_BatchMaxHits", ClampMin = "1", ClampMax = "10000"))
	int32 BatchMaxHits = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (InlineEditConditionToggle))
	bool bOverride_BatchMaxBytes = false;

	/** Most body bytes in one batch; a larger hit goes alone as a GET. */
	UPROPERTY(Config, EditAnywhere, Category = "Batches", meta = (EditCondition = "bOverride_BatchMaxBytes", ClampMin = "1024", ClampMax = "16777216"))
	int64 BatchMaxBytes = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxAttempts = false;

	/** Answers 5xx/408/429 before a stored hit is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxAttempts", ClampMin = "1", ClampMax = "1000"))
	int32 MaxAttempts = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxHitBytes = false;

	/** Limit on the final request URL, in bytes. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxHitBytes", ClampMin = "64", ClampMax = "1048576"))
	int32 MaxHitBytes = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxQueueHits = false;

	/** Stored hits; when full, the oldest is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxQueueHits", ClampMin = "1"))
	int64 MaxQueueHits = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxQueueBytes = false;

	/** Sum of stored URL bytes; when full, the oldest is dropped. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxQueueBytes", ClampMin = "1"))
	int64 MaxQueueBytes = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxMemoryHits = false;

	/** Bound on the in-memory queue of Never mode. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxMemoryHits", ClampMin = "1"))
	int32 MaxMemoryHits = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_MaxAgeSeconds = false;

	/** Stored hits older than this (seconds) are dropped; 0 keeps them forever. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_MaxAgeSeconds", ClampMin = "0"))
	int64 MaxAgeSeconds = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_ShutdownTimeoutMs = false;

	/** The most shutting the tracker down may block, in milliseconds. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_ShutdownTimeoutMs", ClampMin = "0"))
	int32 ShutdownTimeoutMs = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_RetryBaseMs = false;

	/** Backoff after the first failure, in milliseconds; doubles per failure up to Retry Max Ms. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_RetryBaseMs", ClampMin = "1"))
	int32 RetryBaseMs = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_RetryMaxMs = false;

	/** Longest backoff between retries, in milliseconds. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_RetryMaxMs", ClampMin = "1"))
	int32 RetryMaxMs = 0;

	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (InlineEditConditionToggle))
	bool bOverride_SendIntervalMs = false;

	/** Pause between two requests while draining the queue, in milliseconds. */
	UPROPERTY(Config, EditAnywhere, Category = "Limits", meta = (EditCondition = "bOverride_SendIntervalMs", ClampMin = "0"))
	int32 SendIntervalMs = 0;
};
