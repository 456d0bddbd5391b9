"""`kmwizard validate` on KMM files: the namespace a file goes to, the cluster's own Module CRD,
and the checks that claim no more than KMM (each names what KMM does instead)."""
from __future__ import annotations

import copy

import yaml

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard.cli import main
from kmwizard.findings import Severity
from kmwizard.kmm.lint import lint_documents


def module(**container) -> dict:
    return {"apiVersion": "kmm.sigs.x-k8s.io/v1beta1", "kind": "Module",
            "metadata": {"name": "kmm-ci"},
            "spec": {"selector": {"node-role.kubernetes.io/worker": ""},
                     "moduleLoader": {"container": {
                         "modprobe": {"moduleName": "kmm_ci_a"},
                         "kernelMappings": [{"regexp": "^.+$",
                                             "containerImage": "quay.io/org/kmm-ci:${KERNEL_FULL_VERSION}",
                                             "build": {"dockerfileConfigMap": {"name": "kmm-ci-dockerfile"}}}],
                         **container}}}}


DOCKERFILE = """ARG DTK_AUTO
FROM ${DTK_AUTO} as builder
ARG KERNEL_FULL_VERSION
RUN make -C /usr/src/kmod KERNEL_SRC_DIR=/lib/modules/${KERNEL_FULL_VERSION}/build
FROM registry.redhat.io/ubi9/ubi-minimal
ARG KERNEL_FULL_VERSION
RUN microdnf install -y kmod
COPY --from=builder /usr/src/kmod/kmm_ci_a.ko /bin/lib/modules/${KERNEL_FULL_VERSION}/
RUN depmod -b /bin ${KERNEL_FULL_VERSION}
"""


def configmap(text=DOCKERFILE) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kmm-ci-dockerfile"},
            "data": {"dockerfile": text}}


def write(tmp_path, *docs):
    path = tmp_path / "files.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_namespace_flag_sets_where_files_without_one_go(tmp_path, capsys):
    long = module()
    long["metadata"]["name"] = "m" * 36
    path = write(tmp_path, long)
    assert main(["validate", path]) == 1                     # 36 + len("default") = 43
    err = capsys.readouterr().err
    assert "allows at most 41" in err and "'default'" in err
    assert main(["validate", "-n", "ab", path]) == 0         # 36 + 2
    assert "judged as created in namespace 'ab'" in capsys.readouterr().err


def test_dockerfile_is_judged_with_the_dirname_of_its_module(tmp_path, capsys):
    """Mirrors internal/buildsign (the worker copies <dirName>/lib/modules): dirName /bin is fine."""
    path = write(tmp_path, module(modprobe={"moduleName": "kmm_ci_a", "dirName": "/bin"}), configmap())
    assert main(["validate", path]) == 0, capsys.readouterr().err
    # Alone, the ConfigMap is judged with the default /opt, and says so without calling it wrong.
    alone = lint_documents([("cm.yaml", configmap())])
    assert {f.code for f in alone} >= {"kmm-dockerfile-dirname-unknown"}
    assert not [f for f in alone if f.severity is Severity.ERROR]
    # With a Module whose dirName is the default, /bin is wrong.
    found = lint_documents([("m.yaml", module()), ("cm.yaml", configmap())])
    assert "kmm-dockerfile-no-ko-copy" in {f.code for f in found if f.severity is Severity.ERROR}


def test_depmod_without_kernel_version():
    text = DOCKERFILE.replace("RUN depmod -b /bin ${KERNEL_FULL_VERSION}", "RUN depmod -b /bin")
    found = lint_documents([("m.yaml", module(modprobe={"moduleName": "kmm_ci_a", "dirName": "/bin"})),
                            ("cm.yaml", configmap(text))])
    assert [f.severity for f in found if f.code == "kmm-dockerfile-depmod-kernel"] == [Severity.WARNING]


def test_objects_over_one_mebibyte():
    big = configmap(DOCKERFILE + "#" * (1024 * 1024))
    found = lint_documents([("cm.yaml", big)])
    assert "kmm-object-too-large" in {f.code for f in found if f.severity is Severity.ERROR}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "x" * 100}}
    assert "kmm-object-too-large" not in {f.code for f in lint_documents([("s.yaml", secret)])}


