using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using AOT;

namespace Offtrack
{
    /// <summary>
    /// One Offtrack tracker: hits are sent to the collector, or kept on disk
    /// while it cannot be reached, by the library's own worker thread. Calls
    /// never wait for the network. Native failures throw <see cref="TrackerException"/>.
    ///
    /// Events are produced on the library's worker thread and only queued there;
    /// <see cref="DispatchEvents"/> raises them on the thread that calls it (the
    /// main thread, from Update), so handlers may touch engine objects.
    ///
    /// With a host transport (<see cref="SetTransport"/>) the requests are queued
    /// the same way and <see cref="PumpTransport"/> starts them on its caller's
    /// thread.
    /// </summary>
    public sealed class Tracker : IDisposable
    {
        /// <summary>Events kept for <see cref="DispatchEvents"/> at most; beyond, the oldest are discarded.</summary>
        public const int MaxPendingEvents = 10000;

        // Kept in a static field so the delegate, and the native entry point
        // made for it, live as long as the library may call it.
        static readonly NativeMethods.EventCallback s_callback = OnNativeEvent;

        // Live trackers, weakly held, for DisposeAll (Editor domain reloads).
        static readonly List<WeakReference> s_live = new List<WeakReference>();

        readonly TrackerHandle _handle;
        readonly EventQueue _events = new EventQueue();
        int _disposed;

        // Host transport: requests the worker handed over, waiting for
        // PumpTransport, and every request not answered yet (queued or
        // started). _transportLock guards both and _transportClosing; it is
        // never held across a native call, because tracker_set_transport may
        // wait for a callback that needs it.
        readonly object _transportLock = new object();
        readonly object _setTransportLock = new object();
        readonly Queue<TransportRequest> _queuedRequests = new Queue<TransportRequest>();
        readonly List<TransportRequest> _openRequests = new List<TransportRequest>();
        bool _transportClosing;

        static Tracker()
        {
            // A native worker must never call into a domain that is being
            // unloaded (an Editor domain reload, or any host that unloads
            // domains): every tracker of the domain is destroyed first.
            AppDomain.CurrentDomain.DomainUnload += (sender, args) => DisposeAll();
        }

        /// <summary>Creates a tracker from the library's JSON configuration.</summary>
        public Tracker(string configJson)
        {
            byte[] config = Utf8.ToNative(configJson, "configJson");
            IntPtr raw;
            int rc = NativeMethods.tracker_create(config, out raw);
            if (rc != 0)
                throw TrackerException.FromLastCall("tracker_create", rc);
            _handle = new TrackerHandle(raw);

            // The library does no work before the first send, dispatch or
            // set_online(true), so no event is missed by registering now.
            GCHandle userData = GCHandle.Alloc(_events);
            _handle.AttachUserData(GCHandle.ToIntPtr(userData));
            rc = NativeMethods.tracker_set_event_callback(_handle, s_callback, GCHandle.ToIntPtr(userData));
            if (rc != 0)
            {
                var e = TrackerException.FromLastCall("tracker_set_event_callback", rc);
                _handle.Dispose();
                throw e;
            }
            lock (s_live)
            {
                s_live.RemoveAll(w => !w.IsAlive);
                s_live.Add(new WeakReference(this));
            }
        }

        /// <summary>Creates a tracker from typed settings.</summary>
        public Tracker(TrackerConfig config)
            : this(config == null ? null : config.ToJson())
        {
        }

        /// <summary>The collector accepted a hit.</summary>
        public event Action<TrackerEvent> Sent;

        /// <summary>A hit is kept on disk for later.</summary>
        public event Action<TrackerEvent> Stored;

        /// <summary>A hit is gone without being delivered; <see cref="TrackerEvent.Reason"/> says why.</summary>
        public event Action<TrackerEvent> Dropped;

        /// <summary>The native library's version, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { return Utf8.FromNative(NativeMethods.tracker_version()); }
        }

        /// <summary>The C name of a result code, e.g. "TRACKER_ERROR_CONFIG".</summary>
        public static string ResultName(TrackerResult result)
        {
            return Utf8.FromNative(NativeMethods.tracker_result_name((int)result));
        }

        public bool IsDisposed
        {
            get { return Volatile.Read(ref _disposed) != 0; }
        }

        /// <summary>Events discarded because more than <see cref="MaxPendingEvents"/> were waiting.</summary>
        public long LostEvents
        {
            get { return _events.Lost; }
        }

        /// <summary>
        /// Hands a hit to the tracker: a query string ("event=level_start&amp;level=3")
        /// or a full URL on the endpoint's origin. In Required and Always mode it
        /// is on disk when this returns.
        /// </summary>
        public void Send(string hit)
        {
            byte[] bytes = Utf8.ToNative(hit, "hit");
            Check("tracker_send", NativeMethods.tracker_send(Handle, bytes));
        }

