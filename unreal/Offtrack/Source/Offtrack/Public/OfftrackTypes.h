#pragma once

#include "CoreMinimal.h"

#include "OfftrackTypes.generated.h"

/** Storage mode of the tracker (values match TRACKER_STORAGE_*). */
UENUM(BlueprintType)
enum class EOfftrackStorageMode : uint8
{
	/** Sent at once; lost (Dropped event) if it cannot be delivered. */
	Never = 0 UMETA(DisplayName = "Never"),
	/** Sent at once; kept on disk and sent later if the collector cannot be reached. */
	Required = 1 UMETA(DisplayName = "Required"),
	/** Kept on disk until Dispatch. */
	Always = 2 UMETA(DisplayName = "Always"),
};

/** The body of a batched POST (the library's batch_format). */
UENUM(BlueprintType)
enum class EOfftrackBatchFormat : uint8
{
	/** text/plain, one hit's query string per line. */
	Lines = 0 UMETA(DisplayName = "Lines"),
	/** application/json {"requests":["?<query>", ...]} (Matomo's bulk format). */
	Json = 1 UMETA(DisplayName = "JSON"),
};

/** The player's consent (values match TRACKER_CONSENT_*). */
UENUM(BlueprintType)
enum class EOfftrackConsent : uint8
{
	/** Hits are delivered. */
	Granted = 0 UMETA(DisplayName = "Granted"),
	/** Not answered yet: hits are kept (on disk unless the storage mode is Never) and nothing is sent. */
	Pending = 1 UMETA(DisplayName = "Pending"),
	/** Refused: the queue is purged and new hits are dropped. */
	Denied = 2 UMETA(DisplayName = "Denied"),
};

/** What happened to a hit (values match TRACKER_EVENT_*). */
UENUM(BlueprintType)
enum class EOfftrackEventKind : uint8
{
	Sent = 0,
	Stored = 1,
	Dropped = 2,
};

/** One event about a hit, delivered on the game thread. */
USTRUCT(BlueprintType)
struct OFFTRACK_API FOfftrackEvent
{
	GENERATED_BODY()

	UPROPERTY(BlueprintReadOnly, Category = "Offtrack")
	EOfftrackEventKind Kind = EOfftrackEventKind::Sent;

	/** The hit's id, unique per storage directory. */
	UPROPERTY(BlueprintReadOnly, Category = "Offtrack")
	int64 Id = 0;

	/** The request URL as last built (with the timestamp parameter if any). */
	UPROPERTY(BlueprintReadOnly, Category = "Offtrack")
	FString Hit;

	/** Last HTTP status, 0 if there was no response. */
	UPROPERTY(BlueprintReadOnly, Category = "Offtrack")
	int32 HttpStatus = 0;

	/** Why the hit was stored or dropped; empty for Sent. */
	UPROPERTY(BlueprintReadOnly, Category = "Offtrack")
	FString Reason;
};

DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FOfftrackHitEvent, const FOfftrackEvent&, Event);