def test_claim_no_more_than_kmm():
    m = module()
    mapping = m["spec"]["moduleLoader"]["container"]["kernelMappings"][0]
    mapping["containerImage"] = "registry:5000/kmm-ci"      # webhook: has ':' -> accepted, pulled as :latest
    found = {f.code: f for f in lint_documents([("m.yaml", m)])}
    assert found["kmm-image-latest"].severity is Severity.WARNING and ":latest" in found["kmm-image-latest"].message
    assert found["kmm-image-tag-kernel"].severity is Severity.WARNING
    mapping["containerImage"] = "quay.io/Org/kmm-ci:${KERNEL_FULL_VERSION"     # two real catches KMM misses
    codes = {f.code for f in lint_documents([("m.yaml", m)]) if f.severity is Severity.ERROR}
    assert "kmm-variable-unterminated" in codes
    mapping["containerImage"] = "quay.io/Org/kmm-ci:${KERNEL_FULL_VERSION}"
    assert "kmm-image-invalid" in {f.code for f in lint_documents([("m.yaml", m)]) if f.severity is Severity.ERROR}


def test_control_escapes_in_a_regexp():
    m = module()
    m["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["regexp"] = r"^5\.14\.0.*\tel9$"
    found = [f for f in lint_documents([("m.yaml", m)]) if f.code == "kmm-regexp-control"]
    assert found and found[0].severity is Severity.WARNING and "\\t" in found[0].message
    m["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["regexp"] = r"^5\\t"   # a literal backslash
    assert not [f for f in lint_documents([("m.yaml", m)]) if f.code == "kmm-regexp-control"]


def test_validate_reads_the_clusters_module_crd(apiserver, tmp_path, capsys):
    """A field newer than kmwizard is judged by the CRD the cluster serves (and said so)."""
    crd = apiserver.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "modules.kmm.sigs.x-k8s.io")
    newer = copy.deepcopy(crd)
    for version in newer["spec"]["versions"]:
        modprobe = (version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["moduleLoader"]
                    ["properties"]["container"]["properties"]["modprobe"])
        modprobe["properties"]["modprobedDir"] = {"type": "string"}
    newer["metadata"].pop("resourceVersion", None)
    apiserver.put(newer, manager="kube-apiserver")
    m = module(modprobe={"moduleName": "kmm_ci_a", "modprobedDir": "/etc/modprobe.d"})
    path = write(tmp_path, m)
    assert main(["validate", path]) == 1
    assert "unknown field 'modprobedDir'" in capsys.readouterr().err
    assert main(["validate", "--kubeconfig", str(apiserver.kubeconfig_path), path]) == 0
    err = capsys.readouterr().err
    assert "cluster's Module CRD" in err and "modprobedDir" not in err


def test_dockerfile_is_judged_with_the_build_args_of_its_module():
    """A build arg the Module passes is a Docker ARG: read in a stage that does not declare it, it is empty."""
    text = DOCKERFILE.replace("RUN microdnf install -y kmod", "RUN microdnf install -y kmod-${KMOD_VERSION}")
    m = module(modprobe={"moduleName": "kmm_ci_a", "dirName": "/bin"},
               build={"dockerfileConfigMap": {"name": "kmm-ci-dockerfile"},
                      "buildArgs": [{"name": "KMOD_VERSION", "value": "28"}]})
    found = lint_documents([("m.yaml", m), ("cm.yaml", configmap(text))])
    assert "kmm-dockerfile-arg-scope" in {f.code for f in found if f.severity is Severity.ERROR}
    alone = lint_documents([("cm.yaml", configmap(text))])       # a shell variable as far as we know
    assert "kmm-dockerfile-arg-scope" not in {f.code for f in alone}


def test_a_template_kmms_substitution_never_finishes():
    m = module()
    m["spec"]["moduleLoader"]["container"]["kernelMappings"][0]["containerImage"] = "q.io/o/m:${KERNEL_XYZ:-$_}"
    found = [f for f in lint_documents([("m.yaml", m)]) if f.code == "kmm-variable-unterminated"]
    assert found and "never finishes" in found[0].message and "${NAME}" in found[0].fix


def test_validate_measures_any_configmap_or_secret(tmp_path, capsys):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "eA==" * 300_000}}
    assert main(["validate", write(tmp_path, secret)]) == 1
    assert "at most 1048576" in capsys.readouterr().err
