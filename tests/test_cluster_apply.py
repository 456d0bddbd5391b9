"""End-to-end tests of the apply engine: the real ``kubernetes`` client over real HTTP against the
API-server test double (``tests/apiserver_double.py``, replayed against the recorded real server by
``tests/test_apiserver_double.py``).  Manifests are hand-written here, so these tests do not depend on
the renderers.  The ``apiserver`` fixture points HOME and KUBECONFIG into tmp_path: no test can read
the user's real kubeconfig.
"""
from __future__ import annotations

import copy
import threading
import time

import pytest

from apiserver_double import ADMIN_TOKEN, apiserver, apiserver_factory  # noqa: F401
from kmwizard.cluster import changes, connection, discovery, watch
from kmwizard.cluster import status as cluster_status
from kmwizard.cluster import verify as cluster_verify
from kmwizard.cluster import errors as E

MCO = "machineconfiguration.openshift.io/v1"
KMM = "kmm.sigs.x-k8s.io/v1beta1"

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drivers"}}
DOCKERFILE = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo-dockerfile", "namespace": "drivers"},
              "data": {"dockerfile": "ARG DTK_AUTO\nFROM ${DTK_AUTO}\n"}}
PULL_SECRET_VALUE = "eyJhdXRocyI6eyJxdWF5LmlvIjp7ImF1dGgiOiJjMlZqY21WMCJ9fX0="
PULL_SECRET = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
               "metadata": {"name": "demo-pull", "namespace": "drivers"},
               "data": {".dockerconfigjson": PULL_SECRET_VALUE}}
MODULE = {"apiVersion": KMM, "kind": "Module", "metadata": {"name": "demo", "namespace": "drivers"},
          "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                   "imageRepoSecret": {"name": "demo-pull"},
                   "moduleLoader": {"container": {
                       "modprobe": {"moduleName": "demo"},
                       "kernelMappings": [{"regexp": "^.+$",
                                           "containerImage": "quay.io/acme/demo:${KERNEL_FULL_VERSION}",
                                           "build": {"dockerfileConfigMap": {"name": "demo-dockerfile"}}}]}}}}
MACHINECONFIG = {"apiVersion": MCO, "kind": "MachineConfig",
                 "metadata": {"name": "99-worker-demo", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
                 "spec": {"config": {"ignition": {"version": "3.4.0"}, "storage": {"files": [
                     {"path": "/etc/modules-load.d/demo.conf", "mode": 420, "overwrite": True,
                      "contents": {"source": "data:,demo%0A"}}]}}}}
# The renderer's order is not trusted: the engine sorts by dependency.
KMM_SET = [MODULE, DOCKERFILE, PULL_SECRET, NAMESPACE]


def kmm_set(**module_changes):
    module = copy.deepcopy(MODULE)
    module["spec"]["moduleLoader"]["container"]["modprobe"].update(module_changes)
    return [module, DOCKERFILE, PULL_SECRET, NAMESPACE]


def connect(double, **kwargs):
    return connection.connect(str(double.kubeconfig_path), **kwargs)


def patches(double):
    return [r for r in double.requests if r.method == "PATCH"]


def seed_pool(double, machine_count=3, updated=1, with_mc=False, degraded_message=None):
    """A worker pool as the MCO reports it (status shape from the recorded status-watch exchange)."""
    sources = [{"apiVersion": MCO, "kind": "MachineConfig", "name": n} for n in ("00-worker", "01-worker-kubelet")]
    rendered = sources + ([{"apiVersion": MCO, "kind": "MachineConfig", "name": "99-worker-demo"}] if with_mc else [])
    done = updated == machine_count and with_mc
    conditions = [
        {"type": "Updated", "status": "True" if done else "False", "message": "", "reason": ""},
        {"type": "Updating", "status": "False" if done else "True", "reason": "",
         "message": "" if done else "All nodes are updating to MachineConfig rendered-worker-new"},
        {"type": "Degraded", "status": "True" if degraded_message else "False", "reason": "",
         "message": degraded_message or ""}]
    return double.put({
        "apiVersion": MCO, "kind": "MachineConfigPool", "metadata": {"name": "worker"},
        "spec": {"machineConfigSelector": {"matchLabels": {"machineconfiguration.openshift.io/role": "worker"}},
                 "nodeSelector": {"matchLabels": {"node-role.kubernetes.io/worker": ""}},
                 "configuration": {"name": "rendered-worker-new", "source": sources + [
                     {"apiVersion": MCO, "kind": "MachineConfig", "name": "99-worker-demo"}]}},
        "status": {"machineCount": machine_count, "updatedMachineCount": updated, "readyMachineCount": updated,
                   "unavailableMachineCount": machine_count - updated,
                   "degradedMachineCount": 1 if degraded_message else 0,
                   "configuration": {"name": "rendered-worker-old" if not with_mc else "rendered-worker-new",
                                     "source": rendered},
                   "conditions": conditions}}, manager="machine-config-controller")


# --- apply --------------------------------------------------------------------------------------

def test_apply_in_dependency_order_then_reapply_is_unchanged(apiserver):
    with connect(apiserver) as conn:
        seen = []
        report = changes.apply(conn, KMM_SET, progress=seen.append)
        assert report.ok, report.error
        assert [(str(r.ref), r.action) for r in report.results] == [
            ("Namespace drivers", "created"), ("Secret drivers/demo-pull", "created"),
            ("ConfigMap drivers/demo-dockerfile", "created"), ("Module drivers/demo", "created")]
        assert seen == report.results
        sent = patches(apiserver)
        assert [r.path.rsplit("/", 2)[-2] for r in sent] == ["namespaces", "secrets", "configmaps", "modules"]
        assert all(r.query.get("fieldManager") == "kmwizard" and r.content_type == "application/apply-patch+yaml"
                   and "dryRun" not in r.query for r in sent)
        stored = apiserver.get(KMM, "Module", "demo", "drivers")
        assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmwizard"
        assert [(m["manager"], m["operation"]) for m in stored["metadata"]["managedFields"]] == [("kmwizard", "Apply")]
        versions = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in apiserver.objects()}

        again = changes.apply(conn, KMM_SET)
        assert again.ok and [r.action for r in again.results] == ["unchanged"] * 4
        assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in apiserver.objects()} == versions


