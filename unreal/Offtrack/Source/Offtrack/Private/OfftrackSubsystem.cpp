#include "OfftrackSubsystem.h"

#include "Misc/CoreDelegates.h"
#include "OfftrackConvert.h"
#include "OfftrackModule.h"
#include "OfftrackSettings.h"

#include <chrono>

void UOfftrackSubsystem::Initialize(FSubsystemCollectionBase& Collection)
{
	Super::Initialize(Collection);

	FOfftrackModule& Module = FOfftrackModule::Get();
	Tracker = Module.AcquireTracker();
	if (!Tracker)
	{
		LastError = Module.GetTrackerError();
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack is off for this game instance: %s"), *LastError);
	}
	bActive = true;
	Module.AddListener(this);
	// Both: on iOS WillEnterBackground comes from an async task, possibly off
	// the game thread and just before the app is suspended, while
	// WillDeactivate runs on the game thread and iOS waits for it.
	WillDeactivateHandle = FCoreDelegates::ApplicationWillDeactivateDelegate.AddUObject(this, &UOfftrackSubsystem::HandleLeavingForeground);
	WillEnterBackgroundHandle = FCoreDelegates::ApplicationWillEnterBackgroundDelegate.AddUObject(this, &UOfftrackSubsystem::HandleLeavingForeground);
}

void UOfftrackSubsystem::Deinitialize()
{
	// Events already queued for the game thread find bActive false and are
	// not broadcast into a game instance that is going away.
	bActive = false;
	FCoreDelegates::ApplicationWillDeactivateDelegate.Remove(WillDeactivateHandle);
	WillDeactivateHandle.Reset();
	FCoreDelegates::ApplicationWillEnterBackgroundDelegate.Remove(WillEnterBackgroundHandle);
	WillEnterBackgroundHandle.Reset();
	if (FOfftrackModule::IsAvailable())
	{
		FOfftrackModule::Get().RemoveListener(this);
	}
	// As the tracker's last holder this destroys it (bounded by
	// ShutdownTimeoutMs); stored hits stay for the next run.
	Tracker.reset();
	Super::Deinitialize();
}

bool UOfftrackSubsystem::SendHit(const FString& Hit)
{
	const std::string Native = OfftrackConvert::ToUtf8(Hit);
	return Run(TEXT("SendHit"), [&Native](offtrack::Tracker& T) { T.send(Native); });
}

bool UOfftrackSubsystem::Dispatch()
{
	return Run(TEXT("Dispatch"), [](offtrack::Tracker& T) { T.dispatch(); });
}

bool UOfftrackSubsystem::Flush(int32 TimeoutMs)
{
	const std::chrono::milliseconds Timeout(FMath::Max(TimeoutMs, 0));
	return Run(TEXT("Flush"), [Timeout](offtrack::Tracker& T) { T.flush(Timeout); });
}

bool UOfftrackSubsystem::SetStorageMode(EOfftrackStorageMode Mode)
{
	return Run(TEXT("SetStorageMode"), [Mode](offtrack::Tracker& T) { T.set_storage(OfftrackConvert::ToNative(Mode)); });
}

EOfftrackStorageMode UOfftrackSubsystem::GetStorageMode() const
{
	EOfftrackStorageMode Mode = GetDefault<UOfftrackSettings>()->StorageMode;
	Run(TEXT("GetStorageMode"), [&Mode](offtrack::Tracker& T) { Mode = OfftrackConvert::FromNative(T.storage()); });
	return Mode;
}

int64 UOfftrackSubsystem::GetOfflineCount() const
{
	int64 Count = -1;
	Run(TEXT("GetOfflineCount"), [&Count](offtrack::Tracker& T) { Count = static_cast<int64>(T.offline_count()); });
	return Count;
}

int64 UOfftrackSubsystem::DeleteOfflineHits()
{
	int64 Deleted = -1;
	Run(TEXT("DeleteOfflineHits"), [&Deleted](offtrack::Tracker& T) { Deleted = static_cast<int64>(T.offline_delete()); });
	return Deleted;
}

bool UOfftrackSubsystem::SetOnline(bool bOnline)
{
	return Run(TEXT("SetOnline"), [bOnline](offtrack::Tracker& T) { T.set_online(bOnline); });
}

bool UOfftrackSubsystem::SetOptOut(bool bOptOut)
{
	return Run(TEXT("SetOptOut"), [bOptOut](offtrack::Tracker& T) { T.set_opt_out(bOptOut); });
}

bool UOfftrackSubsystem::SetConsent(EOfftrackConsent Consent)
{
	return Run(TEXT("SetConsent"), [Consent](offtrack::Tracker& T) { T.set_consent(OfftrackConvert::ToNative(Consent)); });
}

EOfftrackConsent UOfftrackSubsystem::GetConsent() const
{
	EOfftrackConsent Consent = GetDefault<UOfftrackSettings>()->InitialConsent;
	Run(TEXT("GetConsent"), [&Consent](offtrack::Tracker& T) { Consent = OfftrackConvert::FromNative(T.consent()); });
	return Consent;
}

FString UOfftrackSubsystem::GetStatsJson() const
{
	FString Json;
	Run(TEXT("GetStatsJson"), [&Json](offtrack::Tracker& T) { Json = OfftrackConvert::FromUtf8(T.stats()); });
	return Json;
}

bool UOfftrackSubsystem::IsRunning() const
{
	return Tracker && Tracker->valid();
}

void UOfftrackSubsystem::BroadcastEvent(const FOfftrackEvent& Event)
{
	check(IsInGameThread());
	if (!bActive)
	{
		return;
	}
	switch (Event.Kind)
	{
	case EOfftrackEventKind::Sent: OnHitSent.Broadcast(Event); break;
	case EOfftrackEventKind::Stored: OnHitStored.Broadcast(Event); break;
	case EOfftrackEventKind::Dropped: OnHitDropped.Broadcast(Event); break;
	}
}

void UOfftrackSubsystem::HandleLeavingForeground()
{
	// The OS may end a backgrounded app without warning: send what is stored
	// now. Best effort: a suspended app's worker may not get to send.
	if (!Tracker || !GetDefault<UOfftrackSettings>()->bDispatchOnEnterBackground)
	{
		return;
	}
	try
	{
		Tracker->dispatch(); // thread-safe; returns at once
	}
	catch (const offtrack::Error& Failure)
	{
		const FString Message = OfftrackConvert::FromUtf8(Failure.what());
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack Dispatch (leaving the foreground) failed: %s"), *Message);
		// LastError is game-thread state; this handler may run elsewhere.
		if (IsInGameThread())
		{
			LastError = Message;
		}
	}
}

bool UOfftrackSubsystem::Run(const TCHAR* Operation, TFunctionRef<void(offtrack::Tracker&)> Body) const
{
	if (!Tracker)
	{
		LastError = FString::Printf(TEXT("%s: Offtrack is not running (%s)"), Operation, *FOfftrackModule::Get().GetTrackerError());
		return false;
	}
	try
	{
		Body(*Tracker);
		return true;
	}
	catch (const offtrack::Error& Failure)
	{
		LastError = OfftrackConvert::FromUtf8(Failure.what());
		UE_LOG(LogOfftrack, Warning, TEXT("Offtrack %s failed: %s"), Operation, *LastError);
		return false;
	}
}
