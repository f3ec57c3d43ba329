using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.Json;
using System.Text;
using Ferry.KubeEmulator.Authorization;
using Ferry.KubeEmulator.Diagnostics;
using Ferry.KubeEmulator.Discovery;
using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Faults;
using Ferry.KubeEmulator.Resources;
using Ferry.KubeEmulator.Schema;
using Ferry.KubeEmulator.Selectors;
using Ferry.KubeEmulator.Serialization;
using Ferry.KubeEmulator.Store;
using Ferry.KubeEmulator.Tables;
using Microsoft.AspNetCore.Http;

namespace Ferry.KubeEmulator.Http;

/// <summary>Serves every request: discovery, OpenAPI, and the resource verbs (get, list, watch, create, update, patch, delete).</summary>
internal sealed class ApiHandler(ApiOperations ops, RequestLog log, FaultInjector faults, KubeApiEmulatorOptions options,
    TokenAuthenticator authenticator, RbacAuthorizer authorizer)
{
    private readonly OwnerReferenceAdmission _admission = new(authorizer, ops.Registry);
    /// <summary>Watch events are written without flushing until this many bytes are pending (then, and after each batch, flushed).</summary>
    private const int FlushThreshold = 64 * 1024;
    private readonly OpenApiDocuments _openApi = new(ops.Registry);
    private readonly ConcurrentDictionary<long, (List<StoredObject> Items, long ResourceVersion)> _pages = new();
    private long _nextPageId;

    public string ServerAddress { get; set; } = "127.0.0.1";

    public async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var request = ApiRequest.Parse(path);
        var watch = IsTrue(ctx.Request.Query["watch"]);
        var verb = request?.VerbFor(ctx.Request.Method, watch) ?? ctx.Request.Method.ToLowerInvariant();
        var sequence = log.NextSequence();
        string? userName = null;
        string? decisionText = null;
        try
        {
            if (faults.Latency > TimeSpan.Zero)
            {
                await Task.Delay(faults.Latency, ctx.RequestAborted);
            }

            if (options.Authorization == AuthorizationMode.Rbac)
            {
                // Authentication, then authorization, before anything else looks at the request (as the apiserver's filter chain).
                var user = authenticator.Authenticate(ctx.Request.Headers.Authorization.ToString())
                    ?? throw new ApiException(401, "Unauthorized", "Unauthorized");
                userName = user.Name;
                ctx.Items[typeof(UserInfo)] = user;
                var attributes = AttributesOf(ctx, request, verb, path);
                var decision = authorizer.Authorize(user, attributes);
                if (!decision.Allowed)
                {
                    var forbidden = Forbidden(user, attributes, decision.Reason);
                    decisionText = forbidden.Message;
                    throw forbidden;
                }

                decisionText = decision.Reason;
            }

            if (request is not null && faults.Match(verb, request.Plural, request.Namespace, request.Name, request.Subresource) is { } fault)
            {
                if (await ApplyFaultAsync(ctx, fault))
                {
                    return;
                }
            }

            if (request is null)
            {
                await ServeNonResourceAsync(ctx, path);
            }
            else
            {
                await ServeResourceAsync(ctx, request, verb, watch);
            }
        }
        catch (ApiException e)
        {
            if (e.Code == 403 && userName is not null)
            {
                // Refused after authorization (by admission): the log shows why.
                decisionText = e.Message;
            }

            await WriteErrorAsync(ctx, e);
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(ctx, ApiException.BadRequest($"error decoding request body: {e.Message}"));
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            await WriteErrorAsync(ctx, ApiException.BadRequest($"error decoding YAML request body: {e.Message}"));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            log.Add(new RequestLogEntry(sequence, ops.Time.GetUtcNow(), verb, ctx.Request.Method, path + ctx.Request.QueryString, request?.Group,
                request?.Plural, request?.Namespace, request?.Name, request?.Subresource, ctx.Response.StatusCode,
                ctx.Request.Headers.UserAgent.ToString(), userName, decisionText));
        }
    }

    /// <summary>The request's attributes as the apiserver's RequestInfo derives them: a list or watch narrowed by a
    /// <c>metadata.name</c> field selector names that object, and a request for a Namespace is in that namespace.</summary>
    private static RequestAttributes AttributesOf(HttpContext ctx, ApiRequest? request, string verb, string path)
    {
        if (request is null)
        {
            return RequestAttributes.ForPath(ctx.Request.Method.ToLowerInvariant(), path);
        }

        var name = request.Name;
        if (name is null && verb is "list" or "watch" && (string?)ctx.Request.Query["fieldSelector"] is { Length: > 0 } selector)
        {
            foreach (var term in selector.Split(','))
            {
                var parts = term.Split('=', 2);
                if (parts.Length == 2 && parts[0].Trim() == "metadata.name" && !parts[0].EndsWith('!'))
                {
                    name = parts[1].TrimStart('=').Trim();
                }
            }
        }

        var ns = request.Namespace ?? (request.Group.Length == 0 && request.Plural == "namespaces" ? request.Name : null);
        return RequestAttributes.ForResource(verb, request.Group, request.Plural, request.Subresource, ns, name);
    }

    /// <summary>Admission after authorization (RBAC mode): owner references the user may not set are refused.</summary>
    private void Admit(HttpContext ctx, ApiResource r, string ns, JsonObject obj, JsonObject? old)
    {
        if (options.Authorization == AuthorizationMode.Rbac && options.EnforceOwnerReferencePermissions
            && ctx.Items[typeof(UserInfo)] is UserInfo user && _admission.Admit(user, r, ns, obj, old) is { } refused)
        {
            throw refused;
        }
    }

    /// <summary>The 403 the apiserver writes (responsewriters.Forbidden with apierrors.NewForbidden).</summary>
    private static ApiException Forbidden(UserInfo user, RequestAttributes attributes, string reason)
    {
        var message = attributes.ForbiddenMessage(user) + (reason.Length > 0 ? $": {reason}" : "");
        var details = new JsonObject();
        if (!attributes.IsResourceRequest)
        {
            return new ApiException(403, "Forbidden", $"forbidden: {message}", details);
        }

        if (attributes.Name.Length > 0)
        {
            details["name"] = attributes.Name;
        }

        if (attributes.Group.Length > 0)
        {
            details["group"] = attributes.Group;
        }

        details["kind"] = attributes.Resource;
        var qualified = ApiException.Qualified(attributes.Group, attributes.Resource);
        return new ApiException(403, "Forbidden",
            attributes.Name.Length > 0 ? $"{qualified} \"{attributes.Name}\" is forbidden: {message}" : $"{qualified} is forbidden: {message}", details);
    }

    /// <summary>A SelfSubjectAccessReview: may the requesting user do what the spec describes? (what <c>kubectl auth can-i</c> asks).</summary>
    /// <remarks>https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access</remarks>
    private async Task ReviewAccessAsync(HttpContext ctx)
    {
        var review = await ReadObjectAsync(ctx);
        var spec = review["spec"] as JsonObject ?? [];
        RequestAttributes attributes;
        if (spec["resourceAttributes"] is JsonObject ra)
        {
            attributes = RequestAttributes.ForResource((string?)ra["verb"] ?? "", (string?)ra["group"] ?? "", (string?)ra["resource"] ?? "",
                (string?)ra["subresource"], (string?)ra["namespace"], (string?)ra["name"]);
        }
        else if (spec["nonResourceAttributes"] is JsonObject nra)
        {
            attributes = RequestAttributes.ForPath((string?)nra["verb"] ?? "", (string?)nra["path"] ?? "");
        }
        else
        {
            throw ApiException.Invalid("authorization.k8s.io", "SelfSubjectAccessReview", "", [("FieldValueRequired", "spec.resourceAttributes",
                "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified")]);
        }

        var decision = options.Authorization == AuthorizationMode.Rbac
            ? authorizer.Authorize(ctx.Items[typeof(UserInfo)] as UserInfo ?? UserInfo.Anonymous, attributes)
            : new AuthorizationDecision(true, "");
        review["apiVersion"] = "authorization.k8s.io/v1";
        review["kind"] = "SelfSubjectAccessReview";
        review["metadata"] = new JsonObject { ["creationTimestamp"] = null };
        var status = new JsonObject { ["allowed"] = decision.Allowed };
        if (decision.Reason.Length > 0)
        {
            status["reason"] = decision.Reason;
        }

        review["status"] = status;
        await WriteJsonAsync(ctx, 201, JsonOutput.Bytes(review));
    }

    private static async Task<bool> ApplyFaultAsync(HttpContext ctx, FaultRule fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.Latency:
                await Task.Delay(fault.Delay ?? TimeSpan.Zero, ctx.RequestAborted);
                return false;
            case FaultKind.Hang:
                await Task.Delay(fault.Delay ?? Timeout.InfiniteTimeSpan, ctx.RequestAborted);
                return false;
            case FaultKind.Disconnect:
                ctx.Abort();
                return true;
            default:
                var (reason, message) = fault.StatusCode switch
                {
                    409 => ("Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)"),
                    429 => ("TooManyRequests", "Too many requests, please try again later. (injected)"),
                    500 => ("InternalError", "Internal error occurred: injected failure"),
                    503 => ("ServiceUnavailable", "The server is currently unable to handle the request (injected)"),
                    504 => ("Timeout", "The request timed out (injected)"),
                    404 => ("NotFound", "the server could not find the requested resource (injected)"),
                    _ => ("InternalError", $"injected failure {fault.StatusCode}"),
                };
                var retry = fault.RetryAfterSeconds ?? (fault.StatusCode == 429 ? 1 : null);
                await WriteErrorAsync(ctx, new ApiException(fault.StatusCode, reason, message) { RetryAfterSeconds = retry });
                return true;
        }
    }

    // ---------------------------------------------------------------- non-resource paths

    private async Task ServeNonResourceAsync(HttpContext ctx, string path)
    {
        var segs = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (ctx.Request.Method != "GET")
        {
            throw ApiException.MethodNotAllowed();
        }

        JsonObject? doc = null;
        switch (segs)
        {
            case ["version"]:
                doc = DiscoveryDocuments.Version();
                break;
            case ["healthz"] or ["readyz"] or ["livez"]:
                ctx.Response.ContentType = "text/plain";
                await ctx.Response.WriteAsync("ok", ctx.RequestAborted);
                return;
            case ["api"]:
                doc = DiscoveryDocuments.CoreVersions(ServerAddress);
                break;
            case ["api", var v]:
                doc = DiscoveryDocuments.ResourceList(ops.Registry, "", v);
                break;
            case ["apis"]:
                doc = DiscoveryDocuments.GroupList(ops.Registry);
                break;
            case ["apis", var g]:
                doc = DiscoveryDocuments.Group(ops.Registry, g);
                break;
            case ["apis", var g, var v]:
                doc = DiscoveryDocuments.ResourceList(ops.Registry, g, v);
                break;
            case ["openapi", "v3"]:
                doc = _openApi.Index();
                break;
            case ["openapi", "v3", "api", var v]:
                await WriteOpenApiAsync(ctx, v);
                return;
            case ["openapi", "v3", "apis", var g, var v]:
                await WriteOpenApiAsync(ctx, $"{g}/{v}");
                return;
        }

        if (doc is null)
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        }

        await WriteJsonAsync(ctx, 200, JsonOutput.Bytes(doc));
    }

    private async Task WriteOpenApiAsync(HttpContext ctx, string groupVersion)
    {
        var doc = _openApi.Document(groupVersion) ?? throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        ctx.Response.Headers.ETag = $"\"{doc.Hash}\"";
        await WriteJsonAsync(ctx, 200, doc.Json);
    }

    // ---------------------------------------------------------------- resources

    private async Task ServeResourceAsync(HttpContext ctx, ApiRequest req, string verb, bool watch)
    {
        var r = ops.Registry.Find(req.Group, req.Version, req.Plural)
            ?? throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        if (req.Namespace is not null && !r.Namespaced)
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        }

        if (req.Subresource is not null && !(req.Subresource == "status" && r.HasStatusSubresource))
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        }

        var ns = r.Namespaced ? req.Namespace : "";
        if (r.Namespaced && req.Namespace is null && req.Name is not null)
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource");
        }

        if (r.Group == "authorization.k8s.io" && r.Plural == "selfsubjectaccessreviews")
        {
            await (verb == "create" && req.Name is null ? ReviewAccessAsync(ctx) : throw ApiException.MethodNotAllowed());
            return;
        }

        var q = ctx.Request.Query;
        var ct = ctx.RequestAborted;
        switch (verb)
        {
            case "get":
                await WriteObjectAsync(ctx, r, 200, ops.Render(r, ops.Get(r, ns!, req.Name!)));
                return;
            case "list":
                await ListAsync(ctx, r, ns);
                return;
            case "watch":
                await WatchAsync(ctx, r, ns, req.Name);
                return;
            case "create":
                if (req.Name is not null)
                {
                    throw ApiException.MethodNotAllowed();
                }

                var body = await ReadObjectAsync(ctx);
                Admit(ctx, r, ns ?? throw ApiException.MethodNotAllowed(), body, null);
                var created = await ops.CreateAsync(r, ns, body, WriteOptionsOf(ctx, "CreateOptions", apply: false), ct);
                await WriteResultAsync(ctx, r, created, 201);
                return;
            case "update":
                var replacement = await ReadObjectAsync(ctx);
                if (req.Subresource is null && r.Collection.Get(ns!, req.Name!) is { } current)
                {
                    Admit(ctx, r, ns!, replacement, current.ToJsonObject());
                }
                else if (req.Subresource is null && ApiOperations.AllowsCreateOnUpdate(r))
                {
                    // An update that creates is also authorized as a create (the apiserver's update handler does so).
                    if (options.Authorization == AuthorizationMode.Rbac && ctx.Items[typeof(UserInfo)] is UserInfo user)
                    {
                        var attributes = RequestAttributes.ForResource("create", r.Group, r.Plural, null, ns, req.Name);
                        if (authorizer.Authorize(user, attributes) is { Allowed: false } decision)
                        {
                            throw Forbidden(user, attributes, decision.Reason);
                        }
                    }

                    Admit(ctx, r, ns!, replacement, null);
                }

                var updated = await ops.UpdateAsync(r, ns!, req.Name!, replacement, req.Subresource, WriteOptionsOf(ctx, "UpdateOptions", apply: false), ct);
                await WriteResultAsync(ctx, r, updated, updated.Created ? 201 : 200);
                return;
            case "patch":
                var contentType = ctx.Request.ContentType ?? "";
                var isApply = contentType.StartsWith("application/apply-patch", StringComparison.OrdinalIgnoreCase);
                if (!isApply && q["force"].Count > 0)
                {
                    throw new ApiException(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch");
                }

                var patchBody = await ReadBodyAsync(ctx);
                var patch = isApply ? YamlJson.Parse(patchBody) : JsonNode.Parse(patchBody);
                var patched = await ops.PatchAsync(r, ns!, req.Name!, req.Subresource, contentType, patch, WriteOptionsOf(ctx, "PatchOptions", isApply), ct);
                await WriteResultAsync(ctx, r, patched, patched.Created ? 201 : 200);
                return;
            case "delete":
                var deleted = await ops.DeleteAsync(r, ns!, req.Name!, await DeleteOptionsOfAsync(ctx), ct);
                // 200 also while finalizers hold the object (the apiserver answers 202 only to an explicit orphanDependents=false).
                if (deleted.Json.AsSpan().StartsWith("{\"kind\":\"Status\""u8))
                {
                    await WriteJsonAsync(ctx, 200, deleted.Json);
                    return;
                }

                await WriteResultAsync(ctx, r, deleted, 200);
                return;
            case "deletecollection":
                await DeleteCollectionAsync(ctx, r, ns);
                return;
            default:
                _ = q;
                throw ApiException.MethodNotAllowed();
        }
    }

    private async Task ListAsync(HttpContext ctx, ApiResource r, string? ns)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(q["fieldSelector"], r);
        var limit = long.TryParse(q["limit"], CultureInfo.InvariantCulture, out var l) && l > 0 ? l : 0;
        var continueToken = (string?)q["continue"];

        // The apiserver omits remainingItemCount when a selector filters the list (it cannot count without reading everything).
        var selected = !string.IsNullOrEmpty(q["labelSelector"]) || !string.IsNullOrEmpty(q["fieldSelector"]);
        List<StoredObject> items;
        long listRv;
        var offset = 0;
        if (!string.IsNullOrEmpty(continueToken))
        {
            (var id, offset) = DecodeContinue(continueToken);
            if (!_pages.TryGetValue(id, out var page) || page.ResourceVersion < ops.Store.OldestResumableVersion)
            {
                throw ApiException.Expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
            }

            (items, listRv) = page;
        }
        else
        {
            (items, listRv) = ops.Store.Snapshot(r.Collection, string.IsNullOrEmpty(ns) ? null : ns);
            items = items.Where(o => labels.Matches(o.Labels) && fields.Matches(o)).ToList();
        }

        var end = limit > 0 ? (int)Math.Min(items.Count, offset + limit) : items.Count;
        string? next = null;
        if (end < items.Count)
        {
            var id = string.IsNullOrEmpty(continueToken) ? Interlocked.Increment(ref _nextPageId) : DecodeContinue(continueToken).Id;
            // A continue token stays valid until the history it was listed at is compacted (as etcd's compaction expires
            // the apiserver's tokens); the count bound only caps memory.
            _pages[id] = (items, listRv);
            foreach (var expired in _pages.Where(p => p.Value.ResourceVersion < ops.Store.OldestResumableVersion).Select(p => p.Key).ToList())
            {
                _pages.TryRemove(expired, out _);
            }

            while (_pages.Count > 4096 && _pages.Keys.Min() is var oldest)
            {
                _pages.TryRemove(oldest, out _);
            }

            next = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{id}:{end}"));
        }

        var page2 = items.Skip(offset).Take(end - offset).ToList();
        var rvText = listRv.ToString(CultureInfo.InvariantCulture);
        var accept = ctx.Request.Headers.Accept.ToString();
        if (accept.Contains("as=Table", StringComparison.Ordinal))
        {
            var table = TableConverter.Table(r, page2.Select(o => Parse(ops.Render(r, o))), IncludeOf(ctx), ops.Time.GetUtcNow(), rvText, next);
            await WriteJsonAsync(ctx, 200, JsonOutput.Bytes(table));
            return;
        }

        var partial = accept.Contains("as=PartialObjectMetadataList", StringComparison.Ordinal);
        using var buffer = new MemoryStream();
        var kind = partial ? "PartialObjectMetadataList" : r.ListKind;
        var apiVersion = partial ? "meta.k8s.io/v1" : r.GroupVersion;
        buffer.Write(Encoding.UTF8.GetBytes($"{{\"kind\":\"{kind}\",\"apiVersion\":\"{apiVersion}\",\"metadata\":{{\"resourceVersion\":\"{rvText}\"" +
            (next is null ? "" : $",\"continue\":\"{next}\"" + (selected ? "" : $",\"remainingItemCount\":{items.Count - end}")) + "},\"items\":["));
        for (var i = 0; i < page2.Count; i++)
        {
            if (i > 0)
            {
                buffer.WriteByte((byte)',');
            }

            buffer.Write(partial ? PartialMetadata(page2[i]) : ops.Render(r, page2[i]));
        }

        buffer.Write("]}"u8);
        await WriteJsonAsync(ctx, 200, buffer.ToArray());
    }

    private static (long Id, int Offset) DecodeContinue(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            var parts = text.Split(':');
            return (long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (FormatException)
        {
            throw ApiException.BadRequest("continue key is not valid: illegal base64 data");
        }
        catch (IndexOutOfRangeException)
        {
            throw ApiException.BadRequest("continue key is not valid");
        }
    }

    private async Task DeleteCollectionAsync(HttpContext ctx, ApiResource r, string? ns)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(q["fieldSelector"], r);
        var options = await DeleteOptionsOfAsync(ctx);
        var (items, _) = ops.Store.Snapshot(r.Collection, string.IsNullOrEmpty(ns) ? null : ns);
        var deleted = new List<byte[]>();
        foreach (var o in items.Where(o => labels.Matches(o.Labels) && fields.Matches(o)))
        {
            try
            {
                deleted.Add((await ops.DeleteAsync(r, o.Namespace, o.Name, options with { PreconditionUid = o.Uid }, ctx.RequestAborted)).Json);
            }
            catch (ApiException e) when (e.Code is 404 or 409)
            {
                // Deleted or replaced meanwhile.
            }
        }

        using var buffer = new MemoryStream();
        buffer.Write(Encoding.UTF8.GetBytes($"{{\"kind\":\"{r.ListKind}\",\"apiVersion\":\"{r.GroupVersion}\",\"metadata\":{{\"resourceVersion\":\"{ops.Store.ResourceVersion}\"}},\"items\":["));
        buffer.Write(Encoding.UTF8.GetBytes(string.Join(",", deleted.Select(Encoding.UTF8.GetString))));
        buffer.Write("]}"u8);
        await WriteJsonAsync(ctx, 200, buffer.ToArray());
    }

    // ---------------------------------------------------------------- watch

    /// <summary>Streams watch events as newline-delimited JSON over a chunked response.</summary>
    /// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes and
    /// https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks</remarks>
    private async Task WatchAsync(HttpContext ctx, ApiResource r, string? ns, string? name)
    {
        var q = ctx.Request.Query;
        var labels = LabelSelector.Parse(q["labelSelector"]);
        var fields = FieldSelector.Parse(name is null ? (string?)q["fieldSelector"] : $"metadata.name={name}", r);
        var bookmarks = IsTrue(q["allowWatchBookmarks"]);
        var sendInitialEvents = IsTrue(q["sendInitialEvents"]);
        long? from = long.TryParse(q["resourceVersion"], CultureInfo.InvariantCulture, out var rv) ? rv : null;
        if (sendInitialEvents)
        {
            from = null;
        }

        var accept = ctx.Request.Headers.Accept.ToString();
        var asTable = accept.Contains("as=Table", StringComparison.Ordinal);
        var include = IncludeOf(ctx);

        using var timeout = long.TryParse(q["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds), ops.Time)
            : new CancellationTokenSource();

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        ctx.Response.Headers.CacheControl = "no-cache, private";
        WatchSubscription sub;
        List<WatchEvent> initial;
        try
        {
            sub = ops.Store.Subscribe(r.Collection, string.IsNullOrEmpty(ns) ? null : ns, from, out initial);
        }
        catch (ApiException e) when (e.Code == 410)
        {
            // The apiserver answers a too-old resourceVersion on watch with 200 and one ERROR event carrying a 410 Status.
            await ctx.Response.StartAsync(ctx.RequestAborted);
            await WriteEventAsync(ctx, "ERROR", JsonOutput.Bytes(e.ToStatus()));
            return;
        }

        using (sub)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, timeout.Token, sub.Dropped);
            var ct = linked.Token;
            await ctx.Response.StartAsync(ct);
            var first = true;
            var unflushed = 0;
            foreach (var e in initial)
            {
                await SendAsync(e);
            }

            if (sendInitialEvents && bookmarks)
            {
                await WriteBookmarkAsync(ctx, r, ops.Store.ResourceVersion, initialEventsEnd: true);
            }

            await ctx.Response.Body.FlushAsync(ct);
            var ticks = System.Threading.Channels.Channel.CreateBounded<bool>(1);
            using var timer = bookmarks
                ? ops.Time.CreateTimer(_ => ticks.Writer.TryWrite(true), null, options.BookmarkInterval, options.BookmarkInterval)
                : null;
            var reader = sub.Events.Reader;
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    var sentAny = false;
                    while (reader.TryRead(out var e))
                    {
                        await SendAsync(e);
                        sentAny = true;
                    }

                    if (sentAny)
                    {
                        await ctx.Response.Body.FlushAsync(ct);
                    }

                    if (ticks.Reader.TryRead(out _))
                    {
                        var at = ops.Store.ResourceVersion;
                        if (!reader.TryPeek(out _))
                        {
                            await WriteBookmarkAsync(ctx, r, at, initialEventsEnd: false);
                            await ctx.Response.Body.FlushAsync(ct);
                        }

                        continue;
                    }

                    var waitEvent = reader.WaitToReadAsync(ct).AsTask();
                    var waitTick = ticks.Reader.WaitToReadAsync(ct).AsTask();
                    var done = await Task.WhenAny(waitEvent, waitTick);
                    if (done == waitEvent && !await waitEvent)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Timeout, dropped stream or client gone: end the response.
            }

            async Task SendAsync(WatchEvent e)
            {
                var matchesNow = Matches(e.Object);
                var matchedBefore = e.Previous is not null && Matches(e.Previous);
                string? type = e.Type switch
                {
                    WatchEventType.Added => matchesNow ? "ADDED" : null,
                    WatchEventType.Deleted => matchesNow ? "DELETED" : null,
                    _ => matchesNow && matchedBefore ? "MODIFIED" : matchesNow ? "ADDED" : matchedBefore ? "DELETED" : null,
                };
                if (type is null)
                {
                    return;
                }

                var bytes = ops.Render(r, e.Object);
                if (asTable)
                {
                    var table = TableConverter.Table(r, [Parse(bytes)], include, ops.Time.GetUtcNow(), null, null, withColumns: first);
                    bytes = JsonOutput.Bytes(table);
                    first = false;
                }

                // Buffered in the response pipe and flushed once per batch of events (see the loop above).
                var line = ReferenceEquals(bytes, e.Object.Json) ? e.FrameOf(type) : WatchEvent.Frame(type, bytes);
                ctx.Response.BodyWriter.Write(line);
                unflushed += line.Length;
                if (unflushed >= FlushThreshold)
                {
                    unflushed = 0;
                    await ctx.Response.BodyWriter.FlushAsync(ct);
                }
            }

            bool Matches(StoredObject o) => labels.Matches(o.Labels) && fields.Matches(o);
        }
    }

    private static async Task WriteBookmarkAsync(HttpContext ctx, ApiResource r, long rv, bool initialEventsEnd)
    {
        var meta = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) };
        if (initialEventsEnd)
        {
            meta["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
        }

        var obj = new JsonObject { ["kind"] = r.Kind, ["apiVersion"] = r.GroupVersion, ["metadata"] = meta };
        await WriteEventAsync(ctx, "BOOKMARK", JsonOutput.Bytes(obj));
    }

    private static async Task WriteEventAsync(HttpContext ctx, string type, byte[] obj)
    {
        var body = ctx.Response.Body;
        await body.WriteAsync(WatchEvent.Frame(type, obj));
        if (type is "ERROR")
        {
            await body.FlushAsync();
        }
    }

    // ---------------------------------------------------------------- request/response helpers

    /// <param name="optionsKind">CreateOptions, UpdateOptions or PatchOptions (named in the 422 of an invalid option).</param>
    private WriteOptions WriteOptionsOf(HttpContext ctx, string optionsKind, bool apply)
    {
        var q = ctx.Request.Query;
        var manager = (string?)q["fieldManager"];

        // ValidateCreateOptions / ValidateUpdateOptions / ValidatePatchOptions: dryRun takes only "All"; a fieldManager has at
        // most 128 bytes, all printable.
        var invalid = new List<string>();
        if (manager is { Length: > 0 })
        {
            if (System.Text.Encoding.UTF8.GetByteCount(manager) > 128)
            {
                invalid.Add("fieldManager: Too long: must have at most 128 bytes");
            }

            var position = 0;
            foreach (var rune in manager.EnumerateRunes())
            {
                if (System.Text.Rune.IsControl(rune) || System.Text.Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.Format
                    or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator)
                {
                    invalid.Add($"fieldManager: Invalid value: \"{manager}\": invalid character U+{rune.Value:X4} (at position {position})");
                }

                position += rune.Utf8SequenceLength;
            }
        }

        var dryRun = q["dryRun"].Where(v => v is not null).Select(v => v!).ToList();
        if (dryRun.Any(v => v != "All"))
        {
            invalid.Add($"dryRun: Unsupported value: []string{{{string.Join(", ", dryRun.Select(v => $"\"{v}\""))}}}: supported values: \"All\"");
        }

        if (invalid.Count > 0)
        {
            var detail = invalid.Count == 1 ? invalid[0] : "[" + string.Join(", ", invalid) + "]";
            throw new ApiException(422, "Invalid", $"{optionsKind}.meta.k8s.io \"\" is invalid: {detail}");
        }

        if (string.IsNullOrEmpty(manager))
        {
            if (apply)
            {
                throw new ApiException(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
            }

            var ua = ctx.Request.Headers.UserAgent.ToString();
            manager = ua.Length == 0 ? "unknown" : ua.Split('/')[0];
        }

        var validation = (string?)q["fieldValidation"] switch
        {
            null or "" => FieldValidationMode.Warn,
            var v when v.Equals("Strict", StringComparison.OrdinalIgnoreCase) => FieldValidationMode.Strict,
            var v when v.Equals("Warn", StringComparison.OrdinalIgnoreCase) => FieldValidationMode.Warn,
            var v when v.Equals("Ignore", StringComparison.OrdinalIgnoreCase) => FieldValidationMode.Ignore,
            var v => throw ApiException.BadRequest($"fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got \"{v}\""),
        };
        return new WriteOptions(manager, validation, dryRun.Count > 0, IsTrue(q["force"]));
    }

    private static async Task<DeleteOptions> DeleteOptionsOfAsync(HttpContext ctx)
    {
        var q = ctx.Request.Query;
        JsonObject? body = null;
        var text = await ReadBodyAsync(ctx);
        if (!string.IsNullOrWhiteSpace(text))
        {
            body = JsonNode.Parse(text) as JsonObject;
        }

        // ValidateDeleteOptions; its errors are a 422 Invalid naming DeleteOptions.
        var invalid = new List<string>();
        var policyText = (string?)body?["propagationPolicy"] ?? (string?)q["propagationPolicy"];
        var orphanSet = body?["orphanDependents"] is not null || q["orphanDependents"].Count > 0;
        if (orphanSet && !string.IsNullOrEmpty(policyText))
        {
            invalid.Add($"propagationPolicy: Invalid value: \"{policyText}\": orphanDependents and deletionPropagation cannot be both set");
        }

        PropagationPolicy? policy = policyText switch
        {
            null or "" => body?["orphanDependents"]?.GetValue<bool>() == true || IsTrue(q["orphanDependents"]) ? PropagationPolicy.Orphan : null,
            "Background" => PropagationPolicy.Background,
            "Foreground" => PropagationPolicy.Foreground,
            "Orphan" => PropagationPolicy.Orphan,
            _ => null,
        };
        if (policy is null && !string.IsNullOrEmpty(policyText))
        {
            invalid.Add($"propagationPolicy: Unsupported value: \"{policyText}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
        }

        var dryRunValues = (body?["dryRun"] as JsonArray ?? []).Select(v => (string?)v ?? "").Concat(q["dryRun"].Select(v => v ?? "")).ToList();
        if (dryRunValues.Any(v => v != "All"))
        {
            invalid.Add($"dryRun: Unsupported value: []string{{{string.Join(", ", dryRunValues.Select(v => $"\"{v}\""))}}}: supported values: \"All\"");
        }

        if (invalid.Count > 0)
        {
            throw new ApiException(422, "Invalid", "DeleteOptions.meta.k8s.io \"\" is invalid: " + (invalid.Count == 1 ? invalid[0] : "[" + string.Join(", ", invalid) + "]"));
        }

        long? grace = body?["gracePeriodSeconds"].AsLong()
            ?? (long.TryParse(q["gracePeriodSeconds"], CultureInfo.InvariantCulture, out var g) ? g : null);
        var dryRun = dryRunValues.Count > 0;
        return new DeleteOptions(policy, grace, (string?)body?["preconditions"]?["uid"], (string?)body?["preconditions"]?["resourceVersion"], dryRun);
    }

    private static void RefuseBinaryBodies(HttpContext ctx)
    {
        if (ctx.Request.ContentType?.Contains("protobuf", StringComparison.OrdinalIgnoreCase) == true
            || ctx.Request.ContentType?.Contains("cbor", StringComparison.OrdinalIgnoreCase) == true)
        {
            throw new ApiException(415, "UnsupportedMediaType",
                $"the emulator accepts JSON and YAML request bodies only, not {ctx.Request.ContentType}: use `kubectl apply -f` or `kubectl create -f` with a manifest instead of a `kubectl create <kind>` generator");
        }
    }

    private static async Task<string> ReadBodyAsync(HttpContext ctx)
    {
        RefuseBinaryBodies(ctx);
        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(ctx.RequestAborted);
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpContext ctx)
    {
        if (ctx.Request.ContentType?.Contains("protobuf", StringComparison.OrdinalIgnoreCase) == true)
        {
            using var buffer = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted);
            return ProtobufManifest.TryDecode(buffer.ToArray()) ?? throw new ApiException(415, "UnsupportedMediaType",
                $"the emulator decodes protobuf only for v1 Namespace, ConfigMap, Secret and ServiceAccount: use `kubectl apply -f` or `kubectl create -f` with a manifest instead of a `kubectl create <kind>` generator");
        }

        var contentType = ctx.Request.ContentType ?? "";
        var node = contentType.Contains("yaml", StringComparison.OrdinalIgnoreCase)
            ? YamlJson.Parse(await ReadBodyAsync(ctx))
            : JsonNode.Parse((await ReadJsonBytesAsync(ctx)).Span);
        return node as JsonObject ?? throw ApiException.BadRequest("the request body must be a JSON object");
    }

    /// <summary>A JSON body as UTF-8 bytes (parsed as is, without a round trip through a string); a byte order mark is skipped.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadJsonBytesAsync(HttpContext ctx)
    {
        RefuseBinaryBodies(ctx);
        using var buffer = ctx.Request.ContentLength is { } length and > 0 and < int.MaxValue ? new MemoryStream((int)length) : new MemoryStream();
        await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted);
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        return bytes.Span.StartsWith(Encoding.UTF8.Preamble) ? bytes[Encoding.UTF8.Preamble.Length..] : bytes;
    }

    private static IncludeObject IncludeOf(HttpContext ctx) => (string?)ctx.Request.Query["includeObject"] switch
    {
        "None" => IncludeObject.None,
        "Object" => IncludeObject.Object,
        _ => IncludeObject.Metadata,
    };

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues v) => v.Count > 0 && (v[0] is "true" or "1" or "True");

    private static JsonObject Parse(byte[] json) => JsonNode.Parse(json)!.AsObject();

    private static byte[] PartialMetadata(StoredObject o)
    {
        var meta = o.ToJsonObject()["metadata"]!.DeepClone();
        return JsonOutput.Bytes(new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = meta });
    }

    private async Task WriteResultAsync(HttpContext ctx, ApiResource r, WriteResult result, int status)
    {
        foreach (var w in result.Warnings)
        {
            ctx.Response.Headers.Append("Warning", $"299 - \"{w.Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }

        await WriteObjectAsync(ctx, r, status, result.Json);
    }

    private async Task WriteObjectAsync(HttpContext ctx, ApiResource r, int status, byte[] json)
    {
        var accept = ctx.Request.Headers.Accept.ToString();
        if (accept.Contains("as=Table", StringComparison.Ordinal))
        {
            var table = TableConverter.Table(r, [Parse(json)], IncludeOf(ctx), ops.Time.GetUtcNow(), null, null);
            json = JsonOutput.Bytes(table);
        }
        else if (accept.Contains("as=PartialObjectMetadata", StringComparison.Ordinal))
        {
            var meta = Parse(json)["metadata"]!.DeepClone();
            json = JsonOutput.Bytes(new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = meta });
        }

        await WriteJsonAsync(ctx, status, json);
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, byte[] json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = json.Length;
        await ctx.Response.Body.WriteAsync(json, ctx.RequestAborted);
    }

    private static async Task WriteErrorAsync(HttpContext ctx, ApiException e)
    {
        if (ctx.Response.HasStarted)
        {
            return;
        }

        if (e.RetryAfterSeconds is { } retry)
        {
            ctx.Response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
        }

        await WriteJsonAsync(ctx, e.Code, JsonOutput.Bytes(e.ToStatus()));
    }
}
