"""Connecting to a cluster: the kubeconfig (or in-cluster account), the client, and ``Connection``.

``kubernetes`` is imported only inside ``connect``: importing this module stays cheap.
Every client failure goes through ``Connection.call`` and comes out as a ``ClusterError``
in the user's terms (see ``errors``).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from kmwizard.findings import ClusterError, UsageError

from . import errors as E
from .errors import Target, translate
from .objects import ObjectRef

DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_RETRY_FOR = 60.0     # how long a request the server asked to repeat (429, 503) is retried


# --- connecting ---------------------------------------------------------------------

@dataclass
class Connection:
    target: Target
    api_client: object
    dyn: object
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    tls_verify: bool = True            # False only when the kubeconfig itself says so
    source: str = ""                   # kubeconfig path(s), or "in-cluster"
    retry_for: float = DEFAULT_RETRY_FOR   # commands with --timeout set it to that
    notify: Optional[Callable[[str], None]] = None   # told about each retry, for the user to see
    versions: str = ""                 # "KMM 2.4.1, OpenShift 4.16.3" once discovered: named in schema errors
    _resources: dict = field(default_factory=dict)
    _tmp: Optional[tempfile.TemporaryDirectory] = None

    def describe(self) -> str:
        """Which cluster and identity a change goes to: for the user to read before anything changes."""
        t = self.target
        lines = [f"cluster: {t.server}",
                 f"context: {t.context or '(in-cluster service account)'}"
                 + (f" (cluster {t.cluster})" if t.cluster and t.cluster != t.context else ""),
                 f"user: {t.user or '(service account token)'}",
                 f"config: {self.source}"]
        if not self.tls_verify:
            lines.append("warning: this kubeconfig turns TLS verification off (insecure-skip-tls-verify)")
        return "\n".join(lines)

    def resource(self, api_version: str, kind: str):
        """The dynamic client's Resource for a kind; NotInstalled when the cluster does not serve it."""
        key = (api_version, kind)
        if key not in self._resources:
            group = api_version.rpartition("/")[0]

            def lookup():
                try:
                    if group:
                        return self.dyn.resources.get(api_version=api_version, kind=kind)
                    # prefix="api" keeps the lookup in the core group: without it the client
                    # fetches every API group that has a "v1" version.
                    return self.dyn.resources.get(prefix="api", api_version=api_version, kind=kind)
                except Exception as exc:  # noqa: BLE001 - translated below
                    if type(exc).__name__ == "ResourceNotFoundError":
                        raise E.missing_kind(api_version, kind) from None
                    raise translate(exc, target=self.target, action=f"looking up {kind}") from None
            self._resources[key] = self._retrying(lookup, f"looking up {kind}", once=False)
        return self._resources[key]

    def call(self, fn, *args, action: str = "", ref: ObjectRef | None = None, once: bool = False, **kwargs):
        """Call the client with this connection's timeout; any failure becomes a ClusterError.

        When the server asks to come back later (429 Too Many Requests, or a 503/504 carrying a retry
        delay) the call is repeated, after Retry-After or a growing pause, for up to ``retry_for``
        seconds.  ``once``: a request that must not run twice (a create); only a 429, which the
        server refuses before doing anything, is repeated then."""
        kwargs.setdefault("_request_timeout", self.request_timeout)

        def attempt():
            try:
                return fn(*args, **kwargs)
            except ClusterError:
                raise
            except Exception as exc:  # noqa: BLE001 - every client failure is translated
                err = translate(exc, target=self.target, action=action, ref=ref)
                if isinstance(err, E.Invalid) and self.versions:
                    # the schema that refused it is the cluster's, whatever the answers say
                    err.fix = f"{err.fix} (this cluster runs {self.versions})"
                raise err from None
        return self._retrying(attempt, f"{action} {ref}" if ref else action, once=once)

    def _retrying(self, attempt, what: str, *, once: bool):
        return retrying(attempt, what, once=once, retry_for=self.retry_for, notify=self.notify)

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def retrying(attempt, what: str, *, once: bool = False, retry_for: float = DEFAULT_RETRY_FOR,
             notify: Optional[Callable[[str], None]] = None):
    """Run ``attempt`` again while the server asks to retry (``E.Retryable``), for up to ``retry_for`` s."""
    started = time.monotonic()
    pause = 1.0
    while True:
        try:
            return attempt()
        except E.Retryable as exc:
            if once and not exc.any_request:
                raise
            wait = max(0.1, exc.retry_after) if exc.retry_after is not None else pause
            pause = min(pause * 2, 16.0)
            spent = time.monotonic() - started
            if spent + wait > retry_for:
                raise E.Retryable(f"{exc.message} (still so after retrying for {spent:.0f} s)", exc.fix,
                                  retry_after=exc.retry_after, any_request=exc.any_request) from None
            if notify:
                notify(f"{what or 'a request'}: the API server asked to retry later; retrying in {wait:.0f} s")
            time.sleep(wait)


