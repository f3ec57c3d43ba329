#!/usr/bin/python3
"""Drives a Kubernetes API server (the emulator) with Debian's python3-kubernetes client and checks documented
API-server behaviour. Independent of the project's C# code: a misunderstanding shared by the emulator and the operator
shows up here.

usage: conformance.py --kubeconfig PATH GROUP...   (groups: see CHECKS; exit status 1 when any check failed)

Every group runs in `make test` through the xunit wrapper tests/KubeEmulator.Tests/Independent/PythonClientConformanceTests.
"""
import argparse
import base64
import datetime
import json
import re
import subprocess
import sys
import threading
import traceback
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

CHECKS = {}


def check(group):
    def register(fn):
        CHECKS.setdefault(group, []).append(fn)
        return fn
    return register


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_status(call, code, reason=None, contains=None):
    """Runs call(); it must fail with HTTP `code` and a Status body (reason, message fragment)."""
    try:
        call()
    except ApiException as e:
        expect(e.status == code, f"expected HTTP {code}, got {e.status}: {e.body}")
        body = json.loads(e.body)
        expect(body.get("kind") == "Status" and body.get("code") == code, f"not a Status body with code {code}: {e.body}")
        if reason is not None:
            expect(body.get("reason") == reason, f"expected reason {reason}, got {body.get('reason')}: {e.body}")
        if contains is not None:
            expect(contains in body.get("message", ""), f"expected message containing {contains!r}, got {body.get('message')!r}")
        return body
    raise AssertionError(f"expected HTTP {code}, the call succeeded")


def raw(method, path, body=None, query=None, content_type="application/json"):
    """One request through the client's connection pool; returns (status, headers, parsed body) whatever the status."""
    api = client.ApiClient()
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    api.update_params_for_auth(headers, None, ["BearerToken"])
    try:
        r = api.rest_client.request(method, api.configuration.host + path, query_params=query or [], headers=headers, body=body,
                                    _preload_content=False)
        return r.status, r.getheaders(), json.loads(r.data)
    except ApiException as e:
        return e.status, e.headers, json.loads(e.body)


def warnings_of(headers):
    """The texts of the response's `Warning: 299 - "..."` headers."""
    texts = []
    for m in re.findall(r'299 - "((?:[^"\\]|\\.)*)"', (headers or {}).get("Warning") or ""):
        texts.append(json.loads('"' + m + '"'))
    return texts


def kubectl(*args, stdin=None):
    """Runs /usr/bin/kubectl against the kubeconfig under test; returns (exit code, stdout + stderr)."""
    p = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", KUBECONFIG, *args], input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def managers(obj):
    """(manager, operation, subresource) -> owned fieldsV1 of an object's managedFields."""
    return {(e["manager"], e["operation"], e.get("subresource", "")): e.get("fieldsV1", {}) for e in obj["metadata"].get("managedFields", [])}


def new_namespace(core):
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="conf-")))
    return ns.metadata.name


def configmap(name, data=None, **meta):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, **meta), data=data or {"k": "v"})


def training_job(name, image="trainer:1"):
    return {
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name},
        "spec": {"backend": "InCluster", "image": image, "resources": {"replicas": 1}},
    }


# ------------------------------------------------------------------------------------------------ crud and concurrency

@check("crud")
def resource_versions_grow_and_a_stale_update_is_a_409(core, custom, events):
    ns = new_namespace(core)
    a = core.create_namespaced_config_map(ns, configmap("a"))
    expect(a.metadata.uid and a.metadata.creation_timestamp, "uid and creationTimestamp are set by the server")
    expect(a.metadata.generation is None, f"ConfigMaps have no metadata.generation, got {a.metadata.generation}")
    a.data = {"k": "2"}
    b = core.replace_namespaced_config_map("a", ns, a)
    expect(int(b.metadata.resource_version) > int(a.metadata.resource_version), "resourceVersion grows")
    a.data = {"k": "3"}
    expect_status(lambda: core.replace_namespaced_config_map("a", ns, a), 409, "Conflict",
                  'Operation cannot be fulfilled on configmaps "a": the object has been modified')


