#pragma once

#include "CoreMinimal.h"
#include "AnalyticsEventAttribute.h"
#include "HAL/CriticalSection.h"
#include "Interfaces/IAnalyticsProvider.h"
#include "Runtime/Launch/Resources/Version.h"
#include "OfftrackConvert.h"

#include <memory>
#include <string>
#include <vector>

// UE 5.4 moved the default-attribute functions from IAnalyticsProviderET into
// IAnalyticsProvider as pure virtuals. They are implemented for every version
// and marked override only where the base declares them.
#if ENGINE_MAJOR_VERSION > 5 || (ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION >= 4)
#define OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE override
#else
#define OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE
#endif

/**
 * IAnalyticsProvider over the shared tracker, so the engine's analytics
 * Blueprint nodes and FAnalytics users go through Offtrack. The mapping to
 * hits is offtrack::AnalyticsMapper (offtrack.hpp):
 *   RecordEvent(Name, Attrs)  -> event=<Name>[&sid=..][&uid=..]&<attr>=<value>...
 *   StartSession / EndSession -> event=session_start / event=session_end with sid
 *   SetUserID                 -> uid on later hits
 *   FlushEvents               -> tracker dispatch
 * Thread-safe: every call holds Lock.
 */
class FOfftrackAnalyticsProvider final : public IAnalyticsProvider
{
public:
	// Keeps the base overloads visible: UE 5.7 adds a virtual RecordEvent
	// overload, and hiding it trips -Woverloaded-virtual (an error in UE clang builds).
	using IAnalyticsProvider::RecordEvent;
	using IAnalyticsProvider::StartSession;

	FOfftrackAnalyticsProvider(std::shared_ptr<offtrack::Tracker> InTracker, std::vector<std::string> ReservedNames);
	virtual ~FOfftrackAnalyticsProvider();

	virtual bool StartSession(const TArray<FAnalyticsEventAttribute>& Attributes) override;
	virtual void EndSession() override;
	virtual FString GetSessionID() const override;
	virtual bool SetSessionID(const FString& InSessionID) override;
	virtual void FlushEvents() override;
	virtual void SetUserID(const FString& InUserID) override;
	virtual FString GetUserID() const override;
	virtual void RecordEvent(const FString& EventName, const TArray<FAnalyticsEventAttribute>& Attributes) override;

	virtual void SetDefaultEventAttributes(TArray<FAnalyticsEventAttribute>&& Attributes) OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE;
	virtual TArray<FAnalyticsEventAttribute> GetDefaultEventAttributesSafe() const OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE;
	virtual int32 GetDefaultEventAttributeCount() const OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE;
	virtual FAnalyticsEventAttribute GetDefaultEventAttribute(int AttributeIndex) const OFFTRACK_DEFAULT_ATTRIBUTES_OVERRIDE;

	/** Drops the tracker; later calls are logged no-ops. Called by ShutdownModule. */
	void Detach();

private:
	bool SendLocked(const std::string& Hit, const TCHAR* Operation);

	mutable FCriticalSection Lock;
	std::shared_ptr<offtrack::Tracker> Tracker;
	offtrack::AnalyticsMapper Mapper;
	TArray<FAnalyticsEventAttribute> DefaultAttributes;
};
