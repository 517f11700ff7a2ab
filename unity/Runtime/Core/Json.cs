using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Offtrack
{
    /// <summary>
    /// The little JSON this package needs: writing the config and reading the
    /// library's stats and stored hits, without depending on an engine or a
    /// JSON package. Objects read as Dictionary&lt;string, object&gt;, arrays as
    /// List&lt;object&gt;, integers as long (ulong beyond), other numbers as double.
    /// </summary>
    internal static class Json
    {
        internal static string Quote(string s)
        {
            var sb = new StringBuilder(s.Length + 2);
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20)
                            sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else
                            sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
            return sb.ToString();
        }

        internal static object Parse(string text)
        {
            var reader = new Reader(text);
            object value = reader.ReadValue();
            reader.SkipWhitespace();
            if (!reader.AtEnd)
                throw reader.Error("trailing characters");
            return value;
        }

        internal static ulong ToUInt64(object value)
        {
            if (value is long)
                return (ulong)Math.Max(0L, (long)value);
            if (value is ulong)
                return (ulong)value;
            if (value is double)
                return (ulong)Math.Max(0.0, (double)value);
            return 0;
        }

        internal static long ToInt64(object value)
        {
            if (value is long)
                return (long)value;
            if (value is ulong)
                return (long)Math.Min((ulong)long.MaxValue, (ulong)value);
            if (value is double)
                return (long)(double)value;
            return 0;
        }

        internal static object Get(Dictionary<string, object> obj, string key)
        {
            object value;
            return obj.TryGetValue(key, out value) ? value : null;
        }

        sealed class Reader
        {
            readonly string _s;
            int _i;

            internal Reader(string s)
            {
                _s = s ?? string.Empty;
            }

            internal bool AtEnd
            {
                get { return _i >= _s.Length; }
            }

            internal FormatException Error(string what)
            {
                return new FormatException("JSON from the library: " + what + " at offset " + _i);
            }

            internal void SkipWhitespace()
            {
                while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r'))
                    _i++;
            }

            char Peek()
            {
                if (AtEnd)
                    throw Error("unexpected end");
                return _s[_i];
            }

            void Expect(string literal)
            {
                if (string.CompareOrdinal(_s, _i, literal, 0, literal.Length) != 0)
                    throw Error("expected " + literal);
                _i += literal.Length;
            }

            internal object ReadValue()
            {
                SkipWhitespace();
                char c = Peek();
                switch (c)
                {
                    case '{': return ReadObject();
                    case '[': return ReadArray();
                    case '"': return ReadString();
                    case 't': Expect("true"); return true;
                    case 'f': Expect("false"); return false;
                    case 'n': Expect("null"); return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9'))
                            return ReadNumber();
                        throw Error("unexpected character '" + c + "'");
                }
            }

            Dictionary<string, object> ReadObject()
            {
                var obj = new Dictionary<string, object>();
                _i++;
                SkipWhitespace();
                if (Peek() == '}')
                {
                    _i++;
                    return obj;
                }
                while (true)
                {
                    SkipWhitespace();
                    if (Peek() != '"')
                        throw Error("expected a key");
                    string key = ReadString();
                    SkipWhitespace();
                    Expect(":");
                    obj[key] = ReadValue();
                    SkipWhitespace();
                    char c = Peek();
                    _i++;
                    if (c == '}')
                        return obj;
                    if (c != ',')
                        throw Error("expected , or }");
                }
            }

            List<object> ReadArray()
            {
                var list = new List<object>();
                _i++;
                SkipWhitespace();
                if (Peek() == ']')
                {
                    _i++;
                    return list;
                }
                while (true)
                {
                    list.Add(ReadValue());
                    SkipWhitespace();
                    char c = Peek();
                    _i++;
                    if (c == ']')
                        return list;
                    if (c != ',')
                        throw Error("expected , or ]");
                }
            }

            string ReadString()
            {
                _i++;
                var sb = new StringBuilder();
                while (true)
                {
                    char c = Peek();
                    _i++;
                    if (c == '"')
                        return sb.ToString();
                    if (c != '\\')
                    {
                        sb.Append(c);
                        continue;
                    }
                    char e = Peek();
                    _i++;
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (_i + 4 > _s.Length)
                                throw Error("short \\u escape");
                            sb.Append((char)int.Parse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            _i += 4;
                            break;
                        default:
                            throw Error("bad escape");
                    }
                }
            }

            object ReadNumber()
            {
                int start = _i;
                bool integer = true;
                while (_i < _s.Length)
                {
                    char c = _s[_i];
                    if ((c >= '0' && c <= '9') || c == '-' || c == '+')
                    {
                        _i++;
                    }
                    else if (c == '.' || c == 'e' || c == 'E')
                    {
                        integer = false;
                        _i++;
                    }
                    else
                    {
                        break;
                    }
                }
                string text = _s.Substring(start, _i - start);
                if (integer)
                {
                    long l;
                    if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l))
                        return l;
                    ulong u;
                    if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out u))
                        return u;
                }
                double d;
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                    return d;
                throw Error("bad number");
            }
        }
    }
}