@check("crud")
def deleting_a_configmap_answers_a_success_status(core, custom, events):
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, configmap("d"))
    raw = core.delete_namespaced_config_map("d", ns, _preload_content=False)
    body = json.loads(raw.data)
    expect(raw.status == 200, f"DELETE answers 200, got {raw.status}")
    expect(body.get("kind") == "Status" and body.get("status") == "Success", f"DELETE of a ConfigMap answers a Success Status: {body}")
    expect_status(lambda: core.read_namespaced_config_map("d", ns), 404, "NotFound", 'configmaps "d" not found')


@check("crud")
def a_create_that_carries_a_resource_version_is_refused(core, custom, events):
    # The storage refuses it (storage.ErrResourceVersionSetOnCreate), a plain error the apiserver answers as a 500.
    ns = new_namespace(core)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rv", "resourceVersion": "5"}}
    status, _, body = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm)
    expect(status == 500 and body.get("message") == "resourceVersion should not be set on objects to be created", f"{status} {body}")
    expect_status(lambda: core.read_namespaced_config_map("rv", ns), 404, "NotFound")


@check("crud")
def write_options_are_validated(core, custom, events):
    # ValidateCreateOptions / ValidatePatchOptions: dryRun takes only "All"; fieldManager at most 128 printable characters.
    ns = new_namespace(core)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "opts"}}
    status, _, body = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm, query=[("dryRun", "foo")])
    expect(status == 422 and body.get("reason") == "Invalid"
           and body.get("message") == 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"foo"}: supported values: "All"',
           f"an unknown dryRun value: {status} {body}")
    expect_status(lambda: core.read_namespaced_config_map("opts", ns), 404, "NotFound")
    status, _, body = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm, query=[("fieldManager", "m" * 129)])
    expect(status == 422 and "fieldManager: Too long: must have at most 128 bytes" in body.get("message", ""), f"a long fieldManager: {status} {body}")
    core.create_namespaced_config_map(ns, configmap("opts"))
    status, _, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/opts", {"data": {"k": "w"}}, query=[("dryRun", "Some")],
                          content_type="application/merge-patch+json")
    expect(status == 422 and body.get("message", "").startswith('PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value'), f"patch: {status} {body}")


@check("crud")
def delete_options_are_validated(core, custom, events):
    # ValidateDeleteOptions: a 422 naming DeleteOptions, and nothing is deleted.
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, configmap("del"))
    base = f"/api/v1/namespaces/{ns}/configmaps/del"
    status, _, body = raw("DELETE", base, query=[("dryRun", "foo")])
    expect(status == 422 and body.get("message") == 'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"foo"}: supported values: "All"',
           f"dryRun: {status} {body}")
    status, _, body = raw("DELETE", base, query=[("propagationPolicy", "Foo")])
    expect(status == 422 and body.get("reason") == "Invalid" and "propagationPolicy: Unsupported value: \"Foo\"" in body.get("message", ""), f"policy: {status} {body}")
    status, _, body = raw("DELETE", base, {"orphanDependents": True, "propagationPolicy": "Background"})
    expect(status == 422 and "orphanDependents and deletionPropagation cannot be both set" in body.get("message", ""), f"both: {status} {body}")
    core.read_namespaced_config_map("del", ns)


@check("crud")
def a_put_creates_only_the_kinds_that_allow_create_on_update(core, custom, events):
    # The registry store's AllowCreateOnUpdate: true for Services, ServiceAccounts, Events, Leases and RBAC kinds.
    ns = new_namespace(core)
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "put"}, "spec": {"holderIdentity": "a"}}
    status, _, body = raw("PUT", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/put", lease)
    expect(status == 201 and body["spec"]["holderIdentity"] == "a", f"a Lease is created by PUT: {status} {body}")
    status, _, body = raw("PUT", f"/api/v1/namespaces/{ns}/configmaps/put", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "put"}})
    expect(status == 404 and body.get("reason") == "NotFound", f"a ConfigMap is not: {status} {body}")
    job = training_job("put")
    status, _, body = raw("PUT", f"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/put", job)
    expect(status == 404 and body.get("reason") == "NotFound", f"nor a custom resource: {status} {body}")


@check("crud")
def an_object_whose_fields_nobody_set_has_no_managed_fields(core, custom, events):
    ns = new_namespace(core)
    status, _, body = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare"}})
    expect(status == 201 and "managedFields" not in body["metadata"], f"no empty managedFields list: {body['metadata']}")