        /// <summary>Sends every stored hit, oldest first, in the background.</summary>
        public void Dispatch()
        {
            Check("tracker_dispatch", NativeMethods.tracker_dispatch(Handle));
        }

        /// <summary>
        /// Waits until the work asked for before this call is done and the
        /// stored hits are synced to disk. Returns false if the timeout passed first. Blocks
        /// the calling thread: keep the timeout short on the main thread.
        /// </summary>
        public bool Flush(int timeoutMs)
        {
            if (timeoutMs < 0)
                throw new ArgumentOutOfRangeException("timeoutMs", "must not be negative");
            int rc = NativeMethods.tracker_flush(Handle, (uint)timeoutMs);
            if (rc == (int)TrackerResult.ErrorTimeout)
                return false;
            Check("tracker_flush", rc);
            return true;
        }

        /// <summary>The storage mode; can be changed at any time.</summary>
        public StorageMode StorageMode
        {
            get
            {
                int mode;
                Check("tracker_get_storage", NativeMethods.tracker_get_storage(Handle, out mode));
                return (StorageMode)mode;
            }
            set
            {
                Check("tracker_set_storage", NativeMethods.tracker_set_storage(Handle, (int)value));
            }
        }

        /// <summary>
        /// The host's reachability hint: true probes the collector at once,
        /// false stops automatic attempts until true.
        /// </summary>
        public void SetOnline(bool online)
        {
            Check("tracker_set_online", NativeMethods.tracker_set_online(Handle, online));
        }

        /// <summary>
        /// Privacy opt-out, the older name of <see cref="Consent"/>: true is
        /// <see cref="Offtrack.Consent.Denied"/>, false <see cref="Offtrack.Consent.Granted"/>.
        /// </summary>
        public bool OptOut
        {
            get { return Consent == Offtrack.Consent.Denied; }
            set { Check("tracker_set_opt_out", NativeMethods.tracker_set_opt_out(Handle, value)); }
        }

        /// <summary>
        /// The player's consent, remembered in the storage directory across
        /// runs (it then wins over <see cref="TrackerConfig.Consent"/>).
        /// Pending keeps hits and sends nothing, not even on Dispatch; Granted
        /// sends what was kept, in order, each with the time it was made;
        /// Denied purges the queue and drops new hits.
        /// </summary>
        public Consent Consent
        {
            get
            {
                int consent;
                Check("tracker_get_consent", NativeMethods.tracker_get_consent(Handle, out consent));
                return (Consent)consent;
            }
            set
            {
                Check("tracker_set_consent", NativeMethods.tracker_set_consent(Handle, (int)value));
            }
        }

        /// <summary>Number of hits in the offline queue.</summary>
        public ulong OfflineCount
        {
            get
            {
                ulong count;
                Check("tracker_offline_count", NativeMethods.tracker_offline_count(Handle, out count));
                return count;
            }
        }

        /// <summary>Up to <paramref name="max"/> stored hits, oldest first.</summary>
        public StoredHit[] GetOfflineHits(ulong max = ulong.MaxValue)
        {
            return StoredHit.ArrayFromJson(GetOfflineHitsJson(max));
        }

        /// <summary>Up to <paramref name="max"/> stored hits as the library's JSON array.</summary>
        public string GetOfflineHitsJson(ulong max = ulong.MaxValue)
        {
            IntPtr json;
            Check("tracker_offline_get", NativeMethods.tracker_offline_get(Handle, max, out json));
            return Utf8.TakeNative(json);
        }

        /// <summary>The oldest stored hit, or null if the queue is empty.</summary>
        public StoredHit GetOldestOfflineHit()
        {
            IntPtr json;
            Check("tracker_offline_oldest", NativeMethods.tracker_offline_oldest(Handle, out json));
            return StoredHit.FromJson(Json.Parse(Utf8.TakeNative(json)));
        }

        /// <summary>The newest stored hit, or null if the queue is empty.</summary>
        public StoredHit GetLatestOfflineHit()
        {
            IntPtr json;
            Check("tracker_offline_latest", NativeMethods.tracker_offline_latest(Handle, out json));
            return StoredHit.FromJson(Json.Parse(Utf8.TakeNative(json)));
        }

        /// <summary>Deletes every stored hit (each gets a Dropped event); returns how many.</summary>
        public ulong DeleteOfflineHits()
        {
            ulong deleted;
            Check("tracker_offline_delete", NativeMethods.tracker_offline_delete(Handle, out deleted));
            return deleted;
        }

        /// <summary>Deletes the stored hits made more than <paramref name="ageSeconds"/> ago; returns how many.</summary>
        public ulong DeleteOfflineHitsOlderThan(ulong ageSeconds)
        {
            ulong deleted;
            Check("tracker_offline_delete_older_than",
                NativeMethods.tracker_offline_delete_older_than(Handle, ageSeconds, out deleted));
            return deleted;
        }

