using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Ferry.KubeEmulator.Authorization;

/// <summary>Bearer tokens and the users they authenticate: the default kubeconfig token is the administrator; others are issued per ServiceAccount.</summary>
public sealed class TokenAuthenticator
{
    /// <summary>The token in the default kubeconfig.</summary>
    public const string AdminToken = "ferry-emulator";

    private readonly ConcurrentDictionary<string, UserInfo> _tokens = new(StringComparer.Ordinal) { [AdminToken] = UserInfo.Admin };

    /// <summary>A new token that authenticates as the ServiceAccount <paramref name="ns"/>/<paramref name="name"/>.</summary>
    public string IssueServiceAccountToken(string ns, string name)
    {
        var token = $"sa.{ns}.{name}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}";
        _tokens[token] = UserInfo.ServiceAccount(ns, name);
        return token;
    }

    /// <summary>The user of an <c>Authorization</c> header: anonymous without one, null (401) for a token nobody issued.</summary>
    public UserInfo? Authenticate(string? authorizationHeader)
    {
        if (string.IsNullOrEmpty(authorizationHeader))
        {
            return UserInfo.Anonymous;
        }

        const string bearer = "Bearer ";
        return authorizationHeader.StartsWith(bearer, StringComparison.OrdinalIgnoreCase)
            && _tokens.TryGetValue(authorizationHeader[bearer.Length..].Trim(), out var user) ? user : null;
    }
}
