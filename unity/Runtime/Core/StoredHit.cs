using System;
using System.Collections.Generic;

namespace Offtrack
{
    /// <summary>A hit in the offline queue, as tracker_offline_get and friends report it.</summary>
    public sealed class StoredHit
    {
        static readonly DateTime Epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        public StoredHit(ulong id, string hit, long createdMs, long attempts)
        {
            Id = id;
            Hit = hit ?? string.Empty;
            CreatedMs = createdMs;
            Attempts = attempts;
        }

        public ulong Id { get; private set; }

        /// <summary>The request URL as it will be sent.</summary>
        public string Hit { get; private set; }

        /// <summary>When the hit was made, in Unix milliseconds.</summary>
        public long CreatedMs { get; private set; }

        public DateTime CreatedUtc
        {
            get { return Epoch.AddMilliseconds(CreatedMs); }
        }

        /// <summary>Failed deliveries with a server answer so far.</summary>
        public long Attempts { get; private set; }

        public override string ToString()
        {
            return "#" + Id + " " + Hit;
        }

        internal static StoredHit FromJson(object value)
        {
            var obj = value as Dictionary<string, object>;
            if (obj == null)
                return null;
            return new StoredHit(
                Json.ToUInt64(Json.Get(obj, "id")),
                Json.Get(obj, "hit") as string,
                Json.ToInt64(Json.Get(obj, "created")),
                Json.ToInt64(Json.Get(obj, "attempts")));
        }

        internal static StoredHit[] ArrayFromJson(string json)
        {
            var list = Json.Parse(json) as List<object>;
            if (list == null)
                throw new FormatException("JSON from the library: expected an array");
            var hits = new StoredHit[list.Count];
            for (int i = 0; i < hits.Length; i++)
                hits[i] = FromJson(list[i]);
            return hits;
        }
    }
}
