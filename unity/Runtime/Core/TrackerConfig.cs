using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Offtrack
{
    /// <summary>Body of a batched POST (batch_format).</summary>
    public enum BatchFormat
    {
        /// <summary>text/plain: one hit per line, each the query a GET of it would carry.</summary>
        Lines = 0,
        /// <summary>application/json: {"requests":["?&lt;query&gt;", …]}.</summary>
        Json = 1,
    }

    /// <summary>
    /// The JSON configuration of tracker_create as typed properties. Only the
    /// properties that were set are written: a null property (and an empty
    /// Headers) is left out, so the library's own default applies to it (the
    /// Offtrack README, "Configuration"; this package repeats none of them).
    /// The library validates every value (errors name the key).
    /// </summary>
    public sealed class TrackerConfig
    {
        public TrackerConfig(string endpoint)
        {
            Endpoint = endpoint;
            Headers = new Dictionary<string, string>();
        }

        /// <summary>http:// or https:// base URL of the collector.</summary>
        public string Endpoint { get; set; }
        /// <summary>Directory of this tracker's queue; required unless the storage mode is Never.</summary>
        public string StoragePath { get; set; }
        public StorageMode? Storage { get; set; }
        /// <summary>Consent until the app records the player's answer (which the storage directory remembers).</summary>
        public Consent? Consent { get; set; }
        /// <summary>Name of the creation-time parameter; "" turns it off.</summary>
        public string TimestampParam { get; set; }
        public bool? TimestampOfflineOnly { get; set; }
        /// <summary>If set, each request carries the hit's id under this name.</summary>
        public string IdParam { get; set; }
        /// <summary>Extra request headers.</summary>
        public Dictionary<string, string> Headers { get; private set; }
        public int? MaxAttempts { get; set; }
        public int? MaxHitBytes { get; set; }
        public long? MaxQueueHits { get; set; }
        public long? MaxQueueBytes { get; set; }
        public long? MaxMemoryHits { get; set; }
        /// <summary>Stored hits older than this are dropped; 0 keeps them forever.</summary>
        public long? MaxAgeSeconds { get; set; }
        public int? RequestTimeoutSeconds { get; set; }
        public int? ShutdownTimeoutMs { get; set; }
        public long? RetryBaseMs { get; set; }
        public long? RetryMaxMs { get; set; }
        public long? SendIntervalMs { get; set; }
        /// <summary>URL on the endpoint's origin that takes a POST of many hits; "" turns batching off.</summary>
        public string BatchEndpoint { get; set; }
        public BatchFormat? BatchFormat { get; set; }
        /// <summary>Most hits in one batch.</summary>
        public int? BatchMaxHits { get; set; }
        /// <summary>Most body bytes in one batch; a larger hit goes alone.</summary>
        public long? BatchMaxBytes { get; set; }
        /// <summary>64 hex characters (a 256-bit key): stored hits are sealed with AES-256-GCM; "" is off.
        /// Keep it in the platform's secret store (Keychain on iOS, Android Keystore, DPAPI on Windows),
        /// never in a scene, a ScriptableObject or PlayerPrefs. <see cref="ToString"/> does not show it.</summary>
        public string EncryptionKey { get; set; }

        public string ToJson()
        {
            return Build(EncryptionKey == null ? null : Json.Quote(EncryptionKey));
        }

        string Build(string encryptionKey)
        {
            var sb = new StringBuilder("{");
            bool first = true;
            Add(sb, ref first, "endpoint", Endpoint == null ? null : Json.Quote(Endpoint));
            Add(sb, ref first, "storage_path", StoragePath == null ? null : Json.Quote(StoragePath));
            Add(sb, ref first, "storage", Storage.HasValue ? Json.Quote(ModeName(Storage.Value)) : null);
            Add(sb, ref first, "consent", Consent.HasValue ? Json.Quote(ConsentName(Consent.Value)) : null);
            Add(sb, ref first, "timestamp_param", TimestampParam == null ? null : Json.Quote(TimestampParam));
            Add(sb, ref first, "timestamp_offline_only", TimestampOfflineOnly.HasValue ? (TimestampOfflineOnly.Value ? "true" : "false") : null);
            Add(sb, ref first, "id_param", IdParam == null ? null : Json.Quote(IdParam));
            if (Headers.Count > 0)
            {
                var h = new StringBuilder("{");
                bool firstHeader = true;
                foreach (var pair in Headers)
                    Add(h, ref firstHeader, pair.Key, Json.Quote(pair.Value ?? string.Empty));
                h.Append('}');
                Add(sb, ref first, "headers", h.ToString());
            }
            Add(sb, ref first, "max_attempts", Number(MaxAttempts));
            Add(sb, ref first, "max_hit_bytes", Number(MaxHitBytes));
            Add(sb, ref first, "max_queue_hits", Number(MaxQueueHits));
            Add(sb, ref first, "max_queue_bytes", Number(MaxQueueBytes));
            Add(sb, ref first, "max_memory_hits", Number(MaxMemoryHits));
            Add(sb, ref first, "max_age_seconds", Number(MaxAgeSeconds));
            Add(sb, ref first, "request_timeout_seconds", Number(RequestTimeoutSeconds));
            Add(sb, ref first, "shutdown_timeout_ms", Number(ShutdownTimeoutMs));
            Add(sb, ref first, "retry_base_ms", Number(RetryBaseMs));
            Add(sb, ref first, "retry_max_ms", Number(RetryMaxMs));
            Add(sb, ref first, "send_interval_ms", Number(SendIntervalMs));
            Add(sb, ref first, "batch_endpoint", BatchEndpoint == null ? null : Json.Quote(BatchEndpoint));
            Add(sb, ref first, "batch_format", BatchFormat.HasValue ? Json.Quote(BatchFormat.Value == Offtrack.BatchFormat.Json ? "json" : "lines") : null);
            Add(sb, ref first, "batch_max_hits", Number(BatchMaxHits));
            Add(sb, ref first, "batch_max_bytes", Number(BatchMaxBytes));
            Add(sb, ref first, "encryption_key", encryptionKey);
            sb.Append('}');
            return sb.ToString();
        }

        /// <summary>The configuration as JSON for logs: an encryption key shows as "(set)".</summary>
        public override string ToString()
        {
            return Build(EncryptionKey == null ? null : Json.Quote(EncryptionKey.Length == 0 ? "" : "(set)"));
        }

        internal static string ModeName(StorageMode mode)
        {
            switch (mode)
            {
                case StorageMode.Never: return "never";
                case StorageMode.Required: return "required";
                case StorageMode.Always: return "always";
                default: return ((int)mode).ToString(CultureInfo.InvariantCulture);
            }
        }

        internal static string ConsentName(Offtrack.Consent consent)
        {
            switch (consent)
            {
                case Offtrack.Consent.Granted: return "granted";
                case Offtrack.Consent.Pending: return "pending";
                case Offtrack.Consent.Denied: return "denied";
                default: return ((int)consent).ToString(CultureInfo.InvariantCulture);
            }
        }

        static string Number(long? value)
        {
            return value.HasValue ? value.Value.ToString(CultureInfo.InvariantCulture) : null;
        }

        static void Add(StringBuilder sb, ref bool first, string key, string jsonValue)
        {
            if (jsonValue == null)
                return;
            if (!first)
                sb.Append(',');
            first = false;
            sb.Append(Json.Quote(key)).Append(':').Append(jsonValue);
        }
    }
}
