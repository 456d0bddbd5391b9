"""`kmwizard validate` on hand-broken files: whatever the shape, a finding, never a traceback.

Every node of a valid MachineConfig, Ignition config, Module, Dockerfile ConfigMap,
ManagedClusterModule and PreflightValidationOCP is replaced in turn by values of the wrong
type; validate_documents must answer with findings and never raise.
"""
from __future__ import annotations

import copy
import json

import pytest

from kmwizard.cli.validate import validate_documents

WRONG = (5, "x", None, [], {}, ["x"], [5], {"a": 5}, True, 1.5, "", [None], [{}])

IGNITION = {"ignition": {"version": "3.2.0"},
            "storage": {"files": [{"path": "/etc/kvc/a.conf", "mode": 420, "overwrite": True,
                                   "contents": {"source": "data:,a%0A", "compression": ""}}]},
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA x"]}]},
            "systemd": {"units": [{"name": "kmods-via-containers@a.service", "enabled": True,
                                   "dropins": [{"name": "10-x.conf", "contents": "[Service]\nX=1\n"}]},
                                  {"name": "b.service", "contents": "[Unit]\nA=b\n[Install]\nWantedBy=x\n"}]}}
MACHINECONFIG = {"apiVersion": "machineconfiguration.openshift.io/v1", "kind": "MachineConfig",
                 "metadata": {"name": "99-worker-a", "labels": {"machineconfiguration.openshift.io/role": "worker"}},
                 "spec": {"config": IGNITION, "kernelArguments": ["nosmt"]}}
MODULE_SPEC = {"selector": {"node-role.kubernetes.io/worker": ""},
               "tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists",
                                "effect": "NoSchedule"}],
               "imageRepoSecret": {"name": "pull"},
               "devicePlugin": {"volumes": [{"name": "v", "hostPath": {"path": "/dev/x"}}]},
               "moduleLoader": {"serviceAccountName": "sa", "container": {
                   "modprobe": {"moduleName": "a", "dirName": "/opt", "parameters": ["p=1"],
                                "modulesLoadingOrder": ["a", "b"], "args": {"load": ["-v"], "unload": ["-v"]}},
                   "containerImage": "quay.io/o/a:${KERNEL_FULL_VERSION}",
                   "registryTLS": {"insecure": False},
                   "inTreeModulesToRemove": ["a"],
                   "build": {"dockerfileConfigMap": {"name": "a-dockerfile"},
                             "buildArgs": [{"name": "X", "value": "1"}], "secrets": [{"name": "s"}]},
                   "sign": {"keySecret": {"name": "k"}, "certSecret": {"name": "c"},
                            "filesToSign": ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"]},
                   "kernelMappings": [{"regexp": "^.+\\.el9_\\d+\\.x86_64$"},
                                      {"literal": "5.14.0-1.el9.x86_64", "containerImage": "quay.io/o/a:v1",
                                       "build": {"dockerfileConfigMap": {"name": "a-dockerfile"}},
                                       "sign": {"keySecret": {"name": "k"}, "certSecret": {"name": "c"},
                                                "unsignedImage": "quay.io/o/a:u"}}]}}}
MODULE = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
          "metadata": {"name": "a", "namespace": "drivers"}, "spec": MODULE_SPEC}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a-dockerfile", "namespace": "drivers"},
             "data": {"dockerfile": "ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\nARG KERNEL_FULL_VERSION\n"
                                    "RUN make\nFROM ubi9\nARG KERNEL_FULL_VERSION\n"
                                    "COPY --from=builder /a.ko /opt/lib/modules/${KERNEL_FULL_VERSION}/\n"
                                    "RUN depmod -b /opt ${KERNEL_FULL_VERSION}\n"}}
MODULE_DRA = {**MODULE, "spec": {**{k: v for k, v in MODULE_SPEC.items() if k != "devicePlugin"},
                                 "dra": {"driverName": "gpu.example.com", "container": {"image": "q.io/d:1"},
                                         "deviceClasses": [{"name": "a", "config": [{}], "selectors": [{}]}],
                                         "volumes": [{"name": "v", "hostPath": {"path": "/run/x"}}]}}}
HUB = {"apiVersion": "hub.kmm.sigs.x-k8s.io/v1beta1", "kind": "ManagedClusterModule", "metadata": {"name": "a"},
       "spec": {"spokeNamespace": "drivers", "selector": {"a": "b"}, "moduleSpec": MODULE_SPEC}}
PREFLIGHT = {"apiVersion": "kmm.sigs.x-k8s.io/v1beta2", "kind": "PreflightValidationOCP", "metadata": {"name": "a"},
             "spec": {"kernelVersion": "5.14.0-1.el9.x86_64", "dtkImage": "quay.io/x:y"}}


def _paths(node, path=()):
    if path:
        yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, path + (key,))


def _broken_variants(doc, wrong_values=WRONG):
    """(label, copy of doc) with one node replaced by one wrongly typed value, for every node and value."""
    for path in _paths(doc):
        for wrong in wrong_values:
            broken = copy.deepcopy(doc)
            node = broken
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = wrong
            yield f"{'.'.join(map(str, path))} = {wrong!r}", broken


@pytest.mark.parametrize("doc", [MACHINECONFIG, IGNITION, MODULE, MODULE_DRA, CONFIGMAP, HUB, PREFLIGHT],
                         ids=["MachineConfig", "Ignition", "Module", "Module with DRA", "ConfigMap",
                              "ManagedClusterModule", "PreflightValidationOCP"])
def test_any_wrong_type_anywhere_gives_findings_not_a_traceback(doc):
    crashes, unhelpful = [], set()
    for label, broken in _broken_variants(doc):
        try:
            findings = validate_documents([("f.yaml", broken), ("cm.yaml", CONFIGMAP)])
        except Exception as exc:  # noqa: BLE001 - what the user would see as a traceback
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        unhelpful |= {f"{f.code}: {f.message}" for f in findings if f.severity == "error" and not f.fix}
    assert not crashes, "\n".join(crashes[:20])
    assert not unhelpful, "errors without a fix:\n" + "\n".join(sorted(unhelpful)[:20])


@pytest.mark.parametrize("doc", [MODULE, HUB], ids=["Module", "ManagedClusterModule"])
def test_kernel_match_on_any_broken_module_file_is_a_usage_error_not_a_traceback(doc, monkeypatch, capsys):
    """The kernel-match command as main() runs it, with the file's parsed YAML handed in directly."""
    from kmwizard.cli import build_parser
    from kmwizard.findings import KmwizardError
    from kmwizard.cli import kmm as commands

    args = build_parser().parse_args(["kernel-match", "-k", "5.14.0-427.13.1.el9_4.x86_64", "module.yaml"])
    crashes = []
    for label, broken in _broken_variants(doc):
        monkeypatch.setattr(commands, "read_text_arg", lambda name, _doc=broken: json.dumps(_doc))
        try:
            assert commands.cmd_kernel_match(args) in (0, 1)
        except KmwizardError:
            pass  # a message naming the field, exit 2
        except Exception as exc:  # noqa: BLE001 - what the user would see as a traceback
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
    capsys.readouterr()
    assert not crashes, "\n".join(crashes[:20])
