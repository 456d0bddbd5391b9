"""``kmwizard status --explain``: the first broken link of the chain, for KMM and for KVC.

The cluster state is played into the double as the operators leave it: KMM's Module status
(internal/controllers/module_reconciler.go updateModuleLoaderStatus), NodeModulesConfig spec/status
(api/v1beta1/nodemodulesconfig_types.go), ModuleImagesConfig image states (moduleimagesconfig_types.go),
worker pods named kmm-worker-<node>-<module> (internal/pod/workerpodmanager.go WorkerPodName); the MCO's
pool target/status configuration (pkg/controller/node/status.go) and the daemon's node annotations
(machineconfiguration.openshift.io/state, reason, currentConfig, desiredConfig).
"""
from __future__ import annotations

import copy

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard.cluster import changes, explain
from test_cluster_apply import KMM, KMM_SET, MACHINECONFIG, MCO, MODULE, cli, connect  # noqa: F401

KMM_CRDS = {"machineconfigs", "machineconfigpools", "modules", "nodemodulesconfigs", "moduleimagesconfigs"}
KERNEL = "5.14.0-427.el9.x86_64"
IMAGE = f"quay.io/acme/demo:{KERNEL}"


def node(double, name, kernel=KERNEL, ready=False):
    labels = {"node-role.kubernetes.io/worker": ""}
    if ready:
        labels["kmm.node.kubernetes.io/drivers.demo.ready"] = ""
    double.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                "status": {"nodeInfo": {"kernelVersion": kernel}}})


def module_status(double, matching, desired, available):
    module = double.get(KMM, "Module", "demo", "drivers")
    module["status"] = {"moduleLoader": {"nodesMatchingSelectorNumber": matching, "desiredNumber": desired,
                                         "availableNumber": available}}
    double.put(module, manager="kmm")


def nmc(double, node_name, spec_image, status_image=None):
    config = {"kernelVersion": KERNEL, "containerImage": spec_image, "modprobe": {"moduleName": "demo"}}
    entry = {"name": "demo", "namespace": "drivers", "config": config}
    status = [{"name": "demo", "namespace": "drivers", "config": {**config, "containerImage": status_image}}] \
        if status_image else []
    double.put({"apiVersion": KMM, "kind": "NodeModulesConfig", "metadata": {"name": node_name},
                "spec": {"modules": [entry]}, "status": {"modules": status}}, manager="kmm")


def only(results):
    assert len(results) == 1
    return results[0]


def test_kmm_worker_pod_failing_is_the_first_broken_link(apiserver_factory):
    double = apiserver_factory(crds=KMM_CRDS)
    with connect(double) as conn:
        assert changes.apply(conn, KMM_SET).ok
        node(double, "worker-1")
        module_status(double, 1, 1, 0)
        double.put({"apiVersion": KMM, "kind": "ModuleImagesConfig", "metadata": {"name": "demo", "namespace": "drivers"},
                    "spec": {"images": [{"image": IMAGE, "kernelVersion": KERNEL}]},
                    "status": {"imagesStates": [{"image": IMAGE, "status": "Exists"}]}}, manager="kmm")
        nmc(double, "worker-1", IMAGE)     # asked for, not loaded
        double.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "kmm-worker-worker-1-demo", "namespace": "drivers",
            "labels": {"kmm.node.kubernetes.io/module.name": "demo", "app.kubernetes.io/component": "worker"}},
            "spec": {"nodeName": "worker-1", "containers": [{"name": "worker", "image": "kmm-worker"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "worker", "state": {"terminated": {
                "exitCode": 1, "reason": "Error"}}}]}})
        double.set_pod_log("drivers", "kmm-worker-worker-1-demo", "modprobe: FATAL: Module demo not found\n")
        ex = only(explain.explain(conn, [MODULE], timeout=30))
    assert [link.ok for link in ex.links][:3] == [True, True, True]   # status reported; mappings; images
    assert "1 should load the module, 0 have it loaded" in ex.links[0].detail
    node_link = next(link for link in ex.links if link.what == "node worker-1")
    assert ex.broken is node_link
    assert node_link.ok is False and f"has not loaded {IMAGE}" in node_link.detail
    assert any("exited 1" in e for e in node_link.evidence)
    assert "log: modprobe: FATAL: Module demo not found" in node_link.evidence
    text = "\n".join(explain.format_explanation(ex))
    assert "first broken link: node worker-1: the worker pod has not loaded" in text