        /// <summary>Counters and state.</summary>
        public TrackerStats GetStats()
        {
            return TrackerStats.FromJson(GetStatsJson());
        }

        /// <summary>Counters and state as the library's JSON object.</summary>
        public string GetStatsJson()
        {
            IntPtr json;
            Check("tracker_stats", NativeMethods.tracker_stats(Handle, out json));
            return Utf8.TakeNative(json);
        }

        /// <summary>
        /// Raises the queued events on the calling thread, oldest first; returns
        /// how many. Call it from the main thread (the Unity component does, in
        /// Update). Events queued while it runs wait for the next call. If a
        /// handler throws, the exception propagates and the remaining events
        /// stay queued. Also works after Dispose, for the last events.
        /// </summary>
        public int DispatchEvents()
        {
            int budget = _events.Count;
            int raised = 0;
            TrackerEvent e;
            while (raised < budget && _events.TryDequeue(out e))
            {
                raised++;
                Action<TrackerEvent> handler;
                switch (e.Kind)
                {
                    case TrackerEventKind.Sent: handler = Sent; break;
                    case TrackerEventKind.Stored: handler = Stored; break;
                    case TrackerEventKind.Dropped: handler = Dropped; break;
                    default: handler = null; break;
                }
                if (handler != null)
                    handler(e);
            }
            return raised;
        }

        /// <summary>
        /// Sends the tracker's requests through <paramref name="transport"/>
        /// instead of the library's built-in HTTP client. The library hands
        /// each request over on its worker thread; it is queued, and
        /// <see cref="PumpTransport"/> starts it on the thread that calls that
        /// (the main thread, every frame). Requests already handed to an
        /// earlier transport go on with it. The tracker stays reachable (not
        /// collected) until it is disposed.
        /// </summary>
        public void SetTransport(IHostTransport transport)
        {
            if (transport == null)
                throw new ArgumentNullException("transport");
            lock (_setTransportLock)
            {
                TrackerHandle handle = Handle;
                var binding = TransportBinding.Register(this, transport, handle.DangerousGetHandle());
                int rc;
                try
                {
                    rc = NativeMethods.tracker_set_transport(handle, TransportBinding.Callback, binding.Key);
                }
                catch (Exception)
                {
                    TransportBinding.Unregister(binding.Key);
                    throw;
                }
                if (rc != 0)
                {
                    TransportBinding.Unregister(binding.Key);
                    throw TrackerException.FromLastCall("tracker_set_transport", rc);
                }
                // Registered until the tracker is destroyed: a callback that
                // began before a later SetTransport or ClearTransport may
                // still be using it.
                handle.AttachTransportKey(binding.Key);
            }
        }

        /// <summary>
        /// Back to the library's built-in HTTP client. Requests already handed
        /// to the host transport may still be answered.
        /// </summary>
        public void ClearTransport()
        {
            lock (_setTransportLock)
                Check("tracker_set_transport", NativeMethods.tracker_set_transport(Handle, null, IntPtr.Zero));
        }

        /// <summary>
        /// Starts the requests the library handed over since the last call, each
        /// with the transport it was made for, oldest first, on the calling
        /// thread; returns how many. Requests whose timeout has passed while
        /// they waited are not started (the library no longer waits for them).
        /// If a transport's Start throws, that request is answered as "no
        /// answer", the exception propagates and the rest stay queued. After
        /// Dispose it does nothing.
        /// </summary>
        public int PumpTransport()
        {
            int budget;
            lock (_transportLock)
                budget = _queuedRequests.Count;
            int started = 0;
            for (int i = 0; i < budget; i++)
            {
                TransportRequest request;
                lock (_transportLock)
                {
                    if (_queuedRequests.Count == 0)
                        break;
                    request = _queuedRequests.Dequeue();
                }
                if (request.IsFinished)
                    continue;
                if (request.IsExpired)
                {
                    // Sent now, it could deliver a hit the library still keeps: a duplicate later.
                    if (request.MarkFinished())
                        ForgetRequest(request);
                    continue;
                }
                try
                {
                    request.Binding.Transport.Start(request);
                }
                catch (Exception e)
                {
                    request.Fail("the host transport could not start the request: " + e.Message);
                    throw;
                }
                started++;
            }
            return started;
        }

        /// <summary>Requests handed over by the library and not started yet.</summary>
        public int QueuedTransportRequests
        {
            get { lock (_transportLock) return _queuedRequests.Count; }
        }

