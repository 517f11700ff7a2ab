#include "OfftrackAnalyticsProvider.h"

#include "Misc/ScopeLock.h"
#include "OfftrackModule.h"

namespace
{
offtrack::Attributes ToNativeAttributes(const TArray<FAnalyticsEventAttribute>& Attributes)
{
	offtrack::Attributes Native;
	Native.reserve(static_cast<size_t>(Attributes.Num()));
	for (const FAnalyticsEventAttribute& Attribute : Attributes)
	{
		Native.push_back({OfftrackConvert::ToUtf8(Attribute.GetName()), OfftrackConvert::ToUtf8(Attribute.GetValue())});
	}
	return Native;
}
} // namespace

FOfftrackAnalyticsProvider::FOfftrackAnalyticsProvider(std::shared_ptr<offtrack::Tracker> InTracker, std::vector<std::string> ReservedNames)
	: Tracker(MoveTemp(InTracker))
	, Mapper(MoveTemp(ReservedNames))
{
}

FOfftrackAnalyticsProvider::~FOfftrackAnalyticsProvider()
{
	// The interface expects the provider to end its session when destroyed.
	EndSession();
}

bool FOfftrackAnalyticsProvider::StartSession(const TArray<FAnalyticsEventAttribute>& Attributes)
{
	FScopeLock Guard(&Lock);
	if (Mapper.in_session())
	{
		return true; // repeated calls are ignored, as the interface specifies
	}
	std::optional<std::string> Hit = Mapper.start_session(ToNativeAttributes(Attributes));
	return Hit.has_value() && SendLocked(*Hit, TEXT("StartSession"));
}

void FOfftrackAnalyticsProvider::EndSession()
{
	FScopeLock Guard(&Lock);
	if (std::optional<std::string> Hit = Mapper.end_session())
	{
		SendLocked(*Hit, TEXT("EndSession"));
	}
}

FString FOfftrackAnalyticsProvider::GetSessionID() const
{
	FScopeLock Guard(&Lock);
	return OfftrackConvert::FromUtf8(Mapper.session_id());
}

bool FOfftrackAnalyticsProvider::SetSessionID(const FString& InSessionID)
{
	FScopeLock Guard(&Lock);
	return Mapper.set_session_id(OfftrackConvert::ToUtf8(InSessionID));
}

void FOfftrackAnalyticsProvider::FlushEvents()
{
	FScopeLock Guard(&Lock);
	if (!Tracker)
	{
		return;
	}
	try
	{
		Tracker->dispatch();
	}
	catch (const offtrack::Error& Failure)
	{
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack analytics FlushEvents failed: %s"), *OfftrackConvert::FromUtf8(Failure.what()));
	}
}

void FOfftrackAnalyticsProvider::SetUserID(const FString& InUserID)
{
	FScopeLock Guard(&Lock);
	Mapper.set_user_id(OfftrackConvert::ToUtf8(InUserID));
}

FString FOfftrackAnalyticsProvider::GetUserID() const
{
	FScopeLock Guard(&Lock);
	return OfftrackConvert::FromUtf8(Mapper.user_id());
}

void FOfftrackAnalyticsProvider::RecordEvent(const FString& EventName, const TArray<FAnalyticsEventAttribute>& Attributes)
{
	FScopeLock Guard(&Lock);
	SendLocked(Mapper.event(OfftrackConvert::ToUtf8(EventName), ToNativeAttributes(Attributes)), TEXT("RecordEvent"));
}

void FOfftrackAnalyticsProvider::SetDefaultEventAttributes(TArray<FAnalyticsEventAttribute>&& Attributes)
{
	FScopeLock Guard(&Lock);
	Mapper.set_default_attributes(ToNativeAttributes(Attributes));
	DefaultAttributes = MoveTemp(Attributes);
}

TArray<FAnalyticsEventAttribute> FOfftrackAnalyticsProvider::GetDefaultEventAttributesSafe() const
{
	FScopeLock Guard(&Lock);
	return DefaultAttributes;
}

int32 FOfftrackAnalyticsProvider::GetDefaultEventAttributeCount() const
{
	FScopeLock Guard(&Lock);
	return DefaultAttributes.Num();
}

FAnalyticsEventAttribute FOfftrackAnalyticsProvider::GetDefaultEventAttribute(int AttributeIndex) const
{
	FScopeLock Guard(&Lock);
	// No range check, as the interface specifies (like TArray).
	return DefaultAttributes[AttributeIndex];
}

void FOfftrackAnalyticsProvider::Detach()
{
	FScopeLock Guard(&Lock);
	Tracker.reset();
}

bool FOfftrackAnalyticsProvider::SendLocked(const std::string& Hit, const TCHAR* Operation)
{
	if (!Tracker)
	{
		UE_LOG(LogOfftrack, Verbose, TEXT("Offtrack analytics %s ignored: the tracker is gone"), Operation);
		return false;
	}
	try
	{
		Tracker->send(Hit);
		return true;
	}
	catch (const offtrack::Error& Failure)
	{
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack analytics %s failed: %s"), Operation, *OfftrackConvert::FromUtf8(Failure.what()));
		return false;
	}
}
