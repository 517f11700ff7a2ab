using System;
using System.IO;
using UnityEngine;
#if UNITY_EDITOR
using UnityEditor;
#endif

namespace Offtrack.Unity
{
    /// <summary>
    /// Drop-in component around <see cref="Offtrack.Tracker"/>: creates the
    /// tracker from the Inspector settings with its queue under
    /// Application.persistentDataPath, raises its events in Update, dispatches
    /// stored hits when the app goes to the background, passes the device's
    /// reachability as the online hint and disposes the tracker whenever Unity
    /// tears scripts down, so the store is never left locked. Optionally sends
    /// through UnityWebRequest instead of the library's own HTTP client.
    /// </summary>
    [DisallowMultipleComponent]
    [DefaultExecutionOrder(-1000)]
    [AddComponentMenu("Offtrack/Offtrack Tracker")]
    public class OfftrackTracker : MonoBehaviour
    {
        [Header("Collector")]
        [Tooltip("http:// or https:// base URL of the collector. A hit's query string is appended to it.")]
        public string endpoint = "https://collect.example.com/hit";

        [Tooltip("Never: sent at once, lost if undeliverable. Required: kept on disk while the collector cannot be reached. Always: kept on disk until Dispatch().")]
        public StorageMode storageMode = StorageMode.Required;

        [Tooltip("Folder of the offline queue under Application.persistentDataPath. One open tracker per folder.")]
        public string storageFolder = "offtrack";

        [Header("Privacy")]
        [Tooltip("Consent until the player has answered. Pending: hits are kept and nothing is sent until SetConsent(Granted). The answer given with SetConsent is remembered in the storage folder and wins over this field in later runs.")]
        public Consent initialConsent = Consent.Granted;

        [Tooltip("Refuse to open without EncryptionKey (set from code before Open(); turn off Open On Enable), so a missing key never means hits stored in plain text.")]
        public bool requireEncryption;

        /// <summary>
        /// The key for encryption at rest (64 hex characters), set from code before
        /// <see cref="Open"/>: turn off Open On Enable, read the key from the platform's
        /// secret store (Keychain on iOS and macOS, Android Keystore, DPAPI on Windows),
        /// assign it here and call Open(). Never serialized, so it is not saved in the scene
        /// and is gone after a domain reload (the library then refuses the encrypted store
        /// until it is set again). Null or "": no encryption.
        /// </summary>
        public string EncryptionKey { get; set; }

        // Library settings: each value is sent only while its override box is
        // ticked, so every other setting keeps the library's own default (the
        // Offtrack README, "Configuration"); none is repeated here.

        [Header("Limits (unticked: the library's default)")]
        [Tooltip("Send Max Queue Hits instead of the library's default.")]
        public bool overrideMaxQueueHits;
        [Tooltip("Stored hits at most; when full the oldest is dropped.")]
        public long maxQueueHits;

        [Tooltip("Send Max Queue Bytes instead of the library's default.")]
        public bool overrideMaxQueueBytes;
        [Tooltip("Sum of the stored hits' URL bytes at most; when full the oldest is dropped.")]
        public long maxQueueBytes;

        [Tooltip("Send Max Age Seconds instead of the library's default.")]
        public bool overrideMaxAgeSeconds;
        [Tooltip("Stored hits older than this are dropped; 0 keeps them forever.")]
        public long maxAgeSeconds;

        [Tooltip("Send Max Attempts instead of the library's default.")]
        public bool overrideMaxAttempts;
        [Tooltip("Answers 5xx/408/429 before a hit is dropped.")]
        public int maxAttempts;

        [Tooltip("Send Request Timeout Seconds instead of the library's default.")]
        public bool overrideRequestTimeoutSeconds;
        [Tooltip("Whole-request timeout in seconds (at least 1).")]
        public int requestTimeoutSeconds;

        [Tooltip("Send Send Interval Ms instead of the library's default.")]
        public bool overrideSendIntervalMs;
        [Tooltip("Pause between two requests while the queue drains, in milliseconds.")]
        public long sendIntervalMs;

        [Header("Request (unticked: the library's default)")]
        [Tooltip("Send Timestamp Param instead of the library's default.")]
        public bool overrideTimestampParam;
        [Tooltip("Query parameter carrying the time each hit was made (Unix seconds); empty turns it off.")]
        public string timestampParam = "";

        [Tooltip("Send Id Param instead of the library's default.")]
        public bool overrideIdParam;
        [Tooltip("If set, each request carries the hit's id under this name, so the collector can drop duplicates.")]
        public string idParam = "";

