"""The cluster commands against what a real API server does and the recordings do not show (issue 9):
429 with Retry-After, ERROR events in watches, an API server that goes away during --wait, a request
without credentials, Terminating namespaces, PodSecurity, rollouts that are not done although the counts
say so.  The double's side of each is pinned to the apiserver's source in test_apiserver_double_admission.py.
"""
from __future__ import annotations

import copy
import re
import threading
import time

import pytest

from apiserver_double import ADMIN_TOKEN, apiserver, apiserver_factory  # noqa: F401
from kmwizard.cluster import changes, connection, watch
from kmwizard.cluster import errors as E
from kmwizard.cluster import status as cluster_status
from kmwizard.cluster import verify as cluster_verify
from test_cluster_apply import (KMM, KMM_SET, MACHINECONFIG, MCO, MODULE, cli, connect, finish_pods,  # noqa: F401
                                run_in_thread, seed_nodes, seed_pool)


def requests_to(double, fragment, method=None):
    return [r for r in double.requests if fragment in r.path and (method is None or r.method == method)]


# --- 429, retries ---------------------------------------------------------------------------------

def test_429_with_retry_after_is_waited_out_and_said(apiserver):
    heard = []
    with connect(apiserver, notify=heard.append) as conn:
        apiserver.fail_next("throttle", path="/namespaces/drivers", method="GET", retry_after=1)
        report = changes.apply(conn, KMM_SET)
    assert report.ok, report.error
    throttled = [r for r in apiserver.requests if r.status == 429]
    assert len(throttled) == 1
    assert heard and "Namespace drivers" in heard[0] and "asked to retry later; retrying in 1 s" in heard[0]


def test_429_during_discovery_at_connect_is_retried(apiserver):
    apiserver.fail_next("throttle", path="/apis", method="GET", retry_after=1)
    with connect(apiserver) as conn:
        assert conn.resource(KMM, "Module")


def test_429_that_outlasts_the_timeout_says_what_was_read(apiserver):
    with connect(apiserver, retry_for=1.5) as conn:
        apiserver.fail_next("throttle", path="/namespaces/drivers", method="GET", retry_after=1, times=10)
        report = changes.apply(conn, KMM_SET)
    assert isinstance(report.error, E.Retryable) and not report.applied
    message = report.error.message
    assert "reading Namespace drivers" in message and "asked to retry later (HTTP 429" in message
    assert "still so after retrying for" in message


# --- credentials ---------------------------------------------------------------------------------

def test_no_credentials_says_not_logged_in(apiserver, tmp_path, cli):
    path = apiserver.write_kubeconfig(tmp_path / "anon", token=None)
    with pytest.raises(E.NotLoggedIn) as info:
        connection.connect(str(path))
    assert "you are not logged in (no token or certificate was sent)" in info.value.message
    assert "system:anonymous" in info.value.message and "oc login" in info.value.fix
    assert "admin" not in info.value.fix
    code, out, err = cli(["status", "--kubeconfig", str(path)], [])
    assert code == 3 and "you are not logged in" in err


# --- Terminating namespaces ------------------------------------------------------------------------

def test_apply_into_a_terminating_namespace_says_so(apiserver_factory, cli):
    double = apiserver_factory(namespace_terminating_seconds=None)
    double.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drivers"}})
    double.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep", "namespace": "drivers"}})
    with connect(double) as conn:
        conn.call(conn.resource("v1", "Namespace").delete, name="drivers")
        report = changes.apply(conn, KMM_SET)
    assert isinstance(report.error, E.NamespaceTerminating)
    assert "namespace drivers is being deleted (Terminating)" in report.error.message
    assert "oc get namespace drivers" in report.error.fix and "rights" not in report.error.message
    # the CLI waits (here --timeout 1) for the namespace to go, then says it is still Terminating
    code, out, err = cli(["apply", "--timeout", "1", "--kubeconfig", str(double.kubeconfig_path)], [MODULE])
    assert code == 3 and "waiting up to 1 s" in err
    assert "error: namespace drivers: namespace drivers is being deleted (Terminating)" in err
    assert "ask a cluster admin" not in err


