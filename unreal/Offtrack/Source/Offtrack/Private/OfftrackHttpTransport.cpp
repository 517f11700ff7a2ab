#include "OfftrackHttpTransport.h"

#include "Async/Async.h"
#include "HttpModule.h"
#include "Interfaces/IHttpRequest.h"
#include "Interfaces/IHttpResponse.h"
#include "Runtime/Launch/Resources/Version.h"

#include <string>

namespace
{
// Game thread: the engine's HTTP requests are created and started there.
void StartRequest(const offtrack::Request& Request, const offtrack::Completion& Done)
{
	if (!Done.tracker_alive())
	{
		// Destroyed while this waited for the game thread: nobody wants the answer.
		return;
	}
	const TSharedRef<IHttpRequest, ESPMode::ThreadSafe> Http = FHttpModule::Get().CreateRequest();
	const FString Url = OfftrackConvert::FromUtf8(Request.url);
	Http->SetURL(Url);
	Http->SetVerb(OfftrackConvert::FromUtf8(Request.method));
	for (const offtrack::Header& Header : Request.headers)
	{
		Http->SetHeader(OfftrackConvert::FromUtf8(Header.name), OfftrackConvert::FromUtf8(Header.value));
	}
	if (!Request.content_type.empty())
	{
		Http->SetHeader(TEXT("Content-Type"), OfftrackConvert::FromUtf8(Request.content_type));
	}
	if (!Request.body.empty())
	{
		// Raw bytes: SetContentAsString would convert the text again.
		TArray<uint8> Body;
		Body.Append(reinterpret_cast<const uint8*>(Request.body.data()), static_cast<int32>(Request.body.size()));
		Http->SetContent(MoveTemp(Body));
	}
	// The library waits this long for the answer; the engine may give up at the same time.
	Http->SetTimeout(static_cast<float>(Request.timeout.count()) / 1000.0f);
#if ENGINE_MAJOR_VERSION > 5 || (ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION >= 3)
	// Answered on the HTTP thread: the answer still arrives while the game
	// thread is blocked in the tracker's destroy, which waits for it.
	Http->SetDelegateThreadPolicy(EHttpRequestDelegateThreadPolicy::CompleteOnHttpThread);
#endif
	// The Completion is captured by value: it, not this function, decides
	// whether the tracker still takes the answer.
	Http->OnProcessRequestComplete().BindLambda([Done, Url](FHttpRequestPtr Sent, FHttpResponsePtr Response, bool bSucceeded)
	{
		const int32 Status = Response.IsValid() ? Response->GetResponseCode() : 0;
		if (!bSucceeded || Status < 100 || Status > 599)
		{
			Done.fail(bSucceeded ? "FHttpModule: no valid HTTP status" : "FHttpModule: no response (connection, timeout or TLS)");
			return;
		}
#if ENGINE_MAJOR_VERSION > 5 || (ENGINE_MAJOR_VERSION == 5 && ENGINE_MINOR_VERSION >= 5)
		// The engine follows redirects itself (libcurl's FOLLOWLOCATION on
		// desktop). The library never follows one and counts a 3xx as
		// unreachable (a captive portal, not the collector): a redirected
		// request is reported as no answer.
		if (Sent.IsValid() && Sent->GetEffectiveURL() != Url)
		{
			Done.fail("FHttpModule followed a redirect to " + OfftrackConvert::ToUtf8(Sent->GetEffectiveURL()));
			return;
		}
#else
		(void)Sent;
#endif
		Done.complete(Status, OfftrackConvert::ToUtf8(Response->GetHeader(TEXT("Retry-After"))));
	});
	if (!Http->ProcessRequest())
	{
		// ProcessRequest also calls the delegate on some failures; a second answer is refused.
		Done.fail("FHttpModule could not start the request");
	}
}
} // namespace

offtrack::TransportHandler OfftrackHttpTransport::MakeHandler()
{
	// Runs on the tracker's worker thread, which must only start the request.
	return [](const offtrack::Request& Request, offtrack::Completion Done)
	{
		AsyncTask(ENamedThreads::GameThread, [Request, Done = MoveTemp(Done)]()
		{
			StartRequest(Request, Done);
		});
	};
}
