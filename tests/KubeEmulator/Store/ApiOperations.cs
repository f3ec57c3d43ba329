using System.Text.Json.Nodes;
using System.Text.Json;
using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Patching;
using Ferry.KubeEmulator.Resources;
using Ferry.KubeEmulator.Schema;
using Ferry.KubeEmulator.Serialization;
using Ferry.KubeEmulator.Validation;

namespace Ferry.KubeEmulator.Store;

/// <summary>
/// The apiserver's write semantics on top of <see cref="ObjectStore"/>: system metadata, generation, the status
/// subresource, optimistic concurrency, schema validation of custom resources, finalizers and owner-reference garbage collection.
/// </summary>
public sealed class ApiOperations(ObjectStore store, ResourceRegistry registry, CustomResourceValidator validator, TimeProvider time, bool requireNamespaces)
{
    private const string NameChars = "bcdfghjklmnpqrstvwxz2456789";
    private static readonly System.Text.RegularExpressions.Regex MicroTime = new(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$", System.Text.RegularExpressions.RegexOptions.Compiled);
    private int _nextClusterIp = 10;

    public ObjectStore Store => store;
    public ResourceRegistry Registry => registry;
    public TimeProvider Time => time;

    /// <summary>Called after a CustomResourceDefinition is created, updated or removed.</summary>
    internal event Action? CrdsChanged;

    public string Now() => ManagedFields.Rfc3339(time.GetUtcNow());

    public StoredObject Get(ApiResource r, string ns, string name) =>
        r.Collection.Get(ns, name) ?? throw ApiException.NotFound(r.Group, r.Plural, name);

    /// <summary>Object bytes as served under <paramref name="r"/>'s version.</summary>
    public byte[] Render(ApiResource r, StoredObject o)
    {
        if (registry.VersionsOf(r.Collection) <= 1)
        {
            return o.Json;
        }

        var obj = o.ToJsonObject();
        if (r.ToServed is { } convert)
        {
            obj = convert(obj);
        }

        obj["apiVersion"] = r.GroupVersion;
        obj["kind"] = r.Kind;
        return JsonOutput.Bytes(obj);
    }

    // ---------------------------------------------------------------- create

    /// <summary>POST: creates an object.</summary>
    /// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#api-verbs</remarks>
    public Task<WriteResult> CreateAsync(ApiResource r, string ns, JsonObject body, WriteOptions options, CancellationToken ct) =>
        CreateAsync(r, ns, body, options, recordManagedFields: true, ct);

    private async Task<WriteResult> CreateAsync(ApiResource r, string ns, JsonObject body, WriteOptions options, bool recordManagedFields, CancellationToken ct)
    {
        var warnings = new List<string>();
        CheckTypeMeta(r, body);
        if (r.ToStored is { } toStored)
        {
            body = toStored(body);
        }

        body["apiVersion"] = r.GroupVersion;
        body["kind"] = r.Kind;
        var unknownFields = DropUnknownFields(r, body);
        if (!r.IsCustom)
        {
            ReportUnknownFields(r, unknownFields, options, warnings, decodedBody: true);
        }

        if (body["metadata"] is not JsonObject meta)
        {
            body["metadata"] = meta = [];
        }

        if (r.Namespaced)
        {
            var bodyNs = (string?)meta["namespace"];
            if (!string.IsNullOrEmpty(bodyNs) && bodyNs != ns)
            {
                throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
            }

            meta["namespace"] = ns;
            if (requireNamespaces && registry.Find("", "v1", "namespaces")!.Collection.Get("", ns) is null)
            {
                throw ApiException.NotFound("", "namespaces", ns);
            }

            if (registry.Find("", "v1", "namespaces")!.Collection.Get("", ns) is { IsDeleting: true })
            {
                throw new ApiException(403, "Forbidden", $"{ApiException.Qualified(r.Group, r.Plural)} \"{(string?)meta["name"]}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated");
            }
        }
        else
        {
            meta.Remove("namespace");
        }

        var name = (string?)meta["name"];
        var generated = false;
        if (string.IsNullOrEmpty(name))
        {
            var prefix = (string?)meta["generateName"];
            if (string.IsNullOrEmpty(prefix))
            {
                throw ApiException.Invalid(r.Group, r.Kind, "", [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]);
            }

            name = prefix + new string(Enumerable.Range(0, 5).Select(_ => NameChars[Random.Shared.Next(NameChars.Length)]).ToArray());
            meta["name"] = name;
            generated = true;
        }

        CheckName(r, name);
        if (!recordManagedFields)
        {
            // A server-side apply that creates: its resourceVersion was a precondition on an object that does not exist.
            meta.Remove("resourceVersion");
        }
        else if ((string?)meta["resourceVersion"] is { Length: > 0 })
        {
            // The storage refuses it (storage.ErrResourceVersionSetOnCreate), a plain error answered as a 500 without a reason.
            throw new ApiException(500, "", "resourceVersion should not be set on objects to be created");
        }

        foreach (var field in new[] { "uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink" })
        {
            meta.Remove(field);
        }

        meta["uid"] = Guid.NewGuid().ToString();
        meta["creationTimestamp"] = Now();
        meta.Remove("generation");
        if (HasGeneration(r))
        {
            meta["generation"] = 1;
        }

        if (r.Group.Length == 0 && r.Plural == "namespaces")
        {
            PrepareNamespace(body, create: true);
        }

        Decode(r, body);
        CheckMetadata(r, body);
        CheckSpec(r, body, null);
        ResetStatusOnCreate(r, body);
        ApplyBuiltInDefaults(r, body, null);
        if (r.IsCustom)
        {
            body = await ValidateCustomAsync(r, body, null, validateStatus: !r.HasStatusSubresource, options, warnings, unknownFields, decodedBody: true, ct);
        }
        else if (r.Plural == "customresourcedefinitions")
        {
            PrepareCrd(body);
        }

        ManagedFieldsIndex? managedFields = null;
        if (recordManagedFields)
        {
            managedFields = ManagedFields.RecordUpdate(null, null, body, options.FieldManager, null, r.GroupVersion, time.GetUtcNow(), ListKeyFor(r));
        }

        if (options.DryRun)
        {
            return new WriteResult(JsonOutput.Bytes(body), null, warnings, Created: true);
        }

        StoredObject stored;
        try
        {
            stored = store.Commit(r.Collection, WatchEventType.Added, body, null, _ => ApiException.AlreadyExists(r.Group, r.Plural, name), managedFields)!;
        }
        catch (ApiException e) when (generated && e.Reason == "AlreadyExists")
        {
            throw new ApiException(409, "AlreadyExists", $"{e.Message}, the server was not able to generate a unique name for the object", e.Details);
        }

        if (r.Plural == "customresourcedefinitions")
        {
            registry.RegisterCrd(body);
            CrdsChanged?.Invoke();
        }

        var result = new WriteResult(Render(r, stored), stored, warnings, Created: true);
        await CollectIfOwnersAreGoneAsync(r, stored, ct);
        return result;
    }

    // ---------------------------------------------------------------- update / patch

    /// <summary>PUT: replaces an object (or its status).</summary>
    public Task<WriteResult> UpdateAsync(ApiResource r, string ns, string name, JsonObject body, string? subresource, WriteOptions options, CancellationToken ct)
    {
        CheckTypeMeta(r, body);
        var bodyName = (string?)body["metadata"]?["name"];
        if (!string.IsNullOrEmpty(bodyName) && bodyName != name)
        {
            throw ApiException.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})");
        }

