#pragma once

// Conversions between engine types and the engine-free wrapper. All logic
// (hit building, JSON, error handling) stays in offtrack.hpp.

#include "CoreMinimal.h"
#include "Containers/StringConv.h"
#include "OfftrackTypes.h"

THIRD_PARTY_INCLUDES_START
#include "offtrack.hpp"
THIRD_PARTY_INCLUDES_END

#include <string>

namespace OfftrackConvert
{
inline std::string ToUtf8(const FString& Text)
{
	FTCHARToUTF8 Converted(*Text);
	// Get() is ANSICHAR* or UTF8CHAR* depending on the engine version.
	return std::string(reinterpret_cast<const char*>(Converted.Get()), static_cast<size_t>(Converted.Length()));
}

inline FString FromUtf8(const std::string& Text)
{
	FUTF8ToTCHAR Converted(Text.data(), static_cast<int32>(Text.size()));
	FString Result;
	Result.AppendChars(Converted.Get(), Converted.Length());
	return Result;
}

inline FString FromUtf8(const char* Text)
{
	return FromUtf8(std::string(Text != nullptr ? Text : ""));
}

inline offtrack::StorageMode ToNative(EOfftrackStorageMode Mode)
{
	switch (Mode)
	{
	case EOfftrackStorageMode::Never: return offtrack::StorageMode::Never;
	case EOfftrackStorageMode::Required: return offtrack::StorageMode::Required;
	case EOfftrackStorageMode::Always: return offtrack::StorageMode::Always;
	}
	return offtrack::StorageMode::Never;
}

inline EOfftrackStorageMode FromNative(offtrack::StorageMode Mode)
{
	switch (Mode)
	{
	case offtrack::StorageMode::Never: return EOfftrackStorageMode::Never;
	case offtrack::StorageMode::Required: return EOfftrackStorageMode::Required;
	case offtrack::StorageMode::Always: return EOfftrackStorageMode::Always;
	}
	return EOfftrackStorageMode::Never;
}

inline offtrack::Consent ToNative(EOfftrackConsent Consent)
{
	switch (Consent)
	{
	case EOfftrackConsent::Granted: return offtrack::Consent::Granted;
	case EOfftrackConsent::Pending: return offtrack::Consent::Pending;
	case EOfftrackConsent::Denied: return offtrack::Consent::Denied;
	}
	// Not a value of the enum: the safe side, nothing is sent and nothing lost.
	return offtrack::Consent::Pending;
}

inline EOfftrackConsent FromNative(offtrack::Consent Consent)
{
	switch (Consent)
	{
	case offtrack::Consent::Granted: return EOfftrackConsent::Granted;
	case offtrack::Consent::Pending: return EOfftrackConsent::Pending;
	case offtrack::Consent::Denied: return EOfftrackConsent::Denied;
	}
	return EOfftrackConsent::Pending;
}

inline FOfftrackEvent FromNative(const offtrack::Event& Native)
{
	FOfftrackEvent Event;
	switch (Native.kind)
	{
	case offtrack::EventKind::Sent: Event.Kind = EOfftrackEventKind::Sent; break;
	case offtrack::EventKind::Stored: Event.Kind = EOfftrackEventKind::Stored; break;
	case offtrack::EventKind::Dropped: Event.Kind = EOfftrackEventKind::Dropped; break;
	}
	// Ids count up from 1 per storage directory; int64 is what Blueprint can hold.
	Event.Id = static_cast<int64>(Native.id);
	Event.Hit = FromUtf8(Native.hit);
	Event.HttpStatus = Native.http_status;
	Event.Reason = FromUtf8(Native.reason);
	return Event;
}
} // namespace OfftrackConvert
