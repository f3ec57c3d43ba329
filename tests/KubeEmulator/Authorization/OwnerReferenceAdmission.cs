using System.Text.Json.Nodes;
using Ferry.KubeEmulator.Errors;
using Ferry.KubeEmulator.Resources;

namespace Ferry.KubeEmulator.Authorization;

/// <summary>
/// The OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift and other hardened clusters): setting
/// <c>blockOwnerDeletion: true</c> on an owner reference needs <c>update</c> on the owner's <c>finalizers</c>
/// subresource, and changing the owner references of an existing object needs <c>delete</c> on that object.
/// </summary>
/// <remarks>plugin/pkg/admission/gc/gc_admission.go; https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#ownerreferencespermissionenforcement</remarks>
public sealed class OwnerReferenceAdmission(RbacAuthorizer authorizer, ResourceRegistry registry)
{
    /// <summary>Refuses a create (<paramref name="old"/> null) or update of <paramref name="obj"/> the user may not make.</summary>
    /// <returns>Null when admitted, else the 403 to answer.</returns>
    public ApiException? Admit(UserInfo user, ApiResource resource, string ns, JsonObject obj, JsonObject? old)
    {
        var refs = References(obj);
        var oldRefs = old is null ? [] : References(old);
        if (refs.Select(r => r.ToJsonString()).SequenceEqual(oldRefs.Select(r => r.ToJsonString())))
        {
            return null;
        }

        var name = (string?)obj["metadata"]?["name"] ?? (string?)old?["metadata"]?["name"] ?? "";
        // Whoever creates an object could also not create it, so only a change of an existing object needs delete.
        if (old is not null)
        {
            var delete = authorizer.Authorize(user, RequestAttributes.ForResource("delete", resource.Group, resource.Plural, null, ns, name));
            if (!delete.Allowed)
            {
                return Forbidden(resource, name, $"cannot set an ownerRef on a resource you can't delete: {delete.Reason}, <nil>");
            }
        }

        var blockedBefore = oldRefs.Where(Blocks).Select(r => (string?)r["uid"]).ToHashSet();
        var blocking = refs.Where(r => Blocks(r) && !blockedBefore.Contains((string?)r["uid"])).ToList();
        if (blocking.Count == 0
            || authorizer.Authorize(user, RequestAttributes.ForResource("update", "*", "*", "finalizers", null, null)).Allowed)
        {
            return null;
        }

        foreach (var reference in blocking)
        {
            var apiVersion = (string?)reference["apiVersion"] ?? "";
            var kind = (string?)reference["kind"] ?? "";
            if (registry.FindByKind(apiVersion, kind) is not { } owner)
            {
                return Forbidden(resource, name,
                    $"cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion {apiVersion} Kind {kind}: no matches for kind \"{kind}\" in version \"{apiVersion}\"");
            }

            var update = authorizer.Authorize(user, RequestAttributes.ForResource("update", owner.Group, owner.Plural, "finalizers",
                owner.Namespaced ? ns : null, (string?)reference["name"]));
            if (!update.Allowed)
            {
                return Forbidden(resource, name,
                    $"cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: {update.Reason}, <nil>");
            }
        }

        return null;
    }

    private static List<JsonObject> References(JsonObject obj) => (obj["metadata"]?["ownerReferences"] as JsonArray ?? []).OfType<JsonObject>().ToList();

    private static bool Blocks(JsonObject reference) => reference["blockOwnerDeletion"] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static ApiException Forbidden(ApiResource resource, string name, string why)
    {
        var details = new JsonObject();
        if (name.Length > 0)
        {
            details["name"] = name;
        }

        if (resource.Group.Length > 0)
        {
            details["group"] = resource.Group;
        }

        details["kind"] = resource.Plural;
        var qualified = ApiException.Qualified(resource.Group, resource.Plural);
        return new ApiException(403, "Forbidden", name.Length > 0 ? $"{qualified} \"{name}\" is forbidden: {why}" : $"{qualified} is forbidden: {why}", details);
    }
}
