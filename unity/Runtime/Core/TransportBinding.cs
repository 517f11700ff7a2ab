using System;
using System.Collections.Generic;
using System.Threading;
using AOT;

namespace Offtrack
{
    /// <summary>
    /// One <see cref="Tracker.SetTransport"/>: the tracker and host transport
    /// that a native transport callback's user_data stands for. The library
    /// gets a registry key, never a managed pointer, so a callback for a
    /// binding that is gone finds nothing instead of a freed GCHandle.
    /// </summary>
    internal sealed class TransportBinding
    {
        // Kept in a static field so the delegate, and the native entry point
        // made for it, live as long as the library may call it.
        internal static readonly NativeMethods.TransportCallback Callback = OnNativeRequest;

        static readonly Dictionary<long, TransportBinding> s_registry = new Dictionary<long, TransportBinding>();
        static long s_nextKey;
        static int s_generation;

        TransportBinding(Tracker owner, IHostTransport transport, IntPtr rawTracker, long key, int generation)
        {
            Owner = owner;
            Transport = transport;
            RawTracker = rawTracker;
            Key = new IntPtr(key);
            Generation = generation;
        }

        internal Tracker Owner { get; private set; }
        internal IHostTransport Transport { get; private set; }
        internal IntPtr Key { get; private set; }

        /// <summary>The <see cref="CurrentGeneration"/> the binding was made in.</summary>
        internal int Generation { get; private set; }

        // Only used inside the transport callback, where the tracker exists.
        IntPtr RawTracker { get; set; }

        /// <summary>
        /// Bumped by <see cref="Tracker.DisposeAll"/>: bindings and requests of
        /// an earlier generation belong to a session that was torn down (a
        /// domain reload, Play started without one) and are refused.
        /// </summary>
        internal static int CurrentGeneration
        {
            get { return Volatile.Read(ref s_generation); }
        }

        internal static void NewGeneration()
        {
            Interlocked.Increment(ref s_generation);
        }

        internal static TransportBinding Register(Tracker owner, IHostTransport transport, IntPtr rawTracker)
        {
            lock (s_registry)
            {
                // Starts at 1: a NULL user_data never names a binding. Keys
                // stay small enough for a 32-bit IntPtr in any real session.
                long key = ++s_nextKey;
                var binding = new TransportBinding(owner, transport, rawTracker, key, CurrentGeneration);
                s_registry[key] = binding;
                return binding;
            }
        }

        internal static void Unregister(IntPtr key)
        {
            lock (s_registry)
                s_registry.Remove(key.ToInt64());
        }

        /// <summary>The live binding for a user_data, or null.</summary>
        static TransportBinding Find(IntPtr key)
        {
            TransportBinding binding;
            lock (s_registry)
            {
                if (!s_registry.TryGetValue(key.ToInt64(), out binding))
                    return null;
            }
            return binding.Generation == CurrentGeneration ? binding : null;
        }

        // Runs on the library's worker thread. It only copies the request into
        // the tracker's queue (PumpTransport starts it on the main thread): no
        // user code runs here, and no exception may leave it.
        [MonoPInvokeCallback(typeof(NativeMethods.TransportCallback))]
        static void OnNativeRequest(IntPtr nativeRequest, IntPtr userData)
        {
            try
            {
                if (nativeRequest == IntPtr.Zero)
                    return;
                TransportBinding binding = Find(userData);
                if (binding == null)
                    return; // nothing to answer through: the request's timeout ends it
                // request_id is the struct's first field.
                ulong id = unchecked((ulong)System.Runtime.InteropServices.Marshal.ReadInt64(nativeRequest));
                TransportRequest request;
                try
                {
                    request = TransportRequest.FromNative(binding, nativeRequest);
                }
                catch (Exception)
                {
                    binding.FailInside(id, "the request could not be copied for the host transport");
                    return;
                }
                if (!binding.Owner.EnqueueTransportRequest(request) && request.MarkFinished())
                    binding.FailInside(id, "the tracker is being disposed");
            }
            catch (Exception)
            {
                // An exception must never unwind into native frames.
            }
        }

        // Answers "no answer" from inside the callback, so the worker does not
        // wait for the request's timeout. The raw pointer is safe here (the
        // tracker cannot be destroyed while its worker is in a callback), and
        // no SafeHandle reference is released on the worker.
        void FailInside(ulong requestId, string error)
        {
            NativeMethods.tracker_transport_complete(RawTracker, requestId, 0, null, Utf8.ToNativeLenient(error));
        }
    }
}
