using System;

namespace AOT
{
    /// <summary>
    /// Marks a static method that native code calls through a function pointer,
    /// so IL2CPP and full-AOT Mono generate a native entry point for it. Both
    /// match the attribute by name, so this declaration does the same job as
    /// UnityEngine's. It is always declared here because this assembly has no
    /// engine references (its asmdef sets noEngineReferences) and is also built
    /// outside Unity; being internal, it cannot clash with UnityEngine's public
    /// type in assemblies that see both.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType)
        {
            DelegateType = delegateType;
        }

        public Type DelegateType { get; private set; }
    }
}