@check("crud")
def a_delete_held_by_a_finalizer_answers_200_with_the_object(core, custom, events):
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, configmap("f", finalizers=["ferry.dev/hold"]))
    raw = core.delete_namespaced_config_map("f", ns, _preload_content=False)
    body = json.loads(raw.data)
    expect(raw.status == 200, f"a delete held by finalizers answers 200, got {raw.status}")
    expect(body["metadata"].get("deletionTimestamp"), f"the held object carries deletionTimestamp: {body}")
    expect(body["metadata"].get("deletionGracePeriodSeconds") == 0, "deletionGracePeriodSeconds is 0 for kinds without graceful deletion")
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})
    expect_status(lambda: core.read_namespaced_config_map("f", ns), 404)


@check("concurrency")
def a_custom_resource_put_without_resource_version_is_a_422(core, custom, events):
    ns = new_namespace(core)
    custom.create_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", training_job("j"))
    expect_status(lambda: custom.replace_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", "j", training_job("j", "trainer:2")),
                  422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")


@check("concurrency")
def a_put_with_another_uid_is_a_409(core, custom, events):
    ns = new_namespace(core)
    cm = core.create_namespaced_config_map(ns, configmap("u"))
    cm.metadata.uid = str(uuid.uuid4())
    expect_status(lambda: core.replace_namespaced_config_map("u", ns, cm), 409, "Conflict", "Precondition failed: UID in precondition")


@check("concurrency")
def concurrent_patches_without_resource_version_all_succeed(core, custom, events):
    ns = new_namespace(core)
    custom.create_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", training_job("c"))
    failures = []

    def patch(i):
        try:
            custom.patch_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", "c", {"metadata": {"labels": {f"w{i}": "x"}}})
        except ApiException as e:
            failures.append(f"{e.status}: {e.body}")

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not failures, f"patches without resourceVersion never conflict: {failures[:2]}")
    labels = custom.get_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", "c")["metadata"]["labels"]
    expect(len(labels) == 16, f"every patch landed: {labels}")


# ------------------------------------------------------------------------------------------------ events and selectors

@check("events")
def core_and_events_v1_events_are_one_resource_selected_by_involved_object(core, custom, events):
    ns = new_namespace(core)
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
    core.create_namespaced_event(ns, client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="e1"),
        involved_object=client.V1ObjectReference(kind="TrainingJob", name="j", namespace=ns, uid="u-1"),
        reason="Started", message="attempt 1 started", type="Normal", first_timestamp=now, last_timestamp=now, count=1))
    events.create_namespaced_event(ns, client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="e2"), event_time=now, reason="Failed", note="replica 0 exited 1", type="Warning",
        action="Reconcile", reporting_controller="ferry.dev/operator", reporting_instance="op-1",
        regarding=client.V1ObjectReference(kind="TrainingJob", name="j", namespace=ns, uid="u-1")))
    events.create_namespaced_event(ns, client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="e3"), event_time=now, reason="Other", note="someone else", type="Normal",
        action="Reconcile", reporting_controller="ferry.dev/operator", reporting_instance="op-1",
        regarding=client.V1ObjectReference(kind="Pod", name="p", namespace=ns)))
    expect(len(core.list_namespaced_event(ns).items) == 3, "core/v1 lists events written through events.k8s.io/v1")
    # Read raw: a core event has no eventTime, which the generated events.k8s.io/v1 model refuses to deserialize (the
    # apiserver serves it as null too).
    listed = json.loads(events.list_namespaced_event(ns, _preload_content=False).data)
    expect(len(listed["items"]) == 3, "events.k8s.io/v1 lists events written through core/v1")
    e1 = next(i for i in listed["items"] if i["metadata"]["name"] == "e1")
    expect(e1["regarding"]["name"] == "j" and e1["note"] == "attempt 1 started", f"core event converted to events.k8s.io/v1: {e1}")
    as_core = core.read_namespaced_event("e2", ns)
    expect(as_core.message == "replica 0 exited 1" and as_core.involved_object.name == "j", f"converted to core/v1: {as_core}")
    selected = core.list_namespaced_event(ns, field_selector=f"involvedObject.kind=TrainingJob,involvedObject.name=j,involvedObject.namespace={ns},involvedObject.uid=u-1")
    expect(sorted(e.metadata.name for e in selected.items) == ["e1", "e2"], f"kubectl describe's selector: {[e.metadata.name for e in selected.items]}")
    warnings = json.loads(events.list_namespaced_event(ns, field_selector="type=Warning,regarding.name=j", _preload_content=False).data)
    expect([e["metadata"]["name"] for e in warnings["items"]] == ["e2"], "events.k8s.io/v1 selects on regarding.* and type")


