using System;
using System.Runtime.InteropServices;

namespace Offtrack
{
    /// <summary>
    /// P/Invoke declarations for every function of include/offtrack.h, one to one.
    /// Strings go in as NUL-terminated UTF-8 byte arrays and come out as IntPtr
    /// (decoded by <see cref="Utf8"/>), so the platform's ANSI default never applies.
    /// </summary>
    internal static class NativeMethods
    {
#if (UNITY_IOS || UNITY_WEBGL) && !UNITY_EDITOR
        // Statically linked into the player: symbols are looked up in the executable.
        internal const string Library = "__Internal";
#else
        // Resolves to libofftrack.so / libofftrack.dylib / offtrack.dll.
        internal const string Library = "offtrack";
#endif

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void EventCallback(IntPtr trackerEvent, IntPtr userData);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void TransportCallback(IntPtr request, IntPtr userData);

        /// <summary>Layout of <c>struct tracker_request</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct NativeRequest
        {
            public ulong RequestId;
            public IntPtr Method;
            public IntPtr Url;
            public IntPtr ContentType;
            public IntPtr Body;
            public UIntPtr BodyLen;
            public IntPtr Headers;
            public uint TimeoutMs;
        }

        /// <summary>Layout of <c>struct tracker_event</c>.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct NativeEvent
        {
            public int Kind;
            public ulong Id;
            public IntPtr Hit;
            public int HttpStatus;
            public IntPtr Reason;
        }

        [DllImport(Library, EntryPoint = "tracker_version", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr tracker_version();

        [DllImport(Library, EntryPoint = "tracker_result_name", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr tracker_result_name(int result);

        [DllImport(Library, EntryPoint = "tracker_last_error", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern IntPtr tracker_last_error();

        [DllImport(Library, EntryPoint = "tracker_create", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_create([In] byte[] configJson, out IntPtr tracker);

        // Takes the raw pointer: it is only called from TrackerHandle.ReleaseHandle.
        [DllImport(Library, EntryPoint = "tracker_destroy", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void tracker_destroy(IntPtr tracker);

        [DllImport(Library, EntryPoint = "tracker_set_storage", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_storage(TrackerHandle tracker, int mode);

        [DllImport(Library, EntryPoint = "tracker_get_storage", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_get_storage(TrackerHandle tracker, out int mode);

        [DllImport(Library, EntryPoint = "tracker_send", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_send(TrackerHandle tracker, [In] byte[] hit);

        [DllImport(Library, EntryPoint = "tracker_dispatch", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_dispatch(TrackerHandle tracker);

        [DllImport(Library, EntryPoint = "tracker_flush", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_flush(TrackerHandle tracker, uint timeoutMs);

        [DllImport(Library, EntryPoint = "tracker_set_online", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_online(TrackerHandle tracker, [MarshalAs(UnmanagedType.I1)] bool online);

        [DllImport(Library, EntryPoint = "tracker_set_opt_out", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_opt_out(TrackerHandle tracker, [MarshalAs(UnmanagedType.I1)] bool optOut);

        [DllImport(Library, EntryPoint = "tracker_set_consent", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_consent(TrackerHandle tracker, int consent);

        [DllImport(Library, EntryPoint = "tracker_get_consent", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_get_consent(TrackerHandle tracker, out int consent);

        [DllImport(Library, EntryPoint = "tracker_offline_count", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_count(TrackerHandle tracker, out ulong count);

        [DllImport(Library, EntryPoint = "tracker_offline_get", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_get(TrackerHandle tracker, ulong max, out IntPtr json);

        [DllImport(Library, EntryPoint = "tracker_offline_oldest", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_oldest(TrackerHandle tracker, out IntPtr json);

        [DllImport(Library, EntryPoint = "tracker_offline_latest", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_latest(TrackerHandle tracker, out IntPtr json);

        [DllImport(Library, EntryPoint = "tracker_offline_delete", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_delete(TrackerHandle tracker, out ulong deleted);

        [DllImport(Library, EntryPoint = "tracker_offline_delete_older_than", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_offline_delete_older_than(TrackerHandle tracker, ulong ageSeconds, out ulong deleted);

        [DllImport(Library, EntryPoint = "tracker_stats", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_stats(TrackerHandle tracker, out IntPtr json);

        [DllImport(Library, EntryPoint = "tracker_string_free", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern void tracker_string_free(IntPtr s);

        [DllImport(Library, EntryPoint = "tracker_set_event_callback", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_event_callback(TrackerHandle tracker, EventCallback callback, IntPtr userData);

        [DllImport(Library, EntryPoint = "tracker_set_transport", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_set_transport(TrackerHandle tracker, TransportCallback callback, IntPtr userData);

        // Takes the raw pointer: the transport callback calls it on the worker,
        // where releasing a SafeHandle's last reference would run
        // tracker_destroy inside the callback; TrackerHandle.TransportComplete
        // holds a reference around every other call.
        [DllImport(Library, EntryPoint = "tracker_transport_complete", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        internal static extern int tracker_transport_complete(IntPtr tracker, ulong requestId, int httpStatus, [In] byte[] retryAfter, [In] byte[] error);
    }
}
