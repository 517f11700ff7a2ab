using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;

namespace Offtrack
{
    /// <summary>
    /// One request the library asks the host transport to perform, copied out
    /// of the native call. Answer it once, from any thread; every answer after
    /// the first, after the request's timeout, or after the tracker was
    /// disposed is refused (the methods return false) and changes nothing.
    /// </summary>
    public sealed class TransportRequest
    {
        static readonly ReadOnlyCollection<KeyValuePair<string, string>> NoHeaders =
            new ReadOnlyCollection<KeyValuePair<string, string>>(new KeyValuePair<string, string>[0]);

        readonly TransportBinding _binding;
        readonly long _issued = Stopwatch.GetTimestamp();
        int _finished;

        TransportRequest(TransportBinding binding, ulong id, string method, string url, string contentType,
            byte[] body, ReadOnlyCollection<KeyValuePair<string, string>> headers, int timeoutMs)
        {
            _binding = binding;
            Id = id;
            Method = method;
            Url = url;
            ContentType = contentType;
            Body = body;
            Headers = headers;
            TimeoutMs = timeoutMs;
        }

        /// <summary>The library's id of the request, unique in the process.</summary>
        public ulong Id { get; private set; }

        /// <summary>"GET" or "POST".</summary>
        public string Method { get; private set; }

        /// <summary>The full URL, query included, already percent-encoded.</summary>
        public string Url { get; private set; }

        /// <summary>The body's Content-Type; null for GET.</summary>
        public string ContentType { get; private set; }

        /// <summary>The body's bytes; null for GET.</summary>
        public byte[] Body { get; private set; }

        /// <summary>Request headers (the configured ones and User-Agent), in the library's order.</summary>
        public IList<KeyValuePair<string, string>> Headers { get; private set; }

        /// <summary>How long the library waits for the answer; after that the request counts as unreachable.</summary>
        public int TimeoutMs { get; private set; }

        /// <summary>
        /// <see cref="TimeoutMs"/> in whole seconds, rounded up, at least 1: for
        /// stacks that count seconds, such as UnityWebRequest.timeout, where 0
        /// would mean "no timeout".
        /// </summary>
        public int TimeoutSeconds
        {
            get { return Math.Max(1, (int)((TimeoutMs + 999L) / 1000L)); }
        }

        /// <summary>
        /// True once the request needs no answer any more: it was answered, or
        /// its tracker was disposed (which answers it as "no answer"), or it
        /// belongs to a session that <see cref="Tracker.DisposeAll"/> ended. A
        /// transport aborts such a request and lets it go.
        /// </summary>
        public bool IsFinished
        {
            get { return Volatile.Read(ref _finished) != 0 || IsStale; }
        }

        internal bool IsStale
        {
            get { return _binding.Generation != TransportBinding.CurrentGeneration; }
        }

        internal bool IsExpired
        {
            get { return (Stopwatch.GetTimestamp() - _issued) * 1000L / Stopwatch.Frequency >= TimeoutMs; }
        }

        internal TransportBinding Binding
        {
            get { return _binding; }
        }

        /// <summary>
        /// The server answered: its HTTP status (100–599) as received, a 3xx
        /// too, and its Retry-After header's text (null if none). Returns
        /// whether the library took the answer.
        /// </summary>
        public bool Complete(int httpStatus, string retryAfter = null)
        {
            if (httpStatus < 100 || httpStatus > 599)
                throw new ArgumentOutOfRangeException("httpStatus", httpStatus, "an HTTP status is 100 to 599; use Fail when there was no answer");
            return Answer(httpStatus, retryAfter, null);
        }

        /// <summary>
        /// There was no answer (connection refused, DNS, TLS, timeout, aborted…);
        /// <paramref name="error"/> says why, for logs and events. Returns
        /// whether the library took it.
        /// </summary>
        public bool Fail(string error)
        {
            return Answer(0, null, string.IsNullOrEmpty(error) ? "no answer" : error);
        }

        /// <summary>
        /// Answers from what an HTTP stack reports: a response code of 100–599
        /// is the server's answer (with <paramref name="retryAfter"/>, the
        /// Retry-After header or null); anything else (0 or -1, as
        /// UnityWebRequest.responseCode has when no response arrived) is no
        /// answer, explained by <paramref name="error"/>. Returns whether the
        /// library took it.
        /// </summary>
        public bool Finish(long responseCode, string retryAfter, string error)
        {
            if (responseCode >= 100 && responseCode <= 599)
                return Answer((int)responseCode, string.IsNullOrEmpty(retryAfter) ? null : retryAfter, null);
            return Fail(error);
        }

        bool Answer(int httpStatus, string retryAfter, string error)
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0 || IsStale)
                return false;
            return _binding.Owner.CompleteTransport(this, httpStatus, retryAfter, error);
        }

        /// <summary>Marks the request answered without telling the library (it no longer waits for it).</summary>
        internal bool MarkFinished()
        {
            return Interlocked.Exchange(ref _finished, 1) == 0;
        }

        /// <summary>Copies the native request; runs inside the transport callback.</summary>
        internal static TransportRequest FromNative(TransportBinding binding, IntPtr nativeRequest)
        {
            var native = (NativeMethods.NativeRequest)Marshal.PtrToStructure(nativeRequest, typeof(NativeMethods.NativeRequest));
            byte[] body = null;
            if (native.Body != IntPtr.Zero)
            {
                ulong length = native.BodyLen.ToUInt64();
                if (length > int.MaxValue)
                    throw new OverflowException("request body too large");
                body = new byte[(int)length];
                if (length > 0)
                    Marshal.Copy(native.Body, body, 0, (int)length);
            }
            var headers = NoHeaders;
            if (native.Headers != IntPtr.Zero)
            {
                var list = new List<KeyValuePair<string, string>>();
                for (int i = 0; ; i += 2)
                {
                    IntPtr name = Marshal.ReadIntPtr(native.Headers, i * IntPtr.Size);
                    if (name == IntPtr.Zero)
                        break;
                    IntPtr value = Marshal.ReadIntPtr(native.Headers, (i + 1) * IntPtr.Size);
                    if (value == IntPtr.Zero)
                        break;
                    list.Add(new KeyValuePair<string, string>(Utf8.FromNative(name), Utf8.FromNative(value)));
                }
                headers = new ReadOnlyCollection<KeyValuePair<string, string>>(list);
            }
            return new TransportRequest(binding, native.RequestId, Utf8.FromNative(native.Method), Utf8.FromNative(native.Url),
                Utf8.FromNative(native.ContentType), body, headers, (int)Math.Min(native.TimeoutMs, (uint)int.MaxValue));
        }
    }
}
