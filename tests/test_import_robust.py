"""`kmwizard import` on hand-broken objects: whatever the shape, findings naming the place, never a traceback.

Reuses the broken-variant generator of tests/test_validate_robust.py: every node of a KVC MachineConfig, a
Module with its ConfigMap, a ManagedClusterModule and a PreflightValidationOCP is replaced in turn by a
wrongly typed value (a few of the kinds there, to keep this test short)."""
from __future__ import annotations

import pytest

from kmwizard.findings import KmwizardError
from kmwizard.importing import import_documents
from test_validate_robust import CONFIGMAP, HUB, MACHINECONFIG, MODULE, PREFLIGHT, _broken_variants

WRONG = (5, None, ["x"], {"a": 5})


def _variants(doc):
    return _broken_variants(doc, WRONG)


@pytest.mark.parametrize("doc", [MACHINECONFIG, MODULE, HUB, PREFLIGHT],
                         ids=["MachineConfig", "Module", "ManagedClusterModule", "PreflightValidationOCP"])
def test_any_wrong_type_anywhere_gives_findings_not_a_traceback(doc, tmp_path):
    crashes, unnamed = [], []
    for label, broken in _variants(doc):
        try:
            plan = import_documents([("f.yaml", broken), ("cm.yaml", CONFIGMAP)], tmp_path / "o")
        except KmwizardError:
            continue  # a message naming the field, exit 2
        except Exception as exc:  # noqa: BLE001 - what the user would see as a traceback
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        assert plan.ok or plan.findings, label
        codes = [f.code for f in plan.findings if f.severity.value == "error"]
        if "import-shape" in codes and len(codes) == 1:
            unnamed.append(label)  # refused without the linter naming the field
    assert not crashes, "\n".join(crashes[:20])
    assert not unnamed, "\n".join(unnamed[:20])


def test_migrate_on_any_broken_machineconfig_gives_findings_not_a_traceback():
    from kmwizard.migrate import facts_from_machineconfig, migrate

    crashes = []
    for label, broken in _variants(MACHINECONFIG):
        try:
            facts, findings = facts_from_machineconfig("f.yaml", broken)
            if facts is not None:
                migrate(facts, source_repo="https://example.com/a.git")
            else:
                assert findings, label
        except KmwizardError:
            continue
        except Exception as exc:  # noqa: BLE001 - what the user would see as a traceback
            crashes.append(f"{label}: {type(exc).__name__}: {exc}")
    assert not crashes, "\n".join(crashes[:20])
