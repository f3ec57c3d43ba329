using System.Text.RegularExpressions;

namespace Ferry.Operator.Insight.Lineage;

/// <summary>
/// What the lineage keeps of a hyperparameter: the value, unless its name says it is a credential (token, secret,
/// password, access or API key, credential, authorization) or the value carries a signed URL's query (AWS SigV4
/// presigned, Azure SAS, GCS signed). SageMaker asks that hyperparameters hold no secrets; when one does anyway, the
/// status (readable by everyone who may read the TrainingJob, and copied into reports and experiment tables) does not
/// repeat it.
/// </summary>
public static partial class CredentialMask
{
    /// <summary>What replaces a masked value.</summary>
    public const string Masked = "<masked>";

    /// <summary>The value as the lineage records it.</summary>
    public static string HyperParameter(string name, string value)
    {
        if (CredentialName().IsMatch(name))
        {
            return Masked;
        }

        if (!SignedQuery().IsMatch(value))
        {
            return value;
        }

        var query = value.IndexOf('?', StringComparison.Ordinal);
        return query >= 0 ? value[..(query + 1)] + Masked : Masked;
    }

    [GeneratedRegex(@"token|secret|passw(or)?d|credential|api[_-]?key|access[_-]?key|private[_-]?key|authorization", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CredentialName();

    [GeneratedRegex(@"X-Amz-(Signature|Credential|Security-Token)=|[?&](sig|X-Goog-Signature|Signature)=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SignedQuery();
}
