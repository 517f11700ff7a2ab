using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Offtrack.MonoTests
{
    /// <summary>Records the events a tracker raises, and on which thread.</summary>
    sealed class EventLog
    {
        public readonly List<TrackerEvent> All = new List<TrackerEvent>();
        public readonly HashSet<int> Threads = new HashSet<int>();

        public EventLog(Tracker tracker)
        {
            tracker.Sent += Add;
            tracker.Stored += Add;
            tracker.Dropped += Add;
        }

        void Add(TrackerEvent e)
        {
            All.Add(e);
            Threads.Add(Thread.CurrentThread.ManagedThreadId);
        }

        public List<TrackerEvent> Of(TrackerEventKind kind)
        {
            return All.Where(e => e.Kind == kind).ToList();
        }

        /// <summary>Pumps until <paramref name="count"/> events of the kind were raised.</summary>
        public List<TrackerEvent> Pump(Tracker tracker, TrackerEventKind kind, int count, int timeoutMs = 10000)
        {
            Is.Eventually(() => { tracker.DispatchEvents(); return Of(kind).Count >= count; }, timeoutMs,
                count + " " + kind + " events (have: " + string.Join("; ", All) + ")");
            return Of(kind);
        }
    }

    static class CoreTests
    {
        static int N(string url)
        {
            int q = url.IndexOf('?');
            foreach (string part in url.Substring(q + 1).Split('&'))
                if (part.StartsWith("n=", StringComparison.Ordinal))
                    return int.Parse(part.Substring(2));
            return -1;
        }

        static TrackerConfig Config(Collector collector, StorageMode mode, string dir)
        {
            var config = new TrackerConfig(collector.Endpoint);
            config.Storage = mode;
            config.StoragePath = dir;
            config.RequestTimeoutSeconds = 5;
            config.ShutdownTimeoutMs = 1000;
            // No automatic retry during a test: only Dispatch sends stored hits.
            config.RetryBaseMs = 600000;
            config.RetryMaxMs = 600000;
            return config;
        }

        [Check("library version matches Cargo.toml")]
        static void Version()
        {
            string cargo = File.ReadAllText(Path.Combine(Env.Repo, "Cargo.toml"));
            var m = System.Text.RegularExpressions.Regex.Match(cargo, "(?m)^version\\s*=\\s*\"([^\"]+)\"");
            Is.True(m.Success, "version in Cargo.toml");
            Is.Equal(m.Groups[1].Value, Tracker.Version, "Tracker.Version");
        }

        [Check("store while the collector is down, deliver in order when it is up")]
        static void StoreThenDeliverInOrder()
        {
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Required, Env.NewDir("order"))))
            {
                var log = new EventLog(tracker);
                int mainThread = Thread.CurrentThread.ManagedThreadId;
                for (int n = 1; n <= 5; n++)
                    tracker.Send("n=" + n + "&event=level_start");
                Is.True(tracker.Flush(15000), "flush after the sends");
                Is.Equal(0, log.All.Count, "events raised before DispatchEvents");

                var stored = log.Pump(tracker, TrackerEventKind.Stored, 5);
                Is.Seq(new[] { 1, 2, 3, 4, 5 }, stored.Select(e => N(e.Hit)), "STORED events in send order");
                Is.True(stored.All(e => e.Reason.Length > 0), "STORED events carry a reason");
                Is.Equal(5UL, tracker.OfflineCount, "offline count while down");
                Is.Seq(new[] { 1, 2, 3, 4, 5 }, tracker.GetOfflineHits().Select(h => N(h.Hit)), "offline queue order");
                Is.Equal(1, N(tracker.GetOldestOfflineHit().Hit), "oldest");
                Is.Equal(5, N(tracker.GetLatestOfflineHit().Hit), "latest");
                Is.Equal(0, collector.Requests.Count, "requests while down");

                collector.Up();
                tracker.Dispatch();
                Is.True(tracker.Flush(15000), "flush after dispatch");
                var requests = collector.WaitFor(5, 10000);
                Is.Seq(new[] { 1, 2, 3, 4, 5 }, requests.Select(r => r.N), "collector order");
                Is.True(requests.All(r => r.Param("ts") != null), "every request carries ts");
                Is.True(requests.All(r => r.Param("event") == "level_start"), "hit parameters arrive");

                var sent = log.Pump(tracker, TrackerEventKind.Sent, 5);
                Is.Seq(stored.Select(e => e.Id), sent.Select(e => e.Id), "SENT ids match STORED ids, in order");
                Is.True(sent.All(e => e.HttpStatus == 200 && e.Reason == ""), "SENT: status 200, no reason");
                Is.Equal(0, log.Of(TrackerEventKind.Dropped).Count, "no DROPPED");
                Is.Equal(0UL, tracker.OfflineCount, "offline count after delivery");
                Is.True(log.Threads.SetEquals(new[] { mainThread }), "events raised on the pumping thread only");

                var stats = tracker.GetStats();
                Is.Equal(5UL, stats.Sent, "stats.sent");
                Is.Equal(5UL, stats.Stored, "stats.stored");
                Is.Equal(StorageMode.Required, stats.Storage, "stats.storage");
                Is.True(stats.LastSuccessMs > 0, "stats.last_success_ms");

                // Queue empty and collector up: a new hit goes straight out.
                tracker.Send("n=6");
                Is.True(tracker.Flush(15000), "flush");
                Is.Equal(6, collector.WaitFor(6, 10000).Last().N, "n=6 delivered");
                Is.Equal(6, N(log.Pump(tracker, TrackerEventKind.Sent, 6).Last().Hit), "SENT for n=6");
            }
        }

        [Check("never mode with the collector down: DROPPED event with a reason")]
        static void NeverModeDrops()
        {
            using (var collector = new Collector())
            {
                var config = new TrackerConfig(collector.Endpoint);
                config.ShutdownTimeoutMs = 1000;
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    tracker.Send("n=1");
                    Is.True(tracker.Flush(15000), "flush");
                    var dropped = log.Pump(tracker, TrackerEventKind.Dropped, 1);
                    Is.Equal(1, N(dropped[0].Hit), "dropped hit");
                    Is.True(dropped[0].Reason.Length > 0, "reason given");
                    Is.Equal(0, dropped[0].HttpStatus, "no HTTP status");
                    Is.Equal(0, log.Of(TrackerEventKind.Stored).Count, "never mode stores nothing");
                }
            }
        }

        [Check("Dispose keeps the callback through tracker_destroy: the destroy's DROPPED events are raised")]
        static void DestroyEventsAreRaised()
        {
            using (var collector = new Collector())
            {
                // Never answers while the tracker lives: n=1 is in flight at the
                // dispose, n=2 and n=3 wait in memory behind it.
                collector.Up();
                collector.Hang();
                var config = new TrackerConfig(collector.Endpoint);
                config.IdParam = "hid";
                config.RequestTimeoutSeconds = 10;
                config.ShutdownTimeoutMs = 200;
                var tracker = new Tracker(config);
                var log = new EventLog(tracker);
                tracker.Send("n=1");
                var first = collector.WaitFor(1, 10000);
                Is.Equal(1, first.Count, "n=1 reached the collector");
                tracker.Send("n=2");
                tracker.Send("n=3");
                Is.Equal(0, tracker.DispatchEvents(), "events before Dispose");

                tracker.Dispose();
                // Queued by the callback while tracker_destroy ran: nothing to wait for.
                Is.Equal(3, tracker.DispatchEvents(), "events raised after Dispose");
                ulong id = ulong.Parse(first[0].Param("hid"));
                Is.Seq(new[] { id, id + 1, id + 2 }, log.All.Select(e => e.Id), "ids: the in-flight hit's, then the next two");
                Is.Seq(new[] { 1, 2, 3 }, log.All.Select(e => N(e.Hit)), "hits in send order");
                Is.True(log.All.All(e => e.Kind == TrackerEventKind.Dropped), "all DROPPED: " + string.Join("; ", log.All));
                Is.True(log.All.All(e => e.HttpStatus == 0 && e.Reason.Contains("destroyed")), "no status, reason says destroyed: " + string.Join("; ", log.All));
                Is.Contains("in flight", log.All[0].Reason, "the first was in flight");

                collector.Release();
                Thread.Sleep(300);
                Is.Equal(0, tracker.DispatchEvents(), "nothing after the hanging request ended");
                Is.Equal(1, collector.Requests.Count, "no request started during the shutdown");
            }
        }

        [Check("TrackerConfig writes only the keys that were set; the library's defaults apply to the rest")]
        static void ConfigOnlySetKeys()
        {
            var config = new TrackerConfig("http://h/c");
            Is.Equal("{\"endpoint\":\"http://h/c\"}", config.ToJson(), "only the endpoint");
            config.TimestampParam = "";
            config.MaxAttempts = 2;
            config.Headers["X-A"] = "b";
            Is.Equal("{\"endpoint\":\"http://h/c\",\"timestamp_param\":\"\",\"headers\":{\"X-A\":\"b\"},\"max_attempts\":2}",
                config.ToJson(), "the keys set, \"\" included");
            var batch = new TrackerConfig("http://h/c") { BatchEndpoint = "http://h/b", BatchFormat = BatchFormat.Json, BatchMaxHits = 10, BatchMaxBytes = 2048 };
            Is.Equal("{\"endpoint\":\"http://h/c\",\"batch_endpoint\":\"http://h/b\",\"batch_format\":\"json\",\"batch_max_hits\":10,\"batch_max_bytes\":2048}",
                batch.ToJson(), "the batch keys");
            batch.BatchFormat = BatchFormat.Lines;
            Is.Contains("\"batch_format\":\"lines\"", batch.ToJson(), "lines format");
            var sealedConfig = new TrackerConfig("http://h/c") { EncryptionKey = "ab12" };
            Is.Contains("\"encryption_key\":\"ab12\"", sealedConfig.ToJson(), "the key goes to the library");
            Is.False(sealedConfig.ToString().Contains("ab12"), "ToString hides the key");

            using (var collector = new Collector())
            {
                collector.Up();
                using (var tracker = new Tracker(new TrackerConfig(collector.Endpoint)))
                {
                    Is.Equal(StorageMode.Never, tracker.StorageMode, "library default mode");
                    tracker.Send("n=1");
                    Is.True(tracker.Flush(15000), "flush");
                    Is.True(collector.WaitFor(1, 10000).Single().Param("ts") != null, "library default timestamp parameter");
                }
                var off = new TrackerConfig(collector.Endpoint);
                off.TimestampParam = "";
                using (var tracker = new Tracker(off))
                {
                    tracker.Send("n=2");
                    Is.True(tracker.Flush(15000), "flush");
                    Is.Equal("/hit?n=2", collector.WaitFor(2, 10000).Last().Target, "timestamp turned off");
                }
            }
        }

        [Check("always mode sends nothing until Dispatch")]
        static void AlwaysModeWaitsForDispatch()
        {
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Always, Env.NewDir("always"))))
            {
                collector.Up();
                var log = new EventLog(tracker);
                for (int n = 1; n <= 3; n++)
                    tracker.Send("n=" + n);
                Is.True(tracker.Flush(15000), "flush");
                log.Pump(tracker, TrackerEventKind.Stored, 3);
                Thread.Sleep(200);
                Is.Equal(0, collector.Requests.Count, "requests before Dispatch");
                tracker.Dispatch();
                Is.True(tracker.Flush(15000), "flush after dispatch");
                Is.Seq(new[] { 1, 2, 3 }, collector.WaitFor(3, 10000).Select(r => r.N), "delivered in order");
                log.Pump(tracker, TrackerEventKind.Sent, 3);
            }
        }

        [Check("UTF-8 round trip: non-ASCII hit arrives as percent-encoded UTF-8")]
        static void Utf8RoundTrip()
        {
            const string player = "Zo\u00eb \u00c5sa";          // Zoë Åsa (space too)
            const string city = "\u6771\u4eac";                   // 東京
            const string game = "\ud83c\udfae";                   // 🎮, outside the BMP
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Required, Env.NewDir("utf8"))))
            {
                collector.Up();
                var log = new EventLog(tracker);
                tracker.Send("n=1&player=" + player + "&city=" + city + "&game=" + game);
                Is.True(tracker.Flush(15000), "flush");
                var request = collector.WaitFor(1, 10000).Single();

                Is.True(request.RawTarget.All(b => b > 0x20 && b < 0x7f), "request target is plain ASCII: " + request.Target);
                Is.Contains("player=Zo%C3%AB%20%C3%85sa", request.Target, "UTF-8 bytes of Zoë Åsa");
                Is.Contains("city=%E6%9D%B1%E4%BA%AC", request.Target, "UTF-8 bytes of 東京");
                Is.Contains("game=%F0%9F%8E%AE", request.Target, "UTF-8 bytes of 🎮");
                Is.Equal(player, request.Param("player"), "decoded player");
                Is.Equal(city, request.Param("city"), "decoded city");
                Is.Equal(game, request.Param("game"), "decoded game");

                var sent = log.Pump(tracker, TrackerEventKind.Sent, 1).Single();
                Is.Equal(request.Target, new Uri(sent.Hit).PathAndQuery, "SENT event's hit is the request that went out");
            }

            // Out: a native message naming a non-ASCII key comes back intact.
            var e = Is.Throws<TrackerException>(() => new Tracker("{\"endpoint\":\"http://127.0.0.1:9/\",\"cl\u00e9\":1}"), "unknown key");
            Is.Contains("'cl\u00e9'", e.NativeMessage, "native message");

            // In: a non-ASCII storage path is the directory the library creates.
            string dir = Path.Combine(Env.NewDir("paths"), "st\u00f6re-\u6771\u4eac");
            var config = new TrackerConfig("http://127.0.0.1:9/hit");
            config.Storage = StorageMode.Always;
            config.StoragePath = dir;
            using (new Tracker(config))
                Is.True(Directory.Exists(dir), "directory with the UTF-8 name exists: " + dir);
        }

        [Check("Dispose twice is harmless; calls afterwards throw ObjectDisposedException")]
        static void DisposeTwice()
        {
            string dir = Env.NewDir("dispose");
            var config = new TrackerConfig("http://127.0.0.1:9/hit");
            config.Storage = StorageMode.Always;
            config.StoragePath = dir;
            var tracker = new Tracker(config);
            tracker.Send("n=1");
            tracker.Dispose();
            tracker.Dispose();
            Is.True(tracker.IsDisposed, "IsDisposed");
            Is.Throws<ObjectDisposedException>(() => tracker.Send("n=2"), "Send after Dispose");
            Is.Throws<ObjectDisposedException>(() => { var m = tracker.StorageMode; }, "StorageMode after Dispose");
            Is.Throws<ObjectDisposedException>(() => tracker.Flush(10), "Flush after Dispose");
            tracker.DispatchEvents();

            // The lock is released and the hit stayed for the next run.
            using (var again = new Tracker(config))
                Is.Equal(1UL, again.OfflineCount, "stored hit survives");
        }

        [Check("native errors become TrackerException with result code and tracker_last_error")]
        static void ErrorsBecomeExceptions()
        {
            var e = Is.Throws<TrackerException>(() => new Tracker("{\"endpoint\":\"http://127.0.0.1:9/\",\"no_such_key\":1}"), "unknown key");
            Is.Equal(TrackerResult.ErrorConfig, e.Result, "result");
            Is.Equal("tracker_create", e.Function, "function");
            Is.Equal("TRACKER_ERROR_CONFIG", e.ResultName, "result name");
            Is.Contains("no_such_key", e.NativeMessage, "native message names the key");
            Is.Contains(e.NativeMessage, e.Message, "exception message carries the native message");

            Is.Equal(TrackerResult.ErrorConfig, Is.Throws<TrackerException>(() => new Tracker("{"), "malformed JSON").Result, "malformed JSON");
            Is.Equal(TrackerResult.ErrorConfig, Is.Throws<TrackerException>(() => new Tracker("{}"), "no endpoint").Result, "missing endpoint");
            Is.Throws<ArgumentNullException>(() => new Tracker((string)null), "null config");

            var config = new TrackerConfig("http://127.0.0.1:9/hit");
            config.ShutdownTimeoutMs = 500;
            using (var tracker = new Tracker(config))
            {
                var empty = Is.Throws<TrackerException>(() => tracker.Send(""), "empty hit");
                Is.Equal(TrackerResult.ErrorInvalidArgument, empty.Result, "empty hit");
                Is.Equal("tracker_send", empty.Function, "function");
                Is.True(empty.NativeMessage.Length > 0, "message for the empty hit");
                Is.Equal(TrackerResult.ErrorInvalidArgument,
                    Is.Throws<TrackerException>(() => tracker.Send("a=1\r\nb=2"), "CR/LF").Result, "CR/LF");
                Is.Equal(TrackerResult.ErrorInvalidArgument,
                    Is.Throws<TrackerException>(() => tracker.Send("http://other.example/x?a=1"), "foreign origin").Result, "foreign origin");
                Is.Throws<ArgumentException>(() => tracker.Send("a=1\0b=2"), "NUL is refused before it could cut the string");
                Is.Throws<ArgumentNullException>(() => tracker.Send(null), "null hit");
                Is.Throws<ArgumentException>(() => tracker.Send("a=\ud800"), "unpaired surrogate");

                var mode = Is.Throws<TrackerException>(() => tracker.StorageMode = StorageMode.Required, "required without storage_path");
                Is.Equal(TrackerResult.ErrorConfig, mode.Result, "required without storage_path");
                Is.Equal(StorageMode.Never, tracker.StorageMode, "mode unchanged");
                Is.Equal(TrackerResult.ErrorInvalidArgument,
                    Is.Throws<TrackerException>(() => tracker.StorageMode = (StorageMode)7, "mode 7").Result, "out-of-range mode");
                Is.Throws<ArgumentOutOfRangeException>(() => tracker.Flush(-1), "negative timeout");
            }

            string dir = Env.NewDir("locked");
            var stored = new TrackerConfig("http://127.0.0.1:9/hit");
            stored.Storage = StorageMode.Always;
            stored.StoragePath = dir;
            using (new Tracker(stored))
            {
                var locked = Is.Throws<TrackerException>(() => new Tracker(stored), "second tracker on the store");
                Is.Equal(TrackerResult.ErrorLocked, locked.Result, "locked");
                Is.Contains(dir, locked.NativeMessage, "message names the directory");
            }
        }

        [Check("opt-out drops new hits, purges the queue and is remembered")]
        static void OptOut()
        {
            using (var collector = new Collector())
            {
                var config = Config(collector, StorageMode.Always, Env.NewDir("optout"));
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    tracker.Send("n=1");
                    tracker.Send("n=2");
                    Is.False(tracker.OptOut, "not opted out at first");
                    tracker.OptOut = true;
                    Is.True(tracker.OptOut, "opted out");
                    Is.Equal(0UL, tracker.OfflineCount, "queue purged");
                    tracker.Send("n=3");
                    Is.True(tracker.Flush(15000), "flush");
                    var dropped = log.Pump(tracker, TrackerEventKind.Dropped, 3);
                    // Opt-out is consent denied, under its older name.
                    Is.True(dropped.All(e => e.Reason == "consent denied"), "reason says consent denied: " + string.Join("; ", dropped));
                    Is.Equal(Consent.Denied, tracker.Consent, "opted out is denied");
                    Is.True(dropped.Any(e => N(e.Hit) == 3), "the new hit n=3 is dropped: " + string.Join("; ", dropped));
                }
                using (var tracker = new Tracker(config))
                {
                    Is.True(tracker.OptOut, "remembered across runs");
                    tracker.OptOut = false;
                    tracker.Send("n=4");
                    Is.Equal(1UL, tracker.OfflineCount, "accepted again");
                }
            }
        }

        [Check("consent: pending keeps hits and sends nothing, granted releases them in order, denied drops; remembered")]
        static void ConsentStates()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var config = Config(collector, StorageMode.Required, Env.NewDir("consent"));
                config.Consent = Consent.Pending;
                Is.Contains("\"consent\":\"pending\"", config.ToJson(), "config key");
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    Is.Equal(Consent.Pending, tracker.Consent, "the config's consent");
                    tracker.Consent = Consent.Pending;
                    tracker.Send("n=1");
                    tracker.Send("n=2");
                    tracker.Dispatch();
                    tracker.SetOnline(true);
                    Is.True(tracker.Flush(15000), "flush while pending");
                    var stored = log.Pump(tracker, TrackerEventKind.Stored, 2);
                    Is.True(stored.All(e => e.Reason == "consent pending: kept until granted"), "STORED reason: " + string.Join("; ", stored));
                    Thread.Sleep(300);
                    Is.Equal(0, collector.Requests.Count, "nothing sent while pending");
                    var stats = tracker.GetStats();
                    Is.Equal(Consent.Pending, stats.Consent, "stats.consent");
                    Is.False(stats.OptOut, "pending is not opted out");
                    Is.Equal(TrackerResult.ErrorInvalidArgument,
                        Is.Throws<TrackerException>(() => tracker.Consent = (Consent)3, "consent 3").Result, "out-of-range consent");
                    Is.Equal(Consent.Pending, tracker.Consent, "unchanged");
                }
                config.Consent = Consent.Granted;
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    Is.Equal(Consent.Pending, tracker.Consent, "the remembered answer wins over the config");
                    tracker.Consent = Consent.Granted;
                    var requests = collector.WaitFor(2, 10000);
                    Is.Seq(new[] { 1, 2 }, requests.Select(r => r.N), "released in order");
                    Is.True(requests.All(r => r.Param("ts") != null), "each with its creation time");
                    tracker.Consent = Consent.Denied;
                    Is.True(tracker.OptOut, "denied is opted out");
                    tracker.Send("n=3");
                    Is.True(tracker.Flush(15000), "flush");
                    var dropped = log.Pump(tracker, TrackerEventKind.Dropped, 1);
                    Is.Equal("consent denied", dropped.Single().Reason, "DROPPED reason");
                    Is.Equal(2, collector.Requests.Count, "nothing sent while denied");
                }
            }
        }

        [Check("offline queue calls: count, get, oldest, latest, delete, delete older than")]
        static void OfflineQueue()
        {
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Always, Env.NewDir("queue"))))
            {
                var log = new EventLog(tracker);
                Is.Equal(0UL, tracker.OfflineCount, "empty");
                Is.True(tracker.GetOldestOfflineHit() == null, "oldest of empty is null");
                Is.True(tracker.GetLatestOfflineHit() == null, "latest of empty is null");
                Is.Equal(0, tracker.GetOfflineHits().Length, "get of empty");

                long before = DateTimeOffsetNowMs();
                for (int n = 1; n <= 4; n++)
                    tracker.Send("n=" + n);
                long after = DateTimeOffsetNowMs();
                Is.Equal(4UL, tracker.OfflineCount, "count");
                var two = tracker.GetOfflineHits(2);
                Is.Seq(new[] { 1, 2 }, two.Select(h => N(h.Hit)), "get(2) gives the oldest two");
                var all = tracker.GetOfflineHits();
                Is.True(all.All(h => h.CreatedMs >= before - 1000 && h.CreatedMs <= after + 1000), "created is the send time");
                Is.True(all.All(h => h.Attempts == 0), "no attempts yet");
                Is.True(all.All(h => h.Hit.StartsWith(collector.Endpoint + "?n=", StringComparison.Ordinal)), "hit as it will be sent");
                Is.Contains("\"hit\"", tracker.GetOfflineHitsJson(1), "raw JSON");

                var stats = tracker.GetStats();
                Is.Equal(4UL, stats.Queued, "stats.queued");
                Is.True(stats.QueuedBytes > 0, "stats.queued_bytes");
                Is.Equal(StorageMode.Always, stats.Storage, "stats.storage");
                Is.Contains("\"queued\":4", stats.RawJson, "raw stats JSON");

                Is.Equal(0UL, tracker.DeleteOfflineHitsOlderThan(3600), "nothing older than an hour");
                Is.Equal(4UL, tracker.DeleteOfflineHits(), "deleted");
                Is.Equal(0UL, tracker.OfflineCount, "empty again");
                Is.True(tracker.Flush(15000), "flush");
                var dropped = log.Pump(tracker, TrackerEventKind.Dropped, 4);
                // Whether the event still carries the URL is documented both ways
                // (header: empty; README: kept), so only ids are checked.
                Is.Seq(all.Select(h => h.Id), dropped.Select(e => e.Id), "one DROPPED per deleted hit, oldest first");
            }
        }

        static long DateTimeOffsetNowMs()
        {
            return (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalMilliseconds;
        }

        [Check("StorageMode and SetOnline round-trip")]
        static void ModeAndOnline()
        {
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Never, Env.NewDir("mode"))))
            {
                Is.Equal(StorageMode.Never, tracker.StorageMode, "initial");
                tracker.StorageMode = StorageMode.Always;
                Is.Equal(StorageMode.Always, tracker.StorageMode, "always");
                tracker.StorageMode = StorageMode.Required;
                Is.Equal(StorageMode.Required, tracker.StorageMode, "required");
                tracker.SetOnline(false);
                Is.False(tracker.GetStats().Online, "offline after SetOnline(false)");
                collector.Up();
                tracker.SetOnline(true);
                Is.True(tracker.Flush(15000), "flush");
                Is.True(tracker.GetStats().Online, "online after SetOnline(true)");
            }
        }

        [Check("Flush returns false on timeout while a request hangs")]
        static void FlushTimeout()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                collector.Hang();
                var config = Config(collector, StorageMode.Required, Env.NewDir("hang"));
                config.ShutdownTimeoutMs = 500;
                using (var tracker = new Tracker(config))
                {
                    tracker.Send("n=1");
                    collector.WaitFor(1, 10000);
                    Is.False(tracker.Flush(200), "flush while the request hangs");
                    collector.Release();
                    Is.True(tracker.Flush(15000), "flush once answered");
                }
            }
        }

        [Check("request headers from TrackerConfig reach the collector")]
        static void Headers()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var config = Config(collector, StorageMode.Required, Env.NewDir("headers"));
                config.Headers["X-Offtrack-Test"] = "a \"quoted\" value";
                config.IdParam = "hid";
                using (var tracker = new Tracker(config))
                {
                    tracker.Send("n=1");
                    Is.True(tracker.Flush(15000), "flush");
                    var r = collector.WaitFor(1, 10000).Single();
                    Is.Equal("a \"quoted\" value", r.Header("X-Offtrack-Test"), "header");
                    Is.True(r.Header("User-Agent").StartsWith("offtrack/", StringComparison.Ordinal), "default User-Agent");
                    Is.True(r.Param("hid") != null, "id parameter");
                }
            }
        }

        [Check("a throwing handler: exception reaches the pump caller, later events stay queued")]
        static void HandlerExceptions()
        {
            using (var collector = new Collector())
            using (var tracker = new Tracker(Config(collector, StorageMode.Always, Env.NewDir("throw"))))
            {
                var seen = new List<int>();
                tracker.Stored += e =>
                {
                    seen.Add(N(e.Hit));
                    if (seen.Count == 1)
                        throw new InvalidOperationException("handler failed");
                };
                for (int n = 1; n <= 3; n++)
                    tracker.Send("n=" + n);
                Is.True(tracker.Flush(15000), "flush");
                Is.Throws<InvalidOperationException>(() => tracker.DispatchEvents(), "handler exception propagates");
                Is.Seq(new[] { 1 }, seen, "stopped at the throwing handler");
                Is.Eventually(() => { tracker.DispatchEvents(); return seen.Count == 3; }, 10000, "the rest are raised later");
                Is.Seq(new[] { 1, 2, 3 }, seen, "order kept");
            }
        }

        [Check("the native callback swallows everything (NULL event, foreign user_data)")]
        static void CallbackNeverThrows()
        {
            var method = typeof(Tracker).GetMethod("OnNativeEvent", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic);
            Is.True(method != null, "callback found");
            method.Invoke(null, new object[] { IntPtr.Zero, IntPtr.Zero });
            IntPtr evt = Marshal.AllocHGlobal(64);
            GCHandle foreign = GCHandle.Alloc("not a queue");
            try
            {
                for (int i = 0; i < 64; i++)
                    Marshal.WriteByte(evt, i, 0);
                method.Invoke(null, new object[] { evt, GCHandle.ToIntPtr(foreign) });
            }
            finally
            {
                foreign.Free();
                Marshal.FreeHGlobal(evt);
            }
        }

        [Check("DisposeAll disposes every live tracker and releases the stores")]
        static void DisposeAll()
        {
            var a = new TrackerConfig("http://127.0.0.1:9/hit") { Storage = StorageMode.Always, StoragePath = Env.NewDir("all-a") };
            var b = new TrackerConfig("http://127.0.0.1:9/hit") { Storage = StorageMode.Always, StoragePath = Env.NewDir("all-b") };
            var ta = new Tracker(a);
            var tb = new Tracker(b);
            Tracker.DisposeAll();
            Is.True(ta.IsDisposed && tb.IsDisposed, "both disposed");
            using (new Tracker(a))
            using (new Tracker(b))
            {
            }
        }

        [Check("an undisposed tracker is destroyed by its SafeHandle finalizer")]
        static void FinalizerReleasesStore()
        {
            var config = new TrackerConfig("http://127.0.0.1:9/hit") { Storage = StorageMode.Always, StoragePath = Env.NewDir("finalizer") };
            Abandon(config);
            Is.Eventually(() =>
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    new Tracker(config).Dispose();
                    return true;
                }
                catch (TrackerException e)
                {
                    if (e.Result != TrackerResult.ErrorLocked)
                        throw;
                    return false;
                }
            }, 15000, "store reopened after finalization");
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static void Abandon(TrackerConfig config)
        {
            var t = new Tracker(config);
            t.Send("n=1");
        }

        [Check("many events from the worker thread while the main thread pumps")]
        static void ManyEvents()
        {
            using (var collector = new Collector())
            {
                collector.Up();
                var config = Config(collector, StorageMode.Never, null);
                config.StoragePath = null;
                config.MaxMemoryHits = 1000;
                using (var tracker = new Tracker(config))
                {
                    var log = new EventLog(tracker);
                    for (int n = 1; n <= 200; n++)
                    {
                        tracker.Send("n=" + n);
                        if (n % 20 == 0)
                            tracker.DispatchEvents();
                    }
                    Is.True(tracker.Flush(30000), "flush");
                    var sent = log.Pump(tracker, TrackerEventKind.Sent, 200, 30000);
                    Is.Seq(Enumerable.Range(1, 200), sent.Select(e => N(e.Hit)), "all SENT, in order");
                    Is.Seq(Enumerable.Range(1, 200), collector.WaitFor(200, 10000).Select(r => r.N), "collector order");
                    Is.Equal(0L, tracker.LostEvents, "no event lost");
                }
            }
        }
    }
}
