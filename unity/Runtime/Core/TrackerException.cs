using System;

namespace Offtrack
{
    /// <summary>A native call failed; carries its result code and tracker_last_error's message.</summary>
    public class TrackerException : Exception
    {
        public TrackerException(string function, TrackerResult result, string resultName, string nativeMessage)
            : base(Format(function, resultName, nativeMessage))
        {
            Function = function;
            Result = result;
            ResultName = resultName;
            NativeMessage = nativeMessage ?? string.Empty;
        }

        /// <summary>The C function that failed, e.g. "tracker_send".</summary>
        public string Function { get; private set; }

        /// <summary>The result code it returned.</summary>
        public TrackerResult Result { get; private set; }

        /// <summary>The code's name, e.g. "TRACKER_ERROR_CONFIG".</summary>
        public string ResultName { get; private set; }

        /// <summary>tracker_last_error() right after the failed call.</summary>
        public string NativeMessage { get; private set; }

        static string Format(string function, string resultName, string nativeMessage)
        {
            if (string.IsNullOrEmpty(nativeMessage))
                return function + " failed: " + resultName;
            return resultName + ": " + nativeMessage;
        }

        /// <summary>Builds the exception for a failed call; must run on the calling thread right after it.</summary>
        internal static TrackerException FromLastCall(string function, int code)
        {
            // Read first: the message is per thread and any later failed call replaces it.
            string message = Utf8.FromNative(NativeMethods.tracker_last_error());
            string name = Utf8.FromNative(NativeMethods.tracker_result_name(code));
            return new TrackerException(function, (TrackerResult)code, name, message);
        }
    }
}
