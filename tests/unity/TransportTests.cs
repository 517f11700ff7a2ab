using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;
using System.Threading;

namespace Offtrack.MonoTests
{
    /// <summary>
    /// A host transport as an app with its own HTTP stack writes one, standing
    /// in for UnityWebRequest: Start (on the pumping thread) hands the request
    /// to a thread that performs it with HttpWebRequest against the collector;
    /// the answer waits until the test's main-thread loop gives it back with
    /// TransportRequest.Finish, as the UnityWebRequest layer does.
    /// </summary>
    sealed class WebRequestTransport : IHostTransport
    {
        public sealed class Answer
        {
            public TransportRequest Request;
            public long Code;
            public string RetryAfter;
            public string Error;
        }

        public readonly List<TransportRequest> Started = new List<TransportRequest>();
        public readonly HashSet<int> StartThreads = new HashSet<int>();
        readonly List<Answer> _done = new List<Answer>();
        volatile bool _perform = true;

        /// <summary>False: requests are started but never performed nor answered.</summary>
        public bool Perform
        {
            set { _perform = value; }
        }

        public void Start(TransportRequest request)
        {
            Started.Add(request);
            StartThreads.Add(Thread.CurrentThread.ManagedThreadId);
            if (!_perform)
                return;
            var thread = new Thread(() =>
            {
                Answer answer = Execute(request);
                lock (_done)
                    _done.Add(answer);
            }) { IsBackground = true, Name = "web-request" };
            thread.Start();
        }

        public int DoneCount
        {
            get { lock (_done) return _done.Count; }
        }

        /// <summary>The answers that arrived since the last call, in arrival order.</summary>
        public List<Answer> TakeDone()
        {
            lock (_done)
            {
                var answers = new List<Answer>(_done);
                _done.Clear();
                return answers;
            }
        }

        static Answer Execute(TransportRequest r)
        {
            var answer = new Answer { Request = r };
            try
            {
                var web = (HttpWebRequest)WebRequest.Create(r.Url);
                web.Method = r.Method;
                web.AllowAutoRedirect = false;
                web.KeepAlive = false;
                web.Proxy = null;
                web.Timeout = r.TimeoutMs;
                web.ReadWriteTimeout = r.TimeoutMs;
                foreach (var h in r.Headers)
                {
                    // HttpWebRequest sets this one through its property only.
                    if (string.Equals(h.Key, "User-Agent", StringComparison.OrdinalIgnoreCase))
                        web.UserAgent = h.Value;
                    else
                        web.Headers[h.Key] = h.Value;
                }
                web.Headers["X-Test-Transport"] = "webrequest";
                if (r.Body != null)
                {
                    web.ContentType = r.ContentType;
                    web.ContentLength = r.Body.Length;
                    using (Stream body = web.GetRequestStream())
                        body.Write(r.Body, 0, r.Body.Length);
                }
                using (var response = (HttpWebResponse)web.GetResponse())
                {
                    answer.Code = (long)response.StatusCode;
                    answer.RetryAfter = response.Headers["Retry-After"];
                }
            }
            catch (WebException e)
            {
                var response = e.Response as HttpWebResponse;
                if (response != null)
                {
                    answer.Code = (long)response.StatusCode;
                    answer.RetryAfter = response.Headers["Retry-After"];
                    response.Close();
                }
                else
                {
                    answer.Code = -1;
                    answer.Error = e.Status + ": " + e.Message;
                }
            }
            catch (Exception e)
            {
                answer.Code = -1;
                answer.Error = e.Message;
            }
            return answer;
        }
    }

    /// <summary>Answers every request "no answer" from its Start.</summary>
    sealed class OfflineTransport : IHostTransport
    {
        public int Started;

        public void Start(TransportRequest request)
        {
            Started++;
            request.Fail("host transport offline");
        }
    }

