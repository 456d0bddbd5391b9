"""The Module CRD's structural rules, as kmwizard's own table: field names, JSON types, required
fields, list lengths, patterns and the CEL rule.

kmwizard cannot read the CRD at run time (it may not be installed, and its schema is upstream data
we do not copy), so these tables say what config/crd/bases/kmm.sigs.x-k8s.io_modules.yaml of
rh-ecosystem-edge/kernel-module-management (0419e2f0) says; tests/test_kmm_schema.py compares every
minItems / maxItems / required / pattern / x-kubernetes-validations rule of the real CRD with them.
Core Kubernetes types inside the Module (the device plugin's container, volumes) are left to the
API server's dry run.  With a cluster at hand, ``live_fields`` reads the installed CRD instead.
"""
from __future__ import annotations

import copy
import re
from typing import Iterator, Optional

from kmwizard.findings import Finding, error

# The Module fields kmwizard knows, and which the CRD requires (tests compare both with the real CRD).
# Unknown fields are what strict validation rejects (and server-side apply answers with a bare 500).
MODULE_FIELDS = {
    "spec": ({"devicePlugin", "dra", "imageRebuildTriggerGeneration", "imageRepoSecret", "moduleLoader",
              "selector", "tolerations"}, {"selector"}),
    "moduleLoader": ({"container", "serviceAccountName"}, {"container"}),
    "container": ({"build", "containerImage", "imagePullPolicy", "inTreeModuleToRemove", "inTreeModulesToRemove",
                   "kernelMappings", "modprobe", "registryTLS", "sign", "version"}, {"kernelMappings", "modprobe"}),
    "modprobe": ({"args", "dirName", "firmwarePath", "moduleName", "modulesLoadingOrder", "parameters", "rawArgs"},
                 set()),
    "mapping": ({"build", "containerImage", "inTreeModuleToRemove", "inTreeModulesToRemove", "literal", "regexp",
                 "registryTLS", "sign"}, {"containerImage"}),
    "build": ({"baseImageRegistryTLS", "buildArgs", "dockerfileConfigMap", "kanikoParams", "secrets", "selector"},
              {"dockerfileConfigMap"}),
    "sign": ({"certSecret", "filesToSign", "keySecret", "unsignedImage", "unsignedImageRegistryTLS"},
             {"certSecret", "keySecret"}),
    "dra": ({"automountServiceAccountToken", "container", "deviceClasses", "driverName", "initContainer",
             "serviceAccountName", "volumes"}, {"container", "driverName"}),
    "devicePlugin": ({"automountServiceAccountToken", "container", "initContainer", "serviceAccountName",
                      "volumes"}, {"container"}),
    "deviceClass": ({"config", "name", "selectors"}, {"name"}),
    "buildArg": ({"name", "value"}, {"name", "value"}),
    "args": ({"load", "unload"}, set()),
    "toleration": ({"effect", "key", "operator", "tolerationSeconds", "value"}, set()),
}

# Where each part of MODULE_FIELDS sits in spec ("[]" stands for every list item).
FIELD_PATHS = {
    "spec": "", "moduleLoader": "moduleLoader", "container": "moduleLoader.container",
    "modprobe": "moduleLoader.container.modprobe", "mapping": "moduleLoader.container.kernelMappings[]",
    "build": ("moduleLoader.container.build", "moduleLoader.container.kernelMappings[].build"),
    "sign": ("moduleLoader.container.sign", "moduleLoader.container.kernelMappings[].sign"),
    "dra": "dra", "devicePlugin": "devicePlugin", "deviceClass": "dra.deviceClasses[]",
    "buildArg": ("moduleLoader.container.build.buildArgs[]",
                 "moduleLoader.container.kernelMappings[].build.buildArgs[]"),
    "args": ("moduleLoader.container.modprobe.args", "moduleLoader.container.modprobe.rawArgs"),
    "toleration": "tolerations[]",
}

# minItems / maxItems of the CRD.
LIST_LIMITS = {
    "moduleLoader.container.kernelMappings": (1, None),
    "moduleLoader.container.modprobe.args.load": (1, None),
    "moduleLoader.container.modprobe.args.unload": (1, None),
    "moduleLoader.container.modprobe.rawArgs.load": (1, None),
    "moduleLoader.container.modprobe.rawArgs.unload": (1, None),
    "dra.deviceClasses[].config": (None, 32),
    "dra.deviceClasses[].selectors": (None, 32),
}
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
PATTERNS = {"dra.deviceClasses[].name": DNS1123_SUBDOMAIN}
# x-kubernetes-validations on spec: (fields that cannot be set together, the CRD's message).
EXCLUSIVE = [(("dra", "devicePlugin"), "spec.dra and spec.devicePlugin are mutually exclusive")]