def test_apply_right_after_deleting_the_namespace_waits_for_it_to_go(apiserver_factory, cli):
    """delete --include-namespaces, then apply again at once: the namespace is still Terminating."""
    double = apiserver_factory(namespace_terminating_seconds=1.0)
    kc = ["--kubeconfig", str(double.kubeconfig_path)]
    assert cli(["apply", *kc], KMM_SET)[0] == 0
    code, _, err = cli(["delete", "--include-namespaces", *kc], KMM_SET)
    assert code == 0 and double.get("v1", "Namespace", "drivers")["status"]["phase"] == "Terminating"
    code, _, err = cli(["apply", *kc], KMM_SET)
    assert code == 0, err
    assert "namespace drivers is being deleted (Terminating); waiting" in err
    assert double.get(KMM, "Module", "demo", "drivers") is not None


def test_verify_twice_in_a_row_waits_for_its_terminating_namespace(apiserver):
    """The first run deletes kmwizard-verify; the second finds it Terminating and waits for it to go."""
    seed_pool(apiserver)
    seed_nodes(apiserver, ["worker-1"])
    heard = []
    with connect(apiserver) as conn:
        for _ in range(2):
            thread, box = run_in_thread(lambda: cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"],
                                                                      timeout=10, poll=0.05, progress=heard.append))
            finish_pods(apiserver, {"worker-1": ("loaded demo\n", "Succeeded", 0)})
            thread.join(10)
            assert "error" not in box, box
            assert box["value"][0].ok
    assert any("is being deleted (Terminating" in m for m in heard)


# --- PodSecurity -------------------------------------------------------------------------------

def test_verify_in_a_restricted_namespace_names_pod_security(apiserver):
    """A kmwizard-verify namespace someone made without the privileged label: admission refuses the pod."""
    seed_pool(apiserver)
    seed_nodes(apiserver, ["worker-1"])
    apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": cluster_verify.VERIFY_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    with connect(apiserver) as conn:
        with pytest.raises(E.PodSecurityRejected) as info:
            cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"], timeout=2, poll=0.05)
    assert 'violates PodSecurity "restricted:latest"' in info.value.message
    assert "pod-security.kubernetes.io/enforce=privileged" in info.value.fix


# --- verify: nodes --------------------------------------------------------------------------------

def test_verify_unknown_node_is_an_error_at_once(apiserver):
    from kmwizard.findings import UsageError

    seed_nodes(apiserver, ["worker-1"])
    with connect(apiserver) as conn:
        with pytest.raises(UsageError) as info:
            cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"], nodes=["worker-9"], timeout=60)
    assert "--node worker-9: no such node" in info.value.message
    assert apiserver.objects(kind="Pod") == []


def test_verify_explains_a_not_ready_node_without_waiting(apiserver):
    seed_pool(apiserver)
    seed_nodes(apiserver, ["worker-1"])
    apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "worker-2", "labels": {"node-role.kubernetes.io/worker": ""}}, "status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
             "message": "Kubelet stopped posting node status.", "lastTransitionTime": "2026-12-01T08:00:00Z"}]}})
    with connect(apiserver) as conn:
        thread, box = run_in_thread(lambda: cluster_verify.verify(conn, [MACHINECONFIG], modules=["demo"],
                                                                  timeout=10, poll=0.05))
        finish_pods(apiserver, {"worker-1": ("loaded demo\n", "Succeeded", 0)})
        thread.join(10)
    checks = {c.node: c for c in box["value"]}
    assert checks["worker-1"].ok
    assert checks["worker-2"].error.startswith("could not check: node worker-2 is Unknown")
    assert "Kubelet stopped posting node status" in checks["worker-2"].error


# --- --wait: MachineConfig and Module updates --------------------------------------------------------

def rendered_pool(double, name, sources, machines=2, running=None):
    """A pool as the MCO leaves it: target rendered config ``name`` and, once every machine runs it,
    the same in status (pkg/controller/node/status.go calculateStatus)."""
    running = running or name
    refs = [{"apiVersion": MCO, "kind": "MachineConfig", "name": s} for s in sources]
    done = running == name
    return double.put({
        "apiVersion": MCO, "kind": "MachineConfigPool", "metadata": {"name": "worker"},
        "spec": {"nodeSelector": {"matchLabels": {"node-role.kubernetes.io/worker": ""}},
                 "configuration": {"name": name, "source": refs}},
        "status": {"machineCount": machines, "updatedMachineCount": machines if done else 0,
                   "readyMachineCount": machines, "unavailableMachineCount": 0,
                   "configuration": {"name": running, "source": refs if done else refs[:-1]},
                   "conditions": [{"type": "Updated", "status": "True" if done else "False"},
                                  {"type": "Updating", "status": "False" if done else "True"}]}},
        manager="machine-config-controller")