    /// <summary>Runs in a second AppDomain: a tracker with a host transport, left open when the domain unloads.</summary>
    public sealed class DomainWorker : MarshalByRefObject
    {
        public void Start(string endpoint, string storagePath)
        {
            var config = new TrackerConfig(endpoint)
            {
                Storage = StorageMode.Required,
                StoragePath = storagePath,
                RequestTimeoutSeconds = 1,
                RetryBaseMs = 600000,
                RetryMaxMs = 600000,
            };
            var tracker = new Tracker(config);
            var transport = new WebRequestTransport { Perform = false };
            tracker.SetTransport(transport);
            tracker.Send("n=1");
            Is.Eventually(() => { tracker.PumpTransport(); return transport.Started.Count == 1; }, 10000, "request started in the second domain");
            // Neither the tracker nor the request is let go: the domain's unload must.
            AppDomain.CurrentDomain.SetData("tracker", tracker);
        }
    }

    static class TransportTests
    {
        static TrackerConfig Config(Collector collector, StorageMode mode, string dir)
        {
            var config = new TrackerConfig(collector.Endpoint);
            config.Storage = mode;
            config.StoragePath = dir;
            config.RequestTimeoutSeconds = 5;
            config.ShutdownTimeoutMs = 5000;
            // No automatic retry during a test: only Dispatch sends stored hits.
            config.RetryBaseMs = 600000;
            config.RetryMaxMs = 600000;
            return config;
        }

        /// <summary>
        /// One frame of the main thread: starts what the trackers queued, gives
        /// back the answers that arrived, raises events. Returns what Finish said.
        /// </summary>
        static List<bool> Frame(WebRequestTransport transport, params Tracker[] trackers)
        {
            foreach (var t in trackers)
                t.PumpTransport();
            var accepted = new List<bool>();
            foreach (var answer in transport.TakeDone())
                accepted.Add(answer.Request.Finish(answer.Code, answer.RetryAfter, answer.Error));
            foreach (var t in trackers)
                t.DispatchEvents();
            Thread.Sleep(5);
            return accepted;
        }