@check("events")
def unsupported_field_selectors_are_a_400(core, custom, events):
    expect_status(lambda: core.list_namespaced_config_map("default", field_selector="status.phase=Running"), 400, "BadRequest",
                  "field label not supported: status.phase")
    expect_status(lambda: custom.list_namespaced_custom_object("ferry.dev", "v1alpha1", "default", "trainingjobs", field_selector="status.phase=Running"),
                  400, "BadRequest", "field label not supported: status.phase")
    core.list_namespaced_pod("default", field_selector="spec.restartPolicy=Never,spec.schedulerName=default-scheduler,status.podIP=10.0.0.1")


# ------------------------------------------------------------------------------------------------ garbage collection

@check("gc")
def dependents_of_deleted_owners_are_collected(core, custom, events):
    ns = new_namespace(core)
    owner = core.create_namespaced_config_map(ns, configmap("owner"))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name="dep", owner_references=[ref])))
    core.delete_namespaced_config_map("owner", ns)
    expect_status(lambda: core.read_namespaced_secret("dep", ns), 404)
    core.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name="late", owner_references=[ref])))
    expect_status(lambda: core.read_namespaced_secret("late", ns), 404)


# ------------------------------------------------------------------------------------------------ metadata and storage

@check("metadata")
def invalid_metadata_is_a_422(core, custom, events):
    ns = new_namespace(core)
    expect_status(lambda: core.create_namespaced_config_map(ns, configmap("l", labels={"k": "v" * 64})), 422, "Invalid", "must be no more than 63 characters")
    job = training_job("bad")
    job["metadata"]["labels"] = {"bad key!": "v"}
    expect_status(lambda: custom.create_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", job), 422, "Invalid", "metadata.labels")
    expect_status(lambda: core.create_namespaced_service(ns, client.V1Service(metadata=client.V1ObjectMeta(name="1svc"),
                  spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]))), 422, "Invalid", "a DNS-1035 label")


@check("metadata")
def namespaces_secrets_and_leases_are_stored_as_the_apiserver_stores_them(core, custom, events):
    ns = core.read_namespace(new_namespace(core))
    expect(ns.spec.finalizers == ["kubernetes"], f"namespace spec.finalizers: {ns.spec.finalizers}")
    expect(ns.metadata.labels.get("kubernetes.io/metadata.name") == ns.metadata.name, "kubernetes.io/metadata.name label")
    secret = core.create_namespaced_secret(ns.metadata.name, client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"a": "plain"}))
    expect(secret.data == {"a": base64.b64encode(b"plain").decode()} and not secret.string_data, f"stringData merged into data: {secret.data}")
    coordination = client.CoordinationV1Api()
    expect_status(lambda: coordination.create_namespaced_lease(ns.metadata.name, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                  "metadata": {"name": "l"}, "spec": {"renewTime": "2026-01-02T03:04:05.123Z"}}), 400, "BadRequest", 'as ".000000"')


# ------------------------------------------------------------------------------------------------ watch

@check("watch")
def a_watch_from_a_resource_version_sees_later_changes_only(core, custom, events):
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, configmap("before"))
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, configmap("after"))
    core.patch_namespaced_config_map("after", ns, {"data": {"k": "2"}})
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    expect(seen == [("ADDED", "after"), ("MODIFIED", "after")], f"events after {rv}: {seen}")


# ------------------------------------------------------------------------------------------------ unknown fields

def pod(name, **spec_extra):
    spec = {"containers": [{"name": "c", "image": "busybox:1", "bar": 1}]}
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "unknownMeta": "x"}, "spec": spec}


