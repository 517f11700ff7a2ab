using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Offtrack
{
    /// <summary>UTF-8 conversion at the native boundary.</summary>
    internal static class Utf8
    {
        // Strict on the way in: a lone surrogate would otherwise become U+FFFD silently.
        static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);
        // Lenient on the way out (this runs inside the native callbacks, which
        // must not throw) and for texts the host hands back.
        static readonly UTF8Encoding Lenient = new UTF8Encoding(false, false);

        /// <summary>The string as NUL-terminated UTF-8.</summary>
        internal static byte[] ToNative(string value, string paramName)
        {
            if (value == null)
                throw new ArgumentNullException(paramName);
            // The native side would see the string cut at the NUL, not the NUL itself.
            if (value.IndexOf('\0') >= 0)
                throw new ArgumentException("contains a NUL character", paramName);
            byte[] bytes;
            try
            {
                bytes = new byte[Strict.GetByteCount(value) + 1];
                Strict.GetBytes(value, 0, value.Length, bytes, 0);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException("is not valid UTF-16 (unpaired surrogate)", paramName, e);
            }
            return bytes;
        }

        /// <summary>
        /// The string as NUL-terminated UTF-8, cut at its first NUL, unpaired
        /// surrogates replaced; null for null. For texts from elsewhere (error
        /// messages, header values) that must not make an answer throw.
        /// </summary>
        internal static byte[] ToNativeLenient(string value)
        {
            if (value == null)
                return null;
            int nul = value.IndexOf('\0');
            if (nul >= 0)
                value = value.Substring(0, nul);
            var bytes = new byte[Lenient.GetByteCount(value) + 1];
            Lenient.GetBytes(value, 0, value.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A NUL-terminated UTF-8 string owned by the library; null for NULL.</summary>
        internal static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return null;
            int length = 0;
            while (Marshal.ReadByte(p, length) != 0)
                length++;
            if (length == 0)
                return string.Empty;
            var bytes = new byte[length];
            Marshal.Copy(p, bytes, 0, length);
            return Lenient.GetString(bytes);
        }

        /// <summary>Copies a string the library allocated for the caller, then frees it.</summary>
        internal static string TakeNative(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return null;
            try
            {
                return FromNative(p);
            }
            finally
            {
                NativeMethods.tracker_string_free(p);
            }
        }
    }
}
