using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Ferry.SageMakerEmulator.Signing;

/// <summary>Credentials the emulator accepts: an access key, its secret, and the session token it was issued with (if any).</summary>
public sealed record EmulatorCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken = null);

/// <summary>Why a request was refused before it reached the service: AWS's error code, message and HTTP status.</summary>
public sealed record SignatureFailure(string Code, string Message, int Status = StatusCodes.Status403Forbidden);

/// <summary>
/// Verifies an AWS Signature Version 4 (header form) by computing it again from the canonical request, as AWS does:
/// unknown key → <c>UnrecognizedClientException</c>; wrong signature, scope or an expired date → <c>InvalidSignatureException</c>.
/// </summary>
public sealed class SigV4Verifier(string region, string service, TimeProvider time)
{
    private const string Algorithm = "AWS4-HMAC-SHA256";
    private static readonly TimeSpan AllowedSkew = TimeSpan.FromMinutes(5);
    private readonly Dictionary<string, EmulatorCredentials> _credentials = new(StringComparer.Ordinal);

    /// <summary>Whether to refuse signatures more than 5 minutes away from the emulator's clock (AWS does).</summary>
    public bool CheckClockSkew { get; set; } = true;

    /// <summary>Accepts requests signed with <paramref name="credentials"/>.</summary>
    public void Add(EmulatorCredentials credentials)
    {
        lock (_credentials)
        {
            _credentials[credentials.AccessKeyId] = credentials;
        }
    }

    /// <summary>Null when the request is signed correctly, else why not.</summary>
    public SignatureFailure? Verify(HttpRequest request, byte[] body)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.Length == 0)
        {
            return new SignatureFailure("MissingAuthenticationTokenException", "Missing Authentication Token");
        }

        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
        {
            return new SignatureFailure("IncompleteSignatureException", $"Unsupported authorization type: only {Algorithm} is accepted", StatusCodes.Status400BadRequest);
        }

        var parts = authorization[(Algorithm.Length + 1)..]
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders) || !parts.TryGetValue("Signature", out var signature))
        {
            return new SignatureFailure("IncompleteSignatureException", $"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}", StatusCodes.Status400BadRequest);
        }

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request")
        {
            return new SignatureFailure("IncompleteSignatureException", $"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'", StatusCodes.Status400BadRequest);
        }

        EmulatorCredentials? known;
        lock (_credentials)
        {
            _credentials.TryGetValue(scope[0], out known);
        }

        if (known is null)
        {
            return new SignatureFailure("UnrecognizedClientException", "The security token included in the request is invalid.");
        }

        if (known.SessionToken is not null && request.Headers["X-Amz-Security-Token"].ToString() != known.SessionToken)
        {
            return new SignatureFailure("UnrecognizedClientException", "The security token included in the request is invalid.");
        }

        if (scope[2] != region)
        {
            return new SignatureFailure("InvalidSignatureException", $"Credential should be scoped to a valid region, not '{scope[2]}'. ");
        }

        if (scope[3] != service)
        {
            return new SignatureFailure("InvalidSignatureException", $"Credential should be scoped to correct service: '{service}'. ");
        }

        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (!DateTimeOffset.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var signedAt))
        {
            return new SignatureFailure("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", StatusCodes.Status400BadRequest);
        }

        if (scope[1] != amzDate[..8])
        {
            return new SignatureFailure("InvalidSignatureException", $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope[1]}' != '{amzDate[..8]}', from '{amzDate}'.");
        }

        var now = time.GetUtcNow();
        if (CheckClockSkew && signedAt < now - AllowedSkew)
        {
            return new SignatureFailure("InvalidSignatureException", $"Signature expired: {amzDate} is now earlier than {Format(now - AllowedSkew)} ({Format(now)} - 5 min.)");
        }

        if (CheckClockSkew && signedAt > now + AllowedSkew)
        {
            return new SignatureFailure("InvalidSignatureException", $"Signature not yet current: {amzDate} is still later than {Format(now + AllowedSkew)} ({Format(now)} + 5 min.)");
        }

        var headerNames = signedHeaders.Split(';');
        if (!headerNames.Contains("host"))
        {
            return new SignatureFailure("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
        }

        var canonical = CanonicalRequest(request, body, headerNames);
        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope[1]}/{scope[2]}/{scope[3]}/aws4_request\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))}";
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + known.SecretAccessKey), scope[1]);
        key = Hmac(key, scope[2]);
        key = Hmac(key, scope[3]);
        key = Hmac(key, "aws4_request");
        var expected = Hex(Hmac(key, stringToSign));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature)))
        {
            return new SignatureFailure("InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"
                + $"The Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{stringToSign}'\n");
        }

        return null;
    }

    /// <summary>The canonical request of SigV4 for <paramref name="request"/> with the given signed headers.</summary>
    public static string CanonicalRequest(HttpRequest request, byte[] body, IReadOnlyList<string> signedHeaders)
    {
        var builder = new StringBuilder();
        builder.Append(request.Method).Append('\n');
        builder.Append(CanonicalPath(request.Path.HasValue ? request.Path.Value! : "/")).Append('\n');
        builder.Append(CanonicalQuery(request.QueryString.HasValue ? request.QueryString.Value![1..] : "")).Append('\n');
        foreach (var name in signedHeaders)
        {
            var values = name == "host" ? [request.Host.Value ?? ""] : request.Headers[name].Select(v => v ?? "").ToArray();
            builder.Append(name).Append(':').Append(string.Join(',', values.Select(Trim))).Append('\n');
        }

        builder.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n');
        builder.Append(Hex(SHA256.HashData(body)));
        return builder.ToString();
    }

    private static string CanonicalPath(string path) =>
        string.Join('/', path.Split('/').Select(segment => Uri.EscapeDataString(Uri.UnescapeDataString(segment))));

    private static string CanonicalQuery(string query) => string.Join('&', query
        .Split('&', StringSplitOptions.RemoveEmptyEntries)
        .Select(p => p.Split('=', 2))
        .Select(p => (Key: Uri.EscapeDataString(Uri.UnescapeDataString(p[0])), Value: Uri.EscapeDataString(Uri.UnescapeDataString(p.Length > 1 ? p[1] : ""))))
        .OrderBy(p => p.Key, StringComparer.Ordinal)
        .ThenBy(p => p.Value, StringComparer.Ordinal)
        .Select(p => $"{p.Key}={p.Value}"));

    private static string Trim(string value) => string.Join(' ', value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