def test_server_dry_run_changes_nothing(apiserver):
    with connect(apiserver) as conn:
        before = apiserver.objects()
        report = changes.plan(conn, KMM_SET)
        assert report.ok, report.error
        assert [r.action for r in report.results] == ["would be created"] * 4
        # the objects inside the namespace the run would create cannot be checked by the server
        assert "namespace drivers does not exist yet" in report.results[1].note
        assert apiserver.objects() == before
        assert all(r.query.get("dryRun") == "All" for r in patches(apiserver))

        changes.apply(conn, KMM_SET)
        before = apiserver.objects()
        n = len(patches(apiserver))
        changed = changes.plan(conn, kmm_set(moduleName="demo-v2"))
        assert [r.action for r in changed.results] == ["unchanged"] * 3 + ["would be configured"]
        assert apiserver.objects() == before
        assert all(r.query.get("dryRun") == "All" for r in patches(apiserver)[n:])


def test_diff_shows_changes_with_secrets_masked(apiserver):
    with connect(apiserver) as conn:
        changes.apply(conn, KMM_SET)
        diffs, failure = changes.diff(conn, KMM_SET)
        assert failure is None and [d.text for d in diffs] == [""] * 4

        new_secret = copy.deepcopy(PULL_SECRET)
        new_secret["data"][".dockerconfigjson"] = "bmV3LXNlY3JldC12YWx1ZQ=="
        changed = kmm_set(moduleName="demo-v2")
        changed[2] = new_secret
        diffs, failure = changes.diff(conn, changed)
        assert failure is None
        texts = {str(d.ref): d.text for d in diffs}
        assert texts["Namespace drivers"] == "" and texts["ConfigMap drivers/demo-dockerfile"] == ""
        assert "-        moduleName: demo\n+        moduleName: demo-v2\n" in texts["Module drivers/demo"]
        secret_diff = texts["Secret drivers/demo-pull"]
        assert "masked, before" in secret_diff and "masked, after" in secret_diff
        assert PULL_SECRET_VALUE not in secret_diff and "bmV3LXNlY3JldC12YWx1ZQ==" not in secret_diff
        assert apiserver.get(KMM, "Module", "demo", "drivers")["spec"]["moduleLoader"]["container"]["modprobe"][
            "moduleName"] == "demo"