def test_wait_after_changing_a_machineconfig_the_pool_already_has(apiserver):
    """The pool lists the MachineConfig and every node is updated, but to the config from before the
    change: not done until the MCO renders a newer config and the machines run it."""
    sources = ["00-worker", "99-worker-demo"]
    with connect(apiserver) as conn:
        changes.apply(conn, [MACHINECONFIG])
        rendered_pool(apiserver, "rendered-worker-aaa", sources)
        changed = copy.deepcopy(MACHINECONFIG)
        changed["spec"]["config"]["storage"]["files"][0]["contents"]["source"] = "data:,demo%0Aother%0A"
        base = watch.baseline(conn, [changed])
        assert base.renders == {"worker": "rendered-worker-aaa"}
        report = changes.apply(conn, [changed])
        base = watch.note_changes(base, report.results)
        first = watch.snapshot(conn, [changed], base=base)[0]
        assert not first.done and "still targets rendered-worker-aaa" in " ".join(first.pending)
        rendered_pool(apiserver, "rendered-worker-bbb", sources, running="rendered-worker-aaa")
        rolling = watch.snapshot(conn, [changed], base=base)[0]
        assert not rolling.done and "its machines still run rendered-worker-aaa" in " ".join(rolling.pending)
        rendered_pool(apiserver, "rendered-worker-bbb", sources)
        assert watch.snapshot(conn, [changed], base=base)[0].done
        # a re-apply that changes nothing expects no new render
        again = watch.note_changes(watch.baseline(conn, [changed]), changes.apply(conn, [changed]).results)
        assert not again.changed and watch.snapshot(conn, [changed], base=again)[0].done


def loaded_module(double, image):
    """KMM's view after loading ``image`` on worker-1: Module counts, the ready label, the NodeModulesConfig."""
    module = double.get(KMM, "Module", "demo", "drivers")
    module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": 1, "desiredNumber": 1, "availableNumber": 1}}
    double.put(module, manager="kmm")
    double.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {
        "node-role.kubernetes.io/worker": "", "kmm.node.kubernetes.io/drivers.demo.ready": ""}},
        "status": {"nodeInfo": {"kernelVersion": "5.14.0-427.el9.x86_64"}}})
    config = {"kernelVersion": "5.14.0-427.el9.x86_64", "containerImage": image,
              "modprobe": {"moduleName": "demo"}}
    entry = {"name": "demo", "namespace": "drivers", "config": config}
    double.put({"apiVersion": KMM, "kind": "NodeModulesConfig", "metadata": {"name": "worker-1"},
                "spec": {"modules": [entry]}, "status": {"modules": [entry]}}, manager="kmm")