@check("fields")
def unknown_fields_of_built_in_kinds_are_dropped_with_a_warning_by_default(core, custom, events):
    # https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation : Warn is the default; the field is
    # dropped and each is named in a Warning header.
    ns = new_namespace(core)
    status, headers, body = raw("POST", f"/api/v1/namespaces/{ns}/pods", pod("w", foo="x"))
    expect(status == 201, f"created: {status} {body}")
    expect(warnings_of(headers) == ['unknown field "metadata.unknownMeta"', 'unknown field "spec.containers[0].bar"', 'unknown field "spec.foo"'],
           f"one warning per unknown field: {warnings_of(headers)}")
    stored = core.read_namespaced_pod("w", ns, _preload_content=False)
    stored = json.loads(stored.data)
    expect("foo" not in stored["spec"] and "bar" not in stored["spec"]["containers"][0] and "unknownMeta" not in stored["metadata"],
           f"unknown fields are not stored: {stored['spec']}")
    status, headers, body = raw("PATCH", f"/api/v1/namespaces/{ns}/pods/w", {"spec": {"foo": "y"}}, content_type="application/merge-patch+json")
    expect(status == 200 and warnings_of(headers) == ['unknown field "spec.foo"'] and "foo" not in body["spec"],
           f"a merge patch's unknown field is dropped with a warning: {status} {warnings_of(headers)}")


@check("fields")
def strict_field_validation_refuses_unknown_fields_of_built_in_kinds(core, custom, events):
    ns = new_namespace(core)
    status, _, body = raw("POST", f"/api/v1/namespaces/{ns}/pods", pod("s", foo="x"), query=[("fieldValidation", "Strict")])
    expect(status == 400 and body.get("reason") == "BadRequest", f"Strict refuses: {status} {body}")
    expect(body["message"] == 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "metadata.unknownMeta", '
           'unknown field "spec.containers[0].bar", unknown field "spec.foo"', f"the decoder's message: {body['message']}")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    status, headers, _ = raw("POST", f"/api/v1/namespaces/{ns}/configmaps", cm, query=[("fieldValidation", "Strict")])
    expect(status == 201 and not warnings_of(headers), f"a known body passes Strict without warnings: {status}")
    status, _, body = raw("PUT", f"/api/v1/namespaces/{ns}/configmaps/c", dict(cm, extra=1), query=[("fieldValidation", "Strict")])
    expect(status == 400 and 'strict decoding error: unknown field "extra"' in body.get("message", ""), f"Strict on update: {status} {body}")


@check("fields")
def ignore_field_validation_drops_unknown_fields_silently(core, custom, events):
    ns = new_namespace(core)
    status, headers, body = raw("POST", f"/api/v1/namespaces/{ns}/pods", pod("i", foo="x"), query=[("fieldValidation", "Ignore")])
    expect(status == 201 and not warnings_of(headers) and "foo" not in body["spec"], f"Ignore: {status} {warnings_of(headers)} {body.get('spec')}")


@check("fields")
def custom_resources_prune_unknown_fields_in_all_three_modes(core, custom, events):
    # https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning
    ns = new_namespace(core)
    path = f"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs"
    job = training_job("w")
    job["spec"]["foo"] = "x"
    job["metadata"]["unknownMeta"] = "x"
    status, headers, body = raw("POST", path, job)
    expect(status == 201 and warnings_of(headers) == ['unknown field "metadata.unknownMeta"', 'unknown field "spec.foo"'],
           f"Warn: {status} {warnings_of(headers)}")
    expect("foo" not in body["spec"] and "unknownMeta" not in body["metadata"], f"pruned: {body['spec']}")
    job["metadata"]["name"] = "s"
    status, _, body = raw("POST", path, job, query=[("fieldValidation", "Strict")])
    expect(status == 400 and body.get("reason") == "BadRequest" and body["message"] == 'TrainingJob in version "v1alpha1" cannot be handled as a '
           'TrainingJob: strict decoding error: unknown field "metadata.unknownMeta", unknown field "spec.foo"',
           f"Strict: {status} {body}")
    job["metadata"]["name"] = "i"
    status, headers, body = raw("POST", path, job, query=[("fieldValidation", "Ignore")])
    expect(status == 201 and not warnings_of(headers) and "foo" not in body["spec"], f"Ignore: {status} {warnings_of(headers)}")