def test_conflict_names_managers_and_fields_then_force_takes_them(apiserver):
    with connect(apiserver) as conn:
        assert changes.apply(conn, KMM_SET).ok
        other = copy.deepcopy(MODULE)
        other["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] = "demo-other"
        res = conn.resource(KMM, "Module")
        res.server_side_apply(body=other, name="demo", namespace="drivers", field_manager="someone-else",
                              force_conflicts=True)

        report = changes.apply(conn, KMM_SET)
        err = report.error
        assert isinstance(err, E.ApplyConflict) and err.exit_code == 3
        assert err.owners == {"someone-else": [".spec.moduleLoader.container.modprobe.moduleName"]}
        assert "--force-conflicts" in err.fix
        assert [r.action for r in report.results] == ["unchanged", "unchanged", "unchanged", "failed"]

        forced = changes.apply(conn, KMM_SET, force_conflicts=True)
        assert forced.ok and forced.results[-1].action == "configured"
        assert patches(apiserver)[-1].query.get("force") == "true"
        live = apiserver.get(KMM, "Module", "demo", "drivers")
        assert live["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] == "demo"


@pytest.mark.parametrize("mutate,field,words", [
    (lambda m: m["spec"].pop("selector"), "spec.selector", "Required value"),
    (lambda m: m["spec"]["moduleLoader"]["container"]["kernelMappings"][0].pop("containerImage"),
     "spec.moduleLoader.container.kernelMappings[0].containerImage", "Required value"),
    (lambda m: m["spec"]["moduleLoader"]["container"]["modprobe"].update(modprob="x"),
     "spec.moduleLoader.container.modprobe.modprob", "does not exist in this cluster's Module schema"),
    (lambda m: m["spec"].update(selector="worker"), "spec.selector", "wrong type"),
])
def test_invalid_objects_are_explained_with_field_paths(apiserver, mutate, field, words):
    bad = copy.deepcopy(MODULE)
    mutate(bad)
    with connect(apiserver) as conn:
        changes.apply(conn, [NAMESPACE, DOCKERFILE, PULL_SECRET])
        for dry in (True, False):
            report = changes.apply(conn, [NAMESPACE, bad], dry_run=dry)
            assert isinstance(report.error, E.Invalid), report.error
            assert any(f == field for f, _ in report.error.causes), report.error.causes
            assert field in report.error.message and words in report.error.message
            assert "Module drivers/demo" in report.error.message
        assert apiserver.get(KMM, "Module", "demo", "drivers") is None


def test_machineconfig_with_wrong_type_is_explained(apiserver):
    bad = copy.deepcopy(MACHINECONFIG)
    bad["spec"]["kernelArguments"] = "nosmt"
    with connect(apiserver) as conn:
        report = changes.apply(conn, [bad])
    assert isinstance(report.error, E.Invalid)
    assert "spec.kernelArguments has the wrong type" in report.error.message


# --- failures: operators missing, rights, connection --------------------------------------------

def test_kmm_missing(apiserver_factory):
    double = apiserver_factory(crds={"machineconfigs", "machineconfigpools"})
    with connect(double) as conn:
        facts = discovery.discover(conn)
        assert facts.openshift and not facts.kmm_installed
        problems = discovery.preflight(conn, KMM_SET, facts)
        assert [f.code for f in problems] == ["cluster-no-kmm"]
        report = changes.apply(conn, KMM_SET)
    assert isinstance(report.error, E.NotInstalled)
    assert report.error.message.startswith("the KMM operator is not installed in this cluster")
    assert [r.action for r in report.results] == ["created", "created", "created", "failed"]


def test_not_openshift(apiserver_factory):
    double = apiserver_factory(crds={"modules"})
    with connect(double) as conn:
        facts = discovery.discover(conn)
        assert not facts.openshift and facts.kmm_installed
        assert [f.code for f in discovery.preflight(conn, [MACHINECONFIG], facts)] == ["cluster-no-mco"]
        report = changes.apply(conn, [MACHINECONFIG])
    assert report.error.message.startswith(
        "this is not an OpenShift cluster: MachineConfigs need the Machine Config Operator")


def test_forbidden_names_the_missing_right_and_reports_partial_apply(apiserver, tmp_path):
    apiserver.add_token("dev-token", "dev", rules=[(v, "*", "*", "*") for v in ("get", "list", "watch")]
                        + [(v, "", "namespaces", "") for v in ("patch", "create")]
                        + [(v, "", "secrets", "drivers") for v in ("patch", "create")])
    path = apiserver.write_kubeconfig(tmp_path / "dev.kubeconfig", token="dev-token", context="dev-ctx")
    with connection.connect(str(path)) as conn:
        assert conn.target.context == "dev-ctx"
        report = changes.apply(conn, KMM_SET)
    err = report.error
    assert isinstance(err, E.Forbidden)
    assert "user dev may not patch configmaps (core API group) in namespace drivers" in err.message
    assert "oc create role kmwizard-configmaps --verb=get,list,watch,create,patch,delete --resource=configmaps " \
           "-n drivers" in err.fix and "--user=dev" in err.fix
    assert [(str(r.ref), r.action) for r in report.results] == [
        ("Namespace drivers", "created"), ("Secret drivers/demo-pull", "created"),
        ("ConfigMap drivers/demo-dockerfile", "failed"), ("Module drivers/demo", "not applied")]
    assert [str(r.ref) for r in report.applied] == ["Namespace drivers", "Secret drivers/demo-pull"]
    assert apiserver.get("v1", "ConfigMap", "demo-dockerfile", "drivers") is None


def test_server_error_midway_reports_applied_and_not_applied(apiserver):
    apiserver.fail_next(method="PATCH", path="/modules/demo", status=500, message="etcdserver: leader changed")
    with connect(apiserver) as conn:
        report = changes.apply(conn, KMM_SET + [MACHINECONFIG])
    assert [r.action for r in report.results] == ["created"] * 3 + ["failed", "not applied"]
    assert "etcdserver: leader changed" in report.error.message and "HTTP 500" in report.error.message
    assert [str(r.ref) for r in report.not_applied] == ["Module drivers/demo", "MachineConfig 99-worker-demo"]
    assert apiserver.get(MCO, "MachineConfig", "99-worker-demo") is None


def test_connection_refused_names_server_and_context(apiserver):
    url = apiserver.url
    apiserver.stop()
    with pytest.raises(E.Unreachable) as info:
        connect(apiserver)
    assert url in info.value.message and "context 'double'" in info.value.message
    assert "refused" in info.value.message and info.value.exit_code == 3


def test_timeout_names_server_and_context_and_stops_the_apply(apiserver):
    apiserver.fail_next("hang", method="PATCH", path="/modules/demo", hang_seconds=5)
    with connect(apiserver, request_timeout=0.5) as conn:
        started = time.monotonic()
        report = changes.apply(conn, KMM_SET)
        assert time.monotonic() - started < 4
    assert isinstance(report.error, E.Unreachable)
    assert "did not answer in time" in report.error.message and apiserver.url in report.error.message
    assert "--request-timeout" in report.error.fix        # the flag that sets the per-request limit
    assert [r.action for r in report.results] == ["created", "created", "created", "failed"]


def test_tls_verification_uses_the_kubeconfig_ca(apiserver_factory, tmp_path):
    double = apiserver_factory(tls=True)
    with connect(double) as conn:                       # the right CA
        assert conn.tls_verify and conn.target.server.startswith("https://")
        assert changes.apply(conn, [NAMESPACE]).ok
    wrong = double.write_kubeconfig(tmp_path / "wrong-ca", ca="wrong")
    with pytest.raises(E.Unreachable) as info:
        connection.connect(str(wrong))
    assert "TLS verification of" in info.value.message and double.url in info.value.message
    assert "never turns verification off" in info.value.fix
    insecure = double.write_kubeconfig(tmp_path / "insecure", ca="insecure")
    with connection.connect(str(insecure)) as conn:         # the user's own choice, and said so
        assert not conn.tls_verify and "TLS verification off" in conn.describe()


def test_rejected_credentials_are_explained_without_the_token(apiserver, tmp_path):
    path = apiserver.write_kubeconfig(tmp_path / "stale", token="stale-token-123")
    with pytest.raises(E.ClusterError) as info:
        connection.connect(str(path))
    assert "does not accept your credentials (401 Unauthorized)" in info.value.message
    assert "oc login" in info.value.fix and "stale-token-123" not in str(info.value)


def test_unknown_context_is_a_usage_error(apiserver):
    from kmwizard.findings import UsageError

    with pytest.raises(UsageError) as info:
        connect(apiserver, context="prod")
    assert "--context prod" in info.value.message and "double" in info.value.fix


# --- references, delete, status ------------------------------------------------------------------

def test_preflight_finds_missing_module_references(apiserver):
    with connect(apiserver) as conn:
        changes.apply(conn, [NAMESPACE])
        facts = discovery.discover(conn)
        problems = discovery.preflight(conn, [MODULE, DOCKERFILE], facts)
    assert [(f.code, f.where) for f in problems] == [
        ("cluster-missing-reference", "Module drivers/demo:$.spec.imageRepoSecret.name")]
    assert "Secret demo-pull does not exist in namespace drivers" in problems[0].message


def test_delete_removes_only_kmwizard_objects_and_keeps_namespaces(apiserver):
    foreign = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": "drivers"},
               "data": {"a": "b"}}
    with connect(apiserver) as conn:
        changes.apply(conn, KMM_SET)
        apiserver.put(foreign)
        dry = changes.delete(conn, KMM_SET + [foreign], dry_run=True)
        assert len(apiserver.objects(namespace="drivers")) == 4
        assert {str(r.ref): r.action for r in dry.results}["Module drivers/demo"] == "would be deleted"
        report = changes.delete(conn, KMM_SET + [foreign])
        actions = {str(r.ref): r.action for r in report.results}
    assert actions == {"Module drivers/demo": "deleted", "ConfigMap drivers/demo-dockerfile": "deleted",
                       "ConfigMap drivers/theirs": "kept", "Secret drivers/demo-pull": "deleted",
                       "Namespace drivers": "kept"}
    assert [o["metadata"]["name"] for o in apiserver.objects(namespace="drivers")] == ["theirs"]
    assert apiserver.get("v1", "Namespace", "drivers") is not None

    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "openshift-kmm"}}
    with connect(apiserver) as conn:
        changes.apply(conn, [system])
        report = changes.delete(conn, [NAMESPACE, system], include_namespaces=True)
    assert {str(r.ref): r.action for r in report.results} == {"Namespace drivers": "deleted",
                                                             "Namespace openshift-kmm": "kept"}
    assert apiserver.get("v1", "Namespace", "openshift-kmm") is not None


