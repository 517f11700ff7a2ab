using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Offtrack.MonoTests
{
    /// <summary>Checks of the P/Invoke layer by reflection, against the header and the real library.</summary>
    static class ReflectionTests
    {
        static readonly Assembly Core = typeof(Tracker).Assembly;

        static List<MethodInfo> DllImports()
        {
            return Core.GetTypes()
                .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                .Where(m => (m.Attributes & MethodAttributes.PinvokeImpl) != 0)
                .ToList();
        }

        static DllImportAttribute ImportOf(MethodInfo m)
        {
            return (DllImportAttribute)m.GetCustomAttributes(typeof(DllImportAttribute), false).Single();
        }

        static MarshalAsAttribute MarshalOf(ParameterInfo p)
        {
            return (MarshalAsAttribute)p.GetCustomAttributes(typeof(MarshalAsAttribute), false).FirstOrDefault();
        }

        static string Describe(MethodInfo m)
        {
            return ImportOf(m).EntryPoint;
        }

        /// <summary>Prototypes of include/offtrack.h: function name → (return type, parameter types).</summary>
        internal static Dictionary<string, KeyValuePair<string, string[]>> HeaderFunctions()
        {
            string text = File.ReadAllText(Path.Combine(Env.Repo, "include", "offtrack.h"));
            text = Regex.Replace(text, @"/\*.*?\*/", " ", RegexOptions.Singleline);
            text = Regex.Replace(text, @"//[^\n]*", " ");
            var result = new Dictionary<string, KeyValuePair<string, string[]>>();
            var proto = new Regex(@"(?m)^(?!\s*typedef)\s*([A-Za-z_][\w\s\*]*?)\b(tracker_\w+)\s*\(([^)]*)\)\s*;");
            foreach (Match m in proto.Matches(text))
            {
                string ret = Normalize(m.Groups[1].Value);
                string args = m.Groups[3].Value.Trim();
                string[] types = args == "void" || args == ""
                    ? new string[0]
                    : args.Split(',').Select(a => Normalize(Regex.Replace(a.Trim(), @"\b\w+$", ""))).ToArray();
                result[m.Groups[2].Value] = new KeyValuePair<string, string[]>(ret, types);
            }
            return result;
        }

        static string Normalize(string cType)
        {
            string t = Regex.Replace(cType, @"\bstruct\s+", "");
            t = Regex.Replace(t, @"\s*\*", "*");
            return Regex.Replace(t.Trim(), @"\s+", " ");
        }

        // C type in the header → the only managed types that marshal it correctly.
        static readonly Dictionary<string, string[]> TypeMap = new Dictionary<string, string[]>
        {
            { "void", new[] { "System.Void" } },
            { "int32_t", new[] { "System.Int32" } },
            { "uint32_t", new[] { "System.UInt32" } },
            { "uint64_t", new[] { "System.UInt64" } },
            { "bool", new[] { "System.Boolean" } },
            { "const char*", new[] { "System.Byte[]", "System.IntPtr" } },
            { "char*", new[] { "System.IntPtr" } },
            { "char**", new[] { "System.IntPtr&" } },
            { "int32_t*", new[] { "System.Int32&" } },
            { "uint64_t*", new[] { "System.UInt64&" } },
            { "tracker*", new[] { "Offtrack.TrackerHandle", "System.IntPtr" } },
            { "const tracker*", new[] { "Offtrack.TrackerHandle" } },
            { "tracker**", new[] { "System.IntPtr&" } },
            { "tracker_event_callback", new[] { "Offtrack.NativeMethods+EventCallback" } },
            { "tracker_transport_callback", new[] { "Offtrack.NativeMethods+TransportCallback" } },
            { "void*", new[] { "System.IntPtr" } },
        };

        [Check("coverage: every function in include/offtrack.h has a [DllImport], and no other")]
        static void Coverage()
        {
            var header = HeaderFunctions();
            Is.True(header.Count >= 20, "header parsed (" + header.Count + " functions)");
            var imported = DllImports().Select(Describe).ToList();
            var missing = header.Keys.Except(imported).OrderBy(x => x).ToList();
            var extra = imported.Except(header.Keys).OrderBy(x => x).ToList();
            Is.True(missing.Count == 0, "no [DllImport] for: " + string.Join(", ", missing));
            Is.True(extra.Count == 0, "[DllImport] of functions not in the header: " + string.Join(", ", extra));
            Is.Equal(imported.Count, imported.Distinct().Count(), "each function imported once");
        }

        [Check("every [DllImport] matches its C prototype parameter by parameter")]
        static void Signatures()
        {
            var header = HeaderFunctions();
            var problems = new List<string>();
            foreach (var m in DllImports())
            {
                string name = Describe(m);
                KeyValuePair<string, string[]> proto;
                if (!header.TryGetValue(name, out proto))
                    continue; // reported by the coverage check
                var ps = m.GetParameters();
                if (ps.Length != proto.Value.Length)
                {
                    problems.Add(name + ": " + ps.Length + " parameters, header has " + proto.Value.Length);
                    continue;
                }
                Action<string, Type, string> check = (cType, type, where) =>
                {
                    string[] allowed;
                    if (!TypeMap.TryGetValue(cType, out allowed))
                        problems.Add(name + " " + where + ": C type '" + cType + "' not in the test's map");
                    else if (!allowed.Contains(type.FullName))
                        problems.Add(name + " " + where + ": " + type.FullName + " for C '" + cType + "'");
                };
                check(proto.Key, m.ReturnType, "return");
                for (int i = 0; i < ps.Length; i++)
                {
                    check(proto.Value[i], ps[i].ParameterType, "parameter " + ps[i].Name);
                    if (ps[i].ParameterType.IsByRef && !ps[i].IsOut)
                        problems.Add(name + " " + ps[i].Name + ": pointer outputs are 'out'");
                }
            }
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        [Check("every [DllImport] resolves against the real library (Marshal.Prelink)")]
        static void Prelink()
        {
            var problems = new List<string>();
            var imports = DllImports();
            foreach (var m in imports)
            {
                try
                {
                    Marshal.Prelink(m);
                }
                catch (Exception e)
                {
                    problems.Add(Describe(m) + ": " + e.GetType().Name + ": " + e.Message);
                }
            }
            Is.True(imports.Count > 0, "imports found");
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        [Check("every [DllImport]: library \"offtrack\", Cdecl, exact entry point")]
        static void ImportAttributes()
        {
            var problems = new List<string>();
            foreach (var m in DllImports())
            {
                var a = ImportOf(m);
                if (a.Value != "offtrack") problems.Add(m.Name + ": library " + a.Value);
                if (a.CallingConvention != CallingConvention.Cdecl) problems.Add(m.Name + ": " + a.CallingConvention);
                if (!a.ExactSpelling) problems.Add(m.Name + ": not ExactSpelling");
                if (a.EntryPoint != m.Name) problems.Add(m.Name + ": entry point " + a.EntryPoint);
            }
            Is.True(problems.Count == 0, string.Join("\n", problems));
            Is.Equal("offtrack", (string)Core.GetType("Offtrack.NativeMethods").GetField("Library", BindingFlags.Static | BindingFlags.NonPublic).GetRawConstantValue(), "library name outside iOS/WebGL players");
        }

        [Check("strings: no string, StringBuilder or char parameter anywhere at the boundary")]
        static void NoImplicitStrings()
        {
            var problems = new List<string>();
            var forbidden = new[] { typeof(string), typeof(System.Text.StringBuilder), typeof(char), typeof(char[]), typeof(string[]) };
            Func<Type, Type> strip = t => t.IsByRef ? t.GetElementType() : t;
            foreach (var m in DllImports())
            {
                foreach (var p in m.GetParameters())
                {
                    if (forbidden.Contains(strip(p.ParameterType)))
                        problems.Add(Describe(m) + " " + p.Name + ": " + p.ParameterType.Name);
                    if (p.ParameterType == typeof(byte[]))
                    {
                        var ma = MarshalOf(p);
                        if (ma != null && ma.Value != UnmanagedType.LPArray)
                            problems.Add(Describe(m) + " " + p.Name + ": byte[] marshalled as " + ma.Value);
                        if (!p.IsIn)
                            problems.Add(Describe(m) + " " + p.Name + ": byte[] not [In]");
                    }
                }
                if (forbidden.Contains(m.ReturnType))
                    problems.Add(Describe(m) + " returns " + m.ReturnType.Name);
                if (ImportOf(m).CharSet != CharSet.None && ImportOf(m).CharSet != CharSet.Ansi)
                    problems.Add(Describe(m) + ": CharSet " + ImportOf(m).CharSet);
            }
            foreach (var d in CallbackDelegates())
                foreach (var p in d.GetMethod("Invoke").GetParameters())
                    if (forbidden.Contains(strip(p.ParameterType)))
                        problems.Add(d.Name + " " + p.Name + ": " + p.ParameterType.Name);
            foreach (string structName in new[] { "NativeEvent", "NativeRequest" })
                foreach (var f in Core.GetType("Offtrack.NativeMethods+" + structName).GetFields())
                    if (forbidden.Contains(f.FieldType))
                        problems.Add(structName + "." + f.Name + ": " + f.FieldType.Name);
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        [Check("every bool crossing the boundary is marshalled as one byte (I1)")]
        static void BoolsAreOneByte()
        {
            var problems = new List<string>();
            int bools = 0;
            foreach (var m in DllImports())
            {
                foreach (var p in m.GetParameters().Concat(new[] { m.ReturnParameter }))
                {
                    if (p.ParameterType != typeof(bool))
                        continue;
                    bools++;
                    var ma = MarshalOf(p);
                    if (ma == null || ma.Value != UnmanagedType.I1)
                        problems.Add(Describe(m) + " " + (p.Name ?? "return") + ": bool without [MarshalAs(UnmanagedType.I1)]");
                }
            }
            foreach (var d in CallbackDelegates())
                foreach (var p in d.GetMethod("Invoke").GetParameters())
                    if (p.ParameterType == typeof(bool) && (MarshalOf(p) == null || MarshalOf(p).Value != UnmanagedType.I1))
                        problems.Add(d.Name + " " + p.Name + ": bool without I1");
            Is.True(bools >= 2, "bool parameters found (" + bools + ")");
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        static List<Type> CallbackDelegates()
        {
            return DllImports().SelectMany(m => m.GetParameters())
                .Select(p => p.ParameterType)
                .Where(t => typeof(Delegate).IsAssignableFrom(t))
                .Distinct().ToList();
        }

        [Check("callbacks: Cdecl delegates, static targets with [MonoPInvokeCallback], kept in static fields")]
        static void Callbacks()
        {
            var problems = new List<string>();
            var delegates = CallbackDelegates();
            Is.True(delegates.Count >= 1, "callback delegate types found");
            foreach (var d in delegates)
            {
                var ufp = (UnmanagedFunctionPointerAttribute)d.GetCustomAttributes(typeof(UnmanagedFunctionPointerAttribute), false).FirstOrDefault();
                if (ufp == null || ufp.CallingConvention != CallingConvention.Cdecl)
                    problems.Add(d.Name + ": needs [UnmanagedFunctionPointer(CallingConvention.Cdecl)]");
            }

            // Every method marked as a callback.
            var marked = Core.GetTypes()
                .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                .Where(m => m.GetCustomAttributes(false).Any(a => a.GetType().Name == "MonoPInvokeCallbackAttribute"))
                .ToList();
            Is.True(marked.Count >= 1, "[MonoPInvokeCallback] methods found");
            foreach (var m in marked)
            {
                if (!m.IsStatic)
                    problems.Add(m.Name + ": callback is not static");
                var attr = m.GetCustomAttributes(false).First(a => a.GetType().Name == "MonoPInvokeCallbackAttribute");
                var attrCtor = m.GetCustomAttributesData().First(a => a.Constructor.DeclaringType.Name == "MonoPInvokeCallbackAttribute");
                var declared = attrCtor.ConstructorArguments.Count == 1 ? attrCtor.ConstructorArguments[0].Value as Type : null;
                if (declared == null || !delegates.Contains(declared))
                    problems.Add(m.Name + ": [MonoPInvokeCallback] names " + declared + ", not a callback type of the API");
                else
                {
                    var want = declared.GetMethod("Invoke").GetParameters().Select(p => p.ParameterType);
                    if (!want.SequenceEqual(m.GetParameters().Select(p => p.ParameterType)) || declared.GetMethod("Invoke").ReturnType != m.ReturnType)
                        problems.Add(m.Name + ": signature differs from " + declared.Name);
                }
                if (attr.GetType().FullName != "AOT.MonoPInvokeCallbackAttribute")
                    problems.Add(m.Name + ": attribute is " + attr.GetType().FullName);
            }

            // Every delegate instance handed to native code lives in a static field
            // and points at a static method marked as a callback.
            int fields = 0;
            foreach (var t in Core.GetTypes())
            {
                foreach (var f in t.GetFields(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (!delegates.Contains(f.FieldType))
                        continue;
                    fields++;
                    if (!f.IsStatic)
                    {
                        problems.Add(t.Name + "." + f.Name + ": callback delegate in an instance field");
                        continue;
                    }
                    var value = (Delegate)f.GetValue(null);
                    if (value == null)
                        problems.Add(t.Name + "." + f.Name + ": null");
                    else if (value.Target != null || !value.Method.IsStatic || !marked.Contains(value.Method))
                        problems.Add(t.Name + "." + f.Name + ": targets " + value.Method.Name + ", not a static [MonoPInvokeCallback] method");
                }
            }
            Is.True(fields >= 1, "static callback fields found");
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        // Raw pointers: tracker_destroy is called from ReleaseHandle;
        // tracker_transport_complete from the transport callback, where a
        // SafeHandle's last release would destroy the tracker inside its own
        // callback (TrackerHandle.TransportComplete holds a reference for
        // every other caller).
        static readonly string[] RawTrackerFunctions = { "tracker_destroy", "tracker_transport_complete" };

        [Check("tracker parameters use the SafeHandle (except tracker_destroy and tracker_transport_complete, see RawTrackerFunctions)")]
        static void SafeHandles()
        {
            var handle = Core.GetType("Offtrack.TrackerHandle");
            Is.True(typeof(SafeHandle).IsAssignableFrom(handle), "TrackerHandle is a SafeHandle");
            var problems = new List<string>();
            foreach (var m in DllImports())
            {
                var ps = m.GetParameters();
                if (ps.Length == 0 || ps[0].Name != "tracker" || ps[0].ParameterType.IsByRef)
                    continue;
                bool wantRaw = RawTrackerFunctions.Contains(Describe(m));
                if ((ps[0].ParameterType == handle) == wantRaw)
                    problems.Add(Describe(m) + ": first parameter is " + ps[0].ParameterType.Name);
            }
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        [Check("struct tracker_event layout matches C (LP64)")]
        static void EventLayout()
        {
            Is.Equal(8, IntPtr.Size, "64-bit process");
            var evt = Core.GetType("Offtrack.NativeMethods+NativeEvent");
            Is.Equal(40, Marshal.SizeOf(evt), "size");
            Is.Seq(new long[] { 0, 8, 16, 24, 32 },
                new[] { "Kind", "Id", "Hit", "HttpStatus", "Reason" }.Select(f => (long)Marshal.OffsetOf(evt, f)), "field offsets");
            Is.Seq(new[] { typeof(int), typeof(ulong), typeof(IntPtr), typeof(int), typeof(IntPtr) },
                new[] { "Kind", "Id", "Hit", "HttpStatus", "Reason" }.Select(f => evt.GetField(f).FieldType), "field types");
        }

        [Check("struct tracker_request layout matches C (LP64)")]
        static void RequestLayout()
        {
            Is.Equal(8, IntPtr.Size, "64-bit process");
            var req = Core.GetType("Offtrack.NativeMethods+NativeRequest");
            var fields = new[] { "RequestId", "Method", "Url", "ContentType", "Body", "BodyLen", "Headers", "TimeoutMs" };
            Is.Equal(64, Marshal.SizeOf(req), "size");
            Is.Seq(new long[] { 0, 8, 16, 24, 32, 40, 48, 56 }, fields.Select(f => (long)Marshal.OffsetOf(req, f)), "field offsets");
            Is.Seq(new[] { typeof(ulong), typeof(IntPtr), typeof(IntPtr), typeof(IntPtr), typeof(IntPtr), typeof(UIntPtr), typeof(IntPtr), typeof(uint) },
                fields.Select(f => req.GetField(f).FieldType), "field types");
            Is.Equal(fields.Length, req.GetFields().Length, "no other fields");
        }

        [Check("enums match the header's constants (#define values and enumerators), both ways")]
        static void Constants()
        {
            string text = File.ReadAllText(Path.Combine(Env.Repo, "include", "offtrack.h"));
            var defines = new Dictionary<string, int>();
            foreach (Match m in Regex.Matches(text, @"(?m)^#define\s+(TRACKER_\w+)\s+(-?\d+)\s*$"))
                defines[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);
            foreach (Match m in Regex.Matches(text, @"(?m)^\s+(TRACKER_\w+)\s*=\s*(-?\d+),?\s*$"))
                defines[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);

            var expected = new Dictionary<string, int>();
            foreach (StorageMode v in Enum.GetValues(typeof(StorageMode)))
                expected["TRACKER_STORAGE_" + v.ToString().ToUpperInvariant()] = (int)v;
            foreach (Consent v in Enum.GetValues(typeof(Consent)))
                expected["TRACKER_CONSENT_" + v.ToString().ToUpperInvariant()] = (int)v;
            foreach (TrackerEventKind v in Enum.GetValues(typeof(TrackerEventKind)))
                expected["TRACKER_EVENT_" + v.ToString().ToUpperInvariant()] = (int)v;
            foreach (TrackerResult v in Enum.GetValues(typeof(TrackerResult)))
            {
                string snake = Regex.Replace(v.ToString(), "(?<=[a-z])([A-Z])", "_$1").ToUpperInvariant();
                expected["TRACKER_" + snake] = (int)v;
                Is.Equal("TRACKER_" + snake, Tracker.ResultName(v), "tracker_result_name for " + v);
            }
            Is.Seq(defines.OrderBy(kv => kv.Key).Select(kv => kv.Key + "=" + kv.Value),
                expected.OrderBy(kv => kv.Key).Select(kv => kv.Key + "=" + kv.Value), "constants");
            Is.Equal("TRACKER_UNKNOWN_RESULT", Tracker.ResultName((TrackerResult)99), "unknown result");
        }

        [Check("managed assembly names differ from the native library's base name")]
        static void AssemblyNames()
        {
            Is.Equal("Offtrack.Core", Core.GetName().Name, "core assembly");
            Is.False(string.Equals(Core.GetName().Name, "offtrack", StringComparison.OrdinalIgnoreCase), "core is not 'offtrack'");
        }
    }
}