# The JSON types of the Module fields the lints read (tests compare this with the real CRD).
# A dict is an object with these properties, {"*": T} a map of T, [T] a list of T.
_TLS = {"insecure": bool, "insecureSkipTLSVerify": bool}
_BUILD = {"baseImageRegistryTLS": _TLS, "buildArgs": [{"name": str, "value": str}], "dockerfileConfigMap": {"name": str},
          "kanikoParams": {"tag": str}, "secrets": [{"name": str}], "selector": {"*": str}}
_SIGN = {"certSecret": {"name": str}, "keySecret": {"name": str}, "filesToSign": [str], "unsignedImage": str,
         "unsignedImageRegistryTLS": _TLS}
_MAPPING = {"build": _BUILD, "sign": _SIGN, "containerImage": str, "inTreeModuleToRemove": str,
            "inTreeModulesToRemove": [str], "literal": str, "regexp": str, "registryTLS": _TLS}
_ARGS = {"load": [str], "unload": [str]}
_VOLUMES = [{"hostPath": {"path": str}}]
MODULE_TYPES = {
    "selector": {"*": str},
    "tolerations": [{"effect": str, "key": str, "operator": str, "tolerationSeconds": int, "value": str}],
    "imageRebuildTriggerGeneration": int, "imageRepoSecret": {"name": str},
    "devicePlugin": {"volumes": _VOLUMES, "serviceAccountName": str},
    "dra": {"driverName": str, "deviceClasses": [{"name": str, "config": [{}], "selectors": [{}]}],
            "volumes": _VOLUMES, "serviceAccountName": str},
    "moduleLoader": {"serviceAccountName": str, "container": {
        "modprobe": {"args": _ARGS, "rawArgs": _ARGS, "dirName": str, "firmwarePath": str, "moduleName": str,
                     "modulesLoadingOrder": [str], "parameters": [str]},
        "containerImage": str, "imagePullPolicy": str, "version": str, "inTreeModuleToRemove": str,
        "inTreeModulesToRemove": [str], "registryTLS": _TLS, "build": _BUILD, "sign": _SIGN,
        "kernelMappings": [_MAPPING]}},
}
_JSON_TYPE = {str: "a string", int: "an integer", bool: "true or false"}


def type_findings(value, shape, where: str) -> list[Finding]:
    """Values whose JSON type differs from shape (None counts as unset, as for the API server)."""
    if value is None:
        return []
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [_type_error(where, _wanted(shape), value)]
        return [f for i, item in enumerate(value)
                for f in (type_findings(item, shape[0], f"{where}[{i}]") if item is not None else
                          [_type_error(f"{where}[{i}]", _wanted(shape[0]), item)])]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [_type_error(where, _wanted(shape), value)]
        return [f for key, item in value.items() if (key in shape or "*" in shape)
                for f in type_findings(item, shape.get(key, shape.get("*")), f"{where}.{key}")]
    return [] if _type_ok(value, shape) else [_type_error(where, _wanted(shape), value)]


def _type_ok(value, shape) -> bool:
    return isinstance(value, shape) and (shape is not int or not isinstance(value, bool))


def well_typed(value, shape):
    """A copy of value without the parts type_findings objects to, so that the rules after the
    type check can read every field and still report all their own problems."""
    if value is None:
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return None
        return [well_typed(item, shape[0]) for item in value if item is not None
                and well_typed(item, shape[0]) is not None]
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return None
        kept = {}
        for key, item in value.items():
            sub = shape.get(key, shape.get("*")) if shape else None
            if sub is None and not (key in shape or "*" in shape):
                kept[key] = copy.deepcopy(item)  # not typed here: unknown or core fields stay as written
                continue
            cleaned = well_typed(item, sub)
            if cleaned is not None or item is None:
                kept[key] = cleaned
        return kept
    return value if _type_ok(value, shape) else None


def _wanted(shape) -> str:
    return "a list" if isinstance(shape, list) else "a mapping" if isinstance(shape, dict) else _JSON_TYPE[shape]


def _type_error(where: str, wanted: str, value) -> Finding:
    got = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
           float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
    hint = " (quote it)" if wanted == "a string" and isinstance(value, (int, float, bool)) else ""
    return error(where, f"must be {wanted}, got {got} {value!r}: the API server rejects it",
                 f"write {where.rsplit('.', 1)[-1]} as {wanted}{hint}", code="kmm-field-type")