@check("fields")
def an_apply_with_an_unknown_field_is_refused(core, custom, events):
    # Server-side apply types the applied configuration; a field the schema does not declare fails whatever fieldValidation
    # says (an internal error in 1.32: kubernetes/kubernetes#122480).
    ns = new_namespace(core)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "foo": "x"}
    status, _, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/a", json.dumps(cm), query=[("fieldManager", "m")],
                          content_type="application/apply-patch+yaml")
    expect(status == 500 and body.get("message") == f"failed to create typed patch object ({ns}/a; /v1, Kind=ConfigMap): .foo: field not declared in schema",
           f"apply of an unknown field: {status} {body}")


# ------------------------------------------------------------------------------------------------ server-side apply

def apply(path, obj, manager, force=False):
    query = [("fieldManager", manager)] + ([("force", "true")] if force else [])
    return raw("PATCH", path, json.dumps(obj), query=query, content_type="application/apply-patch+yaml")


@check("apply")
def a_second_manager_applying_the_same_value_becomes_a_co_owner(core, custom, events):
    # https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts : applying the same value is not a
    # conflict and shares ownership, so the field stays when one of the owners stops applying it.
    ns = new_namespace(core)
    path = f"/api/v1/namespaces/{ns}/configmaps/co"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "co"}, "data": {"shared": "v", "a": "1"}}
    status, _, body = apply(path, cm, "a")
    expect(status == 201, f"created by apply: {status} {body}")
    status, _, body = apply(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "co"}, "data": {"shared": "v"}}, "b")
    expect(status == 200, f"the same value applied by another manager is no conflict: {status} {body}")
    owners = managers(body)
    expect("f:shared" in owners[("a", "Apply", "")].get("f:data", {}) and "f:shared" in owners[("b", "Apply", "")].get("f:data", {}),
           f"both own data.shared: {owners}")
    status, _, body = apply(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "co"}, "data": {"a": "1"}}, "a")
    expect(status == 200 and body["data"] == {"shared": "v", "a": "1"}, f"a co-owned field stays when one owner withdraws it: {body.get('data')}")


@check("apply")
def kubectl_server_side_apply_takes_over_from_client_side_apply(core, custom, events):
    # https://kubernetes.io/docs/reference/using-api/server-side-apply/#upgrading-from-client-side-apply-to-server-side-apply
    ns = new_namespace(core)
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: up\n  namespace: {ns}\ndata:\n  k: {v}\n"
    code, out = kubectl("apply", "-f", "-", stdin=manifest.format(ns=ns, v="one"))
    expect(code == 0, f"client-side apply: {out}")
    code, out = kubectl("apply", "--server-side", "-f", "-", stdin=manifest.format(ns=ns, v="two"))
    expect(code == 0, f"kubectl apply --server-side after kubectl apply changes a value without a conflict: {out}")
    live = json.loads(core.read_namespaced_config_map("up", ns, _preload_content=False).data)
    expect(live["data"] == {"k": "two"}, f"the new value: {live['data']}")
    owners = managers(live)
    expect("f:k" in owners.get(("kubectl", "Apply", ""), {}).get("f:data", {}), f"kubectl owns data.k: {owners}")
    csa = owners.get(("kubectl-client-side-apply", "Update", ""), {})
    expect("f:k" not in csa.get("f:data", {}), f"client-side apply no longer owns data.k: {owners}")
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    expect(last["data"] == {"k": "two"}, f"the last-applied annotation follows the server-side apply: {last}")


@check("apply")
def managed_fields_of_one_empty_entry_clear_them(core, custom, events):
    # https://kubernetes.io/docs/reference/using-api/server-side-apply/#clearing-managedfields
    ns = new_namespace(core)
    core.create_namespaced_config_map(ns, configmap("mf"))
    status, _, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/mf", [{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}],
                          content_type="application/json-patch+json")
    expect(status == 200 and not body["metadata"].get("managedFields"), f"cleared: {status} {body['metadata'].get('managedFields')}")
    status, _, body = raw("PATCH", f"/api/v1/namespaces/{ns}/configmaps/mf", {"metadata": {"managedFields": []}}, content_type="application/merge-patch+json")
    expect(status == 200, f"an empty list is accepted: {status}")