def resolve_kubeconfig(kubeconfig: str | None = None, environ=None) -> str | None:
    """``--kubeconfig`` > ``$KUBECONFIG`` > ``~/.kube/config``; None when none exists (in-cluster)."""
    environ = os.environ if environ is None else environ
    if kubeconfig:
        if not Path(kubeconfig).expanduser().is_file():
            raise UsageError(f"--kubeconfig {kubeconfig}: no such file", "give the path of a kubeconfig file")
        return str(Path(kubeconfig).expanduser())
    env = environ.get("KUBECONFIG", "")
    if env:
        paths = [p for p in env.split(os.pathsep) if p]
        if not any(Path(p).expanduser().is_file() for p in paths):
            raise UsageError(f"KUBECONFIG={env}: no such file", "fix $KUBECONFIG or pass --kubeconfig")
        return os.pathsep.join(str(Path(p).expanduser()) for p in paths if Path(p).expanduser().is_file())
    home = environ.get("HOME") or str(Path.home())
    default = Path(home) / ".kube" / "config"
    return str(default) if default.is_file() else None


def in_cluster(environ=None) -> bool:
    """Whether this runs in a pod (the Kubernetes client's in-cluster configuration would work)."""
    return bool((os.environ if environ is None else environ).get("KUBERNETES_SERVICE_HOST"))


KUBECONFIG_LISTS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


def not_a_kubeconfig(doc) -> str | None:
    """Why a YAML document is not a kubeconfig, in words; the client's loader would stop on it with a
    Python error (``TypeError: list indices must be integers``) that tells the user nothing."""
    what = "a kubeconfig is a YAML mapping with clusters, contexts and users lists"
    if not isinstance(doc, dict):
        return f"it is {'empty' if doc is None else 'a YAML list' if isinstance(doc, list) else 'a single value'}; {what}"
    if doc.get("kind") != "Config" and not any(k in doc for k, _ in KUBECONFIG_LISTS) \
            and "current-context" not in doc:
        return f"it has no clusters, contexts or users: {what}"
    for key, item_key in KUBECONFIG_LISTS:
        items = doc.get(key) or []
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and i.get("name") and isinstance(i.get(item_key) or {}, dict) for i in items):
            return f"its {key} is not a list of named {item_key} entries; {what}"
    return None


def check_kubeconfig_files(paths: str) -> None:
    """Before the client's loader sees them: regular files of sane size whose YAML has no alias bomb
    (the loader reads FIFOs until a writer comes, and expands aliases without limit) and is a kubeconfig."""
    import yaml

    from kmwizard.safe_yaml import load_manifests
    from kmwizard.textfiles import MANIFEST_MAX, InputFileError, read_text_file

    for path in paths.split(os.pathsep):
        try:
            text = read_text_file(path, what="kubeconfig", limit=MANIFEST_MAX)
        except InputFileError as exc:
            raise UsageError(exc.message, "check it with `oc config view`, or give the path of a kubeconfig "
                                          "file") from None
        try:
            docs = load_manifests(text, path)
        except yaml.YAMLError as exc:
            raise UsageError(f"kubeconfig {path} is not usable: {str(exc).splitlines()[0]}",
                             "check it with `oc config view`") from None
        reason = not_a_kubeconfig(docs[0] if docs else None)
        if reason:
            raise UsageError(f"{path} is not a kubeconfig: {reason}",
                             "give the path of a kubeconfig file (`oc login` writes ~/.kube/config; "
                             "`oc config view` shows the one in use)")