def test_kmm_node_without_a_kernel_mapping_is_named(apiserver_factory):
    double = apiserver_factory(crds=KMM_CRDS)
    module = copy.deepcopy(MODULE)
    module["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["regexp"] = r"^5\.14\..*el9"
    with connect(double) as conn:
        assert changes.apply(conn, [module, *KMM_SET[1:]]).ok
        node(double, "worker-1", ready=True)
        node(double, "worker-rt", kernel="6.12.0-55.el10.x86_64+rt")
        module_status(double, 2, 1, 1)
        nmc(double, "worker-1", IMAGE, IMAGE)
        ex = only(explain.explain(conn, [module], timeout=30))
    mappings = next(link for link in ex.links if link.what == "kernel mappings")
    assert mappings.ok is False and "skips these nodes silently" in mappings.detail
    assert mappings.evidence == ["node worker-rt: kernel 6.12.0-55.el10.x86_64+rt matches no kernelMapping"]
    assert ex.broken is mappings
    assert next(link for link in ex.links if link.what == "node worker-1").ok is True
    rt = next(link for link in ex.links if link.what == "node worker-rt")
    assert rt.ok is False and "kernel 6.12.0-55.el10.x86_64+rt has no mapping" in rt.detail


def test_kmm_missing_image_names_the_registry(apiserver_factory):
    double = apiserver_factory(crds=KMM_CRDS)
    module = copy.deepcopy(MODULE)
    del module["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["build"]
    with connect(double) as conn:
        assert changes.apply(conn, [module, *KMM_SET[1:]]).ok
        node(double, "worker-1")
        module_status(double, 1, 0, 0)
        double.put({"apiVersion": KMM, "kind": "ModuleImagesConfig", "metadata": {"name": "demo", "namespace": "drivers"},
                    "spec": {"images": [{"image": IMAGE, "kernelVersion": KERNEL}]},
                    "status": {"imagesStates": [{"image": IMAGE, "status": "DoesNotExist"}]}}, manager="kmm")
        ex = only(explain.explain(conn, [module], timeout=30))
    images = next(link for link in ex.links if link.what == "module images")
    assert images.ok is False and "the registry lacks it" in images.detail
    assert f"image {IMAGE}: DoesNotExist" in images.evidence


def test_kmm_without_status_says_the_operator_is_not_running(apiserver):
    with connect(apiserver) as conn:
        assert changes.apply(conn, KMM_SET).ok
        ex = only(explain.explain(conn, [MODULE], timeout=10))
    assert ex.broken.what == "Module status" and "KMM has written no status" in ex.broken.detail


def test_kvc_degraded_node_is_the_first_broken_link(apiserver, cli):
    kc = ["--kubeconfig", str(apiserver.kubeconfig_path)]
    with connect(apiserver) as conn:
        assert changes.apply(conn, [MACHINECONFIG]).ok
    refs = [{"apiVersion": MCO, "kind": "MachineConfig", "name": n} for n in ("00-worker", "99-worker-demo")]
    apiserver.put({"apiVersion": MCO, "kind": "MachineConfigPool", "metadata": {"name": "worker"},
                   "spec": {"nodeSelector": {"matchLabels": {"node-role.kubernetes.io/worker": ""}},
                            "configuration": {"name": "rendered-worker-new", "source": refs}},
                   "status": {"machineCount": 1, "updatedMachineCount": 0, "degradedMachineCount": 1,
                              "configuration": {"name": "rendered-worker-old", "source": refs[:1]},
                              "conditions": [{"type": "NodeDegraded", "status": "True", "reason": "1 nodes are "
                                              "reporting degraded status on sync", "message": "Node worker-1 is "
                                              "reporting: \"unexpected on-disk state\""}]}},
                  manager="machine-config-controller")
    apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "worker-1", "labels": {"node-role.kubernetes.io/worker": ""}, "annotations": {
            "machineconfiguration.openshift.io/state": "Degraded",
            "machineconfiguration.openshift.io/reason": "unexpected on-disk state validating against rendered-worker-new",
            "machineconfiguration.openshift.io/currentConfig": "rendered-worker-old",
            "machineconfiguration.openshift.io/desiredConfig": "rendered-worker-new"}}})
    with connect(apiserver) as conn:
        ex = only(explain.explain(conn, [MACHINECONFIG], timeout=10))
    assert [link.what for link in ex.links] == ["MachineConfig 99-worker-demo", "pool worker rendered config",
                                                "pool worker rollout", "node worker-1"]
    assert ex.links[1].ok is True and "rendered-worker-new contains 99-worker-demo" in ex.links[1].detail
    assert ex.broken.what == "pool worker rollout" and any("NodeDegraded" in e for e in ex.broken.evidence)
    node_link = ex.links[3]
    assert node_link.ok is False and "MCD state Degraded" in node_link.detail
    assert "reason: unexpected on-disk state" in node_link.evidence[0]
    code, out, err = cli(["status", "--explain", *kc, "--set", "method=kvc"], [MACHINECONFIG])
    assert code == 1 and "first broken link: pool worker rollout" in out