def values_at(obj, path: str, where: str = "") -> Iterator[tuple[str, object]]:
    """(location, value) for a dotted path with "[]" for every item of a list; absent parts skip."""
    if not path:
        yield where, obj
        return
    head, _, rest = path.partition(".")
    each = head.endswith("[]")
    name = head[:-2] if each else head
    if not isinstance(obj, dict) or obj.get(name) is None:
        return
    value = obj[name]
    if not each:
        yield from values_at(value, rest, f"{where}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from values_at(item, rest, f"{where}.{name}[{i}]")


def structure_findings(spec: dict, at, fields: Optional[dict] = None) -> list[Finding]:
    """Unknown and missing required fields, list lengths, patterns and the CEL rule of the CRD.
    ``fields`` replaces MODULE_FIELDS' known names (from the live CRD, see live_fields)."""
    findings = []
    source = "the Module CRD" if fields is None else "the cluster's Module CRD"
    for part, paths in FIELD_PATHS.items():
        known, required = MODULE_FIELDS[part]
        if fields is not None and part in fields:
            known = fields[part]
        for path in (paths if isinstance(paths, tuple) else (paths,)):
            for where, obj in values_at(spec, path):
                if isinstance(obj, dict):
                    findings += _object_findings(obj, known, required, at(where), source)
    for path, (low, high) in LIST_LIMITS.items():
        for where, items in values_at(spec, path):
            if not isinstance(items, list):
                continue
            if low is not None and len(items) < low:
                findings.append(error(at(where), f"{path.rsplit('.', 1)[-1]} has {len(items)} entries; the Module CRD "
                                      f"wants at least {low} (minItems): the API server rejects it",
                                      "add an entry, or remove the field", code="kmm-crd-min-items"))
            if high is not None and len(items) > high:
                findings.append(error(at(where), f"{path.rsplit('.', 1)[-1]} has {len(items)} entries; the Module CRD "
                                      f"allows at most {high} (maxItems): the API server rejects it",
                                      f"keep at most {high}", code="kmm-crd-max-items"))
    for path, pattern in PATTERNS.items():
        for where, value in values_at(spec, path):
            if isinstance(value, str) and not re.fullmatch(pattern.strip("^$"), value):
                findings.append(error(at(where), f"{value!r} does not match the Module CRD's pattern {pattern}: the "
                                      "API server rejects it", "use lower-case alphanumerics, '-' and '.'",
                                      code="kmm-crd-pattern"))
    for names, message in EXCLUSIVE:
        if all(spec.get(n) is not None for n in names):
            findings.append(error(at(f".{names[0]}"), f"{message} (the CRD's validation rule): the API server "
                                  "rejects it", f"keep only one of {' and '.join(names)}", code="kmm-crd-rule"))
    return findings


def _object_findings(obj: dict, known: set, required: set, where: str, source: str) -> list[Finding]:
    findings = []
    for name in sorted(set(obj) - set(known), key=str):
        import difflib  # only for an unknown field: validate starts faster without it

        close = difflib.get_close_matches(str(name), known, n=1)
        findings.append(error(f"{where}.{name}", f"unknown field {name!r}: {source} has no such field (strict "
                              "validation rejects it; otherwise it is dropped silently)",
                              f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(sorted(known))}",
                              code="kmm-field-unknown"))
    for name in sorted(set(required) - set(obj)):
        hint = ' (it may be "" to use the container-level image)' if name == "containerImage" else ""
        findings.append(error(f"{where}.{name}", f"{name} is required by the Module CRD{hint}",
                              f"add {name}", code="kmm-field-required"))
    return findings


def live_fields(crd: dict) -> dict:
    """Known field names per MODULE_FIELDS part, read from an installed Module CRD (its newest
    served version), for judging files that use fields newer than kmwizard."""
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [v for v in versions if v.get("served", True)] or versions
    if not served:
        return {}
    schema = ((served[-1].get("schema") or {}).get("openAPIV3Schema") or {})
    spec = ((schema.get("properties") or {}).get("spec")) or {}
    fields = {}
    for part, paths in FIELD_PATHS.items():
        path = paths[0] if isinstance(paths, tuple) else paths
        node = spec
        for step in [s for s in path.split(".") if s]:
            each = step.endswith("[]")
            node = ((node.get("properties") or {}).get(step[:-2] if each else step)) or {}
            if each:
                node = node.get("items") or {}
        if node.get("properties"):
            fields[part] = set(node["properties"])
    return fields
