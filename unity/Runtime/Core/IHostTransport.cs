namespace Offtrack
{
    /// <summary>
    /// The host's own HTTP stack (UnityWebRequest, a platform SDK, …) doing the
    /// tracker's requests instead of the library's built-in client; set with
    /// <see cref="Tracker.SetTransport"/>.
    /// </summary>
    public interface IHostTransport
    {
        /// <summary>
        /// Starts the request and returns. Called by
        /// <see cref="Tracker.PumpTransport"/>, on the thread that calls it (the
        /// main thread in Unity). Finish the request later, from any thread,
        /// with <see cref="TransportRequest.Complete"/>,
        /// <see cref="TransportRequest.Fail"/> or
        /// <see cref="TransportRequest.Finish"/>. Do not follow redirects: a
        /// 3xx is reported as it came. An exception thrown here answers the
        /// request as "no answer" and leaves PumpTransport.
        /// </summary>
        void Start(TransportRequest request);
    }
}
