"""Rollout progress read from status objects (pure: judged on recorded MachineConfigPool status).

MachineConfigPool: the MCO renders a new config that merges every MachineConfig of the pool
(``spec.configuration``: name and ``source``), then drains and reboots the nodes one at a time; a node
counts as updated once it runs the new rendered config.  The pool status controller copies
``spec.configuration`` to ``status.configuration`` only once every machine is updated, ready and
available (MCO pkg/controller/node/status.go calculateStatus).  So the pool has finished rolling out
*our* MachineConfig when ``spec.configuration`` lists it, ``status.configuration`` names the same
rendered config, and every machine is updated; after a change to a MachineConfig the pool already
had, that rendered config must also differ from the one the pool targeted before the apply.

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
    unfollowed: str = ""             # done as far as kmwizard can tell, but this part is not followed

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


def pool_progress(pool: dict, mc_name: str | None = None, *, removed: bool = False,
                  previous_render: str | None = None) -> Progress:
    """Progress of a MachineConfigPool towards a config that includes (or, after a delete,
    excludes) MachineConfig ``mc_name``.  ``previous_render``: the rendered config the pool targeted
    before the apply changed ``mc_name``; the rollout is done only on a newer one."""
    name = (pool.get("metadata") or {}).get("name", "?")
    status = pool.get("status") or {}
    target_cfg = (pool.get("spec") or {}).get("configuration") or {}
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
    # The target (spec) says what the MCO rendered; the status says what every machine runs.
    listed = target_cfg or rendered
    sources = [s.get("name") for s in listed.get("source") or []]
    if mc_name is None or not listed:
        in_place = True          # nothing to check against: counts alone decide
    else:
        in_place = (mc_name not in sources) if removed else (mc_name in sources)
    rerendered = not previous_render or bool(target_cfg.get("name")) and target_cfg.get("name") != previous_render
    reached = not target_cfg.get("name") or not rendered or rendered.get("name") == target_cfg.get("name")
    generation = (pool.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    current = generation is None or observed is None or observed >= generation
    updating = _condition(status, "Updating")
    counts_done = total is not None and updated == total and ready == total
    prog.done = (not prog.failed and in_place and rerendered and reached and current and counts_done
                 and not (updating and updating.get("status") == "True"))

    if total is None:
        prog.detail = f"pool {name}: no status yet"
    else:
        prog.detail = f"pool {name}: {updated}/{total} nodes updated, {ready} ready"
    if not in_place or not rerendered:
        prog.pending.append(f"the MCO has not yet rendered pool {name} "
                            + (f"without {mc_name}" if removed else f"with {mc_name}")
                            + (f" (it still targets {previous_render}, from before the apply)"
                               if in_place and not rerendered else ""))
    elif not reached:
        prog.pending.append(f"pool {name} has rendered {target_cfg.get('name')}; its machines still run "
                            f"{rendered.get('name')}")
    if (not in_place or not rerendered or not reached or not current) and counts_done:
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


def module_progress(module: dict, ready_nodes: list[str], events: list[dict], *,
                    update: dict | None = None, nmcs: list[dict] | None = None, nmc_problem: str = "",
                    labels_checked: bool = True) -> Progress:
    """Progress of a KMM Module: loader counts, ready-labelled nodes, and build/sign events.

    ``update``: the new spec when the apply changed an existing Module.  KMM's counts then still
    describe the old spec until it rewrites the nodes' NodeModulesConfigs; the update is done when
    every NodeModulesConfig entry of the Module asks for the new image and module and reports
    (status) running exactly that (KMM counts a node available when the status config equals the
    spec config: internal/controllers/module_reconciler.go updateModuleLoaderStatus).  ``nmcs``: the
    NodeModulesConfigs; None when they could not be read (``nmc_problem`` says why): the update is then
    not followed, and said so.  ``labels_checked``: False when this user may not list nodes (the
    ready labels are then not required, and said so)."""
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
    labelled = len(ready_nodes) >= (total or 0) or not labels_checked
    prog.done = bool(not prog.failed and total and available >= total and labelled)
    if not labels_checked:
        prog.unfollowed = (f"{target}: the node labels {READY_LABEL.format(namespace=meta.get('namespace'), name=meta.get('name'))} "
                           "were not checked (no right to list nodes); the counts come from the Module's status")
    elif total and available >= total and len(ready_nodes) < total:
        prog.pending.append(f"{total - len(ready_nodes)} node(s) lack the label "
                            + READY_LABEL.format(namespace=meta.get("namespace"), name=meta.get("name")))
    if update is not None and not prog.failed:
        if nmcs is None:
            prog.unfollowed = "; ".join(filter(None, [prog.unfollowed, f"{target} was changed, and KMM's counts do not tell which spec the nodes run: "
                               f"the update is not followed ({nmc_problem or 'NodeModulesConfigs not readable'}); "
                               "check with `kmwizard verify` or `kmwizard status --explain`"]))
        else:
            behind = nodes_behind_update(update, nmcs)
            if behind:
                prog.done = False
                prog.done_count = max(0, (total or 0) - len(behind))
                prog.pending.extend(behind)
    return prog


def _entry(items: list, namespace: str, name: str) -> dict | None:
    return next((e for e in items or [] if e.get("namespace") == namespace and e.get("name") == name), None)


def nodes_behind_update(module: dict, nmcs: list[dict]) -> list[str]:
    """Why nodes do not run ``module``'s spec yet, one line per node (empty: all do)."""
    from kmwizard.kmm.kernel_match import match_kernel

    meta = module.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name")
    container = ((module.get("spec") or {}).get("moduleLoader") or {}).get("container") or {}
    want_module = (container.get("modprobe") or {}).get("moduleName")
    behind = []
    for nmc in nmcs:
        node = (nmc.get("metadata") or {}).get("name", "?")
        spec = _entry((nmc.get("spec") or {}).get("modules"), ns, name)
        if spec is None:
            continue  # KMM does not target this node (any more)
        config = spec.get("config") or {}
        kernel = config.get("kernelVersion", "")
        want_image = match_kernel(module, kernel).image if kernel else ""
        if (want_image and config.get("containerImage") != want_image) or \
                (want_module and (config.get("modprobe") or {}).get("moduleName") != want_module):
            behind.append(f"node {node}: KMM has not passed the new spec on yet (asks for "
                          f"{config.get('containerImage')}, the new spec gives {want_image or '?'})")
            continue
        status = _entry((nmc.get("status") or {}).get("modules"), ns, name)
        if status is None or (status.get("config") or {}) != config:
            behind.append(f"node {node}: the worker pod has not loaded {config.get('containerImage')} yet")
    return behind
