using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace Offtrack.MonoTests
{
    /// <summary>Checks of the UPM package's files: manifest, asmdefs, .meta files, plugin import settings.</summary>
    static class PackageTests
    {
        static string Package
        {
            get { return Path.Combine(Env.Repo, "unity"); }
        }

        /// <summary>Import settings of the binaries and their platform folders, copied in with the binaries.</summary>
        static string PluginMeta
        {
            get { return Path.Combine(Env.Repo, "packaging", "unity", "plugin-meta"); }
        }

        static Dictionary<string, object> ReadJson(string relative)
        {
            var value = Json.Parse(File.ReadAllText(Path.Combine(Package, relative))) as Dictionary<string, object>;
            Is.True(value != null, relative + " is a JSON object");
            return value;
        }

        static List<string> Strings(object value)
        {
            return ((List<object>)value).Cast<string>().ToList();
        }

        [Check("package.json: name, version, Unity version, samples; CHANGELOG lists the version")]
        static void Manifest()
        {
            var pkg = ReadJson("package.json");
            Is.Equal("com.offtrack.tracker", (string)pkg["name"], "name");
            string version = (string)pkg["version"];
            Is.True(Regex.IsMatch(version, @"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$"), "semver version: " + version);
            Is.True(Regex.IsMatch((string)pkg["unity"], @"^\d{4}\.\d+$"), "unity field");
            Is.True(((string)pkg["displayName"]).Length > 0, "displayName");
            Is.True(((string)pkg["description"]).Length > 0, "description");
            foreach (Dictionary<string, object> sample in (List<object>)pkg["samples"])
            {
                string path = Path.Combine(Package, (string)sample["path"]);
                Is.True(((string)sample["path"]).StartsWith("Samples~/", StringComparison.Ordinal), "sample under Samples~");
                Is.True(Directory.GetFiles(path, "*.cs").Length > 0, "sample script in " + path);
            }
            var deps = pkg.ContainsKey("dependencies") ? (Dictionary<string, object>)pkg["dependencies"] : new Dictionary<string, object>();
            Is.True(deps.ContainsKey("com.unity.modules.unitywebrequest"), "depends on the UnityWebRequest module (UnityWebRequestTransport)");
            var changelog = File.ReadAllText(Path.Combine(Package, "CHANGELOG.md"));
            // An "Unreleased" section may sit above the newest version.
            var first = Regex.Match(changelog, @"(?m)^## \[(?!Unreleased\])([^\]]+)\]");
            Is.Equal(version, first.Groups[1].Value, "newest CHANGELOG entry");
        }

        [Check("asmdefs: engine-free core, MonoBehaviour layer, Editor tests; no assembly named like the native library")]
        static void AssemblyDefinitions()
        {
            var core = ReadJson("Runtime/Core/Offtrack.Core.asmdef");
            Is.Equal("Offtrack.Core", (string)core["name"], "core name");
            Is.Equal(true, (bool)core["noEngineReferences"], "core has no engine references");
            Is.Equal(0, Strings(core["references"]).Count, "core references nothing");

            var layer = ReadJson("Runtime/Unity/Offtrack.Unity.asmdef");
            Is.Equal("Offtrack.Unity", (string)layer["name"], "layer name");
            Is.Seq(new[] { "Offtrack.Core" }, Strings(layer["references"]), "layer references the core");

            var tests = ReadJson("Tests/Editor/Offtrack.Tests.asmdef");
            Is.Seq(new[] { "Editor" }, Strings(tests["includePlatforms"]), "tests are Editor-only");
            Is.True(Strings(tests["defineConstraints"]).Contains("UNITY_INCLUDE_TESTS"), "tests only when testables");
            Is.True(Strings(tests["precompiledReferences"]).Contains("nunit.framework.dll"), "tests reference NUnit");

            foreach (string file in Directory.GetFiles(Package, "*.asmdef", SearchOption.AllDirectories))
            {
                string name = (string)(Json.Parse(File.ReadAllText(file)) as Dictionary<string, object>)["name"];
                Is.False(string.Equals(name, "offtrack", StringComparison.OrdinalIgnoreCase), file + ": assembly named like the native library");
                Is.Equal(name, Path.GetFileNameWithoutExtension(file), "asmdef file named after its assembly");
            }

            foreach (string file in Directory.GetFiles(Path.Combine(Package, "Runtime", "Core"), "*.cs"))
            {
                string code = Regex.Replace(File.ReadAllText(file), @"//[^\n]*|/\*.*?\*/", "", RegexOptions.Singleline);
                Is.False(Regex.IsMatch(code, @"\bUnity(Engine|Editor)\b"), file + " uses UnityEngine/UnityEditor");
            }
        }

        static IEnumerable<string> Assets(string dir)
        {
            foreach (string d in Directory.GetDirectories(dir))
            {
                string name = Path.GetFileName(d);
                if (name.StartsWith(".", StringComparison.Ordinal) || name.EndsWith("~", StringComparison.Ordinal))
                    continue; // Unity ignores these
                yield return d;
                foreach (string inner in Assets(d))
                    yield return inner;
            }
            foreach (string f in Directory.GetFiles(dir))
            {
                string name = Path.GetFileName(f);
                if (!name.StartsWith(".", StringComparison.Ordinal) && !name.EndsWith(".meta", StringComparison.Ordinal))
                    yield return f;
            }
        }

        [Check(".meta files: one per asset, stable 32-hex GUIDs, unique, right importer")]
        static void MetaFiles()
        {
            var problems = new List<string>();
            var guids = new Dictionary<string, string>();
            foreach (string asset in Assets(Package))
            {
                string meta = asset + ".meta";
                string rel = asset.Substring(Package.Length + 1);
                if (!File.Exists(meta))
                {
                    problems.Add(rel + ": no .meta");
                    continue;
                }
                string text = File.ReadAllText(meta);
                bool isDir = Directory.Exists(asset);
                string importer = isDir ? "DefaultImporter"
                    : rel.EndsWith(".cs", StringComparison.Ordinal) ? "MonoImporter"
                    : rel.EndsWith(".asmdef", StringComparison.Ordinal) ? "AssemblyDefinitionImporter"
                    : rel == "package.json" ? "PackageManifestImporter"
                    : rel.EndsWith(".md", StringComparison.Ordinal) ? "TextScriptImporter"
                    : rel.StartsWith("Runtime" + Path.DirectorySeparatorChar + "Plugins", StringComparison.Ordinal) ? "PluginImporter"
                    : "DefaultImporter";
                if (!Regex.IsMatch(text, "(?m)^" + importer + ":"))
                    problems.Add(rel + ".meta: expected " + importer);
                if (isDir && !Regex.IsMatch(text, @"(?m)^folderAsset: yes\s*$"))
                    problems.Add(rel + ".meta: folderAsset: yes missing");
            }

            foreach (string meta in Directory.GetFiles(Package, "*.meta", SearchOption.AllDirectories))
            {
                string rel = meta.Substring(Package.Length + 1);
                if (rel.Split(Path.DirectorySeparatorChar).Any(p => p.EndsWith("~", StringComparison.Ordinal) || p.StartsWith(".", StringComparison.Ordinal)))
                    continue;
                string text = File.ReadAllText(meta);
                var m = Regex.Match(text, @"(?m)^guid: ([0-9a-f]*)\s*$");
                if (!m.Success || m.Groups[1].Value.Length != 32)
                    problems.Add(rel + ": guid is not 32 lowercase hex digits");
                else if (guids.ContainsKey(m.Groups[1].Value))
                    problems.Add(rel + ": guid also used by " + guids[m.Groups[1].Value]);
                else
                    guids[m.Groups[1].Value] = rel;
                if (!text.StartsWith("fileFormatVersion: 2\n", StringComparison.Ordinal))
                    problems.Add(rel + ": fileFormatVersion");
                string asset = meta.Substring(0, meta.Length - ".meta".Length);
                // No exception for binaries: their import settings are copied in with them
                // (packaging/unity/plugin-meta/), so a git install has no dangling .meta.
                if (!File.Exists(asset) && !Directory.Exists(asset))
                    problems.Add(rel + ": no asset for this .meta");
            }
            Is.True(guids.Count >= 25, "metas found (" + guids.Count + ")");

            // The templates copied into the package with the binaries and by the
            // tarball: GUIDs unique among themselves and against the package's.
            foreach (string dir in new[] { PluginMeta, Path.Combine(Env.Repo, "packaging", "unity", "package") })
                foreach (string meta in Directory.GetFiles(dir, "*.meta", SearchOption.AllDirectories))
                {
                    string rel = meta.Substring(Env.Repo.Length + 1);
                    string target = meta.StartsWith(PluginMeta, StringComparison.Ordinal)
                        ? Path.Combine("Runtime", "Plugins", meta.Substring(PluginMeta.Length + 1)) : Path.GetFileName(meta);
                    string text = File.ReadAllText(meta);
                    var m = Regex.Match(text, @"(?m)^guid: ([0-9a-f]*)\s*$");
                    if (!m.Success || m.Groups[1].Value.Length != 32)
                        problems.Add(rel + ": guid is not 32 lowercase hex digits");
                    else if (guids.ContainsKey(m.Groups[1].Value) && guids[m.Groups[1].Value] != target)
                        problems.Add(rel + ": guid also used by " + guids[m.Groups[1].Value]);
                    else
                        guids[m.Groups[1].Value] = target;
                    if (!text.StartsWith("fileFormatVersion: 2\n", StringComparison.Ordinal))
                        problems.Add(rel + ": fileFormatVersion");
                    bool folder = Regex.IsMatch(text, @"(?m)^folderAsset: yes\s*$");
                    string importer = folder ? "DefaultImporter" : target.EndsWith(".md.meta", StringComparison.Ordinal) ? "TextScriptImporter" : "PluginImporter";
                    if (!Regex.IsMatch(text, "(?m)^" + importer + ":"))
                        problems.Add(rel + ": expected " + importer);
                    if (folder != Directory.Exists(meta.Substring(0, meta.Length - ".meta".Length)) && meta.StartsWith(PluginMeta, StringComparison.Ordinal))
                        problems.Add(rel + ": a folder's .meta needs its folder of templates beside it, and only a folder's");
                }
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        /// <summary>platformData of a PluginImporter meta: "Category: Name" → (enabled, settings).</summary>
        static Dictionary<string, KeyValuePair<bool, Dictionary<string, string>>> Platforms(string metaText)
        {
            var result = new Dictionary<string, KeyValuePair<bool, Dictionary<string, string>>>();
            var block = new Regex(@"  - first:\n      ([^\n]*)\n    second:\n      enabled: (\d)\n      settings:( \{\})?\n((?:        [^\n]*\n)*)");
            foreach (Match m in block.Matches(metaText.Replace("\r\n", "\n")))
            {
                var settings = new Dictionary<string, string>();
                foreach (string line in m.Groups[4].Value.Split('\n').Where(l => l.Trim().Length > 0))
                {
                    int colon = line.IndexOf(':');
                    settings[line.Substring(0, colon).Trim()] = line.Substring(colon + 1).Trim();
                }
                result[m.Groups[1].Value.Trim()] = new KeyValuePair<bool, Dictionary<string, string>>(m.Groups[2].Value == "1", settings);
            }
            return result;
        }

        [Check("plugin import settings: each binary enabled for its platform only")]
        static void PluginImportSettings()
        {
            // file → (platforms that must be enabled with a setting to check, Exclude keys that must be 0)
            var expected = new[]
            {
                new { File = "Linux/x86_64/libofftrack.so", Enabled = new[] { "Editor: Editor|OS=Linux", "Standalone: Linux64|CPU=x86_64" }, Included = new[] { "Editor", "Linux64" } },
                new { File = "macOS/libofftrack.dylib", Enabled = new[] { "Editor: Editor|OS=OSX", "Standalone: OSXUniversal|CPU=AnyCPU" }, Included = new[] { "Editor", "OSXUniversal" } },
                new { File = "Windows/x86_64/offtrack.dll", Enabled = new[] { "Editor: Editor|OS=Windows", "Standalone: Win64|CPU=x86_64" }, Included = new[] { "Editor", "Win64" } },
                new { File = "Android/arm64-v8a/libofftrack.so", Enabled = new[] { "Android: Android|CPU=ARM64" }, Included = new[] { "Android" } },
                new { File = "iOS/libofftrack.a", Enabled = new[] { "iPhone: iOS|CPU=ARM64" }, Included = new[] { "iOS" } },
            };
            var problems = new List<string>();
            foreach (var e in expected)
            {
                string meta = Path.Combine(PluginMeta, e.File.Replace('/', Path.DirectorySeparatorChar)) + ".meta";
                if (!File.Exists(meta))
                {
                    problems.Add(e.File + ": no .meta");
                    continue;
                }
                var platforms = Platforms(File.ReadAllText(meta));
                var wantEnabled = e.Enabled.Select(x => x.Split('|')[0]).ToList();
                foreach (string spec in e.Enabled)
                {
                    string[] parts = spec.Split('|');
                    KeyValuePair<bool, Dictionary<string, string>> p;
                    if (!platforms.TryGetValue(parts[0], out p) || !p.Key)
                    {
                        problems.Add(e.File + ": " + parts[0] + " not enabled");
                        continue;
                    }
                    string[] kv = parts[1].Split('=');
                    string actual;
                    if (!p.Value.TryGetValue(kv[0], out actual) || actual != kv[1])
                        problems.Add(e.File + ": " + parts[0] + " " + kv[0] + " is " + actual + ", want " + kv[1]);
                }
                foreach (var p in platforms)
                    if (p.Value.Key && !wantEnabled.Contains(p.Key))
                        problems.Add(e.File + ": also enabled for " + p.Key);
                KeyValuePair<bool, Dictionary<string, string>> any;
                if (!platforms.TryGetValue(": Any", out any))
                {
                    problems.Add(e.File + ": no ': Any' block");
                    continue;
                }
                foreach (var setting in any.Value.Where(s => s.Key.StartsWith("Exclude ", StringComparison.Ordinal)))
                {
                    bool included = e.Included.Contains(setting.Key.Substring("Exclude ".Length));
                    if ((setting.Value == "0") != included)
                        problems.Add(e.File + ": " + setting.Key + ": " + setting.Value);
                }
                if (e.File.StartsWith("iOS", StringComparison.Ordinal) && !platforms["iPhone: iOS"].Value["FrameworkDependencies"].Contains("Security"))
                    problems.Add(e.File + ": Security.framework dependency");
            }
            Is.True(problems.Count == 0, string.Join("\n", problems));
        }

        /// <summary>An XML property list's value as Dictionary / List / string / bool (the types a privacy manifest uses).</summary>
        static object PlistValue(System.Xml.XmlElement element)
        {
            switch (element.Name)
            {
                case "dict":
                    var dict = new Dictionary<string, object>();
                    var children = element.ChildNodes.OfType<System.Xml.XmlElement>().ToList();
                    Is.True(children.Count % 2 == 0, "<dict> holds key/value pairs");
                    for (int i = 0; i < children.Count; i += 2)
                    {
                        Is.Equal("key", children[i].Name, "<dict> entry starts with <key>");
                        Is.False(dict.ContainsKey(children[i].InnerText), "key " + children[i].InnerText + " given once");
                        dict[children[i].InnerText] = PlistValue(children[i + 1]);
                    }
                    return dict;
                case "array":
                    return element.ChildNodes.OfType<System.Xml.XmlElement>().Select(PlistValue).ToList();
                case "string":
                    return element.InnerText;
                case "true":
                    return true;
                case "false":
                    return false;
                default:
                    throw new CheckFailed("unexpected plist element <" + element.Name + ">");
            }
        }

        static Dictionary<string, object> ReadPlist(string path)
        {
            // The DOCTYPE names Apple's DTD by URL: never fetched.
            var settings = new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore, XmlResolver = null };
            var doc = new System.Xml.XmlDocument();
            using (var reader = System.Xml.XmlReader.Create(path, settings))
                doc.Load(reader);
            Is.Equal("plist", doc.DocumentElement.Name, path + ": root element");
            var top = doc.DocumentElement.ChildNodes.OfType<System.Xml.XmlElement>().ToList();
            Is.True(top.Count == 1 && top[0].Name == "dict", path + ": one <dict> in <plist>");
            return (Dictionary<string, object>)PlistValue(top[0]);
        }

        // The required-reason API categories the library calls on Apple
        // platforms, with the reason declared for each (README, "App Store
        // privacy manifest"): file metadata (stat/fstat) inside the app
        // container, and the uptime clock behind std::time::Instant
        // (timeouts, backoff). tests/cpp/check_unreal.py checks the same.
        static readonly Dictionary<string, string[]> PrivacyCategories = new Dictionary<string, string[]>
        {
            { "NSPrivacyAccessedAPICategoryFileTimestamp", new[] { "C617.1" } },
            { "NSPrivacyAccessedAPICategorySystemBootTime", new[] { "35F9.1" } },
        };

        [Check("iOS privacy manifest: a valid plist, no tracking or collected data, exactly the library's required-reason APIs, imported for iOS only")]
        static void PrivacyManifest()
        {
            string path = Path.Combine(Package, "Runtime", "Plugins", "iOS", "PrivacyInfo.xcprivacy");
            Is.True(File.Exists(path), path + " exists");
            var manifest = ReadPlist(path);
            Is.Seq(new[] { "NSPrivacyAccessedAPITypes", "NSPrivacyCollectedDataTypes", "NSPrivacyTracking", "NSPrivacyTrackingDomains" },
                manifest.Keys.OrderBy(k => k, StringComparer.Ordinal), "top-level keys");
            Is.Equal(false, (bool)manifest["NSPrivacyTracking"], "NSPrivacyTracking");
            Is.Equal(0, ((List<object>)manifest["NSPrivacyTrackingDomains"]).Count, "no tracking domains");
            Is.Equal(0, ((List<object>)manifest["NSPrivacyCollectedDataTypes"]).Count, "no collected data types (the app declares what its hits carry)");

            var declared = new Dictionary<string, string[]>();
            foreach (object item in (List<object>)manifest["NSPrivacyAccessedAPITypes"])
            {
                var entry = (Dictionary<string, object>)item;
                Is.Seq(new[] { "NSPrivacyAccessedAPIType", "NSPrivacyAccessedAPITypeReasons" }, entry.Keys.OrderBy(k => k, StringComparer.Ordinal), "accessed API entry keys");
                string category = (string)entry["NSPrivacyAccessedAPIType"];
                Is.False(declared.ContainsKey(category), category + " declared once");
                declared[category] = ((List<object>)entry["NSPrivacyAccessedAPITypeReasons"]).Cast<string>().ToArray();
            }
            Is.Seq(PrivacyCategories.Keys.OrderBy(k => k, StringComparer.Ordinal), declared.Keys.OrderBy(k => k, StringComparer.Ordinal), "declared categories");
            foreach (var category in PrivacyCategories)
                Is.Seq(category.Value, declared[category.Key], category.Key + " reasons");

            string unreal = Path.Combine(Env.Repo, "unreal", "Offtrack", "Source", "ThirdParty", "OfftrackLibrary", "IOS", "OfftrackPrivacy.bundle", "PrivacyInfo.xcprivacy");
            Is.True(File.Exists(unreal) && File.ReadAllBytes(unreal).SequenceEqual(File.ReadAllBytes(path)), "the Unreal plugin ships the same manifest");

            var platforms = Platforms(File.ReadAllText(path + ".meta"));
            Is.Seq(new[] { "iPhone: iOS" }, platforms.Where(p => p.Value.Key).Select(p => p.Key), "platforms the manifest is enabled for");
            KeyValuePair<bool, Dictionary<string, string>> any;
            Is.True(platforms.TryGetValue(": Any", out any), "': Any' block");
            foreach (var setting in any.Value.Where(x => x.Key.StartsWith("Exclude ", StringComparison.Ordinal)))
                Is.Equal(setting.Key == "Exclude iOS" ? "0" : "1", setting.Value, setting.Key);
        }

        static bool HasStringHeapEntry(byte[] image, string s)
        {
            byte[] needle = Encoding.ASCII.GetBytes("\0" + s + "\0");
            for (int i = 0; i + needle.Length <= image.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && image[i + j] == needle[j])
                    j++;
                if (j == needle.Length)
                    return true;
            }
            return false;
        }

        [Check("iOS/WebGL player builds of the core import from __Internal, others from offtrack")]
        static void LibraryNamePerPlatform()
        {
            string dir = Path.Combine(Env.Repo, "build", "unity", "variants");
            var cases = new[]
            {
                new { Dll = "ios-player", Internal = true },
                new { Dll = "webgl-player", Internal = true },
                new { Dll = "ios-editor", Internal = false },
                new { Dll = "android-player", Internal = false },
            };
            foreach (var c in cases)
            {
                string path = Path.Combine(dir, c.Dll, "Offtrack.Core.dll");
                Is.True(File.Exists(path), path + " built by run.sh");
                byte[] image = File.ReadAllBytes(path);
                Is.Equal(c.Internal, HasStringHeapEntry(image, "__Internal"), c.Dll + " imports from __Internal");
                Is.Equal(!c.Internal, HasStringHeapEntry(image, "offtrack"), c.Dll + " imports from offtrack");
            }
        }
    
        static System.Reflection.Assembly LoadLayer(string variant)
        {
            string layer = Path.Combine(Env.Repo, "build", "unity", "layer");
            AppDomain.CurrentDomain.AssemblyResolve += (sender, args) =>
            {
                string candidate = Path.Combine(layer, new System.Reflection.AssemblyName(args.Name).Name + ".dll");
                return File.Exists(candidate) ? System.Reflection.Assembly.LoadFrom(candidate) : null;
            };
            string path = Path.Combine(layer, variant, "Offtrack.Unity.dll");
            Is.True(File.Exists(path), path + " built by run.sh");
            // Loaded from bytes: the variants share one assembly name.
            return System.Reflection.Assembly.Load(File.ReadAllBytes(path));
        }

        // Unity finds its messages by name: a misspelled one compiles and is
        // silently never called. Nothing here runs the component: only the
        // compiled metadata is read.
        [Check("MonoBehaviour layer: Unity message methods and load hooks are declared as Unity expects")]
        static void LayerWiring()
        {
            const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static
                | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly;
            foreach (string variant in new[] { "linux-player", "linux-editor" })
            {
                var type = LoadLayer(variant).GetType("Offtrack.Unity.OfftrackTracker");
                Is.True(type != null, variant + ": OfftrackTracker");
                Is.Equal("UnityEngine.MonoBehaviour", type.BaseType.FullName, variant + ": base class");
                var messages = new Dictionary<string, Type[]>
                {
                    { "Awake", new Type[0] },
                    { "OnEnable", new Type[0] },
                    { "OnDisable", new Type[0] },
                    { "Update", new Type[0] },
                    { "OnApplicationPause", new[] { typeof(bool) } },
                    { "OnApplicationQuit", new Type[0] },
                    { "OnDestroy", new Type[0] },
                };
                foreach (var message in messages)
                {
                    var m = type.GetMethod(message.Key, all, null, message.Value, null);
                    Is.True(m != null && !m.IsStatic && m.ReturnType == typeof(void), variant + ": message " + message.Key);
                }

                var reset = type.GetMethods(all).Where(m => m.GetCustomAttributesData().Any(a =>
                    a.Constructor.DeclaringType.FullName == "UnityEngine.RuntimeInitializeOnLoadMethodAttribute"
                    && a.ConstructorArguments.Count == 1
                    && Convert.ToInt32(a.ConstructorArguments[0].Value) == 4 /* SubsystemRegistration */)).ToList();
                Is.True(reset.Count == 1 && reset[0].IsStatic, variant + ": static [RuntimeInitializeOnLoadMethod(SubsystemRegistration)] reset");

                var reload = type.GetMethods(all).Where(m => m.GetCustomAttributesData().Any(a =>
                    a.Constructor.DeclaringType.FullName == "UnityEditor.InitializeOnLoadMethodAttribute")).ToList();
                bool editor = variant.EndsWith("editor", StringComparison.Ordinal);
                Is.Equal(editor ? 1 : 0, reload.Count, variant + ": [InitializeOnLoadMethod] hook for beforeAssemblyReload");

                foreach (var field in new[] { "endpoint", "storageMode", "storageFolder", "dispatchOnPause", "useReachabilityHint", "useUnityWebRequest" })
                {
                    var f = type.GetField(field);
                    Is.True(f != null && f.IsPublic && !f.IsStatic, variant + ": Inspector field " + field);
                }
                foreach (var field in LibrarySettings)
                {
                    var f = type.GetField(field);
                    Is.True(f != null && f.IsPublic && !f.IsStatic, variant + ": Inspector field " + field);
                    string flag = "override" + char.ToUpperInvariant(field[0]) + field.Substring(1);
                    var o = type.GetField(flag);
                    Is.True(o != null && o.IsPublic && !o.IsStatic && o.FieldType == typeof(bool), variant + ": override box " + flag);
                }
            }
        }

        // The component's fields for library keys, each sent only while its override box is ticked.
        static readonly string[] LibrarySettings =
        {
            "maxQueueHits", "maxQueueBytes", "maxAgeSeconds", "maxAttempts", "requestTimeoutSeconds",
            "sendIntervalMs", "timestampParam", "idParam", "batchEndpoint", "batchFormat", "batchMaxHits",
            "batchMaxBytes",
        };

        // Runs the component's config building on a component made with the
        // stand-in (whose constructors do nothing): no other stand-in code runs.
        [Check("component: only ticked settings reach the config; the library's defaults apply to the rest")]
        static void LayerConfig()
        {
            var type = LoadLayer("linux-player").GetType("Offtrack.Unity.OfftrackTracker");
            var build = type.GetMethod("BuildConfig", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic,
                null, new[] { typeof(string) }, null);
            Is.True(build != null, "OfftrackTracker.BuildConfig(string)");
            using (var collector = new Collector())
            {
                collector.Up();
                object component = Activator.CreateInstance(type);
                type.GetField("endpoint").SetValue(component, collector.Endpoint);
                foreach (var field in LibrarySettings)
                {
                    string flag = "override" + char.ToUpperInvariant(field[0]) + field.Substring(1);
                    Is.Equal(false, (bool)type.GetField(flag).GetValue(component), flag + " starts unticked");
                }

                string dir = Env.NewDir("component");
                var config = (TrackerConfig)build.Invoke(component, new object[] { dir });
                Is.Equal("{\"endpoint\":\"" + collector.Endpoint + "\",\"storage_path\":\"" + dir + "\",\"storage\":\"required\",\"consent\":\"granted\"}",
                    config.ToJson(), "a new component sends only its own settings");
                using (var tracker = new Tracker(config))
                {
                    tracker.Send("n=1");
                    Is.True(tracker.Flush(15000), "flush");
                    var r = collector.WaitFor(1, 10000).Single();
                    Is.True(r.Param("ts") != null, "the library's default timestamp parameter: " + r.Target);
                }

                // Ticked, even to a value equal to an empty default: sent.
                type.GetField("overrideTimestampParam").SetValue(component, true);
                type.GetField("timestampParam").SetValue(component, "");
                type.GetField("overrideIdParam").SetValue(component, true);
                type.GetField("idParam").SetValue(component, "hid");
                type.GetField("overrideMaxAttempts").SetValue(component, true);
                type.GetField("maxAttempts").SetValue(component, 2);
                type.GetField("maxQueueHits").SetValue(component, 5L); // not ticked: not sent
                dir = Env.NewDir("component");
                config = (TrackerConfig)build.Invoke(component, new object[] { dir });
                Is.Equal("{\"endpoint\":\"" + collector.Endpoint + "\",\"storage_path\":\"" + dir + "\",\"storage\":\"required\",\"consent\":\"granted\","
                    + "\"timestamp_param\":\"\",\"id_param\":\"hid\",\"max_attempts\":2}",
                    config.ToJson(), "the ticked settings are added");
                using (var tracker = new Tracker(config))
                {
                    tracker.Send("n=2");
                    Is.True(tracker.Flush(15000), "flush");
                    var r = collector.WaitFor(2, 10000).Last();
                    Is.True(r.Param("ts") == null, "timestamp turned off: " + r.Target);
                    Is.True(r.Param("hid") != null, "id parameter: " + r.Target);
                }

                // Batches: each of the four keys reaches the config once ticked.
                type.GetField("overrideBatchEndpoint").SetValue(component, true);
                type.GetField("batchEndpoint").SetValue(component, collector.Endpoint + "/batch");
                type.GetField("overrideBatchFormat").SetValue(component, true);
                type.GetField("batchFormat").SetValue(component, BatchFormat.Json);
                type.GetField("overrideBatchMaxHits").SetValue(component, true);
                type.GetField("batchMaxHits").SetValue(component, 50);
                type.GetField("overrideBatchMaxBytes").SetValue(component, true);
                type.GetField("batchMaxBytes").SetValue(component, 65536L);
                dir = Env.NewDir("component");
                config = (TrackerConfig)build.Invoke(component, new object[] { dir });
                Is.Contains(",\"batch_endpoint\":\"" + collector.Endpoint + "/batch\",\"batch_format\":\"json\",\"batch_max_hits\":50,\"batch_max_bytes\":65536",
                    config.ToJson(), "the ticked batch settings are added");
                using (var tracker = new Tracker(config))
                    Is.Contains("\"storage\":\"required\"", tracker.GetStatsJson(), "the library takes them");
            }
        }

        // The key is a property set from code (never a serialized field): it reaches
        // the config, seals the store, and Require Encryption refuses to open without it.
        [Check("component: EncryptionKey seals the store; Require Encryption refuses without a key")]
        static void LayerEncryptionKey()
        {
            var type = LoadLayer("linux-player").GetType("Offtrack.Unity.OfftrackTracker");
            var build = type.GetMethod("BuildConfig", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic,
                null, new[] { typeof(string) }, null);
            var keyProperty = type.GetProperty("EncryptionKey");
            Is.True(keyProperty != null && type.GetField("EncryptionKey") == null, "EncryptionKey is a property, not a serialized field");
            const string key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
            const string marker = "unity-marker-7f3a9c";
            object component = Activator.CreateInstance(type);
            type.GetField("endpoint").SetValue(component, "http://127.0.0.1:9/hit");
            type.GetField("storageMode").SetValue(component, StorageMode.Always);

            type.GetField("requireEncryption").SetValue(component, true);
            try
            {
                build.Invoke(component, new object[] { Env.NewDir("component") });
                Is.True(false, "Require Encryption without a key must refuse");
            }
            catch (System.Reflection.TargetInvocationException e)
            {
                Is.True(e.InnerException is InvalidOperationException, "refused with " + e.InnerException);
                Is.Contains("EncryptionKey is not set", e.InnerException.Message, "the refusal says what is missing");
            }

            keyProperty.SetValue(component, key);
            string dir = Env.NewDir("component");
            var config = (TrackerConfig)build.Invoke(component, new object[] { dir });
            Is.Contains("\"encryption_key\":\"" + key + "\"", config.ToJson(), "the key reaches the config");
            Is.True(!config.ToString().Contains(key), "ToString hides the key");
            using (var tracker = new Tracker(config))
            {
                tracker.Send("n=1&who=" + marker);
                Is.True(tracker.Flush(15000), "flush");
                Is.Contains("\"encrypted\":true", tracker.GetStatsJson(), "the store is encrypted");
                Is.Equal(1UL, tracker.OfflineCount, "the hit is stored");
            }
            foreach (var file in System.IO.Directory.GetFiles(dir, "*", System.IO.SearchOption.AllDirectories))
            {
                string text = System.Text.Encoding.ASCII.GetString(System.IO.File.ReadAllBytes(file));
                Is.True(!text.Contains(marker), "no plain hit in " + file);
            }
        }
    }
}
