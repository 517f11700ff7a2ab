using System;
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.Networking;

namespace Offtrack.Unity
{
    /// <summary>
    /// Opt-in host transport through UnityWebRequest, the engine's own HTTP
    /// stack (its proxy settings and the platform's certificate store).
    /// Everything runs on the main thread: <see cref="Tracker.PumpTransport"/>
    /// calls <see cref="Start"/>, and <see cref="Update"/> answers the requests
    /// that finished; <see cref="OfftrackTracker"/> calls both every frame.
    /// Nothing is sent while the main thread does not run (an app paused in
    /// the background): such requests time out and their hits stay stored.
    /// </summary>
    public sealed class UnityWebRequestTransport : IHostTransport
    {
        readonly List<KeyValuePair<UnityWebRequest, TransportRequest>> _inFlight =
            new List<KeyValuePair<UnityWebRequest, TransportRequest>>();
        bool _warnedAboutHeaders;

        /// <summary>Requests started and not answered yet.</summary>
        public int InFlight
        {
            get { return _inFlight.Count; }
        }

        /// <summary>Starts the request; main thread (called by Tracker.PumpTransport).</summary>
        public void Start(TransportRequest request)
        {
            var web = new UnityWebRequest(request.Url, request.Method);
            try
            {
                // A redirect is reported as it came: the library counts a 3xx
                // as unreachable (a captive portal, not the collector). With 0,
                // UnityWebRequest stops at the first redirect.
                web.redirectLimit = 0;
                // Whole seconds, and 0 would mean no timeout at all.
                web.timeout = request.TimeoutSeconds;
                if (request.Body != null)
                {
                    // Used as the Content-Type header, since none is set on the request itself.
                    web.uploadHandler = new UploadHandlerRaw(request.Body) { contentType = request.ContentType };
                }
                foreach (var header in request.Headers)
                    SetHeader(web, header.Key, header.Value);
                // No download handler: the collector's body is not needed.
                web.SendWebRequest();
            }
            catch (Exception)
            {
                web.Dispose();
                throw;
            }
            _inFlight.Add(new KeyValuePair<UnityWebRequest, TransportRequest>(web, request));
        }

        /// <summary>
        /// Answers the requests that finished (status and Retry-After, or no
        /// answer with UnityWebRequest's error text) and aborts those whose
        /// answer is no longer wanted (the tracker was disposed). Main thread.
        /// </summary>
        public void Update()
        {
            for (int i = 0; i < _inFlight.Count;)
            {
                UnityWebRequest web = _inFlight[i].Key;
                TransportRequest request = _inFlight[i].Value;
                if (request.IsFinished)
                {
                    web.Abort();
                }
                else if (web.isDone)
                {
                    // responseCode is -1 or 0 when no response arrived; Finish
                    // then reports "no answer" with the error text.
                    request.Finish(web.responseCode, web.GetResponseHeader("Retry-After"), web.error);
                }
                else
                {
                    i++;
                    continue;
                }
                web.Dispose();
                _inFlight.RemoveAt(i);
            }
        }

        void SetHeader(UnityWebRequest web, string name, string value)
        {
            try
            {
                web.SetRequestHeader(name, value);
            }
            catch (Exception e)
            {
                // Some platforms refuse some headers (see SetRequestHeader's
                // documentation); the request goes without it.
                if (!_warnedAboutHeaders)
                {
                    _warnedAboutHeaders = true;
                    Debug.LogWarning("Offtrack: UnityWebRequest refused the header " + name + ": " + e.Message);
                }
            }
        }
    }
}