def test_wait_after_changing_a_loaded_module_follows_the_node_modules_configs(apiserver_factory):
    """KMM counts a node available when its NodeModulesConfig status config equals the spec config
    (internal/controllers/module_reconciler.go updateModuleLoaderStatus): after an update those counts
    are about the old spec until KMM rewrites the NodeModulesConfig spec with the new image."""
    double = apiserver_factory(crds={"machineconfigs", "machineconfigpools", "modules", "nodemodulesconfigs"})
    with connect(double) as conn:
        changes.apply(conn, KMM_SET)
        loaded_module(double, "quay.io/acme/demo:5.14.0-427.el9.x86_64")
        changed = copy.deepcopy(KMM_SET)
        changed[0]["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["containerImage"] = \
            "quay.io/acme/demo-v2:${KERNEL_FULL_VERSION}"
        base = watch.note_changes(watch.baseline(conn, changed), changes.apply(conn, changed).results)
        assert base.changed == {"drivers/demo"}
        # KMM's counts still say 1/1 loaded, for the old image: not done
        prog = watch.snapshot(conn, changed, base=base)[0]
        assert not prog.done and "KMM has not passed the new spec on yet" in " ".join(prog.pending)
        loaded_module(double, "quay.io/acme/demo-v2:5.14.0-427.el9.x86_64")
        assert watch.snapshot(conn, changed, base=base)[0].done


def test_module_update_without_node_modules_configs_is_said_not_followed(apiserver, cli):
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    code, _, err = cli(["apply", *kc], KMM_SET)
    assert code == 0, err
    module = apiserver.get(KMM, "Module", "demo", "drivers")
    module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": 1, "desiredNumber": 1, "availableNumber": 1}}
    apiserver.put(module, manager="kmm")
    apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {
        "kmm.node.kubernetes.io/drivers.demo.ready": ""}}})
    changed = copy.deepcopy(KMM_SET)
    changed[0]["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] = "demo2"
    code, _, err = cli(["apply", "--wait", "--timeout", "5", *kc], changed)
    assert code == 0, err
    assert "the update is not followed (this KMM has no NodeModulesConfig)" in err
    assert "rollout complete as far as kmwizard can follow it" in err and "\nrollout complete\n" not in err


# --- --wait: watch ERROR events, the server going away --------------------------------------------

def test_wait_survives_an_error_event_in_the_watch(apiserver):
    seed_pool(apiserver, updated=1, with_mc=True)
    with connect(apiserver) as conn:
        apiserver.fail_next("watch-error", path="machineconfigpools", status=504)

        def finish():
            time.sleep(0.5)
            seed_pool(apiserver, updated=3, with_mc=True)
        threading.Thread(target=finish, daemon=True).start()
        state = watch.watch_rollout(conn, [MACHINECONFIG], timeout=20, poll=1)
    assert state[0].done
    watches = [r for r in apiserver.requests if r.query.get("watch") == "true"]
    assert len(watches) >= 2          # the ERROR ended one watch; kmwizard read again and watched again


def test_wait_survives_the_api_server_dropping_connections(apiserver):
    """Masters reboot during a master-pool rollout: reads fail for a while, then the server is back."""
    seed_pool(apiserver, updated=1, with_mc=True)
    heard = []
    with connect(apiserver) as conn:
        apiserver.fail_next("close", path="machineconfigpools", times=3)

        def finish():
            time.sleep(1)
            seed_pool(apiserver, updated=3, with_mc=True)
        threading.Thread(target=finish, daemon=True).start()
        state = watch.watch_rollout(conn, [MACHINECONFIG], timeout=30, poll=1, notify=heard.append)
    assert state[0].done
    assert any("closed the connection" in m and "trying again" in m for m in heard), heard


def test_wait_when_the_api_server_is_gone_says_the_apply_succeeded(apiserver, cli):
    seed_pool(apiserver, updated=1, with_mc=False)
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    threading.Timer(1.0, apiserver.stop).start()
    code, _, err = cli(["apply", "--yes", "--wait", "--timeout", "4", *kc], [MACHINECONFIG])
    assert code == 3
    assert "MachineConfig 99-worker-demo" in err and "created" in err
    assert "lost contact with the API server" in err
    assert "the objects were applied (see above); only following the rollout stopped" in err


# --- status -------------------------------------------------------------------------------------

def test_status_shows_an_object_present_when_its_dry_run_fails(apiserver, cli):
    """A conflict with another field manager: the object exists, the dry run fails, the rollout is read."""
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    assert cli(["apply", *kc], KMM_SET)[0] == 0
    with connect(apiserver) as conn:
        theirs = copy.deepcopy(MODULE)
        theirs["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] = "theirs"
        conn.call(conn.resource(KMM, "Module").server_side_apply, body=theirs, name="demo", namespace="drivers",
                  field_manager="someone-else", force_conflicts=True)
        report = cluster_status.status(conn, KMM_SET)
    module = next(o for o in report.objects if o.ref.kind == "Module")
    assert module.present is True and module.in_sync is None
    assert "dry run failed" in module.note and "someone-else" in module.note
    assert [p.target for p in report.rollout] == ["Module drivers/demo"]
    code, out, _ = cli(["status", "--set", "method=kmm", *kc], KMM_SET)
    assert "Module drivers/demo" in out and "managed by kmwizard" in out and "absent" not in out


def test_status_for_a_user_limited_to_the_module_namespace(apiserver, tmp_path, cli):
    """No right to list nodes: the ready labels are skipped, and said so."""
    rules = [(v, g, r, "drivers") for v in ("get", "list", "watch", "patch", "create")
             for g, r in (("kmm.sigs.x-k8s.io", "modules"), ("", "configmaps"), ("", "secrets"), ("", "events"))]
    apiserver.add_token("ns-token", "dev", rules=rules)       # not even the Namespace object is readable
    with connect(apiserver) as admin:
        changes.apply(admin, KMM_SET)
    module = apiserver.get(KMM, "Module", "demo", "drivers")
    module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": 1, "desiredNumber": 1, "availableNumber": 1}}
    apiserver.put(module, manager="kmm")
    path = apiserver.write_kubeconfig(tmp_path / "dev", token="ns-token")
    with connection.connect(str(path)) as conn:
        report = cluster_status.status(conn, [MODULE])
    prog = report.rollout[0]
    assert prog.done and "were not checked (no right to list nodes)" in prog.unfollowed
    code, out, err = cli(["status", "--set", "method=kmm", "--kubeconfig", str(path)], [MODULE])
    assert code == 0, err
    assert "could not check that namespace drivers exists" in err and "Module drivers/demo" in out
    assert "note: Module drivers/demo: the node labels kmm.node.kubernetes.io/drivers.demo.ready were not " \
           "checked (no right to list nodes)" in out


# --- diff / delete / names --------------------------------------------------------------------------

def test_diff_with_force_conflicts_previews_the_forced_apply(apiserver, cli):
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    assert cli(["apply", *kc], KMM_SET)[0] == 0
    with connect(apiserver) as conn:
        theirs = copy.deepcopy(MODULE)
        theirs["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] = "theirs"
        conn.call(conn.resource(KMM, "Module").server_side_apply, body=theirs, name="demo", namespace="drivers",
                  field_manager="someone-else", force_conflicts=True)
    code, out, err = cli(["diff", *kc], KMM_SET)
    assert code == 3 and "conflict" in err
    code, out, err = cli(["diff", "--force-conflicts", *kc], KMM_SET)
    assert code == 1 and "-        moduleName: theirs" in out and "+        moduleName: demo" in out
    assert [r.query.get("force") for r in requests_to(apiserver, "/modules/demo", "PATCH")][-1] == "true"


def test_delete_leaves_objects_kmwizard_took_over(apiserver):
    apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drivers"}})
    apiserver.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo-dockerfile",
                                                                         "namespace": "drivers"},
                   "data": {"dockerfile": "FROM theirs\n"}}, manager="someone-else")
    with connect(apiserver) as conn:
        assert changes.apply(conn, KMM_SET, force_conflicts=True).ok
        report = changes.delete(conn, KMM_SET)
    results = {str(r.ref): r for r in report.results}
    assert results["ConfigMap drivers/demo-dockerfile"].action == "kept"
    assert "taken over" in results["ConfigMap drivers/demo-dockerfile"].note
    assert results["Module drivers/demo"].action == "deleted"
    assert apiserver.get("v1", "ConfigMap", "demo-dockerfile", "drivers") is not None


