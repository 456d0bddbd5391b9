"""The cluster engine's public names in one place, for code written before the split.

New code imports from the module that owns a name: ``connection`` (connect, Connection,
kubeconfig), ``discovery`` (discover, preflight, versions), ``changes`` (apply, plan, diff,
delete), ``watch`` (rollout), ``status``, ``verify``.  Importing this stays cheap: no
``kubernetes`` until ``connect`` runs.
"""
from __future__ import annotations

from .changes import (ABSENT, CONFIGURED, CREATED, DELETED, FAILED, KEPT, NOT_APPLIED, NOT_DELETED, UNCHANGED,
                      WOULD_CONFIGURE, WOULD_CREATE, WOULD_DELETE, ObjectDiff, ObjectResult, RebootWarning, Report,
                      apply, delete, diff, plan, reboot_warnings)
from .connection import DEFAULT_REQUEST_TIMEOUT, Connection, connect, get_or_none, resolve_kubeconfig
from .discovery import ClusterFacts, check_references, discover, fill_answer_defaults, preflight
from .objects import delete_order
from .status import ObjectStatus, StatusReport, managed_objects, status
from .verify import VERIFY_IMAGE, VERIFY_NAMESPACE, NodeCheck, verify
from .watch import snapshot, watch_rollout

__all__ = ["ABSENT", "CONFIGURED", "CREATED", "DELETED", "FAILED", "KEPT", "NOT_APPLIED", "NOT_DELETED", "UNCHANGED",
           "WOULD_CONFIGURE", "WOULD_CREATE", "WOULD_DELETE", "ObjectDiff", "ObjectResult", "RebootWarning", "Report",
           "apply", "delete", "diff", "plan", "reboot_warnings", "DEFAULT_REQUEST_TIMEOUT", "Connection", "connect",
           "get_or_none", "resolve_kubeconfig", "ClusterFacts", "check_references", "discover",
           "fill_answer_defaults", "preflight", "delete_order", "ObjectStatus", "StatusReport", "managed_objects",
           "status", "VERIFY_IMAGE", "VERIFY_NAMESPACE", "NodeCheck", "verify", "snapshot", "watch_rollout"]