        // A PUT to a name that does not exist creates the object for the kinds whose strategy allows create on update (the
        // store then ignores the body's resourceVersion), and is 404 for the others.
        var bodyRv = (string?)body["metadata"]?["resourceVersion"];
        if (subresource is null && r.Collection.Get(ns, name) is null)
        {
            if (!AllowsCreateOnUpdate(r))
            {
                throw ApiException.NotFound(r.Group, r.Plural, name);
            }

            var created = body.DeepClone().AsObject();
            if (created["metadata"] is not JsonObject createdMeta)
            {
                created["metadata"] = createdMeta = [];
            }

            createdMeta["name"] = name;
            createdMeta.Remove("resourceVersion");
            return CreateAsync(r, ns, created, options, ct);
        }

        // The generic registry store refuses an update without metadata.resourceVersion for kinds whose strategy disallows
        // unconditional updates: custom resources and CustomResourceDefinitions (store.go Update, "must be specified for an update").
        if (string.IsNullOrEmpty(bodyRv) && (r.IsCustom || r.Plural == "customresourcedefinitions"))
        {
            throw ApiException.Invalid(r.Group, r.Plural, name, [("FieldValueInvalid", "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")]);
        }

        // A PUT carries the uid of its body as a precondition (rest.DefaultUpdatedObjectInfo.Preconditions).
        var bodyUid = (string?)body["metadata"]?["uid"];
        return MutateAsync(r, ns, name, subresource, options, current =>
        {
            var currentUid = (string?)current["metadata"]?["uid"];
            if (!string.IsNullOrEmpty(bodyUid) && bodyUid != currentUid)
            {
                throw ApiException.Conflict(r.Group, r.Plural, name, $"Precondition failed: UID in precondition: {bodyUid}, UID in object meta: {currentUid}");
            }

            var replacement = body.DeepClone().AsObject();
            return r.ToStored is { } toStored ? toStored(replacement) : replacement;
        }, ct);
    }

    /// <summary>PATCH with any of the four patch types.</summary>
    /// <remarks>https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/ and
    /// https://kubernetes.io/docs/reference/using-api/server-side-apply/</remarks>
    public async Task<WriteResult> PatchAsync(ApiResource r, string ns, string name, string? subresource, string contentType, JsonNode? patch, WriteOptions options, CancellationToken ct)
    {
        var type = contentType.Split(';')[0].Trim().ToLowerInvariant();

        // A patch applies to the object as served under the request's version, and the result is stored in the stored form.
        Func<JsonObject, JsonObject> Served(Func<JsonObject, JsonObject> transform) => r.ToServed is { } toServed && r.ToStored is { } toStored
            ? current => toStored(transform(toServed(current)))
            : transform;
        switch (type)
        {
            case "application/merge-patch+json":
                return await MutateAsync(r, ns, name, subresource, options, Served(current => (JsonMergePatch.Apply(current, patch) as JsonObject) ?? throw ApiException.BadRequest("a merge patch must be a JSON object")), ct, patch: true);
            case "application/json-patch+json":
                return await MutateAsync(r, ns, name, subresource, options, Served(current => JsonPatch.Apply(current, patch) as JsonObject ?? throw ApiException.BadRequest("the patched document is not an object")), ct, patch: true);
            case "application/strategic-merge-patch+json":
                if (!r.SupportsStrategicMergePatch)
                {
                    throw new ApiException(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
                }

                return await MutateAsync(r, ns, name, subresource, options, Served(current => StrategicMergePatch.Apply(current, patch as JsonObject ?? throw ApiException.BadRequest("a strategic merge patch must be a JSON object"))), ct, patch: true);
            case "application/apply-patch+yaml" or "application/apply-patch+cbor":
                var applied = patch as JsonObject ?? throw ApiException.BadRequest("an apply patch must be an object");
                return await ApplyAsync(r, ns, name, subresource, r.ToStored is { } toStoredForm ? toStoredForm(applied) : applied, options, ct);
            default:
                throw ApiException.UnsupportedMediaType(contentType);
        }
    }

    private async Task<WriteResult> ApplyAsync(ApiResource r, string ns, string name, string? subresource, JsonObject applied, WriteOptions options, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(options.FieldManager))
        {
            throw new ApiException(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
        }

        CheckTypeMeta(r, applied);
        if (applied["apiVersion"] is null || applied["kind"] is null)
        {
            throw ApiException.BadRequest("apiVersion and kind must be set in an apply patch");
        }

        var appliedName = (string?)applied["metadata"]?["name"];
        if (!string.IsNullOrEmpty(appliedName) && appliedName != name)
        {
            throw ApiException.BadRequest($"the name of the object ({appliedName}) does not match the name on the URL ({name})");
        }

        var listKey = ListKeyFor(r);
        RefuseUndeclaredFields(r, ns, name, applied, listKey);
        if (r.Collection.Get(ns, name) is null && subresource is null)
        {
            var created = ManagedFields.Apply(null, applied, options.FieldManager, options.Force, listKey, r.GroupVersion, time.GetUtcNow(), r.Group, r.Plural, name);
            created["metadata"]!["name"] = name;
            return await CreateAsync(r, ns, created, options, recordManagedFields: false, ct);
        }

        // The fields a subresource resets are not applied (the apiserver's ResetFieldsStrategy): an apply to /status applies
        // only status, one to the main resource of a kind with a status subresource everything but status.
        if (subresource == "status")
        {
            applied = new JsonObject
            {
                ["apiVersion"] = applied["apiVersion"]?.DeepClone(),
                ["kind"] = applied["kind"]?.DeepClone(),
                ["metadata"] = new JsonObject { ["name"] = name },
                ["status"] = applied["status"]?.DeepClone(),
            };
        }
        else if (r.HasStatusSubresource)
        {
            applied = applied.DeepClone().AsObject();
            applied.Remove("status");
        }

        return await MutateAsync(r, ns, name, subresource, options,
            current => ManagedFields.Apply(current, applied, options.FieldManager, options.Force, listKey, r.GroupVersion, time.GetUtcNow(), r.Group, r.Plural, name, subresource),
            ct, recordManagedFields: false);
    }

    /// <summary>
    /// Server-side apply types the applied configuration with the kind's schema first: a field the schema does not declare
    /// fails whatever fieldValidation says, with the structured-merge-diff error the apiserver answers (500, no reason).
    /// </summary>
    private static void RefuseUndeclaredFields(ApiResource r, string ns, string name, JsonObject applied, Func<string, string?> listKey)
    {
        var copy = applied.DeepClone().AsObject();
        var unknown = DropUnknownFields(r, copy);
        if (r.IsCustom && r.Schema is not null)
        {
            unknown.AddRange(Pruning.PruneRoot(copy, StructuralSchema.Of(r.Schema)));
        }

        if (unknown.Count == 0)
        {
            return;
        }

        var errors = unknown.Select(p => $"{TypedPath(applied, p, listKey)}: field not declared in schema").ToList();
        var gvk = $"{r.Group}/{r.Version}, Kind={r.Kind}";
        var reference = ns.Length == 0 ? name : $"{ns}/{name}";
        throw new ApiException(500, "", $"failed to create typed patch object ({reference}; {gvk}): "
            + (errors.Count == 1 ? errors[0] : "errors:\n  " + string.Join("\n  ", errors)));
    }

    /// <summary>A pruned path (<c>spec.containers[0].bar</c>) as structured-merge-diff prints it (<c>.spec.containers[name="c"].bar</c>).</summary>
    private static string TypedPath(JsonObject applied, string path, Func<string, string?> listKey)
    {
        var sb = new System.Text.StringBuilder();
        var dotted = "";
        JsonNode? node = applied;
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(path, @"([^.\[]+)|\[(\d+)\]"))
        {
            if (m.Groups[1].Success)
            {
                var field = m.Groups[1].Value;
                sb.Append('.').Append(field);
                dotted = dotted.Length == 0 ? field : dotted + "." + field;
                node = (node as JsonObject)?[field];
                continue;
            }

            var index = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            var item = node is JsonArray a && index < a.Count ? a[index] : null;
            if (listKey(dotted) is { } key && item is JsonObject io && io[key] is { } keyValue)
            {
                sb.Append('[').Append(key).Append('=').Append(keyValue.ToJsonString()).Append(']');
            }
            else
            {
                sb.Append('[').Append(index).Append(']');
            }

            node = item;
        }

        return sb.ToString();
    }

    /// <summary>Reads, transforms and conditionally commits an object, retrying when another write got in between.</summary>
    /// <param name="patch">True for a patch (a strict decoding error then names no kind, as the apiserver's patcher reports it).</param>
    public async Task<WriteResult> MutateAsync(ApiResource r, string ns, string name, string? subresource, WriteOptions options,
        Func<JsonObject, JsonObject> transform, CancellationToken ct, bool recordManagedFields = true, bool patch = false)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var current = Get(r, ns, name);
            var old = current.ToJsonObject();
            var updated = transform(current.ToJsonObject());
            var warnings = new List<string>();
            var unknownFields = DropUnknownFields(r, updated);
            if (!r.IsCustom)
            {
                ReportUnknownFields(r, unknownFields, options, warnings, decodedBody: !patch);
            }

            var requestedRv = (string?)updated["metadata"]?["resourceVersion"];
            if (!string.IsNullOrEmpty(requestedRv) && requestedRv != old["metadata"]!["resourceVersion"]!.GetValue<string>())
            {
                throw ApiException.Conflict(r.Group, r.Plural, name);
            }


            // managedFields: [{}] clears the managed fields (an empty list keeps them, so unaware clients never strip them);
            // the write that resets them records no manager.
            // https://kubernetes.io/docs/reference/using-api/server-side-apply/#clearing-managedfields
            var resetManagedFields = subresource is null && updated["metadata"]?["managedFields"] is JsonArray { Count: 1 } requested && requested[0] is JsonObject { Count: 0 };
            var appliedManagedFields = recordManagedFields ? null : updated["metadata"]?["managedFields"]?.DeepClone();
            var next = await PrepareUpdateAsync(r, current, old, updated, subresource, options, warnings, unknownFields, !patch, ct);
            if (appliedManagedFields is not null && subresource == "status")
            {
                // An apply to /status records its manager (with subresource "status") although the rest of metadata is kept.
                next["metadata"]!["managedFields"] = appliedManagedFields;
            }
            if (resetManagedFields)
            {
                next["metadata"]!.AsObject().Remove("managedFields");
            }

            // A write that changes only field ownership (another manager applying values already there) is stored.
            if (SameIgnoringVolatile(old, next, StatusOnlyChange(r, subresource)) && !(resetManagedFields && old["metadata"]?["managedFields"] is not null)
                && (recordManagedFields || SameOwnership(old, next)))
            {
                return new WriteResult(Render(r, current), current, warnings);
            }

            ManagedFieldsIndex? managedFields = null;
            if (recordManagedFields && !resetManagedFields && (subresource is null or "status"))
            {
                managedFields = ManagedFields.RecordUpdate(old, current.ManagedFieldsIndex, next, options.FieldManager, subresource, r.GroupVersion, time.GetUtcNow(), ListKeyFor(r));
            }

            if (options.DryRun)
            {
                return new WriteResult(JsonOutput.Bytes(next), null, warnings);
            }

            var removeNow = next["metadata"]!["deletionTimestamp"] is not null && (next["metadata"]!["finalizers"] as JsonArray ?? []).Count == 0;
            var stored = store.Commit(r.Collection, removeNow ? WatchEventType.Deleted : WatchEventType.Modified, next, current, null, managedFields);
            if (stored is null)
            {
                // Another write got in between: start again from the latest object, as GuaranteedUpdate does. A request that
                // named a resourceVersion fails the comparison above on the next pass; one that did not is re-applied.
                continue;
            }

            if (removeNow)
            {
                await OnRemovedAsync(r, stored, ct);
            }
            else if (r.Plural == "customresourcedefinitions")
            {
                registry.RegisterCrd(next);
                CrdsChanged?.Invoke();
            }

            var result = new WriteResult(Render(r, stored), stored, warnings);
            if (!removeNow && !current.Owners.SequenceEqual(stored.Owners))
            {
                await CollectIfOwnersAreGoneAsync(r, stored, ct);
            }

            return result;
        }
    }

    /// <param name="current">The stored object <paramref name="old"/> was read from.</param>
    /// <param name="old">The stored object, parsed (not changed here).</param>
    /// <param name="updated">The requested object; its status is moved into the result for a /status write.</param>
    private async Task<JsonObject> PrepareUpdateAsync(ApiResource r, StoredObject current, JsonObject old, JsonObject updated, string? subresource, WriteOptions options, List<string> warnings,
        List<string> unknownFields, bool decodedBody, CancellationToken ct)
    {
        JsonObject next;
        var oldMeta = old["metadata"]!.AsObject();
        if (subresource == "status")
        {
            // The stored object parsed afresh (cheaper than a deep copy of the parsed one, and left lazily parsed where
            // untouched) with the requested status moved in.
            next = current.ToJsonObject();
            next.Remove("status");
            if (updated["status"] is { } status)
            {
                updated.Remove("status");
                next["status"] = status;
            }
        }
        else
        {
            // ValidateObjectMetaUpdate: uid is immutable (a PUT's differing uid already failed its precondition).
            if ((string?)updated["metadata"]?["uid"] is { Length: > 0 } newUid && newUid != (string?)oldMeta["uid"])
            {
                throw ApiException.Invalid(r.Group, r.Kind, (string)oldMeta["name"]!, [("FieldValueInvalid", "metadata.uid", $"Invalid value: \"{newUid}\": field is immutable")]);
            }

            next = updated;
            next["apiVersion"] = r.GroupVersion;
            next["kind"] = r.Kind;
            if (next["metadata"] is not JsonObject meta)
            {
                next["metadata"] = meta = [];
            }

            foreach (var field in new[] { "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "name", "namespace", "resourceVersion" })
            {
                meta.Remove(field);
                if (oldMeta[field] is { } v)
                {
                    meta[field] = v.DeepClone();
                }
            }

            if (meta["managedFields"] is null or JsonArray { Count: 0 } && oldMeta["managedFields"] is { } mf)
            {
                meta["managedFields"] = mf.DeepClone();
            }

            if (r.HasStatusSubresource)
            {
                next.Remove("status");
                if (old["status"] is { } status)
                {
                    next["status"] = status.DeepClone();
                }
            }

            ApplyBuiltInDefaults(r, next, old);
            if (r.Group.Length == 0 && r.Plural == "namespaces")
            {
                PrepareNamespace(next, create: false);
            }

            Decode(r, next);
            CheckMetadata(r, next);
            CheckSpec(r, next, old);
        }

        if (oldMeta["deletionTimestamp"] is not null)
        {
            var before = (oldMeta["finalizers"] as JsonArray ?? []).Select(f => (string?)f).ToHashSet();
            var added = (next["metadata"]!["finalizers"] as JsonArray ?? []).Select(f => (string?)f).Where(f => !before.Contains(f)).ToList();
            if (added.Count > 0)
            {
                throw ApiException.Invalid(r.Group, r.Kind, (string)oldMeta["name"]!, [("FieldValueForbidden", "metadata.finalizers",
                    $"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{string.Join(", ", added.Select(a => $"\"{a}\""))}}}")]);
            }
        }

        if (r.IsCustom && (subresource is null or "status"))
        {
            next = await ValidateCustomAsync(r, next, old, validateStatus: subresource == "status" || !r.HasStatusSubresource, options, warnings, unknownFields, decodedBody, ct);
        }
        else if (r.Plural == "customresourcedefinitions" && subresource is null)
        {
            PrepareCrd(next);
        }

        // https://kubernetes.io/docs/reference/using-api/api-concepts/ : metadata.generation changes only when the desired state (outside metadata and status) changes.
        var ignore = r.HasStatusSubresource ? new[] { "metadata", "status" } : ["metadata"];
        // A Deployment's annotations also count (they are copied to its ReplicaSets: apps deployment strategy PrepareForUpdate).
        var annotationsChanged = (r.Group, r.Plural) is ("apps", "deployments") && !JsonNode.DeepEquals(oldMeta["annotations"], next["metadata"]?["annotations"]);
        if (HasGeneration(r) && !StatusOnlyChange(r, subresource) && (annotationsChanged || !SameIgnoring(old, next, ignore)))
        {
            next["metadata"]!["generation"] = (oldMeta["generation"].AsLong() ?? 0) + 1;
        }

        return next;
    }

    // ---------------------------------------------------------------- delete

    /// <summary>DELETE: removes an object, or marks it with deletionTimestamp while finalizers hold it.</summary>
    /// <remarks>https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/ and
    /// https://kubernetes.io/docs/concepts/architecture/garbage-collection/</remarks>
    public async Task<WriteResult> DeleteAsync(ApiResource r, string ns, string name, DeleteOptions options, CancellationToken ct)
    {
        while (true)
        {
            var current = Get(r, ns, name);
            if (options.PreconditionUid is { Length: > 0 } uid && uid != current.Uid)
            {
                throw ApiException.Conflict(r.Group, r.Plural, name, $"Precondition failed: UID in precondition: {uid}, UID in object meta: {current.Uid}");
            }

            if (options.PreconditionResourceVersion is { Length: > 0 } prv && prv != current.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                throw ApiException.Conflict(r.Group, r.Plural, name, $"Precondition failed: ResourceVersion in precondition: {prv}, ResourceVersion in object meta: {current.ResourceVersion}");
            }

            if (current.IsDeleting)
            {
                return new WriteResult(Render(r, current), current, [], Accepted: true);
            }

            var obj = current.ToJsonObject();
            var meta = obj["metadata"]!.AsObject();
            var finalizers = (meta["finalizers"] as JsonArray ?? []).Select(f => (string)f!).ToList();
            var policy = options.Propagation ?? PropagationPolicy.Background;
            if (policy == PropagationPolicy.Orphan && !finalizers.Contains("orphan"))
            {
                finalizers.Add("orphan");
            }
            else if (policy == PropagationPolicy.Foreground && !finalizers.Contains("foregroundDeletion"))
            {
                finalizers.Add("foregroundDeletion");
            }

            if (options.DryRun)
            {
                return new WriteResult(Render(r, current), current, []);
            }

            if (finalizers.Count > 0)
            {
                meta["finalizers"] = new JsonArray(finalizers.Select(f => (JsonNode)f).ToArray());
                meta["deletionTimestamp"] = Now();
                // Only pods have graceful deletion; every other kind records 0 whatever the request asked for.
                meta["deletionGracePeriodSeconds"] = r.Group.Length == 0 && r.Plural == "pods" ? options.GracePeriodSeconds ?? 0 : 0;
                if (meta["generation"].AsLong() is > 0 and var generation)
                {
                    meta["generation"] = generation + 1;
                }
                var marked = store.Commit(r.Collection, WatchEventType.Modified, obj, current);
                if (marked is null)
                {
                    continue;
                }

                await RunDeletionFinalizersAsync(r, marked, ct);
                return new WriteResult(Render(r, marked), marked, [], Accepted: true);
            }

            var removed = store.Commit(r.Collection, WatchEventType.Deleted, obj, current);
            if (removed is null)
            {
                continue;
            }

            await OnRemovedAsync(r, removed, ct);
            return new WriteResult(ReturnsDeletedObject(r) ? Render(r, removed) : DeletedStatus(r, removed), removed, []);
        }
    }

    /// <summary>The served kinds whose strategy's AllowCreateOnUpdate is true: Services, ServiceAccounts, Events, Leases and
    /// the RBAC kinds.</summary>
    internal static bool AllowsCreateOnUpdate(ApiResource r) => (BuiltInResources.StorageGroup(r.Group, r.Plural), r.Plural) is
        ("", "services") or ("", "serviceaccounts") or ("", "events") or ("coordination.k8s.io", "leases")
        or ("rbac.authorization.k8s.io", "roles" or "rolebindings" or "clusterroles" or "clusterrolebindings");

    /// <summary>Kinds whose storage sets <c>ReturnDeletedObject</c> (pods, services, namespaces) answer a finished delete with
    /// the object; the others with a Success <c>Status</c> naming it (registry store finalizeDelete).</summary>
    private static bool ReturnsDeletedObject(ApiResource r) => r.Group.Length == 0 && r.Plural is "pods" or "services" or "namespaces";

    private static byte[] DeletedStatus(ApiResource r, StoredObject removed) => JsonOutput.Bytes(new JsonObject
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Success",
        ["details"] = new JsonObject { ["name"] = removed.Name, ["group"] = r.Group, ["kind"] = r.Plural, ["uid"] = removed.Uid },
    });

    /// <summary>The orphan and foregroundDeletion finalizers are run by the garbage collector.</summary>
    private async Task RunDeletionFinalizersAsync(ApiResource r, StoredObject owner, CancellationToken ct)
    {
        if (owner.Finalizers.Contains("orphan"))
        {
            foreach (var (c, dep) in store.Dependents(owner.Uid))
            {
                await TryMutateAsync(c, dep, o =>
                {
                    var refs = o["metadata"]!["ownerReferences"] as JsonArray;
                    var keep = new JsonArray((refs ?? []).Where(x => (string?)x?["uid"] != owner.Uid).Select(x => x?.DeepClone()).ToArray());
                    if (keep.Count == 0)
                    {
                        o["metadata"]!.AsObject().Remove("ownerReferences");
                    }
                    else
                    {
                        o["metadata"]!["ownerReferences"] = keep;
                    }
                }, ct);
            }

            await RemoveFinalizerAsync(r.Collection, owner.Namespace, owner.Name, "orphan", ct);
        }
        else if (owner.Finalizers.Contains("foregroundDeletion"))
        {
            foreach (var (c, dep) in store.Dependents(owner.Uid))
            {
                if (!dep.IsDeleting && registry.ForCollection(c) is { } depResource)
                {
                    await TryDeleteAsync(depResource, dep, PropagationPolicy.Foreground, ct);
                }
            }

            await TryFinishForegroundAsync(owner.Uid, ct);
        }
    }

    private async Task TryFinishForegroundAsync(string ownerUid, CancellationToken ct)
    {
        var owner = store.FindByUid(ownerUid);
        if (owner is null || !owner.IsDeleting || !owner.Finalizers.Contains("foregroundDeletion"))
        {
            return;
        }

        var blocking = store.Dependents(ownerUid).Any(d => d.Object.Owners.Any(o => o.Uid == ownerUid && o.BlockOwnerDeletion));
        if (!blocking && registry.All.FirstOrDefault(x => x.Collection.Get(owner.Namespace, owner.Name)?.Uid == ownerUid) is { } r)
        {
            await RemoveFinalizerAsync(r.Collection, owner.Namespace, owner.Name, "foregroundDeletion", ct);
        }
    }

    /// <summary>Garbage collection after an object is gone: dependents are deleted (or released when another owner remains).</summary>
    private async Task OnRemovedAsync(ApiResource r, StoredObject removed, CancellationToken ct)
    {
        if (r.Plural == "customresourcedefinitions")
        {
            var crd = removed.ToJsonObject();
            var group = (string)crd["spec"]!["group"]!;
            var plural = (string)crd["spec"]!["names"]!["plural"]!;
            registry.Unregister(group, plural);
            CrdsChanged?.Invoke();
        }

        if (r.Plural == "namespaces" && r.Group.Length == 0)
        {
            foreach (var res in registry.All.Where(x => x.Namespaced).DistinctBy(x => x.Collection))
            {
                foreach (var o in res.Collection.Snapshot(removed.Name))
                {
                    await TryDeleteAsync(res, o, PropagationPolicy.Background, ct);
                }
            }
        }

        foreach (var (c, dep) in store.Dependents(removed.Uid))
        {
            var otherOwnerAlive = dep.Owners.Any(o => o.Uid != removed.Uid && store.FindByUid(o.Uid) is not null);
            if (otherOwnerAlive)
            {
                await TryMutateAsync(c, dep, o =>
                {
                    var refs = (o["metadata"]!["ownerReferences"] as JsonArray ?? []).Where(x => (string?)x?["uid"] != removed.Uid).Select(x => x?.DeepClone()).ToArray();
                    o["metadata"]!["ownerReferences"] = new JsonArray(refs);
                }, ct);
            }
            else if (!dep.IsDeleting && registry.ForCollection(c) is { } depResource)
            {
                await TryDeleteAsync(depResource, dep, PropagationPolicy.Background, ct);
            }
        }

        foreach (var owner in removed.Owners)
        {
            await TryFinishForegroundAsync(owner.Uid, ct);
        }
    }

    /// <summary>
    /// The garbage collector's check of a dependent's owner references (attemptToDeleteItem): an owner is absent when no
    /// object of its kind and name exists in the dependent's namespace (or cluster-wide) with its uid. With every owner
    /// absent the dependent is deleted; with some present, the absent ones are removed. Owners of kinds not served are
    /// left alone (the collector cannot resolve them either).
    /// </summary>
    private async Task CollectIfOwnersAreGoneAsync(ApiResource r, StoredObject o, CancellationToken ct)
    {
        if (o.Owners.Count == 0 || o.IsDeleting)
        {
            return;
        }

        var dangling = new List<string>();
        foreach (var owner in o.Owners)
        {
            if (registry.FindByKind(owner.ApiVersion, owner.Kind) is not { } ownerResource)
            {
                return;
            }

            var found = ownerResource.Namespaced && o.Namespace.Length == 0 ? null : ownerResource.Collection.Get(ownerResource.Namespaced ? o.Namespace : "", owner.Name);
            if (found?.Uid != owner.Uid)
            {
                dangling.Add(owner.Uid);
            }
        }

        if (dangling.Count == o.Owners.Count)
        {
            await TryDeleteAsync(r, o, PropagationPolicy.Background, ct);
        }
        else if (dangling.Count > 0)
        {
            await TryMutateAsync(r.Collection, o, x =>
            {
                var refs = (x["metadata"]!["ownerReferences"] as JsonArray ?? []).Where(e => !dangling.Contains((string?)e?["uid"] ?? "")).Select(e => e?.DeepClone()).ToArray();
                x["metadata"]!["ownerReferences"] = new JsonArray(refs);
            }, ct);
        }
    }

    private async Task TryDeleteAsync(ApiResource r, StoredObject o, PropagationPolicy policy, CancellationToken ct)
    {
        try
        {
            await DeleteAsync(r, o.Namespace, o.Name, new DeleteOptions(policy, PreconditionUid: o.Uid), ct);
        }
        catch (ApiException e) when (e.Code is 404 or 409)
        {
            // Already gone or replaced by a new object of the same name: nothing to collect.
        }
    }

    private async Task TryMutateAsync(ResourceCollection c, StoredObject o, Action<JsonObject> change, CancellationToken ct)
    {
        if (registry.ForCollection(c) is not { } r)
        {
            return;
        }

        try
        {
            await MutateAsync(r, o.Namespace, o.Name, null, new WriteOptions("generic-garbage-collector"), x =>
            {
                change(x);
                return x;
            }, ct);
        }
        catch (ApiException e) when (e.Code is 404)
        {
            // Gone meanwhile.
        }
    }

    private async Task RemoveFinalizerAsync(ResourceCollection c, string ns, string name, string finalizer, CancellationToken ct)
    {
        if (c.Get(ns, name) is { } o)
        {
            await TryMutateAsync(c, o, x =>
            {
                var list = (x["metadata"]!["finalizers"] as JsonArray ?? []).Where(f => (string?)f != finalizer).Select(f => f?.DeepClone()).ToArray();
                x["metadata"]!["finalizers"] = new JsonArray(list);
            }, ct);
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <param name="unknownFields">Unknown metadata fields already dropped (reported together with those the schema prunes).</param>
    /// <param name="decodedBody">True for a create or update body (see <see cref="ReportUnknownFields"/>).</param>
    private async Task<JsonObject> ValidateCustomAsync(ApiResource r, JsonObject obj, JsonObject? old, bool validateStatus, WriteOptions options, List<string> warnings,
        List<string> unknownFields, bool decodedBody, CancellationToken ct)
    {
        if (r.Schema is null)
        {
            ReportUnknownFields(r, unknownFields, options, warnings, decodedBody);
            return obj;
        }

        var result = await validator.ValidateAsync(r.Schema, obj, old, validateStatus, ct);
        var name = (string?)obj["metadata"]?["name"] ?? "";
        ReportUnknownFields(r, [.. unknownFields, .. result.UnknownFields], options, warnings, decodedBody);

        if (result.Errors.Count > 0)
        {
            throw ApiException.Invalid(r.Group, r.Kind, name, result.Errors.Select(e => (e.Reason, e.Field, e.Message)).ToList());
        }

        return result.Object;
    }

    /// <summary>
    /// Drops the fields the kind does not have, as the apiserver's decoder does: for built-in kinds every field their Go
    /// type lacks, for custom resources the unknown fields of <c>metadata</c> (the rest is pruned by the CRD's schema).
    /// Returns their paths in document order.
    /// </summary>
    /// <remarks>https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation</remarks>
    private static List<string> DropUnknownFields(ApiResource r, JsonObject obj)
    {
        var unknown = new List<string>();
        if (r.IsCustom)
        {
            BuiltInFields.ObjectMeta.Prune(obj["metadata"], "metadata", unknown);
        }
        else
        {
            BuiltInFields.ForKind(BuiltInResources.StorageGroup(r.Group, r.Plural), r.Version, r.Kind)?.Prune(obj, "", unknown);
        }

        return unknown;
    }

    /// <summary>
    /// fieldValidation: Strict refuses unknown fields (400 BadRequest with the strict decoder's message; a create or update
    /// body is named as the decoder names it, a patch is not), Warn (the default) names each in a warning, Ignore drops them silently.
    /// </summary>
    private static void ReportUnknownFields(ApiResource r, List<string> unknownFields, WriteOptions options, List<string> warnings, bool decodedBody)
    {
        if (unknownFields.Count == 0)
        {
            return;
        }

        switch (options.FieldValidation)
        {
            case FieldValidationMode.Strict:
                var prefix = decodedBody ? $"{r.Kind} in version \"{r.Version}\" cannot be handled as a {r.Kind}: " : "";
                throw ApiException.BadRequest(prefix + "strict decoding error: " + string.Join(", ", unknownFields.Select(f => $"unknown field \"{f}\"")));
            case FieldValidationMode.Warn:
                warnings.AddRange(unknownFields.Select(f => $"unknown field \"{f}\""));
                break;
        }
    }

    private static void CheckTypeMeta(ApiResource r, JsonObject body)
    {
        var apiVersion = (string?)body["apiVersion"];
        var kind = (string?)body["kind"];
        if (!string.IsNullOrEmpty(kind) && kind != r.Kind)
        {
            throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({r.GroupVersion}) or the kind in the data ({kind}) does not match the expected kind ({r.Kind})");
        }

        if (!string.IsNullOrEmpty(apiVersion) && apiVersion != r.GroupVersion)
        {
            var group = apiVersion.Contains('/') ? apiVersion[..apiVersion.IndexOf('/')] : "";
            if (group != r.Group)
            {
                throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({r.GroupVersion})");
            }
        }
    }

    private static void CheckName(ApiResource r, string name)
    {
        if (ObjectMetaValidation.CheckName(name, ObjectMetaValidation.NameRuleFor(r.Group, r.Plural)) is { } error)
        {
            throw ApiException.Invalid(r.Group, r.Kind, name, [error]);
        }
    }

    /// <summary>The essential spec validation of Deployments, PodDisruptionBudgets and NetworkPolicies.</summary>
    private static void CheckSpec(ApiResource r, JsonObject obj, JsonObject? old)
    {
        if (!r.IsCustom && WorkloadValidation.Check(r.Group, r.Plural, obj, old) is { Count: > 0 } errors)
        {
            throw ApiException.Invalid(r.Group, r.Kind, (string?)obj["metadata"]?["name"] ?? "", errors);
        }
    }

    /// <summary>ObjectMeta validation, which applies to every kind (custom resources included).</summary>
    private static void CheckMetadata(ApiResource r, JsonObject obj)
    {
        var meta = obj["metadata"]!.AsObject();
        var errors = ObjectMetaValidation.Check(meta);
        if (errors.Count > 0)
        {
            throw ApiException.Invalid(r.Group, r.Kind, (string?)meta["name"] ?? "", errors);
        }
    }

    /// <summary>Custom resources, CustomResourceDefinitions, Deployments, PodDisruptionBudgets and NetworkPolicies have generation
    /// semantics; the other served kinds' strategies never set <c>metadata.generation</c>.</summary>
    private static bool HasGeneration(ApiResource r) => r.IsCustom || r.Plural == "customresourcedefinitions"
        || (r.Group, r.Plural) is ("apps", "deployments") or ("policy", "poddisruptionbudgets") or ("networking.k8s.io", "networkpolicies");

    /// <summary>Conversion-time rules of built-in kinds: Secret stringData is merged into data (base64) and dropped;
    /// MicroTime fields take exactly six fractional digits (metav1.MicroTime's RFC3339Micro).</summary>
    private static void Decode(ApiResource r, JsonObject obj)
    {
        if (r.Group.Length == 0 && r.Plural == "secrets" && obj["stringData"] is JsonObject stringData)
        {
            obj.Remove("stringData");
            if (obj["data"] is not JsonObject data)
            {
                obj["data"] = data = [];
            }

            foreach (var (key, value) in stringData)
            {
                data[key] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes((string?)value ?? ""));
            }
        }

        string[] microTimes = (r.Group, r.Plural) switch
        {
            ("coordination.k8s.io", "leases") => ["spec.acquireTime", "spec.renewTime"],
            ("", "events") or ("events.k8s.io", "events") => ["eventTime", "series.lastObservedTime"],
            _ => [],
        };
        foreach (var path in microTimes)
        {
            JsonNode? node = obj;
            foreach (var segment in path.Split('.'))
            {
                node = node is JsonObject o ? o[segment] : null;
            }

            if (node is JsonValue v && v.TryGetValue<string>(out var text) && !MicroTime.IsMatch(text))
            {
                throw ApiException.BadRequest($"{r.Kind} in version \"{r.Version}\" cannot be handled as a {r.Kind}: parsing time \"{text}\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"{(text.Length > 19 ? text[19..] : "")}\" as \".000000\"");
            }
        }
    }

    /// <summary>Namespaces get the <c>kubernetes</c> finalizer in spec and the immutable <c>kubernetes.io/metadata.name</c> label.</summary>
    /// <remarks>https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/ and
    /// https://kubernetes.io/docs/reference/labels-annotations-taints/#kubernetes-io-metadata-name</remarks>
    private static void PrepareNamespace(JsonObject obj, bool create)
    {
        var meta = obj["metadata"]!.AsObject();
        if (meta["labels"] is not JsonObject labels)
        {
            meta["labels"] = labels = [];
        }

        labels["kubernetes.io/metadata.name"] = (string?)meta["name"];
        if (create)
        {
            if (obj["spec"] is not JsonObject spec)
            {
                obj["spec"] = spec = [];
            }

            if (spec["finalizers"] is not JsonArray { Count: > 0 })
            {
                spec["finalizers"] = new JsonArray("kubernetes");
            }
        }
    }

    /// <summary>On create the apiserver resets status for kinds with a status subresource (pods start Pending).</summary>
    private static void ResetStatusOnCreate(ApiResource r, JsonObject body)
    {
        if (!r.HasStatusSubresource)
        {
            return;
        }

        body.Remove("status");
        if ((r.Group, r.Plural) is ("policy", "poddisruptionbudgets"))
        {
            // The v1 form of an empty PodDisruptionBudgetStatus (these four counts are not omitempty).
            body["status"] = new JsonObject { ["currentHealthy"] = 0, ["desiredHealthy"] = 0, ["disruptionsAllowed"] = 0, ["expectedPods"] = 0 };
        }
        else if (r.Group.Length == 0)
        {
            switch (r.Plural)
            {
                // https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-phase
                case "pods":
                    body["status"] = new JsonObject { ["phase"] = "Pending", ["qosClass"] = "BestEffort" };
                    break;
                case "services":
                    body["status"] = new JsonObject { ["loadBalancer"] = new JsonObject() };
                    break;
                case "namespaces":
                    body["status"] = new JsonObject { ["phase"] = "Active" };
                    break;
            }
        }
    }

    /// <summary>A few apiserver defaults operators commonly compare against (pods and services).</summary>
    /// <remarks>https://kubernetes.io/docs/concepts/services-networking/service/ and https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/</remarks>
    private void ApplyBuiltInDefaults(ApiResource r, JsonObject obj, JsonObject? old)
    {
        if (obj["spec"] is not JsonObject spec)
        {
            return;
        }

        switch (r.Group, r.Plural)
        {
            case ("apps", "deployments"):
                // SetDefaults_Deployment (pkg/apis/apps/v1/defaults.go) and the pod defaults of its template.
                spec["replicas"] ??= 1;
                if (spec["strategy"] is not JsonObject strategy)
                {
                    spec["strategy"] = strategy = [];
                }

                strategy["type"] ??= "RollingUpdate";
                if ((string?)strategy["type"] == "RollingUpdate")
                {
                    if (strategy["rollingUpdate"] is not JsonObject rolling)
                    {
                        strategy["rollingUpdate"] = rolling = [];
                    }

                    rolling["maxUnavailable"] ??= "25%";
                    rolling["maxSurge"] ??= "25%";
                }

                spec["revisionHistoryLimit"] ??= 10;
                spec["progressDeadlineSeconds"] ??= 600;
                if (spec["template"]?["spec"] is JsonObject templateSpec)
                {
                    DefaultPodSpec(templateSpec);
                }

                return;
            case ("networking.k8s.io", "networkpolicies"):
                // SetDefaults_NetworkPolicy: policyTypes from the rules given; ports default to TCP.
                if (spec["policyTypes"] is not JsonArray { Count: > 0 })
                {
                    spec["policyTypes"] = spec["egress"] is JsonArray { Count: > 0 } ? new JsonArray("Ingress", "Egress") : new JsonArray("Ingress");
                }

                foreach (var rule in new[] { "ingress", "egress" }.SelectMany(d => (spec[d] as JsonArray ?? []).OfType<JsonObject>()))
                {
                    foreach (var port in (rule["ports"] as JsonArray ?? []).OfType<JsonObject>())
                    {
                        port["protocol"] ??= "TCP";
                    }
                }

                return;
        }

        if (r.Group.Length != 0)
        {
            return;
        }

        if (r.Plural == "services")
        {
            spec["type"] ??= "ClusterIP";
            spec["sessionAffinity"] ??= "None";
            var oldIp = (string?)old?["spec"]?["clusterIP"];
            if (string.IsNullOrEmpty((string?)spec["clusterIP"]))
            {
                spec["clusterIP"] = oldIp ?? $"10.96.{Interlocked.Increment(ref _nextClusterIp) / 250}.{(_nextClusterIp % 250) + 1}";
            }

            spec["clusterIPs"] ??= new JsonArray((string?)spec["clusterIP"]);
            foreach (var port in (spec["ports"] as JsonArray ?? []).OfType<JsonObject>())
            {
                port["protocol"] ??= "TCP";
                port["targetPort"] ??= port["port"]?.DeepClone();
            }
        }
        else if (r.Plural == "pods")
        {
            DefaultPodSpec(spec);
        }
    }

    private static void DefaultPodSpec(JsonObject spec)
    {
        spec["restartPolicy"] ??= "Always";
        spec["dnsPolicy"] ??= "ClusterFirst";
        spec["schedulerName"] ??= "default-scheduler";
        spec["terminationGracePeriodSeconds"] ??= 30;
        spec["securityContext"] ??= new JsonObject();
        foreach (var list in new[] { "containers", "initContainers" })
        {
            foreach (var c in (spec[list] as JsonArray ?? []).OfType<JsonObject>())
            {
                c["terminationMessagePath"] ??= "/dev/termination-log";
                c["terminationMessagePolicy"] ??= "File";
                var image = (string?)c["image"] ?? "";
                c["imagePullPolicy"] ??= image.Contains(':') && !image.EndsWith(":latest", StringComparison.Ordinal) ? "IfNotPresent" : "Always";
                c["resources"] ??= new JsonObject();
                foreach (var port in (c["ports"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    port["protocol"] ??= "TCP";
                }
            }
        }
    }

    private static void PrepareCrd(JsonObject crd)
    {
        var names = crd["spec"]?["names"]?.DeepClone() ?? new JsonObject();
        crd["status"] = new JsonObject
        {
            ["acceptedNames"] = names,
            ["storedVersions"] = new JsonArray((crd["spec"]?["versions"] as JsonArray ?? []).OfType<JsonObject>()
                .Where(v => v["storage"]?.GetValue<bool>() == true).Select(v => (JsonNode?)(string?)v["name"]).ToArray()),
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["reason"] = "NoConflicts", ["message"] = "no conflicts found", ["lastTransitionTime"] = (string?)crd["metadata"]?["creationTimestamp"] },
                new JsonObject { ["type"] = "Established", ["status"] = "True", ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted", ["lastTransitionTime"] = (string?)crd["metadata"]?["creationTimestamp"] }),
        };
    }

    /// <summary>The list-map key for a dotted field path, used by server-side apply.</summary>
    internal static Func<string, string?> ListKeyFor(ApiResource r)
    {
        if (!r.IsCustom)
        {
            return path => StrategicMergePatch.MergeKeyFor(path) is { } k && k[0] != '\0' ? k : null;
        }

        var schema = r.Schema;
        return path =>
        {
            JsonNode? node = schema;
            foreach (var seg in path.Split('.'))
            {
                node = node?["items"] is { } items && node["type"]?.GetValue<string>() == "array" ? items : node;
                node = node?["properties"]?[seg] ?? node?["additionalProperties"];
            }

            return (string?)node?["x-kubernetes-list-type"] == "map" && node?["x-kubernetes-list-map-keys"] is JsonArray { Count: > 0 } keys ? (string?)keys[0] : null;
        };
    }

    private static bool SameIgnoring(JsonObject a, JsonObject b, string[] ignore)
    {
        var keys = a.Select(p => p.Key).Concat(b.Select(p => p.Key)).Where(k => !ignore.Contains(k) && k is not "apiVersion" and not "kind").Distinct();
        return keys.All(k => JsonNode.DeepEquals(a[k], b[k]));
    }

    /// <summary>
    /// A /status write of a built-in kind: the object is the stored one with only its status replaced (no schema pruning or
    /// defaulting runs), so everything outside status and metadata is equal by construction and need not be compared.
    /// </summary>
    private static bool StatusOnlyChange(ApiResource r, string? subresource) => subresource == "status" && !r.IsCustom;

    /// <summary>Whether two objects' managedFields name the same managers owning the same fields (times aside).</summary>
    private static bool SameOwnership(JsonObject old, JsonObject next)
    {
        static IEnumerable<JsonNode?> WithoutTime(JsonObject o) => (o["metadata"]?["managedFields"] as JsonArray ?? []).Select(e =>
        {
            var copy = e?.DeepClone() as JsonObject;
            copy?.Remove("time");
            return (JsonNode?)copy;
        });
        return JsonNode.DeepEquals(new JsonArray([.. WithoutTime(old)]), new JsonArray([.. WithoutTime(next)]));
    }

    private static bool SameIgnoringVolatile(JsonObject old, JsonObject next, bool statusOnly)
    {
        if (statusOnly ? !JsonNode.DeepEquals(old["status"], next["status"]) : !SameIgnoring(old, next, ["metadata"]))
        {
            return false;
        }

        var am = old["metadata"]!.AsObject();
        var bm = next["metadata"]!.AsObject();
        var keys = am.Select(p => p.Key).Concat(bm.Select(p => p.Key)).Where(k => k is not "managedFields" and not "resourceVersion").Distinct();
        return keys.All(k => JsonNode.DeepEquals(am[k], bm[k]));
    }
}
