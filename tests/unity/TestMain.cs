using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Threading;

namespace Offtrack.MonoTests
{
    /// <summary>Marks a static test method of this program; the name is what the report shows.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    sealed class CheckAttribute : Attribute
    {
        public CheckAttribute(string name) { Name = name; }
        public string Name { get; private set; }
    }

    sealed class CheckFailed : Exception
    {
        public CheckFailed(string message) : base(message) { }
    }

    /// <summary>Assertions for the checks.</summary>
    static class Is
    {
        public static void True(bool condition, string what)
        {
            if (!condition)
                throw new CheckFailed(what);
        }

        public static void False(bool condition, string what)
        {
            if (condition)
                throw new CheckFailed(what);
        }

        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new CheckFailed(what + ": expected <" + expected + "> but was <" + actual + ">");
        }

        public static void Seq<T>(IEnumerable<T> expected, IEnumerable<T> actual, string what)
        {
            var e = expected.ToList();
            var a = actual.ToList();
            if (!e.SequenceEqual(a))
                throw new CheckFailed(what + ": expected [" + string.Join(", ", e) + "] but was [" + string.Join(", ", a) + "]");
        }

        public static void Contains(string needle, string haystack, string what)
        {
            if (haystack == null || haystack.IndexOf(needle, StringComparison.Ordinal) < 0)
                throw new CheckFailed(what + ": \"" + needle + "\" not in \"" + haystack + "\"");
        }

        public static E Throws<E>(Action action, string what) where E : Exception
        {
            try
            {
                action();
            }
            catch (E e)
            {
                return e;
            }
            catch (Exception e)
            {
                throw new CheckFailed(what + ": expected " + typeof(E).Name + " but got " + e.GetType().Name + ": " + e.Message);
            }
            throw new CheckFailed(what + ": expected " + typeof(E).Name + " but nothing was thrown");
        }

        /// <summary>Polls until the condition holds or the timeout passes.</summary>
        public static void Eventually(Func<bool> condition, int timeoutMs, string what)
        {
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                    throw new CheckFailed(what + " (not within " + timeoutMs + " ms)");
                Thread.Sleep(10);
            }
        }
    }

    static class Env
    {
        public static string Repo;
        public static string TempRoot;
        static int s_counter;

        public static string NewDir(string name)
        {
            string dir = Path.Combine(TempRoot, Interlocked.Increment(ref s_counter) + "-" + name);
            return dir;
        }
    }

    static class TestMain
    {
        static int Main(string[] args)
        {
            Env.Repo = Path.GetFullPath(args.Length > 0 ? args[0] : ".");
            Env.TempRoot = Path.Combine(Path.GetTempPath(), "offtrack-mono-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Env.TempRoot);
            string only = args.Length > 1 ? args[1] : null;

            int passed = 0, failed = 0;
            var tests = Discover();
            foreach (var test in tests)
            {
                if (only != null && test.Key.IndexOf(only, StringComparison.OrdinalIgnoreCase) < 0)
                    continue;
                var started = DateTime.UtcNow;
                try
                {
                    test.Value();
                    passed++;
                    Console.WriteLine("ok   " + test.Key + Elapsed(started));
                }
                catch (Exception e)
                {
                    if (e is TargetInvocationException && e.InnerException != null)
                        e = e.InnerException;
                    failed++;
                    Console.WriteLine("FAIL " + test.Key + Elapsed(started));
                    Console.WriteLine("     " + e.GetType().Name + ": " + e.Message.Replace("\n", "\n     "));
                    if (!(e is CheckFailed) && !(e.GetType().Name == "AssertionException"))
                        Console.WriteLine("     " + e.StackTrace.Replace("\n", "\n     "));
                }
                finally
                {
                    // Nothing a failed check left open may keep a store locked for the next one.
                    Tracker.DisposeAll();
                }
            }

            try { Directory.Delete(Env.TempRoot, true); } catch (Exception) { }
            Console.WriteLine("mono: " + passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }

        static string Elapsed(DateTime started)
        {
            return " (" + (int)(DateTime.UtcNow - started).TotalMilliseconds + " ms)";
        }

        /// <summary>This program's [Check] methods, then the package's NUnit [Test] methods.</summary>
        static List<KeyValuePair<string, Action>> Discover()
        {
            var result = new List<KeyValuePair<string, Action>>();
            var types = typeof(TestMain).Assembly.GetTypes().OrderBy(t => t.FullName).ToList();
            foreach (var type in types)
            {
                foreach (var m in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).OrderBy(m => m.MetadataToken))
                {
                    var check = (CheckAttribute)Attribute.GetCustomAttribute(m, typeof(CheckAttribute));
                    if (check != null)
                    {
                        var method = m;
                        result.Add(new KeyValuePair<string, Action>(check.Name, () => method.Invoke(null, null)));
                    }
                }
            }
            foreach (var type in types.Where(t => t.GetCustomAttributes(typeof(NUnit.Framework.TestFixtureAttribute), false).Length > 0))
            {
                var setUp = type.GetMethods().Where(m => m.IsDefined(typeof(NUnit.Framework.SetUpAttribute), false)).ToList();
                var tearDown = type.GetMethods().Where(m => m.IsDefined(typeof(NUnit.Framework.TearDownAttribute), false)).ToList();
                foreach (var m in type.GetMethods().Where(m => m.IsDefined(typeof(NUnit.Framework.TestAttribute), false)).OrderBy(m => m.MetadataToken))
                {
                    var method = m;
                    var fixtureType = type;
                    result.Add(new KeyValuePair<string, Action>("package test " + type.Name + "." + m.Name, () =>
                    {
                        object fixture = Activator.CreateInstance(fixtureType);
                        foreach (var s in setUp) s.Invoke(fixture, null);
                        try
                        {
                            method.Invoke(fixture, null);
                        }
                        finally
                        {
                            foreach (var t in tearDown) t.Invoke(fixture, null);
                        }
                    }));
                }
            }
            return result;
        }
    }
}