def _config_problem(exc: Exception, path: str) -> str:
    """The loader's message without the object it quotes after the file name (it may hold a token)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if path in text:
        text = text[:text.index(path) + len(path)]
    return text[:200]


def connect(kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None, *,
            request_timeout: float = DEFAULT_REQUEST_TIMEOUT, environ=None, retry_for: float = DEFAULT_RETRY_FOR,
            notify: Optional[Callable[[str], None]] = None) -> Connection:
    """Load the kubeconfig (or the in-cluster service account) and open a client.

    TLS settings are used exactly as the kubeconfig gives them.  Sends ``GET /version`` and
    ``GET /apis`` (the dynamic client's start), so an unreachable server fails here.
    """
    environ = os.environ if environ is None else environ
    import urllib3
    import yaml
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    cfg = k8s.Configuration()
    # One quick retry for connection setup only: a request that reached the server is never
    # replayed (patches are not idempotent), and a dead server fails fast.
    # 429/503 with Retry-After come back to kmwizard (Connection.call), which retries with the user's --timeout.
    cfg.retries = urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0, other=0,
                                respect_retry_after_header=False)
    path = resolve_kubeconfig(kubeconfig, environ)
    if path is None:
        if not in_cluster(environ):
            home = environ.get("HOME") or str(Path.home())
            raise UsageError(f"no kubeconfig: --kubeconfig not given, $KUBECONFIG not set, "
                             f"{Path(home) / '.kube' / 'config'} absent, and not running in a pod",
                             "log in (`oc login ...`) or pass --kubeconfig FILE")
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise ClusterError(f"in-cluster configuration unusable: {exc}",
                               "run inside a pod with a service account token, or pass --kubeconfig") from None
        ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        target = Target(server=cfg.host, namespace=namespace or (ns_file.read_text().strip()
                                                                 if ns_file.is_file() else "default"))
        source = "in-cluster"
    else:
        check_kubeconfig_files(path)
        try:
            contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
            chosen = active
            if context:
                chosen = next((c for c in contexts if c.get("name") == context), None)
                if chosen is None:
                    names = ", ".join(c.get("name", "?") for c in contexts) or "none"
                    raise UsageError(f"--context {context}: no such context in {path}",
                                     f"use one of: {names}")
            k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg,
                                        persist_config=False)
        except UsageError:
            raise
        except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # The client's loader raises whatever a malformed file provokes: all mean the same to the user.
            raise UsageError(f"kubeconfig {path} is not usable: {type(exc).__name__}: {_config_problem(exc, path)}",
                             "check it with `oc config view`, or pick another --context") from None
        ctx = (chosen or {}).get("context") or {}
        target = Target(server=cfg.host, context=(chosen or {}).get("name", ""), cluster=ctx.get("cluster", ""),
                        user=ctx.get("user", ""), namespace=namespace or ctx.get("namespace") or "default")
        source = path

    if not cfg.verify_ssl:
        # The kubeconfig's own choice, reported once by describe(); urllib3 would repeat it per request.
        import warnings

        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    api_client = k8s.ApiClient(configuration=cfg)
    _default_timeout(api_client, request_timeout)
    tmp = tempfile.TemporaryDirectory(prefix="kmwizard-discovery-")
    try:
        from kubernetes.dynamic import DynamicClient

        def start():
            try:
                # A private discovery cache: never a stale one from an earlier run or another tool.
                return DynamicClient(api_client, cache_file=os.path.join(tmp.name, "discovery.json"))
            except Exception as exc:  # noqa: BLE001
                raise translate(exc, target=target, action="connecting") from None
        dyn = retrying(start, "connecting", retry_for=retry_for, notify=notify)
    except BaseException:
        tmp.cleanup()
        api_client.close()
        raise
    return Connection(target=target, api_client=api_client, dyn=dyn, request_timeout=request_timeout,
                      tls_verify=bool(cfg.verify_ssl), source=source, retry_for=retry_for, notify=notify, _tmp=tmp)


def _default_timeout(api_client, seconds: float) -> None:
    """Give every request a timeout, including the dynamic client's discovery requests,
    which pass none (urllib3 would then wait forever on a hung server)."""
    rest = api_client.rest_client
    original = rest.request

    def request(*args, _request_timeout=None, **kwargs):
        return original(*args, _request_timeout=_request_timeout or seconds, **kwargs)

    rest.request = request


def get_or_none(conn: Connection, res, name: str, namespace: str | None = None, *, ref=None):
    """GET one object as a dict; None on 404.  Failures say what was being read."""
    action = "reading" if ref is not None else \
        f"reading {getattr(res, 'kind', 'object')} {namespace + '/' if namespace else ''}{name}"
    try:
        return conn.call(res.get, name=name, namespace=namespace, action=action, ref=ref).to_dict()
    except E.Missing:
        return None
