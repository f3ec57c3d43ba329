using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Authorization;
using Ferry.KubeEmulator.Tests.Support;
using k8s;
using Microsoft.Extensions.Time.Testing;

namespace Ferry.KubeEmulator.Tests.Authorization;

/// <summary>An emulator in the RBAC mode with the test CRD loaded.</summary>
public sealed class RbacEmulator : IAsyncLifetime
{
    public KubeApiEmulator Api { get; private set; } = null!;

    public async Task InitializeAsync() => Api = await KubeApiEmulator.StartAsync(new KubeApiEmulatorOptions
    {
        TimeProvider = new FakeTimeProvider(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)),
        CrdPaths = [EmulatorHost.FixtureCrd],
        Authorization = AuthorizationMode.Rbac,
    });

    public async Task DisposeAsync() => await Api.DisposeAsync();
}

/// <summary>
/// The RBAC mode against the apiserver's RBAC authorizer: ServiceAccount users and groups, Role/ClusterRole rules with
/// verbs, API groups, resources, subresources and resourceNames, RoleBindings confined to their namespace, the 403 body the
/// apiserver writes, 401 for an unknown token, and the request log naming the rule that allowed a request.
/// </summary>
public sealed class RbacTests(RbacEmulator env) : IClassFixture<RbacEmulator>
{
    private const string Rbac = "rbac.authorization.k8s.io/v1";

    [Fact]
    public async Task A_service_account_without_bindings_is_refused_with_the_apiservers_403_body()
    {
        var ns = await NamespaceAsync();
        var token = env.Api.IssueServiceAccountToken("ferry-system", "ferry");

        var (status, body) = await SendAsync(token, HttpMethod.Post, $"/api/v1/namespaces/{ns}/pods", Pod("p"));

        Assert.Equal(403, status);
        Assert.Equal("Status", (string?)body!["kind"]);
        Assert.Equal("Failure", (string?)body["status"]);
        Assert.Equal("Forbidden", (string?)body["reason"]);
        Assert.Equal(403, (int)body["code"]!);
        Assert.Equal($"pods is forbidden: User \"system:serviceaccount:ferry-system:ferry\" cannot create resource \"pods\" in API group \"\" in the namespace \"{ns}\"", (string?)body["message"]);
        Assert.Equal("""{"kind":"pods"}""", body["details"]!.ToJsonString());
    }