        [Header("Batches (unticked: the library's default)")]
        [Tooltip("Send Batch Endpoint instead of the library's default (off).")]
        public bool overrideBatchEndpoint;
        [Tooltip("URL on the endpoint's origin that takes a POST of many hits: a stored queue then goes out in a few requests. Empty: one GET per hit.")]
        public string batchEndpoint = "";

        [Tooltip("Send Batch Format instead of the library's default.")]
        public bool overrideBatchFormat;
        [Tooltip("The body of a batch: one query string per line, or Matomo's JSON bulk format.")]
        public BatchFormat batchFormat;

        [Tooltip("Send Batch Max Hits instead of the library's default.")]
        public bool overrideBatchMaxHits;
        [Tooltip("Most hits in one batch (1-10000).")]
        public int batchMaxHits;

        [Tooltip("Send Batch Max Bytes instead of the library's default.")]
        public bool overrideBatchMaxBytes;
        [Tooltip("Most body bytes in one batch; a larger hit goes alone as a GET.")]
        public long batchMaxBytes;

        [Header("Transport")]
        [Tooltip("Send requests through UnityWebRequest (the engine's HTTP stack: its proxy settings and the platform's certificate store) instead of the library's own client. Requests are started and answered on the main thread, so none goes out while the app is paused in the background.")]
        public bool useUnityWebRequest;

        [Header("Lifecycle")]
        [Tooltip("Create the tracker in OnEnable. Turn off to set fields from code first, then call Open().")]
        public bool openOnEnable = true;

        [Tooltip("Send the stored hits when the app goes to the background (OnApplicationPause(true)).")]
        public bool dispatchOnPause = true;

        [Tooltip("Tell the tracker when Application.internetReachability says the device is offline.")]
        public bool useReachabilityHint = true;

        [Tooltip("Keep this GameObject (put it at the root of the scene) across scene loads; a later copy removes itself.")]
        public bool persistAcrossScenes = true;

        [Tooltip("Write every event to the Console.")]
        public bool logEvents = false;

        const float ReachabilityPollSeconds = 1f;

        Tracker _tracker;
        UnityWebRequestTransport _webTransport;
        bool _duplicate;
        bool _lastReachable;
        float _nextReachabilityPoll;

        /// <summary>The first OfftrackTracker that woke up, if it is still alive.</summary>
        public static OfftrackTracker Instance { get; private set; }

        /// <summary>The underlying tracker; null until opened and after Close().</summary>
        public Tracker Tracker
        {
            get { return IsOpen ? _tracker : null; }
        }

        public bool IsOpen
        {
            // Tracker.DisposeAll (domain reload, Play start) may have disposed it behind our back.
            get { return _tracker != null && !_tracker.IsDisposed; }
        }

        /// <summary>The queue directory: Application.persistentDataPath/storageFolder.</summary>
        public string StoragePath
        {
            get { return Path.Combine(Application.persistentDataPath, storageFolder); }
        }

        /// <summary>Raised in Update when the collector accepted a hit.</summary>
        public event Action<TrackerEvent> Sent;

        /// <summary>Raised in Update when a hit was kept for later (on disk, or in memory while consent is pending in Never mode).</summary>
        public event Action<TrackerEvent> Stored;

        /// <summary>Raised in Update when a hit was dropped; the event's Reason says why.</summary>
        public event Action<TrackerEvent> Dropped;

        /// <summary>
        /// Sends a hit such as "event=level_start&amp;level=3". Returns false, and logs
        /// why, if the tracker is not open or refused the hit; use
        /// <see cref="Tracker"/> directly to get exceptions instead.
        /// </summary>
        public bool Send(string hit)
        {
            if (!IsOpen)
            {
                Debug.LogWarning("Offtrack: not open, hit ignored: " + hit, this);
                return false;
            }
            try
            {
                _tracker.Send(hit);
                return true;
            }
            catch (TrackerException e)
            {
                Debug.LogWarning("Offtrack: hit refused: " + e.Message, this);
            }
            catch (ArgumentException e)
            {
                Debug.LogWarning("Offtrack: hit refused: " + e.Message, this);
            }
            return false;
        }

        /// <summary>
        /// The player's consent: the remembered answer, or
        /// <see cref="initialConsent"/> until one was given. While the tracker
        /// is not open, <see cref="initialConsent"/>.
        /// </summary>
        public Consent Consent
        {
            get { return IsOpen ? _tracker.Consent : initialConsent; }
        }

