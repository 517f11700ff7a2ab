using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Offtrack
{
    /// <summary>
    /// Owns a native tracker. The SafeHandle reference count keeps
    /// tracker_destroy from racing a call in flight on another thread, and its
    /// critical finalizer destroys a tracker that was never disposed.
    /// </summary>
    internal sealed class TrackerHandle : SafeHandle
    {
        // GCHandle (as IntPtr) of the event sink given to the library as user_data.
        IntPtr _userData;

        // Registry keys of the host transports set on this tracker (TransportBinding).
        readonly List<IntPtr> _transportKeys = new List<IntPtr>();

        internal TrackerHandle(IntPtr tracker)
            : base(IntPtr.Zero, true)
        {
            SetHandle(tracker);
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        internal void AttachUserData(IntPtr userData)
        {
            _userData = userData;
        }

        /// <summary>Unregisters the transport binding once the tracker is destroyed.</summary>
        internal void AttachTransportKey(IntPtr key)
        {
            lock (_transportKeys)
                _transportKeys.Add(key);
        }

        /// <summary>
        /// tracker_transport_complete with a reference held on the handle, so
        /// the tracker cannot be destroyed during the call. Throws
        /// ObjectDisposedException once the tracker is disposed.
        /// </summary>
        internal int TransportComplete(ulong requestId, int httpStatus, byte[] retryAfter, byte[] error)
        {
            bool added = false;
            try
            {
                DangerousAddRef(ref added);
                return NativeMethods.tracker_transport_complete(handle, requestId, httpStatus, retryAfter, error);
            }
            finally
            {
                if (added)
                    DangerousRelease();
            }
        }

        protected override bool ReleaseHandle()
        {
            // No callback runs after tracker_destroy returns, so the callback is
            // gone and user_data may be freed right after. Destroying before
            // removing the callback lets the DROPPED events of never-mode hits
            // still in memory reach the queue. The callback only enqueues, so
            // this never runs inside a callback.
            NativeMethods.tracker_destroy(handle);
            if (_userData != IntPtr.Zero)
            {
                GCHandle.FromIntPtr(_userData).Free();
                _userData = IntPtr.Zero;
            }
            lock (_transportKeys)
            {
                foreach (IntPtr key in _transportKeys)
                    TransportBinding.Unregister(key);
                _transportKeys.Clear();
            }
            return true;
        }
    }
}
