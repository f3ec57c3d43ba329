using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.KubeEmulator.Authorization;

/// <summary>
/// A self-signed certificate for 127.0.0.1, so the RBAC mode serves https: kubectl (client-go) sends bearer tokens only
/// over TLS. The kubeconfig carries it as <c>certificate-authority-data</c>, so clients verify the server as usual.
/// </summary>
public static class ServingCertificate
{
    /// <summary>A new certificate (ECDSA P-256, valid for a day, SAN IP 127.0.0.1 and DNS localhost) with its private key.</summary>
    public static X509Certificate2 Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ferry-kube-emulator", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        // Round-tripped through PKCS#12 so the key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The certificate in PEM, as kubeconfig's certificate-authority-data wants it (base64 of the PEM).</summary>
    public static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem();
}
