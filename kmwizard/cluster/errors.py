"""Turn API-server answers and transport failures into messages in the user's terms.

The shapes handled here are the ones recorded from a real kube-apiserver
(``shared/reference/apiserver-transcripts``): ``Status`` objects with ``reason``,
``details.causes``; SSA schema failures answered as 500 without a reason; missing kinds
reported by the dynamic client's discovery (no HTTP 404 at all); and urllib3's
connection, TLS and timeout errors.  No ``kubernetes`` import at module level.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from kmwizard.findings import ClusterError
from kmwizard.regexps import lazy

from .objects import ObjectRef

# Verbs kmwizard uses on everything it manages: a role granting only the failed verb
# would fail again at the next step.
KMWIZARD_VERBS = "get,list,watch,create,patch,delete"


@dataclass(frozen=True)
class Target:
    """Which cluster and identity a request went to (never a credential)."""

    server: str
    context: str = ""
    cluster: str = ""
    user: str = ""
    namespace: str = ""

    def describe(self) -> str:
        ctx = f"context {self.context!r}" if self.context else "in-cluster configuration"
        return f"{self.server} ({ctx})"


class ApplyConflict(ClusterError):
    """409 on server-side apply: other field managers own fields kmwizard sets."""

    def __init__(self, message: str, fix: str, owners: dict[str, list[str]]):
        super().__init__(message, fix)
        self.owners = owners


class Forbidden(ClusterError):
    def __init__(self, message: str, fix: str, *, user="", verb="", resource="", group="", namespace=""):
        super().__init__(message, fix)
        self.user, self.verb, self.resource, self.group, self.namespace = user, verb, resource, group, namespace


class Invalid(ClusterError):
    """The server's schema rejected an object: ``causes`` are (field path, message)."""

    def __init__(self, message: str, fix: str, causes: list[tuple[str, str]]):
        super().__init__(message, fix)
        self.causes = causes


class Unreachable(ClusterError):
    """No usable answer from the server: refused, TLS, timeout, connection dropped."""


class NotInstalled(ClusterError):
    """The kind's API group is not served: KMM or the MCO is not installed."""


class NamespaceTerminating(ClusterError):
    """403 from the NamespaceLifecycle admission plugin: the namespace is being deleted and refuses new objects
    until the namespace controller has emptied it (seconds to minutes); a retry after that succeeds."""

    def __init__(self, message: str, fix: str, *, namespace: str = ""):
        super().__init__(message, fix)
        self.namespace = namespace


class NotLoggedIn(ClusterError):
    """403 for ``system:anonymous``: the request carried no credentials the server recognised as such."""


class PodSecurityRejected(ClusterError):
    """403 from PodSecurity admission: the namespace's enforce level does not admit the pod."""


class Retryable(ClusterError):
    """The server asked to come back later (429, or a 503/504 while it starts or its cache catches up).

    ``retry_after``: seconds the server asked for (Retry-After header or details.retryAfterSeconds), or None.
    ``any_request``: True when the server refused before doing anything (429), so even a create may be sent again.
    """

    def __init__(self, message: str, fix: str, *, retry_after: float | None = None, any_request: bool = False):
        super().__init__(message, fix)
        self.retry_after, self.any_request = retry_after, any_request


class ServerError(ClusterError):
    """A 5xx the server gave without asking to retry (etcd leader change, a restarting aggregated API)."""


class Missing(ClusterError):
    """404: an object (or the namespace it lives in) does not exist."""

    def __init__(self, message: str, fix: str = "", *, kind: str = "", name: str = ""):
        super().__init__(message, fix)
        self.kind, self.name = kind, name


