"""Validate manifests against the real CRD schemas in ../shared/reference/crds.

The schemas are upstream data (KMM and MCO); kmwizard never copies them.  We turn
each ``openAPIV3Schema`` into a JSON Schema the way the API server effectively
judges it: ``default:`` values applied first, ``x-kubernetes-*`` keys dropped
(``preserve-unknown-fields`` keeps any content, ``int-or-string`` accepts both),
and ``additionalProperties: false`` wherever properties are listed, as strict
field validation does.  Core kinds (Namespace, ConfigMap, Secret) have no CRD;
for them we check the few rules kmwizard relies on.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CRD_DIR = SHARED / "reference" / "crds"

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def require_crds() -> None:
    if not CRD_DIR.is_dir():
        pytest.skip(f"the real CRDs are not here ({CRD_DIR} is absent: not in the kmwizard workplace)")


def _strict(node):
    """Drop x-kubernetes-* keys and forbid unknown properties, recursively."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "default":
            continue
        out[key] = _strict(value)
    if int_or_string:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def apply_defaults(schema: dict, obj):
    """Fill ``default:`` values into obj as the API server does before validation."""
    if isinstance(obj, dict) and schema.get("type") == "object":
        for name, sub in (schema.get("properties") or {}).items():
            if name not in obj and "default" in sub:
                obj[name] = copy.deepcopy(sub["default"])
            if name in obj:
                apply_defaults(sub, obj[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for value in obj.values():
                apply_defaults(extra, value)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(schema["items"], item)
    return obj


@lru_cache(maxsize=None)
def _crd_index() -> dict:
    index = {}
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            raw = version["schema"]["openAPIV3Schema"]
            index[(f"{group}/{version['name']}", kind)] = (raw, _strict(raw), crd["spec"]["scope"])
    return index


def crd_for(api_version: str, kind: str):
    require_crds()
    return _crd_index().get((api_version, kind))


def _metadata_errors(obj: dict, namespaced: bool | None) -> list[str]:
    errors = []
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if not name:
        errors.append("metadata.name: Required value")
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: Invalid value {name!r}: must be a DNS-1123 subdomain")
    if namespaced is True and not meta.get("namespace"):
        errors.append("metadata.namespace: Required value (namespaced kind)")
    if namespaced is False and meta.get("namespace"):
        errors.append("metadata.namespace: must not be set on a cluster-scoped kind")
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63:
            errors.append(f"metadata.labels.{key}: label values are strings of at most 63 characters")
    return errors


def validate_manifest(obj: dict) -> list[str]:
    """Return a list of error strings (empty when the object would be accepted)."""
    import jsonschema

    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if (api_version, kind) == ("v1", "Namespace"):
        errors = _metadata_errors(obj, namespaced=False)
        name = (obj.get("metadata") or {}).get("name", "")
        if name and (len(name) > 63 or not DNS1123_LABEL.match(name)):
            errors.append(f"metadata.name: namespace {name!r} must be a DNS-1123 label")
        extra = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
        return errors + [f"{k}: field not declared in schema" for k in sorted(extra)]
    if (api_version, kind) in {("v1", "ConfigMap"), ("v1", "Secret")}:
        errors = _metadata_errors(obj, namespaced=True)
        allowed = {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"}
        if kind == "Secret":
            allowed |= {"stringData", "type"}
        errors += [f"{k}: field not declared in schema" for k in sorted(set(obj) - allowed)]
        for field in ("data", "stringData", "binaryData"):
            for key, value in (obj.get(field) or {}).items():
                if not CONFIGMAP_KEY.match(key):
                    errors.append(f"{field}.{key}: a valid config key must consist of alphanumerics, '-', '_' or '.'")
                if not isinstance(value, str):
                    errors.append(f"{field}.{key}: must be a string")
        return errors
    found = crd_for(api_version, kind)
    if found is None:
        return [f"no CRD known for apiVersion {api_version!r} kind {kind!r}"]
    raw, strict, scope = found
    obj = apply_defaults(raw, copy.deepcopy(obj))
    validator = jsonschema.Draft202012Validator(strict)
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]
    return errors + _metadata_errors(obj, namespaced=(scope == "Namespaced"))