def test_status_reports_presence_sync_and_rollout(apiserver):
    seed_pool(apiserver, machine_count=3, updated=1)
    with connect(apiserver) as conn:
        changes.apply(conn, KMM_SET + [MACHINECONFIG])
        report = cluster_status.status(conn, KMM_SET + [MACHINECONFIG])
        assert all(o.present and o.managed and o.in_sync for o in report.objects)
        pool = next(p for p in report.rollout if p.target == "MachineConfigPool worker")
        assert (pool.done_count, pool.total, pool.done) == (1, 3, False)
        drifted = cluster_status.status(conn, kmm_set(moduleName="other") + [MACHINECONFIG])
        assert [o.in_sync for o in drifted.objects] == [True, True, True, False, True]
        everything = cluster_status.status(conn)
        assert sorted(str(o.ref) for o in everything.objects) == ["MachineConfig 99-worker-demo",
                                                                  "Module drivers/demo"]


def test_reboot_warning_counts_the_pool_nodes(apiserver):
    seed_pool(apiserver, machine_count=5, updated=5)
    with connect(apiserver) as conn:
        warnings = changes.reboot_warnings(conn, changes.plan(conn, [MACHINECONFIG]).results)
        assert len(warnings) == 1 and warnings[0].nodes == 5 and warnings[0].pool == "worker"
        assert "drain and reboot every node of pool worker, one at a time: 5 node(s)" in warnings[0].message()
        changes.apply(conn, [MACHINECONFIG])
        assert changes.reboot_warnings(conn, changes.plan(conn, [MACHINECONFIG]).results) == []
        removal = changes.reboot_warnings(conn, changes.delete(conn, [MACHINECONFIG], dry_run=True).results)
        assert removal[0].message().startswith("Deleting MachineConfig 99-worker-demo makes the Machine Config "
                                               "Operator drain and reboot every node of pool worker")
        assert apiserver.get(MCO, "MachineConfig", "99-worker-demo") is not None


# --- rollout watch ---------------------------------------------------------------------------------

def run_in_thread(fn):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_wait_follows_the_pool_as_its_status_changes(apiserver):
    seed_pool(apiserver, machine_count=3, updated=1)
    seen = []
    with connect(apiserver) as conn:
        changes.apply(conn, [MACHINECONFIG])
        thread, box = run_in_thread(lambda: watch.watch_rollout(conn, [MACHINECONFIG], progress=seen.append,
                                                                 timeout=20, poll=5))
        time.sleep(0.4)
        seed_pool(apiserver, machine_count=3, updated=2)
        time.sleep(0.4)
        seed_pool(apiserver, machine_count=3, updated=3, with_mc=True)
        thread.join(10)
    assert not thread.is_alive() and "error" not in box, box
    final = box["value"][0]
    assert final.done and final.fraction == 1.0
    assert [(p.done_count, p.total) for p in seen] == [(1, 3), (2, 3), (3, 3)]
    # each change arrived through the watch, well before the 5 s poll
    assert any(r.query.get("watch") == "true" for r in apiserver.requests)


