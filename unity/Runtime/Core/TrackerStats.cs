using System.Collections.Generic;

namespace Offtrack
{
    /// <summary>Counters and state from tracker_stats. <see cref="RawJson"/> keeps the full answer.</summary>
    public sealed class TrackerStats
    {
        /// <summary>Hits in the offline queue.</summary>
        public ulong Queued { get; private set; }
        /// <summary>Sum of the stored hits' URL bytes.</summary>
        public ulong QueuedBytes { get; private set; }
        /// <summary>Hits waiting in the never-mode memory queue.</summary>
        public ulong MemoryQueued { get; private set; }
        public ulong Sent { get; private set; }
        public ulong Stored { get; private set; }
        public ulong Dropped { get; private set; }
        public ulong FailedAttempts { get; private set; }
        public bool Online { get; private set; }
        public StorageMode Storage { get; private set; }
        /// <summary>True exactly when <see cref="Consent"/> is Denied.</summary>
        public bool OptOut { get; private set; }
        public Consent Consent { get; private set; }
        public string LastError { get; private set; }
        /// <summary>Unix milliseconds of the last delivery, 0 if none yet.</summary>
        public long LastSuccessMs { get; private set; }
        public ulong WorkerRestarts { get; private set; }
        public ulong StoreResets { get; private set; }
        /// <summary>The JSON object as the library returned it.</summary>
        public string RawJson { get; private set; }

        internal static TrackerStats FromJson(string json)
        {
            var obj = Json.Parse(json) as Dictionary<string, object>;
            if (obj == null)
                throw new System.FormatException("JSON from the library: expected an object");
            var s = new TrackerStats();
            s.RawJson = json;
            s.Queued = Json.ToUInt64(Json.Get(obj, "queued"));
            s.QueuedBytes = Json.ToUInt64(Json.Get(obj, "queued_bytes"));
            s.MemoryQueued = Json.ToUInt64(Json.Get(obj, "memory_queued"));
            s.Sent = Json.ToUInt64(Json.Get(obj, "sent"));
            s.Stored = Json.ToUInt64(Json.Get(obj, "stored"));
            s.Dropped = Json.ToUInt64(Json.Get(obj, "dropped"));
            s.FailedAttempts = Json.ToUInt64(Json.Get(obj, "failed_attempts"));
            s.Online = Json.Get(obj, "online") as bool? ?? false;
            s.OptOut = Json.Get(obj, "opt_out") as bool? ?? false;
            s.Consent = ParseConsent(Json.Get(obj, "consent") as string);
            s.Storage = ParseMode(Json.Get(obj, "storage") as string);
            s.LastError = Json.Get(obj, "last_error") as string ?? string.Empty;
            s.LastSuccessMs = Json.ToInt64(Json.Get(obj, "last_success_ms"));
            s.WorkerRestarts = Json.ToUInt64(Json.Get(obj, "worker_restarts"));
            s.StoreResets = Json.ToUInt64(Json.Get(obj, "store_resets"));
            return s;
        }

        static StorageMode ParseMode(string name)
        {
            switch (name)
            {
                case "required": return StorageMode.Required;
                case "always": return StorageMode.Always;
                default: return StorageMode.Never;
            }
        }

        static Consent ParseConsent(string name)
        {
            switch (name)
            {
                case "granted": return Offtrack.Consent.Granted;
                case "denied": return Offtrack.Consent.Denied;
                // Unknown: the side that sends nothing.
                default: return Offtrack.Consent.Pending;
            }
        }

        public override string ToString()
        {
            return RawJson;
        }
    }
}
