using System.Globalization;

namespace Ferry.KubeEmulator.Schema;

/// <summary>Builds field names as apimachinery's field.Path prints them: `spec.inputs[0]`, map keys as `spec.env[KEY]`.</summary>
internal static class FieldPath
{
    public static string Child(string path, string name) => path.Length == 0 ? name : path + "." + name;

    public static string Index(string path, int index) => path + "[" + index.ToString(CultureInfo.InvariantCulture) + "]";

    public static string Key(string path, string key) => path + "[" + key + "]";

    /// <summary>The name printed for a path; the root (a nil field.Path in the apiserver) prints as `&lt;nil&gt;`.</summary>
    public static string Display(string path) => path.Length == 0 ? "<nil>" : path;
}