def test_empty_secret_name_is_a_finding_before_any_object_request(apiserver, cli):
    module = copy.deepcopy(MODULE)
    module["spec"]["imageRepoSecret"] = {"name": ""}
    code, _, err = cli(["apply", "--kubeconfig", str(apiserver.kubeconfig_path)], [module])
    assert code == 1 and "$.spec.imageRepoSecret.name is empty" in err and "retry" not in err
    assert not requests_to(apiserver, "/modules") and not requests_to(apiserver, "/secrets")


# --- rights: asked up front, all at once, least privilege -----------------------------------------

def test_every_missing_right_is_listed_at_once_with_a_least_privilege_grant(apiserver, cli, tmp_path):
    """A user who may read everything and write only Secrets in drivers: one run lists every missing right."""
    rules = [(v, "*", "*", "*") for v in ("get", "list", "watch")] + \
        [(v, "", "secrets", "drivers") for v in ("create", "patch")]
    apiserver.add_token("dev-token", "dev", rules=rules)
    apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drivers"}})
    path = apiserver.write_kubeconfig(tmp_path / "dev", token="dev-token")
    code, _, err = cli(["apply", "--kubeconfig", str(path)], KMM_SET)
    assert code == 3 and "nothing was changed" in err
    assert not [r for r in apiserver.requests if r.method == "PATCH"]            # nothing was tried
    assert err.count("right(s) missing") == 1
    for right in ("patch namespaces (cluster-wide)",
                  "create configmaps in namespace drivers", "patch configmaps in namespace drivers",
                  "create modules.kmm.sigs.x-k8s.io in namespace drivers"):
        assert right in err, right
    assert "secrets in namespace drivers" not in err                               # granted already
    assert "create namespaces" not in err                  # drivers exists: applying it is a patch only
    assert "oc create role kmwizard-drivers --verb=create,patch --resource=configmaps,modules.kmm.sigs.x-k8s.io " \
           "-n drivers" in err and "--user=dev" in err
    assert "delete" not in err.split("fix:")[-1]                                    # apply never deletes


