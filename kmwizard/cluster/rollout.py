"""Rollout progress read from status objects (pure: judged on recorded MachineConfigPool status).

MachineConfigPool: the MCO renders a new config that merges every MachineConfig of the pool
(``spec.configuration``), then drains and reboots the nodes one at a time; a node counts as
updated once it runs the new rendered config.  The pool has finished rolling out *our*
MachineConfig when ``status.configuration.source`` lists it and every machine is updated.

KMM Module: ``status.moduleLoader`` counts the nodes that match the selector, the nodes that
should run the loader, and those where it runs; KMM labels a node
``kmm.node.kubernetes.io/<namespace>.<name>.ready`` once the module is loaded there.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Progress:
    """One snapshot of a rollout, for a progress bar or a status line."""

    target: str                      # "MachineConfigPool worker" or "Module drivers/demo"
    done_count: int = 0
    total: int | None = None         # None: not known yet
    done: bool = False
    failed: str = ""                 # why the rollout cannot finish without help
    detail: str = ""                 # one line for humans
    pending: list[str] = field(default_factory=list)   # what is still waited for
    events: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return 1.0 if self.done else None
        return min(1.0, self.done_count / self.total)


def _condition(status: dict, kind: str) -> dict | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def pool_progress(pool: dict, mc_name: str | None = None, *, removed: bool = False) -> Progress:
    """Progress of a MachineConfigPool towards a config that includes (or, after a delete,
    excludes) MachineConfig ``mc_name``."""
    name = (pool.get("metadata") or {}).get("name", "?")
    status = pool.get("status") or {}
    total = status.get("machineCount")
    updated = status.get("updatedMachineCount", 0) or 0
    ready = status.get("readyMachineCount", 0) or 0
    prog = Progress(target=f"MachineConfigPool {name}", done_count=updated, total=total)

    for kind in ("Degraded", "NodeDegraded", "RenderDegraded"):
        cond = _condition(status, kind)
        if cond and cond.get("status") == "True":
            prog.failed = f"pool {name} is {kind}: {cond.get('message') or cond.get('reason') or 'no message'}"
            break
    degraded = status.get("degradedMachineCount", 0) or 0
    if degraded and not prog.failed:
        prog.failed = f"pool {name}: {degraded} machine(s) degraded"

    rendered = status.get("configuration") or {}
    sources = [s.get("name") for s in rendered.get("source") or []]
    if mc_name is None or not rendered:
        in_place = True          # nothing to check against: counts alone decide
    else:
        in_place = (mc_name not in sources) if removed else (mc_name in sources)
    updating = _condition(status, "Updating")
    counts_done = total is not None and updated == total and ready == total
    prog.done = (not prog.failed and in_place and counts_done
                 and not (updating and updating.get("status") == "True"))

    if total is None:
        prog.detail = f"pool {name}: no status yet"
    else:
        prog.detail = f"pool {name}: {updated}/{total} nodes updated, {ready} ready"
    if not in_place:
        prog.pending.append(f"the MCO has not yet rendered pool {name} "
                            + (f"without {mc_name}" if removed else f"with {mc_name}"))
        if counts_done:
            # Counts describe the previous rendered config until the MCO starts the rollout.
            prog.done_count = 0
    if total is not None and updated < total:
        prog.pending.append(f"{total - updated} of {total} nodes of pool {name} not updated yet "
                            "(each drains and reboots in turn)")
    if updating and updating.get("status") == "True" and updating.get("message"):
        prog.events.append(updating["message"])
    return prog


READY_LABEL = "kmm.node.kubernetes.io/{namespace}.{name}.ready"
_FAILED_EVENTS = {"BuildFailed", "SignFailed", "ModuleLoadFailed", "FailedCreate"}


def module_progress(module: dict, ready_nodes: list[str], events: list[dict]) -> Progress:
    """Progress of a KMM Module: loader counts, ready-labelled nodes, and build/sign events."""
    meta = module.get("metadata") or {}
    target = f"Module {meta.get('namespace')}/{meta.get('name')}"
    loader = (module.get("status") or {}).get("moduleLoader") or {}
    matching = loader.get("nodesMatchingSelectorNumber")
    desired = loader.get("desiredNumber")
    available = loader.get("availableNumber", 0) or 0
    total = desired if desired is not None else matching
    prog = Progress(target=target, done_count=max(available, len(ready_nodes)) if total else 0, total=total)

    for ev in events:
        reason, message = ev.get("reason", ""), ev.get("message", "")
        prog.events.append(f"{reason}: {message}" if message else reason)
        if reason in _FAILED_EVENTS or (ev.get("type") == "Warning" and reason.endswith("Failed")):
            prog.failed = f"{target}: {reason}: {message}"

    if matching is None:
        prog.detail = f"{target}: KMM has not reported a status yet"
        prog.pending.append(f"KMM has not reconciled {target} yet (is the KMM operator running?)")
    elif matching == 0:
        prog.detail = f"{target}: no node matches the selector"
        prog.pending.append(f"no node matches the selector of {target}: check spec.selector and node labels")
    else:
        prog.detail = (f"{target}: loaded on {available}/{total} nodes "
                       f"({matching} match the selector, {len(ready_nodes)} labelled ready)")
        if available < (total or 0):
            prog.pending.append(f"{total - available} of {total} nodes have not loaded the module yet")
    prog.done = bool(not prog.failed and total and available >= total and len(ready_nodes) >= total)
    if total and available >= total and len(ready_nodes) < total:
        prog.pending.append(f"{total - len(ready_nodes)} node(s) lack the label "
                            + READY_LABEL.format(namespace=meta.get("namespace"), name=meta.get("name")))
    return prog
