"""Read the objects to import from a cluster: GET and LIST only, through the cluster engine's connection.

``KIND/NAME`` names a MachineConfig (``machineconfig/99-worker-kvc-simple-kmod``) or a Module
(``module/NAME`` in ``--namespace``, or ``module/NAMESPACE/NAME``).  A Module comes with its Dockerfile
ConfigMap; Secrets stay in the cluster (their names stay in the answers).  Without names, the one
KVC MachineConfig or Module the cluster holds is taken, or the choices are listed.
"""
from __future__ import annotations

from kmwizard.findings import UsageError

MCO = ("machineconfiguration.openshift.io/v1", "MachineConfig")
MODULE = ("kmm.sigs.x-k8s.io/v1beta1", "Module")
CONFIGMAP = ("v1", "ConfigMap")
KINDS = {"machineconfig": MCO, "machineconfigs": MCO, "mc": MCO, "module": MODULE, "modules": MODULE}


def parse_ref(text: str, namespace: str | None) -> tuple[tuple[str, str], str | None, str]:
    parts = text.split("/")
    kind = KINDS.get(parts[0].lower())
    if kind is None or len(parts) not in (2, 3) or not all(parts[1:]):
        raise UsageError(f"--from-cluster {text!r} is not KIND/NAME (machineconfig/NAME, module/NAME or "
                         "module/NAMESPACE/NAME)", "e.g. --from-cluster machineconfig/99-worker-kvc-simple-kmod")
    if kind == MCO and len(parts) == 3:
        raise UsageError(f"--from-cluster {text!r}: MachineConfigs have no namespace",
                         "write machineconfig/NAME")
    ns = parts[1] if len(parts) == 3 else (namespace or "openshift-kmm") if kind == MODULE else None
    return kind, ns, parts[-1]


def read_objects(conn, refs: list[str], namespace: str | None = None) -> list[tuple[str, dict]]:
    """(where, object) for each named object, with a Module's Dockerfile ConfigMap."""
    from kmwizard.cluster.connection import get_or_none

    if not refs:
        refs = _candidates(conn, namespace)
    out = []
    for text in refs:
        kind, ns, name = parse_ref(text, namespace)
        res = conn.resource(*kind)
        obj = get_or_none(conn, res, name, ns)
        where = f"cluster:{kind[1]}/{ns + '/' if ns else ''}{name}"
        if obj is None:
            raise UsageError(f"{where} does not exist", "check the name (oc get machineconfigs / oc get modules -A)")
        out.append((where, obj))
        if kind == MODULE:
            out.extend(_configmaps(conn, obj, ns))
    return out


def _configmaps(conn, module: dict, ns: str) -> list[tuple[str, dict]]:
    from kmwizard.cluster.connection import get_or_none

    container = ((module.get("spec") or {}).get("moduleLoader") or {}).get("container") or {}
    builds = [container.get("build")] + [m.get("build") for m in container.get("kernelMappings") or []]
    names = {(b.get("dockerfileConfigMap") or {}).get("name") for b in builds if b}
    found = []
    for name in sorted(n for n in names if n):
        cm = get_or_none(conn, conn.resource(*CONFIGMAP), name, ns)
        if cm is not None:
            found.append((f"cluster:ConfigMap/{ns}/{name}", cm))
    return found


def _candidates(conn, namespace: str | None) -> list[str]:
    from kmwizard.cluster import errors as E

    found = []
    try:
        mcs = conn.call(conn.resource(*MCO).get, action="listing MachineConfigs").to_dict().get("items", [])
    except E.NotInstalled:
        mcs = []
    for mc in mcs:
        config = (mc.get("spec") or {}).get("config") or {}
        units = [u.get("name", "") for u in (config.get("systemd") or {}).get("units") or []]
        files = [f.get("path", "") for f in (config.get("storage") or {}).get("files") or []]
        if any(u.startswith(("require-kvc-", "kmods-via-containers@")) for u in units) or \
                any(p.startswith("/etc/kvc/") for p in files):
            found.append(f"machineconfig/{mc['metadata']['name']}")
    try:
        modules = conn.call(conn.resource(*MODULE).get, namespace=namespace, action="listing Modules").to_dict()
    except E.NotInstalled:
        modules = {}
    for module in modules.get("items", []):
        found.append(f"module/{module['metadata']['namespace']}/{module['metadata']['name']}")
    if len(found) != 1:
        listed = ", ".join(found) if found else "none"
        raise UsageError(f"--from-cluster without a name needs exactly one KVC MachineConfig or Module in the "
                         f"cluster; found: {listed}", "name the one to import: --from-cluster KIND/NAME")
    return found


def node_kernels(conn, role: str) -> list[str]:
    """The kernels (status.nodeInfo.kernelVersion) of the nodes labelled node-role.kubernetes.io/<role>."""
    nodes = conn.call(conn.resource("v1", "Node").get, label_selector=f"node-role.kubernetes.io/{role}",
                      action="listing nodes").to_dict().get("items", [])
    kernels = []
    for node in nodes:
        kernel = ((node.get("status") or {}).get("nodeInfo") or {}).get("kernelVersion")
        if kernel and kernel not in kernels:
            kernels.append(kernel)
    if not kernels:
        raise UsageError(f"no node labelled node-role.kubernetes.io/{role} reports a kernel",
                         "check the role, or give the kernels with --kernel")
    return kernels
