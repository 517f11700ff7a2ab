namespace Offtrack
{
    /// <summary>One event of the tracker, copied out of the native callback.</summary>
    public sealed class TrackerEvent
    {
        public TrackerEvent(TrackerEventKind kind, ulong id, string hit, int httpStatus, string reason)
        {
            Kind = kind;
            Id = id;
            Hit = hit ?? string.Empty;
            HttpStatus = httpStatus;
            Reason = reason ?? string.Empty;
        }

        public TrackerEventKind Kind { get; private set; }

        /// <summary>The hit's id, unique per storage directory.</summary>
        public ulong Id { get; private set; }

        /// <summary>The request URL as last built; empty for hits erased by a delete or opt-out.</summary>
        public string Hit { get; private set; }

        /// <summary>Last HTTP status, 0 if there was no response.</summary>
        public int HttpStatus { get; private set; }

        /// <summary>Why the hit was stored or dropped; empty for Sent.</summary>
        public string Reason { get; private set; }

        public override string ToString()
        {
            return Kind + " #" + Id + " status=" + HttpStatus
                + (Reason.Length > 0 ? " reason=" + Reason : string.Empty) + " " + Hit;
        }
    }
}