def test_wait_stops_on_a_degraded_pool(apiserver):
    seed_pool(apiserver, machine_count=3, updated=1, degraded_message="Node worker-2 is reporting: unexpected "
                                                                        "on-disk state validating against rendered")
    with connect(apiserver) as conn:
        state = watch.watch_rollout(conn, [MACHINECONFIG], timeout=5, poll=1)
    assert "unexpected on-disk state" in state[0].failed


def test_wait_timeout_says_what_is_pending(apiserver):
    seed_pool(apiserver, machine_count=3, updated=1)
    with connect(apiserver) as conn:
        started = time.monotonic()
        state = watch.watch_rollout(conn, [MACHINECONFIG], timeout=1.2, poll=1)
        assert time.monotonic() - started < 5
    assert not state[0].done and not state[0].failed
    assert "2 of 3 nodes of pool worker not updated yet (each drains and reboots in turn)" in state[0].pending


def test_wait_follows_a_module_load(apiserver):
    with connect(apiserver) as conn:
        changes.apply(conn, KMM_SET)
        for i in (1, 2):
            apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": f"worker-{i}", "labels": {"node-role.kubernetes.io/worker": ""}}})
        thread, box = run_in_thread(lambda: watch.watch_rollout(conn, [MODULE], timeout=20, poll=1))
        time.sleep(0.3)
        apiserver.put({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "demo.1", "namespace": "drivers"},
                       "involvedObject": {"kind": "Module", "name": "demo", "namespace": "drivers"},
                       "reason": "BuildCreated", "message": "Build created for kernel 5.14.0-427.el9.x86_64",
                       "type": "Normal", "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        module = apiserver.get(KMM, "Module", "demo", "drivers")
        module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": 2, "desiredNumber": 2,
                                             "availableNumber": 2}}
        for i in (1, 2):
            apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": f"worker-{i}", "labels": {"node-role.kubernetes.io/worker": "",
                                                  "kmm.node.kubernetes.io/drivers.demo.ready": ""}}})
        apiserver.put(module, manager="kmm-operator")
        thread.join(10)
    assert "error" not in box, box
    final = box["value"][0]
    assert final.done and final.done_count == 2
    assert final.events == ["BuildCreated: Build created for kernel 5.14.0-427.el9.x86_64"]


# --- verify ----------------------------------------------------------------------------------------