def status_body(exc) -> dict:
    """The parsed ``Status`` object of an API error, or {} if the body is not one."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {"message": body.strip()[:500]}
    return body if isinstance(body, dict) else {}


# Non-resource requests (discovery: GET /apis) are refused as "cannot get path" (apiserver
# endpoints/handlers/responsewriters/errors.go forbiddenMessage).
_FORBIDDEN_PATH = lazy(r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) path "(?P<path>[^"]*)"')
ANONYMOUS = "system:anonymous"
_FORBIDDEN = lazy(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)"'
    r'(?: in API group "(?P<group>[^"]*)")?'
    r'(?: in the namespace "(?P<namespace>[^"]*)")?')
_TYPED_PATCH = lazy(r"failed to create typed patch object \((?P<obj>[^)]*)\): (?P<path>\.?[^:]*): (?P<why>.*)")
_CONFLICT_CAUSE = lazy(r'conflict with "(?P<manager>[^"]*)"')

MISSING_KIND = {
    "Module": ("the KMM operator is not installed in this cluster (the kmm.sigs.x-k8s.io API group "
               "does not serve Module)",
               "install Kernel Module Management from OperatorHub (OpenShift) or deploy the KMM operator, "
               "or use the KVC method (MachineConfig) instead"),
    "MachineConfig": ("this is not an OpenShift cluster: MachineConfigs need the Machine Config Operator "
                      "(machineconfiguration.openshift.io is not served)",
                      "use the KMM method on plain Kubernetes, or point --context at an OpenShift cluster"),
    "MachineConfigPool": ("this is not an OpenShift cluster: MachineConfigPools need the Machine Config "
                          "Operator (machineconfiguration.openshift.io is not served)",
                          "use the KMM method on plain Kubernetes, or point --context at an OpenShift cluster"),
}


def missing_kind(api_version: str, kind: str) -> NotInstalled:
    message, fix = MISSING_KIND.get(kind, (
        f"the cluster does not serve {kind} ({api_version}): the API group is not installed",
        "install the operator that provides it, or check the apiVersion"))
    return NotInstalled(message, fix)


# What kmwizard only ever reads: a grant for these never needs more than reading.
READ_ONLY_RESOURCES = {"nodes", "machineconfigpools", "events", "nodemodulesconfigs", "moduleimagesconfigs",
                       "clusterversions", "clusterserviceversions", "pods/log"}
READ_VERBS = "get,list,watch"


def _grant_fix(user: str, verb: str, resource: str, group: str, namespace: str) -> str:
    res = f"{resource}.{group}" if group else resource
    role = f"kmwizard-{resource.replace('/', '-')}"
    if resource in READ_ONLY_RESOURCES or (resource == "namespaces" and verb in READ_VERBS.split(",")):
        verbs = READ_VERBS    # least privilege: kmwizard only reads these
    else:
        verbs = KMWIZARD_VERBS
    if user.startswith("system:serviceaccount:"):
        subject = "--serviceaccount=" + ":".join(user.split(":")[2:4])
    else:
        subject = f"--user={user}"
    if namespace:
        fix = (f"ask a cluster admin for a Role granting {verb} (kmwizard uses {verbs}) on {res} in "
               f"namespace {namespace}: `oc create role {role} --verb={verbs} --resource={res} "
               f"-n {namespace}` and `oc create rolebinding {role} --role={role} {subject} -n {namespace}`")
        if not group and resource in {"configmaps", "secrets", "serviceaccounts", "pods", "events"}:
            fix += f"; the built-in ClusterRole `edit` bound in {namespace} also grants it"
        return fix
    return (f"ask a cluster admin for a ClusterRole granting {verb} (kmwizard uses {verbs}) on {res}: "
            f"`oc create clusterrole {role} --verb={verbs} --resource={res}` and "
            f"`oc create clusterrolebinding {role} --clusterrole={role} {subject}`"
            + ("; MachineConfigs usually need cluster-admin" if resource == "machineconfigs" else ""))


def from_status(status: dict, *, code: int, target: Target | None = None, action: str = "",
                ref: ObjectRef | None = None, retry_after: float | None = None) -> ClusterError:
    """A ClusterError for an API ``Status`` answer (or a non-Status error body)."""
    reason = status.get("reason", "")
    message = status.get("message") or f"HTTP {code}"
    details = status.get("details") or {}
    if retry_after is None and details.get("retryAfterSeconds"):
        retry_after = float(details["retryAfterSeconds"])
    causes = details.get("causes") or []
    what = str(ref) if ref else (details.get("name") or "")
    doing = " ".join(part for part in (action, what) if part) or "the request"  # "connecting", not "connecting the request"
    where = f" on {target.describe()}" if target else ""

    if code == 403 or reason == "Forbidden":
        terminating = next((c for c in causes if c.get("reason") == "NamespaceTerminating"), None)
        if terminating is not None:
            # admission/plugin/namespace/lifecycle: creates in a Terminating namespace are refused
            ns = (terminating.get("message") or "").split(" ")[1:2]
            ns = ns[0] if ns else (ref.namespace if ref else "")
            return NamespaceTerminating(
                f"{doing}: namespace {ns} is being deleted (Terminating){where}: the server accepts nothing new in "
                "it until it is gone", f"wait until `oc get namespace {ns}` answers NotFound, then run again "
                "(the namespace controller removes its contents first)", namespace=ns)
        if "violates PodSecurity" in message:
            level = re.search(r'violates PodSecurity "([^"]*)"', message)
            ns = ref.namespace if ref else ""
            return PodSecurityRejected(
                f"{doing}: Pod Security admission refuses the pod in namespace {ns}{where}: "
                f"{message.split('is forbidden: ', 1)[-1]}",
                f"the namespace enforces {level.group(1) if level else 'a restricted level'}; kmwizard's check pods "
                f"need `pod-security.kubernetes.io/enforce=privileged` on namespace {ns} (ask an admin: `oc label "
                f"namespace {ns} pod-security.kubernetes.io/enforce=privileged --overwrite`), or delete the "
                "namespace so kmwizard creates its own, labelled one")
        m = _FORBIDDEN.search(message) or _FORBIDDEN_PATH.search(message)
        if m is None and message.rstrip().endswith("is forbidden:"):
            # Server-side apply of a new object is authorized as "create" too, and that refusal carries
            # no reason (endpoints/handlers/patch.go withAuthorization).
            resource, group = details.get("kind", ""), details.get("group", "")
            namespace = ref.namespace if ref and ref.namespace else ""
            res = f"{resource}.{group}" if group else resource
            return Forbidden(f"{doing}: you may not create {res or 'this kind'}"
                             + (f" in namespace {namespace}" if namespace else "") + f"{where} (server-side apply of "
                             "a new object needs the create right as well as patch)",
                             _grant_fix("$(oc whoami)", "create", resource, group, namespace),
                             verb="create", resource=resource, group=group,
                             namespace=namespace)
        if m and m["user"] == ANONYMOUS:
            return NotLoggedIn(f"{doing}: you are not logged in (no token or certificate was sent): the server{where} "
                               f"treats the request as {ANONYMOUS}", "log in (`oc login ...`) or pick a --context "
                               "whose user has a token or a client certificate (`oc config view --minify`)")
        if m and "path" in m.groupdict():
            return Forbidden(f"{doing}: user {m['user']} may not {m['verb']} {m['path']}{where}",
                             "ask a cluster admin to bind the built-in ClusterRole system:discovery (API discovery "
                             "is open to every logged-in user on a default cluster)", user=m["user"], verb=m["verb"])
        if m:
            user, verb, resource = m["user"], m["verb"], m["resource"]
            group, namespace = m["group"] or "", m["namespace"] or ""
            scope = f"in namespace {namespace}" if namespace else "at cluster scope"
            api = f" (API group {group})" if group else " (core API group)"
            return Forbidden(f"{doing}: user {user} may not {verb} {resource}{api} {scope}{where}",
                             _grant_fix(user, verb, resource, group, namespace),
                             user=user, verb=verb, resource=resource, group=group, namespace=namespace)
        return Forbidden(f"{doing}: forbidden{where}: {message}", "ask a cluster admin for the missing rights")

    if code == 401 or reason == "Unauthorized":
        return ClusterError(f"{doing}: the server{where} does not accept your credentials (401 Unauthorized)",
                            "log in again (`oc login`) or refresh the token of this context")

    if code == 409 and (reason == "Conflict" and any(c.get("reason") == "FieldManagerConflict" for c in causes)):
        owners: dict[str, list[str]] = {}
        for cause in causes:
            m = _CONFLICT_CAUSE.search(cause.get("message", ""))
            owners.setdefault(m["manager"] if m else "another manager", []).append(cause.get("field", "?"))
        parts = "; ".join(f"{', '.join(fields)} owned by field manager {mgr!r}" for mgr, fields in owners.items())
        return ApplyConflict(f"{doing}: conflict with other field managers: {parts}",
                             "re-run with --force-conflicts to take these fields over (the other manager may set "
                             "them back), or change the answers to keep their values", owners)

    if code == 409:
        return ClusterError(f"{doing}: {message}", "retry; if it persists, inspect the object with `oc get`")

    if code == 422 or reason == "Invalid":
        pairs = [(c.get("field", ""), c.get("message", "")) for c in causes
                 if c.get("field") not in (None, "", "<nil>")]
        if not pairs:
            pairs = [("", message)]
        text = "; ".join(f"{f}: {msg}" if f else msg for f, msg in pairs)
        return Invalid(f"{doing}: the API server rejected it: {text}",
                       "fix the answers that produce these fields (`kmwizard validate` shows the manifests' "
                       "findings) or check that the operator version matches the target", pairs)

    if code == 500 and not reason:
        m = _TYPED_PATCH.search(message)
        if m:
            path, why = m["path"].lstrip("."), m["why"]
            if "not declared in schema" in why:
                text = (f"field {path} does not exist in this cluster's {ref.kind if ref else 'object'} schema")
                fix = ("remove the field, or target an operator version that has it (check the "
                       "KMM/OpenShift version answers against the cluster)")
            else:
                text = f"field {path} has the wrong type: {why}"
                fix = "fix the value's type in the answers (the CRD schema decides the type)"
            return Invalid(f"{doing}: the API server rejected it: {text}", fix, [(path, why)])

    if code == 404 or reason == "NotFound":
        if details.get("kind") == "namespaces":
            ns = details.get("name", "")
            return Missing(f"{doing}: namespace {ns} does not exist{where}",
                           f"create it (`oc create namespace {ns}`) or let kmwizard apply it",
                           kind="Namespace", name=ns)
        return Missing(f"{doing}: not found{where}: {message}", "check the name and namespace",
                       kind=ref.kind if ref else "", name=ref.name if ref else "")

    if code == 400:
        return Invalid(f"{doing}: the API server rejected the request: {message}",
                       "fix the answers that produce this object", [("", message)])

    if code == 429 or (code in (503, 504) and retry_after is not None):
        return Retryable(f"{doing}: the API server{where} asked to retry later (HTTP {code}"
                         f"{' ' + reason if reason else ''}): {message}",
                         "retry in a minute; a server that just restarted or is overloaded answers so for a while",
                         retry_after=retry_after, any_request=code == 429)

    if code in (429, 500, 502, 503, 504):
        return ServerError(f"{doing}: the API server{where} failed (HTTP {code}{' ' + reason if reason else ''}): "
                            f"{message}", "retry later; if it persists, check the API server and its webhooks")

    return ClusterError(f"{doing}: HTTP {code} {reason}: {message}".rstrip(),
                        "retry; if it persists, ask the cluster admin about this answer of the API server")


def translate(exc: BaseException, *, target: Target | None = None, action: str = "",
              ref: ObjectRef | None = None) -> ClusterError:
    """Any exception raised while talking to the cluster, as a ClusterError."""
    if isinstance(exc, ClusterError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        body = status_body(exc)
        if not body and getattr(exc, "reason", None):
            # A watch's ERROR event: the client raises with the Status's "reason: message" and no body.
            text = str(exc.reason)
            body = {"reason": text.split(":", 1)[0], "message": text.split(": ", 1)[-1]}
        return from_status(body, code=status, target=target, action=action, ref=ref,
                           retry_after=_retry_after_header(exc))

    cls = type(exc).__name__
    if cls == "ResourceNotFoundError":
        if ref:
            return missing_kind(ref.api_version, ref.kind)
        return NotInstalled(f"the cluster does not serve this kind: {exc}", "check the apiVersion and kind")

    where = target.describe() if target else "the API server"
    cause = _root_cause(exc)
    name, text = type(cause).__name__, str(cause)
    doing = f"{action} {ref}: " if action and ref else (f"{action}: " if action else "")
    ssl_error = "SSL" in name or "CERTIFICATE" in text.upper() or "SSL" in text
    if ssl_error:
        return Unreachable(f"{doing}TLS verification of {where} failed: {_short(text)}",
                           "check certificate-authority(-data) of the cluster in your kubeconfig; kmwizard uses "
                           "the kubeconfig's TLS settings as they are and never turns verification off")
    if "Timeout" in name or "timed out" in text:
        return Unreachable(f"{doing}{where} did not answer in time: {_short(text)}",
                           "check the network path to the API server (VPN, proxy) and retry, or raise --request-timeout "
                           "(seconds per request)")
    if "Refused" in text or "refused" in text or "NewConnectionError" in name or "NameResolution" in name:
        return Unreachable(f"{doing}cannot connect to {where}: {_short(text)}",
                           "check that the cluster is up and that the kubeconfig's server URL is right "
                           "(`oc whoami --show-server`), or pick another --context")
    if "Protocol" in name or "RemoteDisconnected" in text or "Connection aborted" in text or "reset" in text:
        return Unreachable(f"{doing}{where} closed the connection: {_short(text)}",
                           "retry; if it persists, check proxies and load balancers in front of the API server")
    return Unreachable(f"{doing}talking to {where} failed: {name}: {_short(text)}", "retry")


def _retry_after_header(exc) -> float | None:
    """Seconds from a Retry-After header (the API server sends whole seconds), capped at a minute."""
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After")
        return min(60.0, max(0.0, float(value))) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _root_cause(exc: BaseException) -> BaseException:
    """urllib3 wraps the real failure in MaxRetryError.reason (and Python in __cause__)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = getattr(exc, "reason", None)
        if isinstance(nxt, BaseException):
            exc = nxt
            continue
        if exc.__cause__ is not None:
            exc = exc.__cause__
            continue
        break
    return exc


def _short(text: str) -> str:
    # urllib3 messages embed the connection object's repr; keep the human part.
    text = re.sub(r"<urllib3[^>]*>:?\s*", "", text)
    return text.strip()[:300]
