"""What a real kube-apiserver does that the recordings do not show, and the double must show too.

The recordings (../shared/reference/apiserver-transcripts) have no anonymous request, no Terminating
namespace, no 429, no watch ERROR event and no PodSecurity rejection.  These tests pin the double's answers
to the apiserver's source for each (the file and function named in each test), so kmwizard's handling of
them is tested against the shapes a real server sends.
"""
from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apiserver_double import ADMIN_TOKEN, apiserver, apiserver_factory  # noqa: E402,F401


def call(double, method, path, body=None, token=ADMIN_TOKEN):
    """A raw request: (status, headers, parsed body or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, resp.headers, json.loads(raw)
    except ValueError:
        return resp.status, resp.headers, raw.decode()


def client(double, token=ADMIN_TOKEN):
    from kubernetes import client as k8s
    from kubernetes.dynamic import DynamicClient

    cfg = k8s.Configuration()
    cfg.host = double.url
    if token:
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    return DynamicClient(k8s.ApiClient(cfg))


def test_no_credentials_is_system_anonymous(apiserver_factory):
    """Mirrors apiserver endpoints/handlers/responsewriters/errors.go forbiddenMessage (the "cannot get path"
    form for non-resource URLs) and the default RBAC: system:public-info-viewer opens /version to
    system:unauthenticated, system:discovery is bound to system:authenticated only."""
    double = apiserver_factory()
    assert call(double, "GET", "/version", token=None)[0] == 200
    status, _, body = call(double, "GET", "/apis", token=None)
    assert status == 403 and body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": 'forbidden: User "system:anonymous" cannot get path "/apis"',
                                      "reason": "Forbidden", "details": {}, "code": 403}
    status, _, body = call(double, "GET", "/api/v1/namespaces", token=None)
    assert status == 403 and body["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list '
                                                 'resource "namespaces" in API group "" at the cluster scope')
    status, _, body = call(double, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                           {"spec": {}}, token=None)
    assert status == 403    # system:basic-user is bound to system:authenticated only
    # --anonymous-auth=false: the same request is not authenticated at all
    closed = apiserver_factory(anonymous_auth=False)
    assert call(closed, "GET", "/apis", token=None)[0] == 401


def test_deleted_namespace_stays_terminating_and_refuses_new_objects(apiserver_factory):
    """Mirrors admission/plugin/namespace/lifecycle/admission.go (Lifecycle.Admit): a create in a Terminating
    namespace is Forbidden with a NamespaceTerminating cause; updates of existing objects still pass."""
    double = apiserver_factory(namespace_terminating_seconds=None)
    double.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gone"}})
    double.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "gone"}})
    status, _, body = call(double, "DELETE", "/api/v1/namespaces/gone")
    assert status == 200 and body["status"]["phase"] == "Terminating" and body["metadata"]["deletionTimestamp"]
    status, _, live = call(double, "GET", "/api/v1/namespaces/gone")
    assert status == 200 and live["status"]["phase"] == "Terminating"
    status, _, body = call(double, "POST", "/api/v1/namespaces/gone/configmaps",
                           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}})
    assert status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('configmaps "new" is forbidden: unable to create new content in namespace gone '
                               "because it is being terminated")
    assert body["details"] == {"name": "new", "kind": "configmaps", "causes": [
        {"reason": "NamespaceTerminating", "message": "namespace gone is being terminated",
         "field": "metadata.namespace"}]}
    # server-side apply that would create is a create too
    status = _apply(double, "/api/v1/namespaces/gone/configmaps/new?fieldManager=x",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}})
    assert status == 403
    assert _apply(double, "/api/v1/namespaces/gone/configmaps/old?fieldManager=x",
                  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}, "data": {"a": "b"}}) == 200
    double.finish_namespace_deletion("gone")
    assert call(double, "GET", "/api/v1/namespaces/gone")[0] == 404
    assert double.objects(namespace="gone") == []


def _apply(double, path, body) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    conn.request("PATCH", path, body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/apply-patch+yaml", "Authorization": f"Bearer {ADMIN_TOKEN}"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_throttled_requests_answer_429_with_retry_after(apiserver):
    """Mirrors apiserver server/filters/maxinflight.go tooManyRequests (also used by priority-and-fairness):
    http.Error's plain text, and the Retry-After header."""
    apiserver.fail_next("throttle", path="/api/v1/namespaces", retry_after=3)
    status, headers, body = call(apiserver, "GET", "/api/v1/namespaces")
    assert status == 429 and headers["Retry-After"] == "3"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body == "Too many requests, please try again later.\n"
    assert call(apiserver, "GET", "/api/v1/namespaces")[0] == 200     # the next one passes


