namespace Offtrack
{
    /// <summary>What happens to a hit (TRACKER_STORAGE_*).</summary>
    public enum StorageMode
    {
        /// <summary>Sent at once; lost (Dropped event) if it cannot be delivered.</summary>
        Never = 0,
        /// <summary>Sent at once; kept on disk and sent later if the collector cannot be reached.</summary>
        Required = 1,
        /// <summary>Kept on disk until <see cref="Tracker.Dispatch"/>.</summary>
        Always = 2,
    }

    /// <summary>The player's answer to the consent question (TRACKER_CONSENT_*).</summary>
    public enum Consent
    {
        /// <summary>Hits are delivered.</summary>
        Granted = 0,
        /// <summary>Not answered yet: hits are kept (on disk unless the mode is Never) and nothing is sent.</summary>
        Pending = 1,
        /// <summary>Refused: the queue is purged and new hits are dropped.</summary>
        Denied = 2,
    }

    /// <summary>Kind of a <see cref="TrackerEvent"/> (TRACKER_EVENT_*).</summary>
    public enum TrackerEventKind
    {
        /// <summary>The collector accepted the hit.</summary>
        Sent = 0,
        /// <summary>The hit is kept for later: on disk, or in memory while consent is pending in Never mode.</summary>
        Stored = 1,
        /// <summary>The hit is gone without being delivered; the reason says why.</summary>
        Dropped = 2,
    }

    /// <summary>Result codes of the C API (TRACKER_OK, TRACKER_ERROR_*).</summary>
    public enum TrackerResult
    {
        Ok = 0,
        ErrorNullArgument = 1,
        ErrorInvalidArgument = 2,
        ErrorConfig = 3,
        ErrorStorage = 4,
        ErrorLocked = 5,
        ErrorTimeout = 6,
        ErrorClosed = 7,
        ErrorPanic = 8,
    }
}