def test_kvc_not_yet_rendered(apiserver):
    with connect(apiserver) as conn:
        assert changes.apply(conn, [MACHINECONFIG]).ok
        apiserver.put({"apiVersion": MCO, "kind": "MachineConfigPool", "metadata": {"name": "worker"},
                       "spec": {"configuration": {"name": "rendered-worker-old", "source": [
                           {"apiVersion": MCO, "kind": "MachineConfig", "name": "00-worker"}]}},
                       "status": {"conditions": [{"type": "RenderDegraded", "status": "True",
                                                  "message": "ignition version 9.9.9 unsupported"}]}})
        ex = only(explain.explain(conn, [MACHINECONFIG], timeout=10))
    assert ex.broken.what == "pool worker rendered config"
    assert "does not contain 99-worker-demo: RenderDegraded: ignition version 9.9.9" in ex.broken.detail


def test_kvc_journal_through_a_short_lived_pod(apiserver):
    """--journal: a privileged pod reads the journal on the first node, hands it back, and is removed."""
    import threading
    import time

    with connect(apiserver) as conn:
        assert changes.apply(conn, [MACHINECONFIG]).ok
        refs = [{"apiVersion": MCO, "kind": "MachineConfig", "name": "99-worker-demo"}]
        apiserver.put({"apiVersion": MCO, "kind": "MachineConfigPool", "metadata": {"name": "worker"},
                       "spec": {"nodeSelector": {"matchLabels": {"node-role.kubernetes.io/worker": ""}},
                                "configuration": {"name": "r1", "source": refs}},
                       "status": {"machineCount": 1, "updatedMachineCount": 1, "configuration": {"name": "r1"}}})
        apiserver.put({"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": "worker-1", "labels": {"node-role.kubernetes.io/worker": ""}, "annotations": {
                "machineconfiguration.openshift.io/state": "Done",
                "machineconfiguration.openshift.io/currentConfig": "r1",
                "machineconfiguration.openshift.io/desiredConfig": "r1"}}})
        journal = "kmods-via-containers@demo.service: build failed: no kernel-devel for 5.14.0\n"

        def kubelet():   # the simulated part: finish the journal pod with what its script would write
            for _ in range(200):
                pods = apiserver.objects(kind="Pod", namespace="kmwizard-verify")
                if pods:
                    pod = pods[0]
                    pod["status"] = {"phase": "Succeeded", "containerStatuses": [{"name": "lsmod", "state": {
                        "terminated": {"exitCode": 0, "message": journal}}}]}
                    apiserver.put(pod)
                    return
                time.sleep(0.05)
        threading.Thread(target=kubelet, daemon=True).start()
        ex = only(explain.explain(conn, [MACHINECONFIG], timeout=20, journal=True))
    link = ex.links[-1]
    assert link.what == "kmods-via-containers journal on worker-1" and link.ok is False
    assert link.evidence == [journal.strip()]
    created = [r for r in apiserver.requests if r.method == "POST" and r.path.endswith("/pods")]
    assert "journalctl" in created[0].body["spec"]["containers"][0]["command"][2]
    assert apiserver.objects(kind="Pod") == []


def test_kmm_pull_pod_that_cannot_pull_is_named(apiserver_factory):
    """No image state yet, the pull pod in ImagePullBackOff: the images link is broken, with the pod's words."""
    double = apiserver_factory(crds=KMM_CRDS)
    with connect(double) as conn:
        assert changes.apply(conn, KMM_SET).ok
        node(double, "worker-1")
        module_status(double, 1, 0, 0)
        double.put({"apiVersion": KMM, "kind": "ModuleImagesConfig", "metadata": {"name": "demo", "namespace": "drivers"},
                    "spec": {"images": [{"image": IMAGE, "kernelVersion": KERNEL}]}}, manager="kmm")
        double.put({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "demo-pull-pod-x1", "namespace": "drivers", "labels": {
                "kmm.node.kubernetes.io/image-owner": "demo", "kmm.node.kubernetes.io/pull-pod-type": "until-success"}},
            "spec": {"containers": [{"name": "puller", "image": IMAGE}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "puller", "state": {"waiting": {
                "reason": "ImagePullBackOff", "message": "Back-off pulling image: unauthorized"}}}]}})
        ex = only(explain.explain(conn, [MODULE], timeout=30))
    images = next(link for link in ex.links if link.what == "module images")
    assert images.ok is False and "a pull, build or sign pod failed" in images.detail
    assert f"image {IMAGE}: not checked yet (pull pod)" in images.evidence
    assert any("ImagePullBackOff: Back-off pulling image: unauthorized" in e for e in images.evidence)
    assert ex.broken is images
