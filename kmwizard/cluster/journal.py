"""The kmods-via-containers service journal of one node, read through a short-lived privileged pod.

Only on request (``status --explain --journal``): like ``verify``, it runs a pod in namespace
``kmwizard-verify`` that reads the host (``chroot /host journalctl``) and hands the tail back in its
termination message (no log access needed), then deletes the pod (and the namespace it made).
"""
from __future__ import annotations

import secrets
import time
from typing import Callable, Optional

from kmwizard.findings import ClusterError

from .connection import Connection, get_or_none
from .objects import ref_of
from .verify import VERIFY_IMAGE, VERIFY_NAMESPACE, cleanup_pods, ensure_namespace, node_not_ready, verify_pod

# The unit is a template (kmods-via-containers@<instance>.service): every instance, newest lines last.
JOURNAL_SCRIPT = """set -u
chroot /host journalctl --no-pager -o short-iso -n 40 -u 'kmods-via-containers@*' 2>&1 | tail -c 3800 \
  > /dev/termination-log
"""


def journal_link(conn: Connection, manifest: dict, node: dict, seconds: float,
                 progress: Optional[Callable[[str], None]] = None):
    """A Link with the journal tail of the KVC service on ``node``."""
    from .explain import Link

    name = (node.get("metadata") or {}).get("name", "?")
    what = f"kmods-via-containers journal on {name}"
    why = node_not_ready(node)
    if why:
        return Link(what, None, f"not read: {why}")
    try:
        text = read_journal(conn, name, timeout=max(5.0, seconds), progress=progress)
    except ClusterError as exc:
        return Link(what, None, f"could not read: {exc.message}")
    if text is None:
        return Link(what, None, f"no answer from the journal pod within {seconds:.0f} s")
    lines = [line for line in text.splitlines() if line.strip()]
    failed = any(word in line for line in lines for word in ("Failed", "failed", "error", "Error"))
    return Link(what, False if failed else True, "the service logged failures" if failed else
                ("the service ran" if lines else "no journal lines for kmods-via-containers@*"), lines[-15:])


def read_journal(conn: Connection, node: str, *, timeout: float, poll: float = 1.0,
                 progress: Optional[Callable[[str], None]] = None) -> str | None:
    say = progress or (lambda _m: None)
    ns_res, pod_res = conn.resource("v1", "Namespace"), conn.resource("v1", "Pod")
    pod = verify_pod(node, [], secrets.token_hex(3), image=VERIFY_IMAGE, lifetime=int(timeout) + 30)
    pod["metadata"]["name"] = pod["metadata"]["name"].replace("kmwizard-verify-", "kmwizard-journal-", 1)
    pod["metadata"]["annotations"]["kmwizard.io/purpose"] = "reads the kmods-via-containers journal (read-only)"
    pod["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", JOURNAL_SCRIPT]
    deadline = time.time() + timeout
    created, created_ns = [], False
    try:
        created_ns = ensure_namespace(conn, ns_res, deadline, poll, say)
        conn.call(pod_res.create, body=pod, namespace=VERIFY_NAMESPACE, action="creating journal pod",
                  ref=ref_of(pod), once=True)
        created.append(pod["metadata"]["name"])
        say(f"created pod {VERIFY_NAMESPACE}/{pod['metadata']['name']} on node {node} to read the journal")
        while time.time() < deadline:
            live = get_or_none(conn, pod_res, pod["metadata"]["name"], VERIFY_NAMESPACE) or {}
            status = live.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed"):
                for cs in status.get("containerStatuses") or []:
                    return ((cs.get("state") or {}).get("terminated") or {}).get("message", "")
                return ""
            time.sleep(poll)
        return None
    finally:
        cleanup_pods(conn, pod_res, ns_res, created, created_ns, say)