        static string Header(TransportRequest r, string name)
        {
            foreach (var h in r.Headers)
                if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase))
                    return h.Value;
            return null;
        }

        [Check("host transport: every hit arrives once, in order, started and answered on the pumping thread")]
        static void ExactHits()
        {
            int main = Thread.CurrentThread.ManagedThreadId;
            using (var collector = new Collector())
            {
                collector.Up();
                var transport = new WebRequestTransport();
                var config = Config(collector, StorageMode.Required, Env.NewDir("exact"));
                config.IdParam = "hid";
                config.Headers["X-App"] = "demo";
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    tracker.SetTransport(transport);
                    for (int n = 1; n <= 5; n++)
                        tracker.Send("event=e&n=" + n + "&name=a%20b");
                    var accepted = new List<bool>();
                    Is.Eventually(() => { accepted.AddRange(Frame(transport, tracker)); return log.Of(TrackerEventKind.Sent).Count == 5; },
                        15000, "5 Sent events");
                    Thread.Sleep(100); // room for a duplicate to show up

                    var requests = collector.Requests;
                    Is.Seq(new[] { 1, 2, 3, 4, 5 }, requests.Select(r => r.N), "collector order");
                    Is.True(accepted.All(a => a) && accepted.Count == 5, "every answer taken: " + string.Join(",", accepted));
                    Is.Seq(new[] { main }, transport.StartThreads, "Start runs on the pumping thread");
                    Is.Seq(new[] { main }, log.Threads, "events on the pumping thread");
                    Is.Equal(5, transport.Started.Select(r => r.Id).Distinct().Count(), "request ids");
                    for (int i = 0; i < requests.Count; i++)
                    {
                        TransportRequest r = transport.Started[i];
                        Is.Equal("GET", r.Method, "method");
                        Is.True(r.ContentType == null && r.Body == null, "no body for GET");
                        Is.Equal(5000, r.TimeoutMs, "timeout_ms");
                        Is.Equal(5, r.TimeoutSeconds, "timeout in seconds");
                        Is.True(r.Url.StartsWith(collector.Endpoint + "?", StringComparison.Ordinal), r.Url);
                        Is.Equal(r.Url.Substring(r.Url.IndexOf("/hit", StringComparison.Ordinal)), requests[i].Target, "the request the library made");
                        Is.Equal("demo", Header(r, "X-App"), "configured header");
                        Is.True((Header(r, "User-Agent") ?? "").StartsWith("offtrack/", StringComparison.Ordinal), "User-Agent");
                        Is.True(r.IsFinished, "answered");
                        Is.Equal("webrequest", requests[i].Header("X-Test-Transport"), "performed by the host's client");
                        Is.Equal("demo", requests[i].Header("X-App"), "header reached the collector");
                        Is.Equal("a b", requests[i].Param("name"), "escaped value kept");
                        Is.True(requests[i].Param("ts") != null, "timestamp");
                        Is.Equal(log.Of(TrackerEventKind.Sent)[i].Id.ToString(), requests[i].Param("hid"), "id parameter");
                    }
                    Is.Equal(0UL, tracker.OfflineCount, "queue empty");
                }
            }
        }

        [Check("host transport: a batch is a POST whose body and Content-Type reach the collector as made")]
        static void BatchPost()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                foreach (var format in new[] { BatchFormat.Lines, BatchFormat.Json })
                {
                    var transport = new WebRequestTransport();
                    var config = Config(collector, StorageMode.Always, Env.NewDir("batch"));
                    config.BatchEndpoint = collector.Endpoint.Replace("/hit", "/batch");
                    config.BatchFormat = format;
                    int before = collector.Requests.Count;
                    using (var tracker = new Tracker(config))
                    {
                        var log = new EventLog(tracker);
                        tracker.SetTransport(transport);
                        for (int n = 1; n <= 3; n++)
                            tracker.Send("n=" + n);
                        tracker.Dispatch();
                        Is.Eventually(() => { Frame(transport, tracker); return log.Of(TrackerEventKind.Sent).Count == 3; }, 15000, "3 Sent events");
                        Is.Equal(1, transport.Started.Count, format + ": one request");
                        TransportRequest r = transport.Started[0];
                        Request received = collector.Requests[before];
                        Is.Equal("POST", r.Method, "method");
                        Is.Equal("POST", received.Method, "method at the collector");
                        Is.Equal("/batch", received.Target, "batch endpoint");
                        Is.Equal(format == BatchFormat.Json ? "application/json" : "text/plain; charset=utf-8", r.ContentType, "content type");
                        Is.Equal(r.ContentType, received.Header("Content-Type"), "content type at the collector");
                        Is.Seq(r.Body, received.Body, "body at the collector");
                        string body = Encoding.UTF8.GetString(r.Body);
                        int at1 = body.IndexOf("n=1", StringComparison.Ordinal), at2 = body.IndexOf("n=2", StringComparison.Ordinal), at3 = body.IndexOf("n=3", StringComparison.Ordinal);
                        Is.True(at1 >= 0 && at1 < at2 && at2 < at3, "hits in order: " + body);
                        Is.Equal(0UL, tracker.OfflineCount, "queue empty");
                    }
                }
            }
        }

        [Check("host transport: answers in another order than the requests each reach their own tracker")]
        static void OutOfOrder()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var transport = new WebRequestTransport();
                var trackers = new List<Tracker>();
                var logs = new List<EventLog>();
                try
                {
                    for (int i = 0; i < 3; i++)
                    {
                        var t = new Tracker(Config(collector, StorageMode.Never, null));
                        logs.Add(new EventLog(t));
                        t.SetTransport(transport);
                        trackers.Add(t);
                    }
                    for (int i = 0; i < 3; i++)
                        trackers[i].Send("tracker=" + i);
                    Is.Eventually(() => { foreach (var t in trackers) t.PumpTransport(); return transport.DoneCount == 3; }, 15000, "3 requests performed");
                    var answers = transport.TakeDone().OrderBy(a => a.Request.Url.Substring(a.Request.Url.IndexOf("tracker=", StringComparison.Ordinal))).ToList();
                    Is.Equal(3, collector.Requests.Count, "all three at the collector");
                    foreach (var log in logs)
                    {
                        foreach (var t in trackers)
                            t.DispatchEvents();
                        Is.Equal(0, log.All.Count, "nothing decided before the answers");
                    }

                    for (int i = 2; i >= 0; i--)
                    {
                        Is.Equal(200L, answers[i].Code, "status");
                        Is.True(answers[i].Request.Finish(answers[i].Code, answers[i].RetryAfter, answers[i].Error), "answer " + i + " taken");
                        logs[i].Pump(trackers[i], TrackerEventKind.Sent, 1);
                        for (int j = 0; j < i; j++)
                        {
                            trackers[j].DispatchEvents();
                            Is.Equal(0, logs[j].All.Count, "tracker " + j + " still waits");
                        }
                    }
                    foreach (var a in answers)
                    {
                        Is.False(a.Request.Complete(500), "a second answer is refused");
                        Is.False(a.Request.Fail("again"), "a second answer is refused");
                    }
                    Thread.Sleep(100);
                    for (int i = 0; i < 3; i++)
                    {
                        trackers[i].DispatchEvents();
                        Is.Equal(1, logs[i].All.Count, "one event for tracker " + i);
                        Is.Equal(200, logs[i].All[0].HttpStatus, "its status");
                    }
                }
                finally
                {
                    foreach (var t in trackers)
                        t.Dispose();
                }
            }
        }

        [Check("host transport: a request never answered times out (request_timeout_seconds 1); late answers are refused")]
        static void NeverAnswered()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var transport = new WebRequestTransport { Perform = false };
                var config = Config(collector, StorageMode.Required, Env.NewDir("never"));
                config.RequestTimeoutSeconds = 1;
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    tracker.SetTransport(transport);
                    var clock = Stopwatch.StartNew();
                    tracker.Send("n=1");
                    Is.Eventually(() => { Frame(transport, tracker); return log.Of(TrackerEventKind.Stored).Count == 1; }, 10000, "Stored after the timeout");
                    Is.True(clock.ElapsedMilliseconds >= 900, "waited the request's timeout: " + clock.ElapsedMilliseconds + " ms");
                    Is.Equal(1, transport.Started.Count, "one request started");
                    Is.Equal(0, log.Of(TrackerEventKind.Stored)[0].HttpStatus, "no status");
                    Is.Equal(1UL, tracker.OfflineCount, "hit kept");
                    Is.Equal(0, collector.Requests.Count, "nothing sent");

                    // A request left in the queue past its timeout is not started any more.
                    tracker.Dispatch();
                    Is.Eventually(() => tracker.QueuedTransportRequests == 1, 5000, "request queued");
                    // The flush returns once the worker has given up on the request.
                    Is.True(tracker.Flush(5000), "dispatch over");
                    // The request's own clock starts a moment after the worker's.
                    Thread.Sleep(100);
                    Is.Equal(0, tracker.PumpTransport(), "an expired request is not started");
                    Is.Equal(0, tracker.QueuedTransportRequests, "and left the queue");
                    Is.Equal(1, transport.Started.Count, "still one started");

                    // Answered this time.
                    transport.Perform = true;
                    tracker.Dispatch();
                    var accepted = new List<bool>();
                    Is.Eventually(() => { accepted.AddRange(Frame(transport, tracker)); return log.Of(TrackerEventKind.Sent).Count == 1; }, 10000, "Sent");
                    Is.Seq(new[] { true }, accepted, "the answer was taken");
                    Is.False(transport.Started[0].Complete(200), "the first request's answer, long after its timeout, is refused");
                    Is.Equal(0UL, tracker.OfflineCount, "queue empty");
                    Is.Equal(1, collector.Requests.Count, "one request reached the collector");
                }
            }
        }

        [Check("host transport: Dispose answers open requests at once; answers after it are refused")]
        static void CompletionAfterDispose()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                string dir = Env.NewDir("dispose");
                var transport = new WebRequestTransport();
                WebRequestTransport.Answer held;
                var tracker = new Tracker(Config(collector, StorageMode.Required, dir));
                try
                {
                    tracker.SetTransport(transport);
                    tracker.Send("n=1");
                    Is.Eventually(() => { tracker.PumpTransport(); return transport.DoneCount == 1; }, 10000, "request performed");
                    held = transport.TakeDone()[0];
                    Is.Equal(200L, held.Code, "collector answered");
                    Is.False(held.Request.IsFinished, "not answered yet");
                }
                finally
                {
                    var clock = Stopwatch.StartNew();
                    tracker.Dispose();
                    // shutdown_timeout_ms is 5000: Dispose did not wait for the host.
                    Is.True(clock.ElapsedMilliseconds < 3000, "Dispose took " + clock.ElapsedMilliseconds + " ms");
                }
                Is.True(held.Request.IsFinished, "answered by Dispose");
                Is.False(held.Request.Finish(held.Code, held.RetryAfter, held.Error), "an answer after Dispose is refused");
                Is.False(held.Request.Complete(200), "so is Complete");
                Is.Equal(0, tracker.PumpTransport(), "pumping a disposed tracker does nothing");
                Is.Throws<ObjectDisposedException>(() => tracker.SetTransport(transport), "SetTransport after Dispose");

                // The hit had no answer while the tracker lived: still stored.
                using (var again = new Tracker(Config(collector, StorageMode.Required, dir)))
                {
                    Is.Equal(1UL, again.OfflineCount, "hit kept for the next run");
                    again.Dispatch();
                    Is.True(again.Flush(15000), "flush");
                    Is.Equal(0UL, again.OfflineCount, "sent by the built-in client");
                    Is.Equal(null, collector.Requests.Last().Header("X-Test-Transport"), "built-in client");
                }

                // Disposed while a request is queued and never pumped: just as quick.
                var queuedOnly = new Tracker(Config(collector, StorageMode.Never, null));
                queuedOnly.SetTransport(new WebRequestTransport { Perform = false });
                queuedOnly.Send("n=2");
                Is.Eventually(() => queuedOnly.QueuedTransportRequests == 1, 5000, "queued");
                var clock2 = Stopwatch.StartNew();
                queuedOnly.Dispose();
                Is.True(clock2.ElapsedMilliseconds < 3000, "Dispose with a queued request took " + clock2.ElapsedMilliseconds + " ms");

                // Disposed while other threads answer: at most one answer is
                // taken, and none reaches a destroyed tracker.
                var racingTransport = new WebRequestTransport { Perform = false };
                var racing = new Tracker(Config(collector, StorageMode.Required, Env.NewDir("race")));
                racing.SetTransport(racingTransport);
                racing.Send("n=3");
                Is.Eventually(() => { racing.PumpTransport(); return racingTransport.Started.Count == 1; }, 5000, "started");
                TransportRequest open = racingTransport.Started[0];
                int taken = 0;
                var go = new ManualResetEvent(false);
                var threads = new List<Thread>();
                for (int i = 0; i < 4; i++)
                {
                    var t = new Thread(() =>
                    {
                        go.WaitOne();
                        for (int k = 0; k < 200; k++)
                            if (open.Complete(200))
                                Interlocked.Increment(ref taken);
                    });
                    t.Start();
                    threads.Add(t);
                }
                go.Set();
                racing.Dispose();
                foreach (var t in threads)
                    t.Join();
                Is.True(taken <= 1, "answers taken: " + taken);
            }
        }

        [Check("host transport: Start that throws answers its request at once; back and forth to the built-in client")]
        static void SwitchingAndFailures()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var config = Config(collector, StorageMode.Required, Env.NewDir("switch"));
                config.RequestTimeoutSeconds = 10;
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    var offline = new OfflineTransport();
                    tracker.SetTransport(offline);
                    tracker.Send("n=1");
                    tracker.Send("n=2");
                    Is.Eventually(() => { tracker.PumpTransport(); tracker.DispatchEvents(); return log.Of(TrackerEventKind.Stored).Count == 2; }, 10000, "2 Stored");
                    Is.True(offline.Started >= 1, "the host transport was asked");
                    Is.Equal(0, collector.Requests.Count, "nothing reached the collector");

                    // The built-in client again: the queue drains in order.
                    tracker.ClearTransport();
                    tracker.Dispatch();
                    Is.True(tracker.Flush(15000), "flush");
                    Is.Seq(new[] { 1, 2 }, collector.WaitFor(2, 10000).Select(r => r.N), "built-in client, in order");
                    Is.True(collector.Requests.All(r => r.Header("X-Test-Transport") == null), "not through the host");

                    // The status and Retry-After of an answer pass through.
                    var web = new WebRequestTransport();
                    tracker.SetTransport(web);
                    collector.Status = 503;
                    collector.RetryAfter = "1";
                    tracker.Send("n=3");
                    Is.Eventually(() => { Frame(web, tracker); return log.Of(TrackerEventKind.Stored).Count == 3; }, 10000, "3 Stored");
                    Is.Equal(503, log.Of(TrackerEventKind.Stored)[2].HttpStatus, "status of the host's answer");
                    Is.Equal("webrequest", collector.Requests.Last().Header("X-Test-Transport"), "through the host");
                    collector.Status = 200;
                    collector.RetryAfter = null;

                    // Start throws: the request is answered "no answer" at once,
                    // not after its 10 s timeout, and the exception reaches the pump.
                    tracker.SetTransport(new ThrowingTransport());
                    tracker.Dispatch();
                    Is.Eventually(() => tracker.QueuedTransportRequests == 1, 5000, "queued");
                    var clock = Stopwatch.StartNew();
                    Is.Throws<InvalidOperationException>(() => tracker.PumpTransport(), "Start's exception");
                    Is.True(tracker.Flush(15000), "flush");
                    Is.True(clock.ElapsedMilliseconds < 5000, "answered at once: " + clock.ElapsedMilliseconds + " ms");
                    Is.Equal(1UL, tracker.OfflineCount, "hit kept");

                    tracker.ClearTransport();
                    tracker.Dispatch();
                    Is.True(tracker.Flush(15000), "flush");
                    Is.Equal(0UL, tracker.OfflineCount, "delivered by the built-in client");
                    Is.Equal(3, collector.Requests.Last().N, "the last hit");
                }
            }
        }

        sealed class ThrowingTransport : IHostTransport
        {
            public void Start(TransportRequest request)
            {
                throw new InvalidOperationException("no network stack");
            }
        }

        [Check("host transport: after DisposeAll, requests of the ended session are stale and refused")]
        static void StaleAfterDisposeAll()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var transport = new WebRequestTransport { Perform = false };
                var tracker = new Tracker(Config(collector, StorageMode.Never, null));
                tracker.SetTransport(transport);
                tracker.Send("n=1");
                Is.Eventually(() => { tracker.PumpTransport(); return transport.Started.Count == 1; }, 5000, "started");
                TransportRequest r = transport.Started[0];
                Is.False(r.IsFinished, "open");
                Tracker.DisposeAll();
                Is.True(tracker.IsDisposed, "disposed");
                Is.True(r.IsFinished, "finished: a transport lets it go");
                Is.False(r.Finish(200, null, null), "refused");

                // A new session works as before.
                using (var fresh = new Tracker(Config(collector, StorageMode.Never, null)))
                {
                    var web = new WebRequestTransport();
                    var log = new EventLog(fresh);
                    fresh.SetTransport(web);
                    fresh.Send("n=2");
                    Is.Eventually(() => { Frame(web, fresh); return log.Of(TrackerEventKind.Sent).Count == 1; }, 10000, "Sent in the new session");
                }
            }
        }

        [Check("domain unload: trackers with a host transport are destroyed first, so no callback reaches the unloaded domain")]
        static void DomainUnload()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                string dir = Env.NewDir("domain");
                var setup = new AppDomainSetup { ApplicationBase = Path.GetDirectoryName(typeof(TransportTests).Assembly.Location) };
                AppDomain domain = AppDomain.CreateDomain("offtrack-reload", null, setup);
                var worker = (DomainWorker)domain.CreateInstanceAndUnwrap(typeof(DomainWorker).Assembly.FullName, typeof(DomainWorker).FullName);
                worker.Start(collector.Endpoint, dir);
                // On a thread of its own: with a tracker left alive, Mono's
                // unload waits for the native worker's thread forever.
                Exception unloadError = null;
                var unloading = new Thread(() =>
                {
                    try { AppDomain.Unload(domain); }
                    catch (Exception e) { unloadError = e; }
                }) { IsBackground = true, Name = "unload" };
                unloading.Start();
                Is.True(unloading.Join(30000), "the domain unloaded within 30 s");
                Is.True(unloadError == null, "unload: " + unloadError);
                // Past the request's 1 s timeout: a tracker still alive would
                // now raise its Stored event through a callback of the unloaded
                // domain and take the process down.
                Thread.Sleep(1500);

                // Its store was released and the hit kept for the next run.
                using (var tracker = new Tracker(Config(collector, StorageMode.Required, dir)))
                {
                    Is.Equal(1UL, tracker.OfflineCount, "hit kept");
                    tracker.Dispatch();
                    Is.True(tracker.Flush(15000), "flush");
                    Is.Equal(1, collector.WaitFor(1, 10000).Count, "delivered from this domain");
                }
            }
        }
    }
}
