// TEST STAND-IN, never shipped.
// The subset of NUnit that the package's Unity Test Runner tests
// (unity/Tests/Editor) use, so the same sources also compile and run under
// plain Mono, where NUnit is not installed. Assertions are at least as strict
// as NUnit's; tests/unity/TestMain.cs discovers and runs [Test] methods.
using System;
using System.Collections;

namespace NUnit.Framework
{
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class TestFixtureAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TestAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class SetUpAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method)]
    public sealed class TearDownAttribute : Attribute { }

    public delegate void TestDelegate();

    public class AssertionException : Exception
    {
        public AssertionException(string message) : base(message) { }
    }

    public static class Assert
    {
        public static void AreEqual(object expected, object actual) { AreEqual(expected, actual, null); }

        public static void AreEqual(object expected, object actual, string message)
        {
            if (!Same(expected, actual))
                Fail("expected <" + Show(expected) + "> but was <" + Show(actual) + ">", message);
        }

        public static void AreNotEqual(object notExpected, object actual) { AreNotEqual(notExpected, actual, null); }

        public static void AreNotEqual(object notExpected, object actual, string message)
        {
            if (Same(notExpected, actual))
                Fail("expected anything but <" + Show(notExpected) + ">", message);
        }

        public static void IsTrue(bool condition) { IsTrue(condition, null); }
        public static void IsTrue(bool condition, string message) { if (!condition) Fail("expected true", message); }
        public static void IsFalse(bool condition) { IsFalse(condition, null); }
        public static void IsFalse(bool condition, string message) { if (condition) Fail("expected false", message); }
        public static void IsNull(object value) { IsNull(value, null); }
        public static void IsNull(object value, string message) { if (value != null) Fail("expected null but was <" + Show(value) + ">", message); }
        public static void IsNotNull(object value) { IsNotNull(value, null); }
        public static void IsNotNull(object value, string message) { if (value == null) Fail("expected not null", message); }

        public static T Throws<T>(TestDelegate code) where T : Exception
        {
            try
            {
                code();
            }
            catch (T e)
            {
                if (e.GetType() != typeof(T))
                    Fail("expected exactly " + typeof(T).Name + " but got " + e.GetType().Name, null);
                return e;
            }
            catch (Exception e)
            {
                Fail("expected " + typeof(T).Name + " but got " + e.GetType().Name + ": " + e.Message, null);
            }
            Fail("expected " + typeof(T).Name + " but nothing was thrown", null);
            return null;
        }

        public static void DoesNotThrow(TestDelegate code)
        {
            try { code(); }
            catch (Exception e) { Fail("expected no exception but got " + e.GetType().Name + ": " + e.Message, null); }
        }

        public static void Fail(string message) { Fail(message, null); }

        static void Fail(string what, string message)
        {
            throw new AssertionException(string.IsNullOrEmpty(message) ? what : message + ": " + what);
        }

        static bool Same(object a, object b)
        {
            if (a == null || b == null)
                return a == null && b == null;
            if (IsNumber(a) && IsNumber(b))
                return Convert.ToDecimal(a) == Convert.ToDecimal(b);
            if (a is IEnumerable && b is IEnumerable && !(a is string) && !(b is string))
            {
                var ea = ((IEnumerable)a).GetEnumerator();
                var eb = ((IEnumerable)b).GetEnumerator();
                while (true)
                {
                    bool ma = ea.MoveNext(), mb = eb.MoveNext();
                    if (ma != mb) return false;
                    if (!ma) return true;
                    if (!Same(ea.Current, eb.Current)) return false;
                }
            }
            return a.Equals(b);
        }

        static bool IsNumber(object o)
        {
            return o is sbyte || o is byte || o is short || o is ushort || o is int || o is uint
                || o is long || o is ulong || o is decimal;
        }

        static string Show(object o)
        {
            if (o == null) return "null";
            if (o is string) return "\"" + o + "\"";
            return o.ToString();
        }
    }

    public static class StringAssert
    {
        public static void Contains(string expected, string actual) { Contains(expected, actual, null); }

        public static void Contains(string expected, string actual, string message)
        {
            if (actual == null || actual.IndexOf(expected, StringComparison.Ordinal) < 0)
                throw new AssertionException((message == null ? "" : message + ": ")
                    + "expected a string containing \"" + expected + "\" but was \"" + actual + "\"");
        }
    }
}
