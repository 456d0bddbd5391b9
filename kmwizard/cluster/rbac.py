"""Which rights a command needs, which of them this user lacks (asked up front, all at once), and the
least-privilege grant that adds them.

The server is asked with SelfSubjectAccessReviews (one per right, open to every logged-in user), so
a user learns every missing right in one run instead of one per failed request.  Verbs are only the
ones kmwizard uses: it only reads nodes, pools and namespaces it does not create; server-side apply
is ``patch`` (and ``create`` when the object is new: the apiserver authorizes the create inside the
patch handler, endpoints/handlers/patch.go withAuthorization).
"""
from __future__ import annotations

from dataclasses import dataclass

from kmwizard.findings import ClusterError, Finding, error

from .connection import Connection, get_or_none
from .objects import ref_of

READ = ("get", "list", "watch")
APPLY = ("get", "create", "patch")
DELETE = ("get", "delete")


@dataclass(frozen=True)
class Right:
    verb: str
    group: str
    resource: str      # plural
    namespace: str     # "" for cluster-scoped


def _plural(conn: Connection, api_version: str, kind: str) -> tuple[str, str, bool] | None:
    """(group, plural, namespaced) from discovery; None when the kind is not served."""
    try:
        res = conn.resource(api_version, kind)
    except ClusterError:
        return None
    return api_version.rpartition("/")[0], res.name, bool(res.namespaced)


def required(conn: Connection, command: str, manifests: list[dict], *, wait: bool = False) -> list[Right]:
    """The rights ``command`` ("apply", "delete", "verify") needs for these manifests."""
    verbs = {"apply": APPLY, "delete": DELETE, "verify": ("get",)}.get(command, ("get",))
    rights: list[Right] = []
    for m in manifests:
        ref = ref_of(m)
        found = _plural(conn, ref.api_version, ref.kind)
        if found:
            group, plural, namespaced = found
            wanted = verbs
            if command == "apply" and _exists(conn, ref):
                wanted = tuple(v for v in verbs if v != "create")   # an apply of an existing object is a patch
            rights += [Right(v, group, plural, (ref.namespace or "") if namespaced else "") for v in wanted]
    reads = []
    has_mc = any(m.get("kind") == "MachineConfig" for m in manifests)
    if (command in ("apply", "delete") and wait and has_mc) or (command == "verify" and has_mc):
        reads.append(("machineconfiguration.openshift.io/v1", "MachineConfigPool", ""))
    if command == "verify":
        reads.append(("v1", "Node", ""))
    for api_version, kind, ns in reads:
        found = _plural(conn, api_version, kind)
        if found:
            rights += [Right(v, found[0], found[1], ns) for v in READ]
    if command == "verify":
        from .verify import VERIFY_NAMESPACE

        rights += [Right(v, "", "pods", VERIFY_NAMESPACE) for v in ("create", "get", "list", "delete")]
        ns_verbs = ("get",) if _exists(conn, ref_of({"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": VERIFY_NAMESPACE}})) \
            else ("get", "create", "patch", "delete")   # it makes (and removes) its namespace only when absent
        rights += [Right(v, "", "namespaces", "") for v in ns_verbs]
    return list(dict.fromkeys(rights))


def _exists(conn: Connection, ref) -> bool:
    try:
        return get_or_none(conn, conn.resource(ref.api_version, ref.kind), ref.name, ref.namespace, ref=ref) is not None
    except ClusterError:
        return False     # unreadable: ask for everything


def missing(conn: Connection, rights: list[Right]) -> tuple[list[Right], str]:
    """(rights the server denies, the user's name); ([], "") when the server cannot be asked."""
    try:
        review = conn.resource("authorization.k8s.io/v1", "SelfSubjectAccessReview")
    except ClusterError:
        return [], ""
    denied = []
    for r in rights:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"verb": r.verb, "group": r.group, "resource": r.resource,
                                                **({"namespace": r.namespace} if r.namespace else {})}}}
        try:
            answer = conn.call(review.create, body=body, action="asking the server about your rights").to_dict()
        except ClusterError:
            return [], ""          # no way to ask (e.g. anonymous): the requests themselves will tell
        if not (answer.get("status") or {}).get("allowed"):
            denied.append(r)
    return denied, _whoami(conn)


def _whoami(conn: Connection) -> str:
    try:
        res = conn.resource("authentication.k8s.io/v1", "SelfSubjectReview")
        answer = conn.call(res.create, body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                           action="asking the server who you are").to_dict()
        return ((answer.get("status") or {}).get("userInfo") or {}).get("username", "")
    except ClusterError:
        return ""


def _subject(user: str) -> str:
    if user.startswith("system:serviceaccount:"):
        return "--serviceaccount=" + ":".join(user.split(":")[2:4])
    return f"--user={user or '<your user>'}"


def grant_commands(denied: list[Right], user: str, existing_namespaces: set[str]) -> list[str]:
    """The least-privilege ``oc`` commands that grant exactly the denied rights.

    A Role needs its namespace to exist: where it does not yet, the rights go into a ClusterRole that
    is bound in the namespace once it exists (``oc create role -n X`` fails before that)."""
    subject = _subject(user)
    scopes: dict[str, dict[str, set[str]]] = {}
    for r in denied:
        res = f"{r.resource}.{r.group}" if r.group else r.resource
        scopes.setdefault(r.namespace, {}).setdefault(res, set()).add(r.verb)
    out = []
    for ns, resources in sorted(scopes.items()):
        # one role per verb set: oc create role takes one --verb list for all its --resource values
        by_verbs: dict[str, list[str]] = {}
        for res, verbs in sorted(resources.items()):
            by_verbs.setdefault(",".join(sorted(verbs)), []).append(res)
        for i, (verbs, res_list) in enumerate(sorted(by_verbs.items())):
            name = f"kmwizard-{ns or 'cluster'}" + (f"-{i + 1}" if len(by_verbs) > 1 else "")
            resources_flag = ",".join(res_list)
            if not ns:
                out.append(f"oc create clusterrole {name} --verb={verbs} --resource={resources_flag} && "
                           f"oc create clusterrolebinding {name} --clusterrole={name} {subject}")
            elif ns in existing_namespaces:
                out.append(f"oc create role {name} --verb={verbs} --resource={resources_flag} -n {ns} && "
                           f"oc create rolebinding {name} --role={name} {subject} -n {ns}")
            else:
                out.append(f"oc create clusterrole {name} --verb={verbs} --resource={resources_flag} && (once "
                           f"namespace {ns} exists) oc create rolebinding {name} --clusterrole={name} {subject} -n {ns}")
    return out


def access_findings(conn: Connection, command: str, manifests: list[dict], existing_namespaces: set[str], *,
                    wait: bool = False) -> list[Finding]:
    """One error listing every right the command lacks, with the grant; [] when nothing is missing."""
    denied, user = missing(conn, required(conn, command, manifests, wait=wait))
    if not denied:
        return []
    listing = "; ".join(f"{r.verb} {r.resource}{'.' + r.group if r.group else ''}"
                        + (f" in namespace {r.namespace}" if r.namespace else " (cluster-wide)") for r in denied)
    return [error("rights", f"{user or 'you'} may not: {listing} ({len(denied)} right(s) missing for `kmwizard "
                  f"{command}`)", "ask a cluster admin to run: " + " ; ".join(
                      grant_commands(denied, user, existing_namespaces)), code="cluster-rights-missing")]