@check("apply")
def apply_on_status_records_its_manager_and_removes_a_withdrawn_condition(core, custom, events):
    ns = new_namespace(core)
    custom.create_namespaced_custom_object("ferry.dev", "v1alpha1", ns, "trainingjobs", training_job("st"))
    path = f"/apis/ferry.dev/v1alpha1/namespaces/{ns}/trainingjobs/st/status"

    def condition(t):
        return {"type": t, "status": "True", "reason": "R", "message": "m", "lastTransitionTime": "2026-01-02T03:04:05Z"}

    status_of = lambda conditions: {"apiVersion": "ferry.dev/v1alpha1", "kind": "TrainingJob", "metadata": {"name": "st"}, "status": {"conditions": conditions}}
    status, _, body = apply(path, status_of([condition("Ready"), condition("Running")]), "status-writer")
    expect(status == 200, f"apply on /status: {status} {body}")
    owners = managers(body)
    expect(("status-writer", "Apply", "status") in owners, f"the apply is recorded under its manager with subresource status: {list(owners)}")
    status, _, body = apply(path, status_of([condition("Ready")]), "status-writer")
    types = [c["type"] for c in body.get("status", {}).get("conditions", [])]
    expect(status == 200 and types == ["Ready"], f"the condition the manager no longer applies is removed: {types}")


# ------------------------------------------------------------------------------------------------ rbac (RBAC mode only)

SA_KUBECONFIG = None
KUBECONFIG = None


@check("rbac")
def a_service_account_is_refused_with_the_apiservers_403_until_a_role_binding_grants_it(core, custom, events):
    sa_client = config.new_client_from_config(config_file=SA_KUBECONFIG)
    sa_core = client.CoreV1Api(sa_client)
    ns = new_namespace(core)
    user = "system:serviceaccount:ferry-system:ferry"
    body = expect_status(lambda: sa_core.list_namespaced_pod(ns), 403, "Forbidden",
                         f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in the namespace "{ns}"')
    expect(body.get("details") == {"kind": "pods"}, f"details name the resource: {body.get('details')}")
    expect_status(lambda: sa_core.list_namespace(), 403, "Forbidden",
                  f'namespaces is forbidden: User "{user}" cannot list resource "namespaces" in API group "" at the cluster scope')
    rbac = client.RbacAuthorizationV1Api()
    rbac.create_namespaced_role(ns, client.V1Role(metadata=client.V1ObjectMeta(name="pods"),
                                rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["list"])]))
    rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="pods"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pods"),
        subjects=[client.V1Subject(kind="ServiceAccount", name="ferry", namespace="ferry-system")]))
    sa_core.list_namespaced_pod(ns)
    expect_status(lambda: sa_core.read_namespaced_pod_status("p", ns), 403, "Forbidden",
                  f'pods "p" is forbidden: User "{user}" cannot get resource "pods/status" in API group "" in the namespace "{ns}"')
    unknown = client.Configuration()
    unknown.host = sa_client.configuration.host
    unknown.ssl_ca_cert = sa_client.configuration.ssl_ca_cert
    unknown.api_key = {"authorization": "Bearer not-a-token"}
    expect_status(lambda: client.CoreV1Api(client.ApiClient(unknown)).list_namespaced_pod(ns), 401, "Unauthorized")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--sa-kubeconfig", help="a kubeconfig for the ServiceAccount ferry-system/ferry (the rbac group)")
    parser.add_argument("groups", nargs="*")
    args = parser.parse_args()
    config.load_kube_config(config_file=args.kubeconfig)
    global SA_KUBECONFIG, KUBECONFIG
    SA_KUBECONFIG = args.sa_kubeconfig
    KUBECONFIG = args.kubeconfig
    apis = (client.CoreV1Api(), client.CustomObjectsApi(), client.EventsV1Api())
    groups = args.groups or sorted(g for g in CHECKS if g != "rbac" or SA_KUBECONFIG)
    failed = 0
    for group in groups:
        if group not in CHECKS:
            print(f"unknown group {group!r}; known: {', '.join(sorted(CHECKS))}")
            return 2
        for fn in CHECKS[group]:
            try:
                fn(*apis)
                print(f"PASS {group}/{fn.__name__}")
            except Exception:  # noqa: BLE001 - every failure is reported, then the next check runs
                failed += 1
                print(f"FAIL {group}/{fn.__name__}\n{traceback.format_exc()}")
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