        /// <summary>
        /// Stops the tracker: the in-flight request may finish (bounded by
        /// shutdown_timeout_ms), the store is closed and its lock released.
        /// Stored hits stay for the next run. Requests of a host transport not
        /// answered yet are answered as "no answer" first, so this never waits
        /// for the host (their hits stay stored, or are dropped in Never
        /// mode); a later answer to them is refused. The event callback stays
        /// registered until the native tracker is gone, so the Dropped events
        /// of Never-mode hits still in memory or in flight are queued too:
        /// call <see cref="DispatchEvents"/> afterwards to raise them. Calling
        /// it again does nothing.
        /// </summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            lock (s_live)
                s_live.RemoveAll(w => !w.IsAlive || ReferenceEquals(w.Target, this));
            List<TransportRequest> open;
            lock (_transportLock)
            {
                _transportClosing = true;
                open = new List<TransportRequest>(_openRequests);
                _queuedRequests.Clear();
            }
            foreach (var request in open)
                request.Fail("the tracker was disposed before the host transport answered");
            // Destroys the tracker once no call is in flight, then frees user_data.
            _handle.Dispose();
        }

        /// <summary>
        /// Disposes every live tracker of this AppDomain, then refuses every
        /// request and transport registration made before. The Unity component
        /// calls it before an Editor domain reload (a native thread must not
        /// call into an unloaded domain) and when Play starts without one (the
        /// old trackers would keep their stores locked); the domain's unload
        /// calls it too.
        /// </summary>
        public static void DisposeAll()
        {
            List<Tracker> live = new List<Tracker>();
            lock (s_live)
            {
                foreach (var w in s_live)
                {
                    var t = w.Target as Tracker;
                    if (t != null)
                        live.Add(t);
                }
                s_live.Clear();
            }
            foreach (var t in live)
                t.Dispose();
            TransportBinding.NewGeneration();
        }

        /// <summary>Queues a request the worker handed over; false once the tracker is being disposed.</summary>
        internal bool EnqueueTransportRequest(TransportRequest request)
        {
            lock (_transportLock)
            {
                if (_transportClosing)
                    return false;
                _queuedRequests.Enqueue(request);
                _openRequests.Add(request);
                return true;
            }
        }

        /// <summary>Passes a request's answer to the library; false if it was refused or the tracker is gone.</summary>
        internal bool CompleteTransport(TransportRequest request, int httpStatus, string retryAfter, string error)
        {
            ForgetRequest(request);
            try
            {
                return _handle.TransportComplete(request.Id, httpStatus,
                    Utf8.ToNativeLenient(retryAfter), Utf8.ToNativeLenient(error)) == 0;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }

        void ForgetRequest(TransportRequest request)
        {
            lock (_transportLock)
                _openRequests.Remove(request);
        }

        TrackerHandle Handle
        {
            get
            {
                if (IsDisposed)
                    throw new ObjectDisposedException("Offtrack.Tracker");
                return _handle;
            }
        }

        static void Check(string function, int rc)
        {
            if (rc != 0)
                throw TrackerException.FromLastCall(function, rc);
        }

        // Runs on the library's worker thread. It only copies the event into the
        // queue: no user code runs here, so nothing can call tracker_destroy or
        // tracker_flush from inside a callback, and no exception may leave it.
        [MonoPInvokeCallback(typeof(NativeMethods.EventCallback))]
        static void OnNativeEvent(IntPtr trackerEvent, IntPtr userData)
        {
            try
            {
                if (trackerEvent == IntPtr.Zero || userData == IntPtr.Zero)
                    return;
                var queue = GCHandle.FromIntPtr(userData).Target as EventQueue;
                if (queue == null)
                    return;
                var native = (NativeMethods.NativeEvent)Marshal.PtrToStructure(trackerEvent, typeof(NativeMethods.NativeEvent));
                queue.Enqueue(new TrackerEvent(
                    (TrackerEventKind)native.Kind,
                    native.Id,
                    Utf8.FromNative(native.Hit),
                    native.HttpStatus,
                    Utf8.FromNative(native.Reason)));
            }
            catch (Exception)
            {
                // An exception must never unwind into native frames.
            }
        }

        sealed class EventQueue
        {
            readonly Queue<TrackerEvent> _queue = new Queue<TrackerEvent>();
            long _lost;

            internal int Count
            {
                get { lock (_queue) return _queue.Count; }
            }

            internal long Lost
            {
                get { return Interlocked.Read(ref _lost); }
            }

            internal void Enqueue(TrackerEvent e)
            {
                lock (_queue)
                {
                    // Bounded: an app that never pumps must not grow memory forever.
                    if (_queue.Count >= MaxPendingEvents)
                    {
                        _queue.Dequeue();
                        Interlocked.Increment(ref _lost);
                    }
                    _queue.Enqueue(e);
                }
            }

            internal bool TryDequeue(out TrackerEvent e)
            {
                lock (_queue)
                {
                    if (_queue.Count == 0)
                    {
                        e = null;
                        return false;
                    }
                    e = _queue.Dequeue();
                    return true;
                }
            }
        }
    }
}