        /// <summary>
        /// Records the player's answer (remembered across runs): Granted sends
        /// what was kept, Denied deletes it and drops later hits. Returns false,
        /// and logs why, if the tracker is not open or could not record it.
        /// </summary>
        public bool SetConsent(Consent consent)
        {
            if (!IsOpen)
            {
                Debug.LogWarning("Offtrack: not open, consent not recorded: " + consent, this);
                return false;
            }
            try
            {
                _tracker.Consent = consent;
                return true;
            }
            catch (TrackerException e)
            {
                Debug.LogWarning("Offtrack: consent not recorded: " + e.Message, this);
            }
            return false;
        }

        /// <summary>Sends every stored hit in the background.</summary>
        public void Dispatch()
        {
            if (IsOpen)
                _tracker.Dispatch();
        }

        /// <summary>Creates the tracker from the fields above, if not open yet.</summary>
        public void Open()
        {
            if (IsOpen)
                return;
            Close();
#if UNITY_WEBGL && !UNITY_EDITOR
            // No threads and no file system: the library does not support WebGL.
            Debug.LogWarning("Offtrack: WebGL is not supported; hits are ignored.", this);
#else
            if (string.IsNullOrEmpty(endpoint))
            {
                Debug.LogError("Offtrack: set the endpoint, then call Open().", this);
                return;
            }
            string path = StoragePath;
            try
            {
                ExcludeFromBackup(path);
                _tracker = new Tracker(BuildConfig(path));
            }
            catch (Exception e)
            {
                Debug.LogError("Offtrack: could not create the tracker: " + e.Message, this);
                return;
            }
            _tracker.Sent += OnSent;
            _tracker.Stored += OnStored;
            _tracker.Dropped += OnDropped;
            if (useUnityWebRequest)
            {
                // Before the first request: a new tracker sends nothing until SetOnline below.
                _webTransport = new UnityWebRequestTransport();
                _tracker.SetTransport(_webTransport);
            }
            // Starts the worker, so hits stored in an earlier run go out now.
            _lastReachable = !useReachabilityHint || IsReachable();
            _nextReachabilityPoll = Time.unscaledTime + ReachabilityPollSeconds;
            _tracker.SetOnline(_lastReachable);
#endif
        }

        /// <summary>
        /// Disposes the tracker: the store is closed and its lock released. Stored hits stay.
        /// The events still queued, and the Dropped events of the dispose itself (Never-mode
        /// hits not yet sent), are raised before this returns.
        /// </summary>
        public void Close()
        {
            var tracker = _tracker;
            if (tracker == null)
                return;
            _tracker = null;
            var webTransport = _webTransport;
            _webTransport = null;
            // Requests that finished are answered first, so their hits count
            // as delivered; Dispose answers the rest "no answer" (their hits
            // stay stored) and the last Update aborts them.
            if (webTransport != null)
                webTransport.Update();
            tracker.Dispose();
            if (webTransport != null)
                webTransport.Update();
            RaiseRemainingEvents(tracker);
            tracker.Sent -= OnSent;
            tracker.Stored -= OnStored;
            tracker.Dropped -= OnDropped;
        }

        void RaiseRemainingEvents(Tracker tracker)
        {
            // A throwing handler stops DispatchEvents and leaves the rest queued;
            // each call still raises at least one event and a disposed tracker
            // queues no more, so the loop ends.
            while (true)
            {
                try
                {
                    if (tracker.DispatchEvents() == 0)
                        return;
                }
                catch (Exception e)
                {
                    Debug.LogException(e, this);
                }
            }
        }

        TrackerConfig BuildConfig(string path)
        {
            var config = new TrackerConfig(endpoint);
            // The component's own settings, always sent: its queue lives under
            // persistentDataPath, and its mode and initial consent are the ones
            // shown in the Inspector.
            config.StoragePath = path;
            config.Storage = storageMode;
            config.Consent = initialConsent;
            if (!string.IsNullOrEmpty(EncryptionKey))
                config.EncryptionKey = EncryptionKey;
            else if (requireEncryption)
                throw new InvalidOperationException("Require Encryption is on and EncryptionKey is not set: set it from code, then call Open().");
            if (overrideTimestampParam)
                config.TimestampParam = timestampParam ?? string.Empty;
            if (overrideIdParam)
                config.IdParam = idParam ?? string.Empty;
            if (overrideMaxQueueHits)
                config.MaxQueueHits = maxQueueHits;
            if (overrideMaxQueueBytes)
                config.MaxQueueBytes = maxQueueBytes;
            if (overrideMaxAgeSeconds)
                config.MaxAgeSeconds = maxAgeSeconds;
            if (overrideMaxAttempts)
                config.MaxAttempts = maxAttempts;
            if (overrideRequestTimeoutSeconds)
                config.RequestTimeoutSeconds = requestTimeoutSeconds;
            if (overrideSendIntervalMs)
                config.SendIntervalMs = sendIntervalMs;
            if (overrideBatchEndpoint)
                config.BatchEndpoint = batchEndpoint ?? string.Empty;
            if (overrideBatchFormat)
                config.BatchFormat = batchFormat;
            if (overrideBatchMaxHits)
                config.BatchMaxHits = batchMaxHits;
            if (overrideBatchMaxBytes)
                config.BatchMaxBytes = batchMaxBytes;
            return config;
        }

