#!/usr/bin/python3
"""Drives a Kubernetes API server (the emulator) with Debian's python3-kubernetes client and checks documented
API-server behaviour. Independent of the project's C# code: a misunderstanding shared by the emulator and the operator
shows up here.

usage: conformance.py --kubeconfig PATH GROUP...   (groups: see CHECKS; exit status 1 when any check failed)
"""
import argparse
import base64
import datetime
import json
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


# ------------------------------------------------------------------------------------------------ rbac (RBAC mode only)

SA_KUBECONFIG = None


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
    global SA_KUBECONFIG
    SA_KUBECONFIG = args.sa_kubeconfig
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
