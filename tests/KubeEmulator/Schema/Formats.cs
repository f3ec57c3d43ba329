using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Ferry.KubeEmulator.Schema;

/// <summary>The string formats the apiserver checks (kube-openapi's strfmt registry); unknown formats are not checked.</summary>
internal static partial class Formats
{
    public static bool? IsValid(string format, string value) => format switch
    {
        "byte" => IsBase64(value),
        "date-time" or "datetime" => DateTimeRegex().IsMatch(value) && DateTimeOffset.TryParse(value.Replace(' ', 'T'), CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
        "date" => DateTime.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _),
        "duration" => DurationRegex().IsMatch(value),
        "uuid" => UuidRegex().IsMatch(value),
        "uuid3" or "uuid4" or "uuid5" => UuidRegex().IsMatch(value),
        "ipv4" => IPAddress.TryParse(value, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && value.Count(c => c == '.') == 3,
        "ipv6" => IPAddress.TryParse(value, out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6,
        "cidr" => IPNetwork.TryParse(value, out _) && value.Contains('/'),
        "hostname" => HostnameRegex().IsMatch(value) && value.Length <= 255,
        "email" => EmailRegex().IsMatch(value),
        "uri" => Uri.TryCreate(value, UriKind.Absolute, out _),
        "mac" => MacRegex().IsMatch(value),
        "password" => true,
        _ => null,
    };

    private static bool IsBase64(string value)
    {
        var buffer = new byte[value.Length];
        return Convert.TryFromBase64String(value, buffer, out _);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex DateTimeRegex();

    [GeneratedRegex(@"^(\s*[-+]?\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$")]
    private static partial Regex DurationRegex();

    [GeneratedRegex(@"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")]
    private static partial Regex UuidRegex();

    [GeneratedRegex(@"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$")]
    private static partial Regex HostnameRegex();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+$")]
    private static partial Regex EmailRegex();

    [GeneratedRegex(@"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")]
    private static partial Regex MacRegex();
}