def seed_nodes(double, names, role="worker"):
    for name in names:
        double.put({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": {f"node-role.kubernetes.io/{role}": ""}}})


def finish_pods(double, results: dict, deadline=10.0):
    """Play the kubelet: once kmwizard's verify pods exist, mark each finished with the termination
    message its script would write.  The double runs no pods: this is the simulated part."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pods = double.objects(kind="Pod", namespace=cluster_verify.VERIFY_NAMESPACE)
        if len(pods) == len(results):
            break
        time.sleep(0.05)
    for pod in pods:
        node = pod["spec"]["nodeName"]
        message, phase, code = results[node]
        pod["status"] = {"phase": phase, "containerStatuses": [{"name": "lsmod", "state": {"terminated": {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error", "message": message}}}]}
        double.put(pod, manager="kubelet")
    return pods


def test_verify_runs_privileged_pods_reads_results_and_deletes_them(apiserver):
    seed_pool(apiserver)
    seed_nodes(apiserver, ["worker-1", "worker-2"])
    seed_nodes(apiserver, ["master-0"], role="master")
    with connect(apiserver) as conn:
        thread, box = run_in_thread(lambda: cluster_verify.verify(conn, [MACHINECONFIG], modules=["simple-kmod"],
                                                          timeout=10, poll=0.1))
        pods = finish_pods(apiserver, {"worker-1": ("loaded simple_kmod\n", "Succeeded", 0),
                                       "worker-2": ("missing simple_kmod\n", "Succeeded", 0)})
        thread.join(10)
    assert "error" not in box, box
    checks = {c.node: c for c in box["value"]}
    assert set(checks) == {"worker-1", "worker-2"}                       # the pool's nodes only
    assert checks["worker-1"].ok and checks["worker-1"].loaded == ["simple_kmod"]
    assert not checks["worker-2"].ok and checks["worker-2"].missing == ["simple_kmod"]
    spec = pods[0]["spec"]
    container = spec["containers"][0]
    assert container["securityContext"]["privileged"] is True and spec["activeDeadlineSeconds"] <= 60
    assert container["command"][-1] == "simple_kmod" and "chroot /host lsmod" in container["command"][2]
    assert spec["volumes"][0]["hostPath"]["path"] == "/"
    assert apiserver.objects(kind="Pod") == []                                # pods removed
    left = apiserver.get("v1", "Namespace", cluster_verify.VERIFY_NAMESPACE)   # and the namespace it made
    assert left is None or left["metadata"].get("deletionTimestamp")          # (Terminating for a while)


def test_verify_deletes_pods_on_timeout_and_on_ctrl_c(apiserver):
    seed_pool(apiserver)
    seed_nodes(apiserver, ["worker-1", "worker-2"])
    with connect(apiserver) as conn:
        checks = cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"], timeout=0.3, poll=0.1)
        assert all("no result within" in c.error for c in checks)
        assert apiserver.objects(kind="Pod") == []

        created = []

        def interrupt(message):
            created.append(message)
            if message.startswith("created pod"):
                raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"], timeout=5, poll=0.1, progress=interrupt)
    # (the first run's namespace may still be Terminating: the second run waits for it to go)
    created = [m for m in created if "is being deleted (Terminating" not in m]
    assert created[0].startswith("created pod") and any(m.startswith("deleted pod") for m in created)
    assert apiserver.objects(kind="Pod") == []


# --- the CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `kmwizard ...` with hand-written manifests in place of the renderer's."""
    from kmwizard import cli as cli_module
    from kmwizard.cluster import commands

    def run(argv, manifests):
        monkeypatch.setattr(commands, "render_manifests", lambda answers: copy.deepcopy(manifests))
        code = cli_module.main(argv)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_cli_apply_dry_run_apply_and_diff(apiserver, cli):
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    code, out, err = cli(["apply", "--dry-run=server", *kc], KMM_SET)
    assert code == 0 and "would be created" in err and "nothing was changed" in err
    assert f"cluster: {apiserver.url}" in err and "context: double" in err and "user: double-user" in err
    assert apiserver.objects(namespace="drivers") == []

    code, out, err = cli(["diff", *kc], KMM_SET)
    assert code == 1 and "+++ applied/Module/drivers/demo" in out and PULL_SECRET_VALUE not in out

    code, out, err = cli(["apply", *kc], KMM_SET)
    assert code == 0 and "applied: 4 changed, 0 unchanged" in err
    code, out, err = cli(["apply", *kc], KMM_SET)
    assert code == 0 and "applied: 0 changed, 4 unchanged" in err
    code, out, err = cli(["diff", *kc], KMM_SET)
    assert (code, out) == (0, "")
    for text in (out, err):
        assert ADMIN_TOKEN not in text and PULL_SECRET_VALUE not in text


def test_cli_exit_codes_for_cluster_errors(apiserver, cli):
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    other = copy.deepcopy(MODULE)
    cli(["apply", *kc], KMM_SET)
    other["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] = "x"
    conn = connect(apiserver)
    conn.resource(KMM, "Module").server_side_apply(body=other, name="demo", namespace="drivers",
                                                   field_manager="someone-else", force_conflicts=True)
    conn.close()
    code, out, err = cli(["apply", *kc], KMM_SET)
    assert code == 3 and "someone-else" in err and "--force-conflicts" in err and "nothing was applied" in err
    code, out, err = cli(["diff", *kc], KMM_SET)
    assert code == 3
    code, out, err = cli(["apply", "--force-conflicts", *kc], KMM_SET)
    assert code == 0
    apiserver.stop()
    code, out, err = cli(["apply", *kc], KMM_SET)
    assert code == 3 and "cannot connect to" in err and "Traceback" not in err


def test_cli_machineconfig_needs_confirmation_without_a_terminal(apiserver, cli):
    seed_pool(apiserver, machine_count=3, updated=3, with_mc=False)
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    code, out, err = cli(["apply", *kc], [MACHINECONFIG])
    assert code == 2 and "drain and reboot every node of pool worker, one at a time: 3 node(s)" in err
    assert "--yes" in err and apiserver.get(MCO, "MachineConfig", "99-worker-demo") is None
    code, out, err = cli(["apply", "--yes", *kc], [MACHINECONFIG])
    assert code == 0 and apiserver.get(MCO, "MachineConfig", "99-worker-demo") is not None
    code, out, err = cli(["apply", *kc], [MACHINECONFIG])       # unchanged: no reboot, no question
    assert code == 0 and "reboot" not in err


def test_cli_wait_timeout_exit_code_and_pending(apiserver, cli):
    seed_pool(apiserver, machine_count=3, updated=1)
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    code, out, err = cli(["apply", "--yes", "--wait", "--timeout", "1", "--poll", "1", *kc], [MACHINECONFIG])
    assert code == 3 and "timed out after 1 s; still pending" in err and "2 of 3 nodes" in err
    assert "pool worker: 1/3 nodes updated" in err


def test_no_test_reads_the_real_kubeconfig(apiserver, tmp_path, monkeypatch):
    import os

    # the fixture moved HOME and KUBECONFIG into tmp_path
    assert os.environ["KUBECONFIG"].startswith(str(tmp_path)) and os.environ["HOME"].startswith(str(tmp_path))
    assert connection.resolve_kubeconfig() == os.environ["KUBECONFIG"]
    # and an explicit --kubeconfig wins over a broken default one
    (tmp_path / "home" / ".kube").mkdir()
    (tmp_path / "home" / ".kube" / "config").write_text("{not yaml")
    monkeypatch.delenv("KUBECONFIG")
    with connection.connect(str(apiserver.kubeconfig_path)) as conn:
        assert conn.source == str(apiserver.kubeconfig_path)


def test_cli_with_the_real_renderer_apply_diff_status_verify_delete(apiserver_factory, capsys):
    """The kmm-ci preset as rendered by kmwizard itself, end to end through every command."""
    from apiserver_double import DEFAULT_NAMESPACES
    from kmwizard.cli import main

    double = apiserver_factory(namespaces=DEFAULT_NAMESPACES + ("openshift-kmm",))
    seed_nodes(double, ["worker-1"])
    kc = ["--preset", "kmm-ci", "--kubeconfig", str(double.kubeconfig_path)]

    def run(*argv):
        code = main(list(argv) + kc)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("apply")
    assert code == 0, err
    assert "ConfigMap openshift-kmm/kmm-ci-dockerfile" in err and "Module openshift-kmm/kmm-ci" in err
    module = double.get(KMM, "Module", "kmm-ci", "openshift-kmm")
    assert module["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmwizard"
    assert run("apply")[2].count("unchanged") >= 2
    assert run("diff")[0] == 0
    code, out, err = run("diff", "--set", "kmm.image_pull_policy=Always")
    assert code == 1 and "+      imagePullPolicy: Always" in out, out + err

    code, out, err = run("status")
    assert code == 0 and "Module openshift-kmm/kmm-ci" in out and "managed by kmwizard, in sync" in out

    thread, box = run_in_thread(lambda: main(["verify", "--timeout", "10"] + kc))
    finish_pods(double, {"worker-1": ("loaded kmm_ci_a\nloaded kmm_ci_b\n", "Succeeded", 0)})
    thread.join(15)
    assert box.get("value") == 0, box
    out, err = capsys.readouterr()
    assert "worker-1: loaded kmm_ci_a, kmm_ci_b" in out and "PRIVILEGED" in err
    assert double.objects(kind="Pod") == []

    code, out, err = run("delete")
    assert code == 0 and double.get(KMM, "Module", "kmm-ci", "openshift-kmm") is None
    assert double.get("v1", "Namespace", "openshift-kmm") is not None


def test_cli_with_the_real_kvc_renderer_asks_before_rebooting(apiserver, capsys, tmp_path):
    """A KVC MachineConfig rendered by kmwizard from a small fakeroot: dry run, the reboot guard, apply,
    idempotent re-apply, delete."""
    from kmwizard.cli import main

    seed_pool(apiserver, machine_count=3, updated=3)
    conf = tmp_path / "fakeroot" / "etc" / "kvc" / "simple-kmod.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('KMOD_CONTAINER_BUILD_CONTEXT="https://github.com/kmods-via-containers/kvc-simple-kmod.git"\n'
                    'KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\nKMOD_SOFTWARE_VERSION=dd1a7d4\n'
                    'KMOD_NAMES="simple-kmod simple-procfs-kmod"\n')
    args = ["--set", f"kvc.fakeroot={conf.parents[2]}", "--kubeconfig", str(apiserver.kubeconfig_path)]

    def run(*argv):
        code = main(list(argv) + args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("apply", "--dry-run=server")
    assert code == 0 and "MachineConfig 99-worker-kvc-simple-kmod" in err and "would be created" in err
    code, out, err = run("apply")
    assert code == 2 and "one at a time: 3 node(s)" in err
    assert apiserver.objects(kind="MachineConfig") == []
    assert run("apply", "--yes")[0] == 0
    mc = apiserver.get(MCO, "MachineConfig", "99-worker-kvc-simple-kmod")
    assert mc["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kmwizard",
                                        "machineconfiguration.openshift.io/role": "worker"}
    code, out, err = run("apply")
    assert code == 0 and "unchanged" in err and "reboot" not in err
    assert run("delete", "--yes")[0] == 0 and apiserver.objects(kind="MachineConfig") == []


def seed_versions(double):
    double.put({"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion", "metadata": {"name": "version"},
                "spec": {"clusterID": "0b6c5a3e-0000-4000-8000-000000000000"},
                "status": {"desired": {"version": "4.17.1"},
                           "history": [{"state": "Partial", "version": "4.17.1"},
                                       {"state": "Completed", "version": "4.16.9"}]}})
    double.put({"apiVersion": "operators.coreos.com/v1alpha1", "kind": "ClusterServiceVersion",
                "metadata": {"name": "kernel-module-management.v2.4.1", "namespace": "openshift-kmm"},
                "spec": {"version": "2.4.1", "displayName": "Kernel Module Management"}})


def test_discover_reads_openshift_and_kmm_versions(apiserver_factory, tmp_path, capsys):
    from apiserver_double import DEFAULT_CRDS, DEFAULT_NAMESPACES
    from kmwizard.cli import main

    double = apiserver_factory(crds=DEFAULT_CRDS | {"clusterversions", "clusterserviceversions"},
                               namespaces=DEFAULT_NAMESPACES + ("openshift-kmm",))
    seed_versions(double)
    with connect(double) as conn:
        facts = discovery.discover(conn)
    assert (facts.openshift, facts.kmm_installed) == (True, True)
    assert (facts.openshift_version, facts.kmm_version) == ("4.16.9", "2.4.1") and facts.findings == []

    # a user who may read the operator's namespace only still gets the KMM version
    double.add_token("ns-reader", "ns-reader", rules=[("get", "config.openshift.io", "clusterversions", ""),
                                                       ("list", "operators.coreos.com", "*", "openshift-kmm")])
    with connection.connect(str(double.write_kubeconfig(tmp_path / "ns", token="ns-reader"))) as conn:
        assert discovery.discover(conn).kmm_version == "2.4.1"
    double.add_token("nobody", "nobody")
    with connection.connect(str(double.write_kubeconfig(tmp_path / "none", token="nobody"))) as conn:
        facts = discovery.discover(conn)
    assert facts.openshift_version is None and facts.kmm_version is None
    assert {f.code for f in facts.findings} == {"cluster-version-unread", "cluster-kmm-version-unread"}

    # answers that leave the versions open get the cluster's (the presets pin openshift_version: theirs wins)
    code = main(["apply", "--dry-run=server", "--set", "method=kmm", "--kubeconfig", str(double.kubeconfig_path)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: openshift_version=4.16 (from the cluster)" in err
    assert "note: kmm.kmm_version=2.4 (from the cluster)" in err
    code = main(["apply", "--dry-run=server", "--preset", "kmm-ci", "--kubeconfig", str(double.kubeconfig_path)])
    err = capsys.readouterr().err
    assert code == 0 and "note: openshift_version=4.16" not in err and "kmm.kmm_version=2.4 (from the cluster)" in err
    assert "warning: openshift_version: the cluster runs OpenShift 4.16.9" in err   # the pin differs: said


def test_cli_reports_applied_and_not_applied_after_a_failure(apiserver, cli, monkeypatch):
    """The dry run passes, then the server fails during the real apply (a fault injected between the two)."""
    def fault_after_plan(conn, results):
        apiserver.fail_next(method="PATCH", path="/modules/demo", status=500, message="etcdserver: request timed out")
        return []
    monkeypatch.setattr(changes, "reboot_warnings", fault_after_plan)
    code, out, err = cli(["apply", "--kubeconfig", str(apiserver.kubeconfig_path)], KMM_SET)
    assert code == 3 and "etcdserver: request timed out" in err
    assert "applied: Namespace drivers, Secret drivers/demo-pull, ConfigMap drivers/demo-dockerfile\n" in err
    assert "not applied: Module drivers/demo\n" in err
    assert apiserver.get(KMM, "Module", "demo", "drivers") is None


def test_wait_after_delete_follows_the_module_unload(apiserver):
    with connect(apiserver) as conn:
        changes.apply(conn, KMM_SET)
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {
            "node-role.kubernetes.io/worker": "", "kmm.node.kubernetes.io/drivers.demo.ready": ""}}}
        apiserver.put(node)
        changes.delete(conn, [MODULE])
        state = watch.watch_rollout(conn, [MODULE], removed=True, timeout=1, poll=1)
        assert not state[0].done and state[0].pending == ["KMM has not unloaded the module from worker-1 yet"]
        del node["metadata"]["labels"]["kmm.node.kubernetes.io/drivers.demo.ready"]
        apiserver.put(node, manager="kmm-operator")
        assert watch.watch_rollout(conn, [MODULE], removed=True, timeout=5, poll=1)[0].done


def test_adding_a_version_to_an_applied_module_is_refused_before_anything_is_sent(apiserver):
    """KMM's webhook rejects adding or removing moduleLoader.container.version on an existing Module;
    the double has no webhook, so only kmwizard's own check can stop it (docs: kmm.md)."""
    with connect(apiserver) as conn:
        assert changes.apply(conn, KMM_SET).ok
        versioned = copy.deepcopy(MODULE)
        versioned["spec"]["moduleLoader"]["container"]["version"] = "v2"
        n = len(patches(apiserver))
        report = changes.plan(conn, [versioned, DOCKERFILE, PULL_SECRET, NAMESPACE])
        assert isinstance(report.error, E.Invalid) and "version" in report.error.message
        assert "delete and recreate" in report.error.fix
        assert [r.action for r in report.results][-1] == "failed"
        assert len(patches(apiserver)) == n + 3, "the Module itself is never sent"
        assert "version" not in apiserver.get(KMM, "Module", "demo", "drivers")["spec"]["moduleLoader"]["container"]


def test_cli_status_diff_and_delete_work_after_a_needed_secret_went_away(apiserver, cli):
    """The missing-reference preflight protects an apply; it must not lock the user out of looking at
    or removing a Module whose pull Secret was deleted since."""
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    apiserver.put(NAMESPACE)
    apiserver.put(PULL_SECRET)
    without_secret = [MODULE, DOCKERFILE]
    code, out, err = cli(["apply", *kc], without_secret)
    assert code == 0, err
    apiserver.remove("v1", "Secret", "demo-pull", "drivers")
    code, out, err = cli(["apply", *kc], without_secret)
    assert code == 3 and "demo-pull" in err and "nothing was changed" in err  # still refused
    code, out, err = cli(["status", *kc, "--set", "method=kmm"], without_secret)
    assert code == 0 and "demo-pull" in err and "Module drivers/demo" in err
    code, out, err = cli(["diff", *kc], without_secret)
    assert code == 0 and "demo-pull" in err
    code, out, err = cli(["delete", *kc], without_secret)
    assert code == 0 and apiserver.get(KMM, "Module", "demo", "drivers") is None


def test_cli_verify_says_when_nodes_could_not_be_checked(apiserver, cli):
    """Pods that never report (nothing runs them in the double) are not 'module not loaded' nodes."""
    seed_pool(apiserver)
    apiserver.put({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": "w0", "labels": {"node-role.kubernetes.io/worker": ""}}})
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    code, out, err = cli(["verify", "--timeout", "1", "--module", "demo", *kc], [MACHINECONFIG])
    assert code == 4 and "w0: ERROR could not check" in out    # its own exit code, apart from "not loaded" (1)
    assert "0/1 node(s) have the module loaded; 1 could not be checked" in err


def test_include_namespaces_deletes_only_namespaces_kmwizard_created(apiserver):
    """A namespace that existed before (the user's, with their workloads) gets kmwizard's label when the
    manifests carry it; deleting it would delete everything in it, so only one kmwizard created goes."""
    theirs = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    apiserver.put(theirs)
    with connect(apiserver) as conn:
        assert changes.apply(conn, KMM_SET + [theirs]).ok
        again = changes.apply(conn, KMM_SET + [theirs])            # the mark survives a second apply
        assert [r.action for r in again.results] == ["unchanged"] * 5
        report = changes.delete(conn, KMM_SET + [theirs], include_namespaces=True)
    actions = {str(r.ref): r.action for r in report.results}
    assert actions["Namespace drivers"] == "deleted" and actions["Namespace team"] == "kept"
    assert "existed before kmwizard" in next(r.note for r in report.results if r.ref.name == "team")
    assert apiserver.get("v1", "Namespace", "team") is not None