def test_rights_in_a_namespace_that_does_not_exist_yet_go_into_a_clusterrole(apiserver, tmp_path, cli):
    apiserver.add_token("dev-token", "dev", rules=[(v, "*", "*", "*") for v in ("get", "list", "watch")])
    path = apiserver.write_kubeconfig(tmp_path / "dev", token="dev-token")
    code, _, err = cli(["apply", "--kubeconfig", str(path)], [MODULE])
    assert code == 3
    assert "oc create clusterrole kmwizard-drivers --verb=create,patch --resource=modules.kmm.sigs.x-k8s.io && " \
           "(once namespace drivers exists) oc create rolebinding kmwizard-drivers --clusterrole=kmwizard-drivers" in err
    assert "oc create role " not in err


def test_a_read_only_resource_is_never_granted_more_than_reading():
    """A 403 on listing nodes (kmwizard only reads them): the fix grants get,list,watch, not create/patch/delete."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
              "message": 'nodes is forbidden: User "dev" cannot list resource "nodes" in API group "" at the '
                         "cluster scope", "details": {"kind": "nodes"}}
    err = E.from_status(status, code=403, action="listing nodes")
    assert "--verb=get,list,watch --resource=nodes" in err.fix
    assert [v for v in re.findall(r"--verb=(\S+)", err.fix)] == ["get,list,watch"] and "delete" not in err.fix


def test_answers_for_another_kmm_version_than_the_cluster_runs_warn(apiserver_factory, cli):
    from apiserver_double import DEFAULT_CRDS, DEFAULT_NAMESPACES
    from test_cluster_apply import seed_versions

    double = apiserver_factory(crds=DEFAULT_CRDS | {"clusterversions", "clusterserviceversions"},
                               namespaces=DEFAULT_NAMESPACES + ("openshift-kmm",))
    seed_versions(double)
    double.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "drivers"}})
    kc = ["--kubeconfig", str(double.kubeconfig_path)]
    bad = copy.deepcopy(MODULE)
    del bad["spec"]["selector"]          # the cluster's schema refuses it
    code, _, err = cli(["apply", "--dry-run=server", "--set", "method=kmm", "--set", "kmm.kmm_version=2.2", *kc],
                       [*KMM_SET[1:], bad])
    assert "warning: kmm.kmm_version: the cluster runs the KMM operator 2.4.1 (x.y 2.4) but the answers say " \
           "kmm.kmm_version=2.2" in err
    assert code == 3 and "spec.selector" in err and "(this cluster runs KMM 2.4.1, OpenShift 4.16.9" in err


def test_status_without_answers_for_a_user_limited_to_one_namespace(apiserver, tmp_path, cli):
    """No right to list Modules or MachineConfigs cluster-wide: the context's namespace is listed, and said."""
    rules = [(v, "kmm.sigs.x-k8s.io", "modules", "drivers") for v in ("get", "list", "watch")]
    apiserver.add_token("ns-token", "dev", rules=rules)
    with connect(apiserver) as admin:
        changes.apply(admin, KMM_SET)
    path = apiserver.write_kubeconfig(tmp_path / "dev", token="ns-token", namespace="drivers")
    code, out, err = cli(["status", "--kubeconfig", str(path)], [])
    assert code == 0, err
    assert "Module drivers/demo" in out
    assert "note: MachineConfigs skipped: listing MachineConfigs: user dev may not list machineconfigs" in err
    assert "note: Modules: only namespace drivers was listed" in err


def test_apply_that_creates_needs_create_as_well_as_patch(apiserver, tmp_path):
    """Server-side apply of a new object is authorized as create too (endpoints/handlers/patch.go
    withAuthorization), and that refusal names no user or verb: kmwizard says which right is missing."""
    apiserver.add_token("patcher", "dev", rules=[(v, "*", "*", "*") for v in ("get", "list", "watch", "patch")])
    path = apiserver.write_kubeconfig(tmp_path / "dev", token="patcher")
    with connection.connect(str(path)) as conn:
        report = changes.apply(conn, KMM_SET)
    assert isinstance(report.error, E.Forbidden)
    assert "you may not create namespaces" in report.error.message and "create right as well as patch" in \
        report.error.message
    assert "--verb=get,list,watch,create,patch,delete --resource=namespaces" in report.error.fix
    assert apiserver.get("v1", "Namespace", "drivers") is None
