using System;
using System.Collections.Generic;
using System.IO;
using NUnit.Framework;

namespace Offtrack.Tests
{
    /// <summary>
    /// Edit Mode tests of the engine-free core against the native plugin. They
    /// need no network: hits stay in Always mode, and the endpoint is a port
    /// nothing listens on.
    /// </summary>
    [TestFixture]
    public class TrackerTests
    {
        const string Endpoint = "http://127.0.0.1:9/hit";
        readonly List<Tracker> _trackers = new List<Tracker>();
        string _dir;

        [SetUp]
        public void CreateDirectory()
        {
            _dir = Path.Combine(Path.GetTempPath(), "offtrack-tests-" + Guid.NewGuid().ToString("N"));
        }

        [TearDown]
        public void DeleteDirectory()
        {
            foreach (var tracker in _trackers)
                tracker.Dispose();
            _trackers.Clear();
            if (Directory.Exists(_dir))
                Directory.Delete(_dir, true);
        }

        Tracker Create(StorageMode mode)
        {
            var config = new TrackerConfig(Endpoint);
            config.Storage = mode;
            if (mode != StorageMode.Never)
                config.StoragePath = Path.Combine(_dir, "store");
            config.ShutdownTimeoutMs = 500;
            var tracker = new Tracker(config);
            _trackers.Add(tracker);
            return tracker;
        }

        [Test]
        public void VersionIsReported()
        {
            Assert.IsFalse(string.IsNullOrEmpty(Tracker.Version));
        }

        [Test]
        public void ResultNamesComeFromTheLibrary()
        {
            Assert.AreEqual("TRACKER_OK", Tracker.ResultName(TrackerResult.Ok));
            Assert.AreEqual("TRACKER_ERROR_CONFIG", Tracker.ResultName(TrackerResult.ErrorConfig));
            Assert.AreEqual("TRACKER_ERROR_LOCKED", Tracker.ResultName(TrackerResult.ErrorLocked));
        }

        [Test]
        public void BadConfigThrowsWithTheNativeMessage()
        {
            var e = Assert.Throws<TrackerException>(() => new Tracker("{\"endpoint\":\"" + Endpoint + "\",\"no_such_key\":1}"));
            Assert.AreEqual(TrackerResult.ErrorConfig, e.Result);
            StringAssert.Contains("no_such_key", e.NativeMessage);
            StringAssert.Contains(e.NativeMessage, e.Message);
        }

        [Test]
        public void AlwaysModeKeepsHitsInOrder()
        {
            using (var tracker = Create(StorageMode.Always))
            {
                tracker.Send("n=1");
                tracker.Send("n=2");
                tracker.Send("n=3");
                Assert.AreEqual(3UL, tracker.OfflineCount);
                StoredHit[] hits = tracker.GetOfflineHits();
                Assert.AreEqual(3, hits.Length);
                StringAssert.Contains("?n=1&", hits[0].Hit);
                StringAssert.Contains("?n=3&", hits[2].Hit);
                Assert.IsTrue(hits[0].Id < hits[1].Id && hits[1].Id < hits[2].Id, "ids grow");
                Assert.AreEqual(hits[0].Id, tracker.GetOldestOfflineHit().Id);
                Assert.AreEqual(hits[2].Id, tracker.GetLatestOfflineHit().Id);
                Assert.AreEqual(2, tracker.GetOfflineHits(2).Length);
            }
        }

        [Test]
        public void NonAsciiHitIsStoredAsPercentEncodedUtf8()
        {
            using (var tracker = Create(StorageMode.Always))
            {
                tracker.Send("player=Zo\u00eb&city=\u6771\u4eac");
                string hit = tracker.GetOldestOfflineHit().Hit;
                StringAssert.Contains("player=Zo%C3%AB", hit);
                StringAssert.Contains("city=%E6%9D%B1%E4%BA%AC", hit);
            }
        }

        [Test]
        public void DeletedHitsRaiseDroppedEventsOnDispatchEvents()
        {
            using (var tracker = Create(StorageMode.Always))
            {
                var dropped = new List<TrackerEvent>();
                tracker.Dropped += dropped.Add;
                tracker.Send("n=1");
                tracker.Send("n=2");
                Assert.AreEqual(2UL, tracker.DeleteOfflineHits());
                Assert.IsTrue(tracker.Flush(10000), "flush");
                Assert.AreEqual(0, dropped.Count, "no event before DispatchEvents");
                tracker.DispatchEvents();
                Assert.AreEqual(2, dropped.Count);
                Assert.AreEqual(0UL, tracker.OfflineCount);
                Assert.IsNull(tracker.GetOldestOfflineHit());
            }
        }

        [Test]
        public void DisposeTwiceIsHarmlessAndReleasesTheStore()
        {
            var tracker = Create(StorageMode.Always);
            tracker.Dispose();
            tracker.Dispose();
            Assert.IsTrue(tracker.IsDisposed);
            Assert.Throws<ObjectDisposedException>(() => tracker.Send("n=1"));
            using (var again = Create(StorageMode.Always))
                Assert.AreEqual(StorageMode.Always, again.StorageMode);
        }

        [Test]
        public void SecondTrackerOnTheSameStoreIsLocked()
        {
            using (Create(StorageMode.Always))
            {
                var e = Assert.Throws<TrackerException>(() => Create(StorageMode.Always));
                Assert.AreEqual(TrackerResult.ErrorLocked, e.Result);
            }
        }

        [Test]
        public void StorageModeNeedsAStoragePath()
        {
            using (var tracker = Create(StorageMode.Never))
            {
                var e = Assert.Throws<TrackerException>(() => tracker.StorageMode = StorageMode.Required);
                Assert.AreEqual(TrackerResult.ErrorConfig, e.Result);
                Assert.AreEqual(StorageMode.Never, tracker.StorageMode);
            }
        }
    }
}