@pytest.mark.parametrize("code, reason, text", [
    (504, "Timeout", "Timeout: Too large resource version"),
    (410, "Expired", "too old resource version"),
])
def test_watch_streams_can_end_in_an_error_event(apiserver, code, reason, text):
    """Mirrors apiserver storage/cacher (newErrWatcher): the watch answers 200 and its only event is an ERROR
    carrying a Status (storage.NewTooLargeResourceVersionError: 504 Timeout with retryAfterSeconds)."""
    from kubernetes.client.exceptions import ApiException

    apiserver.fail_next("watch-error", path="machineconfigpools", status=code)
    status, _, body = call(apiserver, "GET", "/apis/machineconfiguration.openshift.io/v1/machineconfigpools"
                                            "?watch=true&resourceVersion=999999")
    event = json.loads(body) if isinstance(body, str) else body
    assert status == 200 and event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (code, reason)
    assert text in event["object"]["message"]
    # and the kubernetes client turns it into an ApiException with that code (watch/watch.py stream)
    apiserver.fail_next("watch-error", path="machineconfigpools", status=code)
    pools = client(apiserver).resources.get(api_version="machineconfiguration.openshift.io/v1",
                                             kind="MachineConfigPool")
    with pytest.raises(ApiException) as info:
        list(pools.watch(timeout=2))
    assert info.value.status == code and text in info.value.reason


def _pod(name="check", privileged=True):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "lsmod", "image": "ubi", "securityContext": {"privileged": privileged}}],
                     "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}}


def test_pod_security_rejects_privileged_pods_where_the_level_forbids_them(apiserver):
    """Mirrors pod-security-admission admission.go (EvaluatePod, the "violates PodSecurity" Forbidden) with the
    policy checks privileged (check_privileged.go) and hostPath volumes (check_hostPathVolumes.go /
    check_restrictedVolumes.go)."""
    for name, level in (("locked", "restricted"), ("base", "baseline"), ("open", "privileged")):
        apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name, "labels": {"pod-security.kubernetes.io/enforce": level}}})
    status, _, body = call(apiserver, "POST", "/api/v1/namespaces/locked/pods", _pod())
    assert status == 403 and body["reason"] == "Forbidden" and body["details"] == {"name": "check", "kind": "pods"}
    assert body["message"].startswith('pods "check" is forbidden: violates PodSecurity "restricted:latest": '
                                      'privileged (container "lsmod" must not set securityContext.privileged=true)')
    assert 'volume "host" uses restricted volume type "hostPath"' in body["message"]
    status, _, body = call(apiserver, "POST", "/api/v1/namespaces/base/pods", _pod())
    assert status == 403 and 'violates PodSecurity "baseline:latest"' in body["message"]
    assert 'hostPath volumes (volume "host")' in body["message"]
    assert call(apiserver, "POST", "/api/v1/namespaces/open/pods", _pod())[0] == 201
    # an unlabelled namespace gets the server's default level (vanilla Kubernetes: privileged)
    assert call(apiserver, "POST", "/api/v1/namespaces/default/pods", _pod())[0] == 201


def test_server_side_apply_that_creates_is_authorized_as_create(apiserver):
    """Mirrors apiserver endpoints/handlers/patch.go: an apply patch that creates passes its createValidation
    through withAuthorization (verb create); the denial is NewForbidden with RBAC's empty reason."""
    apiserver.add_token("patcher", "dev", rules=[("patch", "", "configmaps", "default")])
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}
    conn = http.client.HTTPConnection("127.0.0.1", apiserver.port, timeout=5)
    conn.request("PATCH", "/api/v1/namespaces/default/configmaps/new?fieldManager=x", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/apply-patch+yaml", "Authorization": "Bearer patcher"})
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    assert resp.status == 403 and answer["message"] == 'configmaps "new" is forbidden: '
    assert answer["details"] == {"name": "new", "kind": "configmaps"}
    apiserver.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "default"}})
    conn = http.client.HTTPConnection("127.0.0.1", apiserver.port, timeout=5)
    conn.request("PATCH", "/api/v1/namespaces/default/configmaps/old?fieldManager=x",
                 body=json.dumps({**body, "metadata": {"name": "old"}, "data": {"a": "b"}}).encode(),
                 headers={"Content-Type": "application/apply-patch+yaml", "Authorization": "Bearer patcher"})
    assert conn.getresponse().status == 200     # updating an existing object needs patch only
    conn.close()