    public static TheoryData<string, string, string, string, string?, int, string?> Requests => new()
    {
        // rule (verbs; apiGroups; resources; resourceNames), method, path suffix, expected status, expected forbidden message tail
        { "get,list;;pods;", "GET", "/api/v1/namespaces/{ns}/pods", "list", null, 200, null },
        { "get,list;;pods;", "GET", "/api/v1/namespaces/{ns}/pods?watch=true&timeoutSeconds=1", "watch", null, 403, "cannot watch resource \"pods\" in API group \"\" in the namespace \"{ns}\"" },
        { "*;;pods;", "DELETE", "/api/v1/namespaces/{ns}/pods", "deletecollection", null, 200, null },
        { "update;ferry.dev;trainingjobs;", "PUT", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j/status", "update", "j", 403, "cannot update resource \"trainingjobs/status\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "update,patch;ferry.dev;trainingjobs/status;", "PATCH", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j/status", "patch", "j", 200, null },
        { "patch;ferry.dev;*/status;", "PATCH", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j/status", "patch", "j", 200, null },
        { "patch;ferry.dev;*/status;", "PATCH", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j", "patch", "j", 403, "cannot patch resource \"trainingjobs\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "get;*;*;", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j", "get", "j", 200, null },
        { "get;;trainingjobs;", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j", "get", "j", 403, "cannot get resource \"trainingjobs\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "get;ferry.dev;trainingjobs;j", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j", "get", "j", 200, null },
        { "get,list;ferry.dev;trainingjobs;other", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/j", "get", "j", 403, "cannot get resource \"trainingjobs\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "get,list;ferry.dev;trainingjobs;j", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs", "list", null, 403, "cannot list resource \"trainingjobs\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "get,list;ferry.dev;trainingjobs;j", "GET", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs?fieldSelector=metadata.name%3Dj", "list", "j", 200, null },
        { "create;ferry.dev;trainingjobs;j", "POST", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs", "create", null, 403, "cannot create resource \"trainingjobs\" in API group \"ferry.dev\" in the namespace \"{ns}\"" },
        { "delete;ferry.dev;trainingjobs;", "DELETE", "/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/missing", "delete", "missing", 404, null },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task Rules_match_verb_group_resource_subresource_and_name_as_the_rbac_authorizer_does(
        string rule, string method, string path, string verb, string? name, int expected, string? forbiddenTail)
    {
        var ns = await NamespaceAsync();
        await env.Api.CreateAsync(Job(ns, "j"));
        var sa = "sa-" + Guid.NewGuid().ToString("N")[..8];
        await CreateRoleAsync(ns, "r", rule);
        await BindAsync(ns, "RoleBinding", "b", "Role", "r", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = sa, ["namespace"] = ns });
        var token = env.Api.IssueServiceAccountToken(ns, sa);
        path = path.Replace("{ns}", ns, StringComparison.Ordinal);
        var body = method switch
        {
            "POST" => Job(ns, "k"),
            "PUT" => Job(ns, "j"),
            "PATCH" => new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["x"] = "y" } } },
            _ => null,
        };

        var (status, answer) = await SendAsync(token, new HttpMethod(method), path, body, method == "PATCH" ? "application/merge-patch+json" : "application/json");

        Assert.True(status == expected, $"{method} {path} as rule {rule}: {status} {answer?.ToJsonString()}");
        var logged = env.Api.RequestLog.Entries.Last(e => e.Path.StartsWith(path.Split('?')[0], StringComparison.Ordinal) && e.User == $"system:serviceaccount:{ns}:{sa}");
        Assert.Equal(verb, logged.Verb);
        if (forbiddenTail is not null)
        {
            var resource = path.Contains("trainingjobs", StringComparison.Ordinal) ? "trainingjobs.ferry.dev" : "pods";
            var prefix = name is null ? $"{resource} is forbidden" : $"{resource} \"{name}\" is forbidden";
            Assert.Equal($"{prefix}: User \"system:serviceaccount:{ns}:{sa}\" {forbiddenTail.Replace("{ns}", ns, StringComparison.Ordinal)}", (string?)answer!["message"]);
            Assert.True(logged.IsForbidden);
        }
        else
        {
            Assert.Contains("RBAC: allowed by RoleBinding \"b\"", logged.Authorization, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_role_binding_to_a_cluster_role_grants_only_in_its_namespace_and_a_cluster_role_binding_everywhere()
    {
        var ns = await NamespaceAsync();
        var other = await NamespaceAsync();
        var sa = "sa-" + Guid.NewGuid().ToString("N")[..8];
        await CreateClusterRoleAsync($"{sa}-cm", "get,list;;configmaps;");
        await BindAsync(ns, "RoleBinding", "cm", "ClusterRole", $"{sa}-cm", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = sa, ["namespace"] = ns });
        var token = env.Api.IssueServiceAccountToken(ns, sa);

        Assert.Equal(200, (await SendAsync(token, HttpMethod.Get, $"/api/v1/namespaces/{ns}/configmaps")).Status);
        var (status, body) = await SendAsync(token, HttpMethod.Get, $"/api/v1/namespaces/{other}/configmaps");
        Assert.Equal(403, status);
        Assert.EndsWith($"cannot list resource \"configmaps\" in API group \"\" in the namespace \"{other}\"", (string?)body!["message"], StringComparison.Ordinal);
        (status, body) = await SendAsync(token, HttpMethod.Get, "/api/v1/configmaps");
        Assert.Equal(403, status);
        Assert.Equal($"configmaps is forbidden: User \"system:serviceaccount:{ns}:{sa}\" cannot list resource \"configmaps\" in API group \"\" at the cluster scope", (string?)body!["message"]);

        // The group every ServiceAccount of a namespace is in, bound cluster-wide.
        await BindAsync(null, "ClusterRoleBinding", $"{sa}-all", "ClusterRole", $"{sa}-cm", new JsonObject { ["kind"] = "Group", ["name"] = $"system:serviceaccounts:{ns}" });
        Assert.Equal(200, (await SendAsync(token, HttpMethod.Get, $"/api/v1/namespaces/{other}/configmaps")).Status);
        Assert.Equal(200, (await SendAsync(token, HttpMethod.Get, "/api/v1/configmaps")).Status);
    }

    [Fact]
    public async Task A_binding_to_a_missing_role_adds_the_rbac_reason_to_the_refusal()
    {
        var ns = await NamespaceAsync();
        await BindAsync(ns, "RoleBinding", "dangling", "Role", "nope", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = "x", ["namespace"] = ns });
        var (status, body) = await SendAsync(env.Api.IssueServiceAccountToken(ns, "x"), HttpMethod.Get, $"/api/v1/namespaces/{ns}/secrets/s");
        Assert.Equal(403, status);
        Assert.Equal($"secrets \"s\" is forbidden: User \"system:serviceaccount:{ns}:x\" cannot get resource \"secrets\" in API group \"\" in the namespace \"{ns}\": RBAC: role.rbac.authorization.k8s.io \"nope\" not found", (string?)body!["message"]);
        Assert.Equal("""{"name":"s","kind":"secrets"}""", body["details"]!.ToJsonString());
    }

    [Fact]
    public async Task Unknown_tokens_are_401_discovery_is_open_to_authenticated_users_and_the_admin_token_may_do_anything()
    {
        var (status, body) = await SendAsync("not-a-token", HttpMethod.Get, "/api");
        Assert.Equal(401, status);
        Assert.Equal("Unauthorized", (string?)body!["reason"]);

        var token = env.Api.IssueServiceAccountToken("default", "reader");
        foreach (var path in new[] { "/api", "/apis", "/api/v1", "/apis/ferry.dev/v1alpha1", "/version", "/openapi/v3" })
        {
            Assert.True((await SendAsync(token, HttpMethod.Get, path)).Status == 200, path);
        }

        (status, body) = await SendAsync(null, HttpMethod.Get, "/api");
        Assert.Equal(403, status);
        Assert.Equal("forbidden: User \"system:anonymous\" cannot get path \"/api\"", (string?)body!["message"]);
        Assert.Equal(200, (await SendAsync(null, HttpMethod.Get, "/version")).Status);

        Assert.Equal(201, (await SendAsync(TokenAuthenticator.AdminToken, HttpMethod.Post, "/api/v1/namespaces", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "admin-made" } })).Status);
    }

    [Fact]
    public async Task A_self_subject_access_review_answers_for_the_requesting_user()
    {
        var ns = await NamespaceAsync();
        await CreateRoleAsync(ns, "pods-reader", "get;;pods;");
        await BindAsync(ns, "RoleBinding", "pods-reader", "Role", "pods-reader", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = "reader", ["namespace"] = ns });
        var token = env.Api.IssueServiceAccountToken(ns, "reader");
        JsonObject Review(string verb) => new()
        {
            ["apiVersion"] = "authorization.k8s.io/v1",
            ["kind"] = "SelfSubjectAccessReview",
            ["spec"] = new JsonObject { ["resourceAttributes"] = new JsonObject { ["namespace"] = ns, ["verb"] = verb, ["resource"] = "pods" } },
        };

        var (status, body) = await SendAsync(token, HttpMethod.Post, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", Review("get"));
        Assert.Equal(201, status);
        Assert.True((bool)body!["status"]!["allowed"]!);
        (_, body) = await SendAsync(token, HttpMethod.Post, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", Review("delete"));
        Assert.False((bool)body!["status"]!["allowed"]!);
    }

    [Fact]
    public async Task KubernetesClient_with_a_service_account_kubeconfig_trusts_the_served_certificate_and_gets_403()
    {
        var ns = await NamespaceAsync();
        var path = Path.Combine(Path.GetTempPath(), $"ferry-sa-{Guid.NewGuid():N}.kubeconfig");
        try
        {
            env.Api.WriteServiceAccountKubeconfig(path, ns, "operator");
            using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));
            var e = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => client.CoreV1.ListNamespacedPodAsync(ns));
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, e.Response.StatusCode);
            Assert.Equal($"pods is forbidden: User \"system:serviceaccount:{ns}:operator\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\"",
                (string?)JsonNode.Parse(e.Response.Content)!["message"]);
            Assert.Equal("v1.32.0", (await client.Version.GetCodeAsync()).GitVersion);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Block_owner_deletion_needs_update_on_the_owners_finalizers_as_the_owner_references_admission_requires()
    {
        var ns = await NamespaceAsync();
        var owner = await env.Api.CreateAsync(Job(ns, "owner"));
        await CreateRoleAsync(ns, "pods-writer", "create,update,get;;pods;");
        await BindAsync(ns, "RoleBinding", "pods-writer", "Role", "pods-writer", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = "op", ["namespace"] = ns });
        var token = env.Api.IssueServiceAccountToken(ns, "op");
        JsonObject Owned(string name, bool block)
        {
            var pod = Pod(name);
            pod["metadata"]!["ownerReferences"] = new JsonArray(new JsonObject
            {
                ["apiVersion"] = "ferry.dev/v1alpha1", ["kind"] = "TrainingJob", ["name"] = "owner",
                ["uid"] = (string?)owner["metadata"]!["uid"], ["controller"] = true, ["blockOwnerDeletion"] = block,
            });
            return pod;
        }

        // An owner reference that does not block deletion needs nothing more.
        Assert.Equal(201, (await SendAsync(token, HttpMethod.Post, $"/api/v1/namespaces/{ns}/pods", Owned("free", block: false))).Status);
        var (status, body) = await SendAsync(token, HttpMethod.Post, $"/api/v1/namespaces/{ns}/pods", Owned("blocking", block: true));
        Assert.Equal(403, status);
        Assert.Equal("pods \"blocking\" is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: , <nil>",
            (string?)body!["message"]);
        Assert.Contains(env.Api.RequestLog.Entries, e => e.IsForbidden && e.Path == $"/api/v1/namespaces/{ns}/pods" && e.Authorization!.Contains("can't set finalizers on", StringComparison.Ordinal));

        // Changing an existing object's owner references needs delete on it.
        var free = (await SendAsync(token, HttpMethod.Get, $"/api/v1/namespaces/{ns}/pods/free")).Body!.AsObject();
        free["metadata"]!["ownerReferences"]![0]!["blockOwnerDeletion"] = true;
        (status, body) = await SendAsync(token, HttpMethod.Put, $"/api/v1/namespaces/{ns}/pods/free", free);
        Assert.Equal(403, status);
        Assert.Equal("pods \"free\" is forbidden: cannot set an ownerRef on a resource you can't delete: , <nil>", (string?)body!["message"]);

        await CreateRoleAsync(ns, "job-finalizers", "update;ferry.dev;trainingjobs/finalizers;owner");
        await BindAsync(ns, "RoleBinding", "job-finalizers", "Role", "job-finalizers", new JsonObject { ["kind"] = "ServiceAccount", ["name"] = "op", ["namespace"] = ns });
        Assert.Equal(201, (await SendAsync(token, HttpMethod.Post, $"/api/v1/namespaces/{ns}/pods", Owned("blocking", block: true))).Status);
    }

    private async Task<string> NamespaceAsync()
    {
        var ns = await env.Api.CreateAsync(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["generateName"] = "rbac-" } });
        return (string)ns["metadata"]!["name"]!;
    }

    private static JsonObject Rule(string spec)
    {
        var parts = spec.Split(';');
        JsonArray List(string text) => new(text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => (JsonNode)v).ToArray());
        var rule = new JsonObject { ["verbs"] = List(parts[0]), ["apiGroups"] = parts[1].Length == 0 ? new JsonArray("") : List(parts[1]), ["resources"] = List(parts[2]) };
        if (parts[3].Length > 0)
        {
            rule["resourceNames"] = List(parts[3]);
        }

        return rule;
    }

    private Task CreateRoleAsync(string ns, string name, string rule) => env.Api.CreateAsync(new JsonObject
    {
        ["apiVersion"] = Rbac,
        ["kind"] = "Role",
        ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        ["rules"] = new JsonArray(Rule(rule)),
    });

    private Task CreateClusterRoleAsync(string name, string rule) => env.Api.CreateAsync(new JsonObject
    {
        ["apiVersion"] = Rbac,
        ["kind"] = "ClusterRole",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["rules"] = new JsonArray(Rule(rule)),
    });

    private Task BindAsync(string? ns, string kind, string name, string roleKind, string role, JsonObject subject)
    {
        var meta = new JsonObject { ["name"] = name };
        if (ns is not null)
        {
            meta["namespace"] = ns;
        }

        return env.Api.CreateAsync(new JsonObject
        {
            ["apiVersion"] = Rbac,
            ["kind"] = kind,
            ["metadata"] = meta,
            ["roleRef"] = new JsonObject { ["apiGroup"] = "rbac.authorization.k8s.io", ["kind"] = roleKind, ["name"] = role },
            ["subjects"] = new JsonArray(subject),
        });
    }

    private static JsonObject Job(string ns, string name)
    {
        var job = EmulatorHost.TrainingJob(name);
        job["metadata"]!["namespace"] = ns;
        return job;
    }

    private static JsonObject Pod(string name) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "main", ["image"] = "img:1" }) },
    };

    private async Task<(int Status, JsonNode? Body)> SendAsync(string? token, HttpMethod method, string path, JsonObject? body = null, string contentType = "application/json")
    {
        using var http = env.Api.CreateHttpClient();
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 || text[0] != '{' ? null : JsonNode.Parse(text));
    }
}