        static void ExcludeFromBackup(string path)
        {
#if UNITY_IOS && !UNITY_EDITOR
            // iCloud backup would upload the queue; the flag covers the directory's contents.
            Directory.CreateDirectory(path);
            UnityEngine.iOS.Device.SetNoBackupFlag(path);
#endif
        }

        static bool IsReachable()
        {
            return Application.internetReachability != NetworkReachability.NotReachable;
        }

        void Awake()
        {
            if (Instance != null && Instance != this && Instance.persistAcrossScenes)
            {
                // The scene that holds this copy was loaded again; the first one keeps the store.
                _duplicate = true;
                Destroy(this);
                return;
            }
            if (Instance == null)
                Instance = this;
            if (persistAcrossScenes)
                DontDestroyOnLoad(gameObject);
        }

        // Also runs again after a domain reload in Play mode (scripts recompiled
        // while playing), which disposed the tracker first.
        void OnEnable()
        {
            if (openOnEnable && !_duplicate)
                Open();
        }

        void OnDisable()
        {
            Close();
        }

        void Update()
        {
            if (!IsOpen)
                return;
            if (useReachabilityHint && Time.unscaledTime >= _nextReachabilityPoll)
            {
                _nextReachabilityPoll = Time.unscaledTime + ReachabilityPollSeconds;
                bool reachable = IsReachable();
                if (reachable != _lastReachable)
                {
                    _lastReachable = reachable;
                    _tracker.SetOnline(reachable);
                }
            }
            if (_webTransport != null)
            {
                try
                {
                    _tracker.PumpTransport();
                }
                catch (Exception e)
                {
                    // That request was answered "no answer"; the others go on.
                    Debug.LogException(e, this);
                }
                _webTransport.Update();
            }
            _tracker.DispatchEvents();
        }

        void OnApplicationPause(bool paused)
        {
            if (!IsOpen)
                return;
            if (paused)
            {
                // The last moment mobile apps reliably get before they may be killed.
                if (dispatchOnPause)
                    _tracker.Dispatch();
            }
            else
            {
                _nextReachabilityPoll = 0f;
            }
        }

        void OnApplicationQuit()
        {
            Close();
        }

        void OnDestroy()
        {
            Close();
            if (Instance == this)
                Instance = null;
        }

        void OnSent(TrackerEvent e)
        {
            if (logEvents)
                Debug.Log("Offtrack: " + e, this);
            var handler = Sent;
            if (handler != null)
                handler(e);
        }

        void OnStored(TrackerEvent e)
        {
            if (logEvents)
                Debug.Log("Offtrack: " + e, this);
            var handler = Stored;
            if (handler != null)
                handler(e);
        }

        void OnDropped(TrackerEvent e)
        {
            if (logEvents)
                Debug.LogWarning("Offtrack: " + e, this);
            var handler = Dropped;
            if (handler != null)
                handler(e);
        }

        // With "Enter Play Mode Options" skipping the domain reload, statics
        // survive from the previous Play: trackers left open would keep their
        // stores locked (TRACKER_ERROR_LOCKED on the next Play).
        [RuntimeInitializeOnLoadMethod(RuntimeInitializeLoadType.SubsystemRegistration)]
        static void ResetStatics()
        {
            Tracker.DisposeAll();
            Instance = null;
        }

#if UNITY_EDITOR
        // Runs after every domain (re)load in the Editor. A native worker thread
        // must not call into a domain that is being unloaded, and the new domain
        // must be able to reopen the stores.
        [InitializeOnLoadMethod]
        static void HookAssemblyReload()
        {
            AssemblyReloadEvents.beforeAssemblyReload -= DisposeBeforeReload;
            AssemblyReloadEvents.beforeAssemblyReload += DisposeBeforeReload;
        }

        static void DisposeBeforeReload()
        {
            Tracker.DisposeAll();
            Instance = null;
        }
#endif
    }
}
