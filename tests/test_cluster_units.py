"""Unit tests of the apply engine's pure parts, judged by answers recorded from a real kube-apiserver.

The transcripts (../shared/reference/apiserver-transcripts) hold the Status bodies, dry-run
results and MachineConfigPool status a real server gave; these tests feed them to the error
translation, the diff and the rollout math.  No cluster, no test double, no kubeconfig.
"""
from __future__ import annotations

import copy
import re
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kmwizard.cluster import errors as E
from kmwizard.cluster.objects import (MASK, ObjectRef, apply_order, delete_order, labelled, mask_pair, masked,
                                      module_references, ref_of, same_content, unified_diff)
from kmwizard.cluster.rollout import module_progress, pool_progress

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TRANSCRIPTS = SHARED / "reference" / "apiserver-transcripts"
ROOT = Path(__file__).resolve().parents[1]


def exchanges(scenario: str) -> list[dict]:
    path = TRANSCRIPTS / f"{scenario}.jsonl"
    if not path.is_file():
        pytest.skip(f"the recorded transcripts are not here ({path} is absent: not in the kmwizard workplace)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def exchange(scenario: str, step_prefix: str, method: str | None = None) -> dict:
    for e in exchanges(scenario):
        if e["step"].startswith(step_prefix) and (method is None or e["request"]["method"] == method):
            return e
    raise AssertionError(f"no exchange {step_prefix!r} in {scenario}")


def client_error(e: dict):
    """The exception the real client raises for a recorded answer (status + body as received)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import api_exception

    exc = ApiException(status=e["response"]["status"], reason="recorded")
    exc.body = json.dumps(e["response"]["body"]).encode()
    exc.headers = {"Content-Type": "application/json"}
    return api_exception(exc)


MODULE_REF = ObjectRef("kmm.sigs.x-k8s.io/v1beta1", "Module", "demo", "drivers")


# --- error translation from recorded Status bodies -----------------------------------------

def test_conflict_names_manager_field_and_force_flag():
    e = exchange("conflict", "server_side_apply(Module demo, field_manager='kmwizard') own version")
    exc = client_error(e)
    assert type(exc).__name__ == "ConflictError"
    err = E.translate(exc, ref=MODULE_REF, action="applying")
    assert isinstance(err, E.ApplyConflict) and err.exit_code == 3
    assert err.owners == {"someone-else": [".spec.moduleLoader.container.modprobe.moduleName"]}
    assert "someone-else" in err.message and ".spec.moduleLoader.container.modprobe.moduleName" in err.message
    assert "--force-conflicts" in err.fix


@pytest.mark.parametrize("step,field", [
    ("server_side_apply(Module without spec.selector)", "spec.selector"),
    ("server_side_apply(Module kernelMapping without containerImage)",
     "spec.moduleLoader.container.kernelMappings[0].containerImage"),
])
def test_invalid_lists_causes_with_field_paths(step, field):
    err = E.translate(client_error(exchange("invalid", step)), ref=MODULE_REF, action="applying")
    assert isinstance(err, E.Invalid)
    assert err.causes == [(field, "Required value")]     # the "<nil>" follow-up cause is dropped
    assert f"{field}: Required value" in err.message and "<nil>" not in err.message


@pytest.mark.parametrize("step,field,words", [
    ("server_side_apply(MachineConfig with kernelArguments", "spec.kernelArguments", "wrong type"),
    ("server_side_apply(Module with unknown field", "spec.moduleLoader.container.modprob", "does not exist"),
])
def test_ssa_500_schema_errors_become_validation_messages(step, field, words):
    e = exchange("invalid", step)
    assert e["response"]["status"] == 500 and "reason" not in e["response"]["body"]
    exc = client_error(e)
    assert type(exc).__name__ == "InternalServerError"
    err = E.translate(exc, ref=MODULE_REF, action="applying")
    assert isinstance(err, E.Invalid)
    assert err.causes[0][0] == field and field in err.message and words in err.message
    assert "failed to create typed patch object" not in err.message


def test_post_strict_unknown_field_400():
    err = E.translate(client_error(exchange("invalid", "create(Module with unknown field, query_params")),
                      ref=MODULE_REF)
    assert isinstance(err, E.Invalid) and 'unknown field "spec.moduleLoader.container.modprob"' in err.message


def test_forbidden_names_verb_resource_namespace_and_role():
    err = E.translate(client_error(exchange("forbidden", "server_side_apply(ConfigMap)")),
                      ref=ObjectRef("v1", "ConfigMap", "demo-dockerfile-norbac", "drivers"), action="applying")
    assert isinstance(err, E.Forbidden)
    assert (err.verb, err.resource, err.group, err.namespace) == ("patch", "configmaps", "", "drivers")
    assert "system:serviceaccount:default:kmwizard-norbac" in err.message
    assert "may not patch configmaps" in err.message and "namespace drivers" in err.message
    assert "oc create role kmwizard-configmaps" in err.fix and "--resource=configmaps" in err.fix
    assert "--serviceaccount=default:kmwizard-norbac" in err.fix and "-n drivers" in err.fix


def test_forbidden_list_of_custom_resource():
    err = E.translate(client_error(exchange("forbidden", "get(Module list in drivers)")))
    assert (err.verb, err.resource, err.group) == ("list", "modules", "kmm.sigs.x-k8s.io")
    assert "--resource=modules.kmm.sigs.x-k8s.io" in err.fix


def test_forbidden_cluster_scope_suggests_clusterrole():
    status = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
              "message": 'machineconfigs.machineconfiguration.openshift.io "99-x" is forbidden: User "dev" cannot '
                         'patch resource "machineconfigs" in API group "machineconfiguration.openshift.io" at the '
                         'cluster scope'}
    err = E.from_status(status, code=403)
    assert "at cluster scope" in err.message and "oc create clusterrole" in err.fix and "--user=dev" in err.fix


def test_not_found_namespace_and_object():
    e = exchange("dry-run-new", "server_side_apply(ConfigMap/new-ns/demo-dockerfile")
    err = E.translate(client_error(e))
    assert isinstance(err, E.Missing) and (err.kind, err.name) == ("Namespace", "new-ns")
    err = E.translate(client_error(exchange("not-found", "get(Module/drivers/does-not-exist)")), ref=MODULE_REF)
    assert isinstance(err, E.Missing) and "does-not-exist" in err.message


def test_missing_kinds_speak_of_operators():
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    err = E.translate(ResourceNotFoundError("No matches"), ref=MODULE_REF)
    assert err.message.startswith("the KMM operator is not installed in this cluster")
    mc = ObjectRef("machineconfiguration.openshift.io/v1", "MachineConfig", "99-x")
    assert E.translate(ResourceNotFoundError("x"), ref=mc).message.startswith(
        "this is not an OpenShift cluster: MachineConfigs need the Machine Config Operator")


def test_connection_refused_names_server_and_context():
    import urllib3

    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = E.Target(server=f"https://127.0.0.1:{port}", context="lab")
    with pytest.raises(Exception) as info:
        urllib3.PoolManager(retries=urllib3.Retry(0)).request("GET", f"http://127.0.0.1:{port}/version")
    err = E.translate(info.value, target=target)
    assert isinstance(err, E.Unreachable)
    assert f"https://127.0.0.1:{port}" in err.message and "'lab'" in err.message and "refused" in err.message


def test_timeout_names_server_and_context():
    import urllib3

    with socket.socket() as srv:        # accepts, never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(Exception) as info:
            urllib3.PoolManager(retries=urllib3.Retry(0)).request(
                "GET", f"http://127.0.0.1:{port}/version", timeout=urllib3.Timeout(total=0.3))
    err = E.translate(info.value, target=E.Target(server=f"https://127.0.0.1:{port}", context="lab"))
    assert isinstance(err, E.Unreachable) and "did not answer in time" in err.message and "'lab'" in err.message


# --- diff and masking ------------------------------------------------------------------------

def test_diff_of_recorded_dry_run_shows_only_the_real_change():
    live = exchange("dry-run-existing", "get(Module/drivers/demo) after dry run")["response"]["body"]
    changed = exchange("dry-run-existing", "server_side_apply(Module/drivers/demo with moduleName demo-v2")
    same = exchange("dry-run-existing", "server_side_apply(Module/drivers/demo identical body")
    text = unified_diff(MODULE_REF, live, changed["response"]["body"])
    minus = [l for l in text.splitlines() if l.startswith("-") and not l.startswith("---")]
    plus = [l for l in text.splitlines() if l.startswith("+") and not l.startswith("+++")]
    # generation 1 -> 2 and the managedFields time differ too, but they are the server's business
    assert minus == ["-        moduleName: demo"] and plus == ["+        moduleName: demo-v2"]
    assert unified_diff(MODULE_REF, live, same["response"]["body"]) == ""
    assert same_content(live, same["response"]["body"]) and not same_content(live, changed["response"]["body"])


def secret(data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sign-key", "namespace": "drivers"},
            "type": "Opaque", "data": data}


def test_secret_values_never_appear_in_a_diff():
    before = secret({"key": "UFJJVkFURS1PTEQ=", "cert": "Q0VSVA=="})
    after = secret({"key": "UFJJVkFURS1ORVc=", "cert": "Q0VSVA=="})
    text = unified_diff(ObjectRef("v1", "Secret", "sign-key", "drivers"), before, after)
    for value in ("UFJJVkFURS1PTEQ=", "UFJJVkFURS1ORVc=", "Q0VSVA=="):
        assert value not in text
    assert "-  key: '*** (masked, before)'" in text and "+  key: '*** (masked, after)'" in text
    assert "cert" not in "".join(l for l in text.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---")))
    new = unified_diff(ObjectRef("v1", "Secret", "sign-key", "drivers"), None, after)
    assert "UFJJVkFURS1ORVc=" not in new and new.startswith("--- /dev/null")
    assert masked(after)["data"] == {"key": MASK, "cert": MASK}


def test_entitlement_keys_in_a_machineconfig_are_masked():
    def mc(key_source):
        return {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
                "metadata": {"name": "99-worker-kvc-x"},
                "spec": {"config": {"ignition": {"version": "3.2.0"}, "storage": {"files": [
                    {"path": "/etc/pki/entitlement/123-key.pem", "contents": {"source": key_source}},
                    {"path": "/etc/kvc/x.conf", "contents": {"source": "data:,KMOD%3D1"}}]}}}}
    b, a = mask_pair(mc("data:;base64,S0VZMQ=="), mc("data:;base64,S0VZMg=="))
    text = unified_diff(ref_of(a), mc("data:;base64,S0VZMQ=="), mc("data:;base64,S0VZMg=="))
    assert "S0VZ" not in text and "masked, after" in text and "data:,KMOD%3D1" in a["spec"]["config"]["storage"][
        "files"][1]["contents"]["source"]


# --- order, labels, references --------------------------------------------------------------

def test_apply_order_puts_dependencies_first_and_machineconfig_alone_last():
    objs = [{"kind": k, "apiVersion": "v1", "metadata": {"name": n}} for k, n in [
        ("MachineConfig", "mc"), ("Module", "m"), ("ConfigMap", "cm"), ("Secret", "s2"), ("Namespace", "ns"),
        ("Secret", "s1"), ("ServiceAccount", "sa")]]
    assert [o["metadata"]["name"] for o in apply_order(objs)] == ["ns", "sa", "s2", "s1", "cm", "m", "mc"]
    assert [o["metadata"]["name"] for o in delete_order(objs)] == ["mc", "m", "cm", "s1", "s2", "sa", "ns"]


def test_labelled_adds_managed_by_without_touching_input():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}}
    out = labelled(obj)
    assert out["metadata"]["labels"] == {"x": "y", "app.kubernetes.io/managed-by": "kmwizard"}
    assert obj["metadata"]["labels"] == {"x": "y"}


def test_module_references_cover_secrets_configmaps_serviceaccounts():
    module = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
              "metadata": {"name": "demo", "namespace": "drivers"},
              "spec": {"selector": {"a": ""}, "imageRepoSecret": {"name": "pull"},
                       "moduleLoader": {"serviceAccountName": "loader", "container": {
                           "modprobe": {"moduleName": "demo"},
                           "build": {"dockerfileConfigMap": {"name": "df"}, "secrets": [{"name": "ent"}]},
                           "sign": {"keySecret": {"name": "k"}, "certSecret": {"name": "c"}},
                           "kernelMappings": [{"regexp": "^.+$", "containerImage": "i:t",
                                               "build": {"dockerfileConfigMap": {"name": "df2"}}}]}}}}
    refs = {(r.kind, r.name, r.where) for r in module_references(module)}
    assert refs == {
        ("Secret", "pull", "$.spec.imageRepoSecret.name"),
        ("ServiceAccount", "loader", "$.spec.moduleLoader.serviceAccountName"),
        ("ConfigMap", "df", "$.spec.moduleLoader.container.build.dockerfileConfigMap.name"),
        ("Secret", "ent", "$.spec.moduleLoader.container.build.secrets[0].name"),
        ("Secret", "k", "$.spec.moduleLoader.container.sign.keySecret.name"),
        ("Secret", "c", "$.spec.moduleLoader.container.sign.certSecret.name"),
        ("ConfigMap", "df2", "$.spec.moduleLoader.container.kernelMappings[0].build.dockerfileConfigMap.name"),
    }


# --- rollout math from the recorded MachineConfigPool status -----------------------------------

def recorded_pool(step_prefix: str) -> dict:
    return exchange("status-watch", step_prefix)["response"]["body"]


def test_recorded_pool_status_mid_rollout():
    pool = recorded_pool("patch(mcp.status, content_type='application/merge-patch+json')")
    prog = pool_progress(pool, "99-worker-demo")
    assert (prog.done_count, prog.total, prog.done, prog.failed) == (1, 3, False, "")
    assert prog.fraction == pytest.approx(1 / 3)
    # the MCO rendered a config with it (spec), the machines still run the old one (status)
    assert any(re.search(r"has rendered rendered-worker-\w+; its machines still run rendered-worker-\w+", p)
               for p in prog.pending), prog.pending
    assert any("2 of 3 nodes of pool worker not updated" in p for p in prog.pending)
    assert "All nodes are updating" in prog.events[0]
    later = pool_progress(recorded_pool("concurrent status merge-patch"), "99-worker-demo")
    assert (later.done_count, later.total, later.done) == (2, 3, False)


def finished(pool: dict, with_mc: bool = True) -> dict:
    pool = copy.deepcopy(pool)
    st = pool["status"]
    st["configuration"] = copy.deepcopy(pool["spec"]["configuration"]) if with_mc else st["configuration"]
    st.update(updatedMachineCount=3, readyMachineCount=3, unavailableMachineCount=0)
    for c in st["conditions"]:
        c["status"] = {"Updated": "True", "Updating": "False"}.get(c["type"], c["status"])
    return pool


def test_pool_done_only_when_our_config_is_rendered_and_every_node_updated():
    pool = recorded_pool("patch(mcp.status, content_type='application/merge-patch+json')")
    done = pool_progress(finished(pool), "99-worker-demo")
    assert done.done and done.fraction == 1.0 and not done.pending
    # all counts complete, but for the previous rendered config: not done, and not shown as 3/3
    stale = pool_progress(finished(pool, with_mc=False), "99-worker-demo")
    assert not stale.done and stale.done_count == 0
    # after a delete, the rendered config (target and, once every machine runs it, status) must not list it
    without = finished(pool, with_mc=False)
    without["spec"]["configuration"] = copy.deepcopy(without["status"]["configuration"])
    assert pool_progress(without, "99-worker-demo", removed=True).done
    assert not pool_progress(finished(pool), "99-worker-demo", removed=True).done
    # the MCO rendered without it, machines still on the old config: counts are not enough
    assert not pool_progress(finished(pool) | {"spec": without["spec"]}, "99-worker-demo", removed=True).done


def test_degraded_pool_fails_with_its_message():
    pool = copy.deepcopy(recorded_pool("patch(mcp.status, content_type='application/merge-patch+json')"))
    for c in pool["status"]["conditions"]:
        if c["type"] == "Degraded":
            c.update(status="True", message='Node worker-1 is reporting: "unexpected on-disk state"')
    prog = pool_progress(pool, "99-worker-demo")
    assert not prog.done and "unexpected on-disk state" in prog.failed and "worker" in prog.failed


def module_with(matching, desired, available):
    return {"metadata": {"name": "demo", "namespace": "drivers"},
            "status": {"moduleLoader": {"nodesMatchingSelectorNumber": matching, "desiredNumber": desired,
                                        "availableNumber": available}}}


def test_module_progress_counts_labels_and_events():
    prog = module_progress(module_with(3, 3, 1), ["w1"], [{"reason": "BuildCreated", "message": "build created"}])
    assert (prog.done_count, prog.total, prog.done) == (1, 3, False)
    assert prog.events == ["BuildCreated: build created"] and "2 of 3 nodes" in prog.pending[0]
    assert module_progress(module_with(3, 3, 3), ["w1", "w2", "w3"], []).done
    waiting_labels = module_progress(module_with(3, 3, 3), ["w1"], [])
    assert not waiting_labels.done and "kmm.node.kubernetes.io/drivers.demo.ready" in waiting_labels.pending[-1]
    failed = module_progress(module_with(3, 3, 0), [], [{"reason": "BuildFailed", "type": "Warning",
                                                          "message": "build demo-abc failed"}])
    assert "BuildFailed: build demo-abc failed" in failed.failed
    none = module_progress(module_with(0, 0, 0), [], [])
    assert not none.done and "no node matches the selector" in none.pending[0]
    assert "KMM has not reconciled" in module_progress({"metadata": {"name": "d", "namespace": "n"}}, [], []
                                                       ).pending[0]


# --- imports, kubeconfig resolution ----------------------------------------------------------------

def test_importing_the_commands_does_not_import_kubernetes():
    code = ("import sys, kmwizard.cluster.commands, kmwizard.cluster.engine, kmwizard.cluster.connection, "
            "kmwizard.cluster.discovery, kmwizard.cluster.changes, kmwizard.cluster.watch, kmwizard.cluster.status, "
            "kmwizard.cluster.verify; "
            "assert 'kubernetes' not in sys.modules, 'kubernetes imported'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_kubeconfig_precedence(tmp_path):
    from kmwizard.cluster.connection import resolve_kubeconfig
    from kmwizard.findings import UsageError

    flag, env, home = tmp_path / "flag", tmp_path / "env", tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    for p in (flag, env, home / ".kube" / "config"):
        p.write_text("apiVersion: v1\n")
    environ = {"KUBECONFIG": str(env), "HOME": str(home)}
    assert resolve_kubeconfig(str(flag), environ) == str(flag)
    assert resolve_kubeconfig(None, environ) == str(env)
    assert resolve_kubeconfig(None, {"HOME": str(home)}) == str(home / ".kube" / "config")
    assert resolve_kubeconfig(None, {"HOME": str(tmp_path / "nobody")}) is None
    with pytest.raises(UsageError):
        resolve_kubeconfig(str(tmp_path / "missing"), environ)
    with pytest.raises(UsageError):
        resolve_kubeconfig(None, {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(home)})


# --- what the cluster tells about versions ----------------------------------------------------------

def test_openshift_version_from_clusterversion():
    from kmwizard.cluster.discovery import _cluster_version

    cv = {"apiVersion": "config.openshift.io/v1", "kind": "ClusterVersion", "metadata": {"name": "version"},
          "status": {"desired": {"version": "4.17.2"},
                     "history": [{"state": "Partial", "version": "4.17.2"},
                                 {"state": "Completed", "version": "4.16.9"}]}}
    assert _cluster_version(cv) == "4.16.9"          # mid-upgrade: the nodes still run 4.16
    cv["status"]["history"] = []
    assert _cluster_version(cv) == "4.17.2" and _cluster_version(None) is None


def test_cluster_versions_fill_only_unset_answers():
    from kmwizard.answers import Answers
    from kmwizard.cluster.discovery import ClusterFacts, fill_answer_defaults

    facts = ClusterFacts(openshift_version="4.16.9", kmm_version="2.4.1")
    assert facts.answer_defaults() == {"openshift_version": "4.16", "kmm.kmm_version": "2.4"}
    kmm = Answers().set("method", "kmm")
    filled, notes = fill_answer_defaults(kmm, facts)
    assert filled.get("openshift_version") == "4.16" and filled.get("kmm.kmm_version") == "2.4"
    assert notes == ["openshift_version=4.16 (from the cluster)", "kmm.kmm_version=2.4 (from the cluster)"]
    mine = kmm.set("openshift_version", "4.14")
    assert fill_answer_defaults(mine, facts)[0].get("openshift_version") == "4.14"     # the user's answer wins
    kvc, _ = fill_answer_defaults(Answers().set("method", "kvc"), facts)
    assert not kvc.is_set("kmm.kmm_version")                                            # not a KVC key
    odd, notes = fill_answer_defaults(kmm, ClusterFacts(kmm_version="7.0.0"))
    assert not odd.is_set("kmm.kmm_version") and "does not know" in notes[0]


def test_progress_lines_without_a_terminal():
    import io

    from kmwizard.cluster.reporting import ProgressPrinter
    from kmwizard.cluster.rollout import Progress

    stream = io.StringIO()
    show = ProgressPrinter(stream)
    for p in (Progress("pool", 1, 3, detail="pool worker: 1/3"), Progress("pool", 1, 3, detail="pool worker: 1/3"),
              Progress("pool", 3, 3, done=True, detail="pool worker: 3/3")):
        show(p)
    assert stream.getvalue() == "pool worker: 1/3\npool worker: 3/3 (done)\n"


def test_progress_bar_on_a_terminal():
    import io

    from kmwizard.cluster.reporting import ProgressPrinter
    from kmwizard.cluster.rollout import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    show = ProgressPrinter(stream)
    show(Progress("pool", 1, 3, detail="pool worker: 1/3"))
    show(Progress("pool", 3, 3, done=True, detail="pool worker: 3/3"))
    assert stream.getvalue() == ("\r\033[K[##########--------------------] pool worker: 1/3"
                                 "\r\033[K[##############################] pool worker: 3/3\n")


def test_reboot_confirmation(monkeypatch, capsys):
    import argparse
    import io

    from kmwizard.cluster import reporting
    from kmwizard.cluster.changes import RebootWarning
    from kmwizard.findings import KmwizardError, UsageError

    warning = [RebootWarning("99-worker-x", "worker", 4, "would be configured")]
    reporting.confirm([], argparse.Namespace(yes=False))                  # nothing reboots: no question
    reporting.confirm(warning, argparse.Namespace(yes=True))              # --yes
    assert "one at a time: 4 node(s)" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr("sys.stderr", Terminal())
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    reporting.confirm(warning, argparse.Namespace(yes=False))
    monkeypatch.setattr("sys.stdin", Terminal("\n"))
    with pytest.raises(KmwizardError, match="cancelled: nothing was changed"):
        reporting.confirm(warning, argparse.Namespace(yes=False))
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))                   # piped: never read as consent
    with pytest.raises(UsageError, match="no terminal"):
        reporting.confirm(warning, argparse.Namespace(yes=False))


@pytest.mark.parametrize("content", [b"garbage: [\n", b"contents: 5\ncontexts: 5\n", b"- a\n",
                                     b"current-context: c\ncontexts: [{name: c, context: 5}]\n",
                                     b"\x7fELF\x02\xd0\xff", b""])
def test_a_malformed_kubeconfig_is_a_usage_error_naming_it(tmp_path, content):
    """Whatever the client's loader raises on a broken file becomes one message naming the file."""
    from kmwizard.cluster.connection import connect
    from kmwizard.findings import UsageError

    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    with pytest.raises(UsageError) as info:
        connect(str(path), environ={"HOME": str(tmp_path)})
    assert str(path) in info.value.message and "oc config view" in info.value.fix


def test_a_changed_dockerfile_diffs_line_by_line():
    """A multi-line value is a YAML block in the diff, so one changed Dockerfile line is one diff line."""
    def configmap(text):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "drivers"},
                "data": {"dockerfile": text}}

    old = "ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\nRUN make\nFROM ubi9\n"
    text = unified_diff(ObjectRef("v1", "ConfigMap", "d", "drivers"), configmap(old),
                        configmap(old.replace("RUN make", "RUN make all")))
    changed = [l for l in text.splitlines() if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    assert changed == ["-    RUN make", "+    RUN make all"], text
    import yaml

    from kmwizard.cluster.objects import to_yaml

    assert yaml.safe_load(to_yaml(configmap(old))) == configmap(old)  # the block reads back as the same text


@pytest.mark.parametrize("argv", [["apply", "--wait", "--timeout", "-5"], ["status", "--request-timeout", "0"],
                                  ["verify", "--timeout", "abc"], ["delete", "--timeout", "nan"]])
def test_durations_must_be_positive_numbers(argv, capsys):
    from kmwizard.cli import main

    assert main(argv) == 2  # before connecting to anything
    err = capsys.readouterr().err
    assert argv[-2] in err and "seconds" in err


def test_messages_without_an_object_read_naturally():
    """A Status about no particular object names the action alone, and an unknown code still has a fix."""
    err = E.from_status({"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized", "code": 401},
                        code=401, action="connecting")
    assert err.message.startswith("connecting: the server") and "the request" not in err.message
    err = E.from_status({"kind": "Status", "message": "teapot", "code": 418}, code=418)
    assert err.message.startswith("the request: HTTP 418") and err.fix
