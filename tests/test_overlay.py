"""The overlay: field paths, setting values, computing the records that turn a regenerated object back into
the original, and render applying them (or naming the record it cannot apply)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kmwizard import overlay
from kmwizard.answers import Answers
from kmwizard.render import render

_key = st.one_of(st.from_regex(r"[a-z][A-Za-z0-9_-]{0,5}", fullmatch=True),
                 st.sampled_from(["machineconfiguration.openshift.io/role", "a.b", "x[y]", 'q"uote', "sp ace"]))
_step = st.one_of(_key, st.integers(0, 5),
                  st.tuples(st.sampled_from(["name", "path"]),
                            st.sampled_from(["core", "/etc/kvc/a.conf", "x]y", 'q"v', "a b"])))


@given(st.lists(_step, min_size=1, max_size=6).filter(lambda p: isinstance(p[0], str)))
def test_format_then_parse_gives_the_path_back(path):
    assert overlay.parse_path(overlay.format_path(path)) == tuple(path)


@pytest.mark.parametrize("text, problem", [
    ("", "non-empty"), ("a..b", "empty step"), ("a.", "ends with"), ("a[", "not closed"),
    ("a[x]", "neither an index"), ('a["b', "unterminated"), ("a b", "unexpected"),
])
def test_bad_paths_say_what_is_wrong(text, problem):
    with pytest.raises(overlay.OverlayError, match=problem):
        overlay.parse_path(text)


def test_set_path_creates_mappings_and_keyed_list_items():
    obj = {"spec": {"config": {"passwd": {"users": [{"name": "core"}]}}}}
    overlay.set_path(obj, overlay.parse_path("spec.config.passwd.users[name=core].groups"), ["wheel"])
    overlay.set_path(obj, overlay.parse_path("spec.config.systemd.units[name=a.service].enabled"), True)
    overlay.set_path(obj, overlay.parse_path('metadata.labels["x.io/y"]'), "1")
    assert obj == {"spec": {"config": {"passwd": {"users": [{"name": "core", "groups": ["wheel"]}]},
                                       "systemd": {"units": [{"name": "a.service", "enabled": True}]}}},
                   "metadata": {"labels": {"x.io/y": "1"}}}
    with pytest.raises(overlay.OverlayError, match="not a mapping"):
        overlay.set_path(obj, overlay.parse_path('metadata.labels["x.io/y"].deeper'), 1)


_json = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "a", "b"])),
                     lambda inner: st.one_of(st.lists(inner, max_size=3),
                                             st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
                                             st.lists(st.fixed_dictionaries({"name": st.sampled_from(["u", "v", "w"])},
                                                                            optional={"x": inner}),
                                                      max_size=3, unique_by=lambda d: d["name"])),
                     max_leaves=12)
_object = st.dictionaries(st.sampled_from(["spec", "metadata", "data"]), _json, min_size=1, max_size=3)


@settings(max_examples=300)
@given(original=_object, generated=_object)
def test_applying_the_differences_reproduces_every_field_of_the_original(original, generated):
    records = [{"object": "K/n", "path": overlay.format_path(p), "value": v}
               for p, v in overlay.differences(original, generated)]
    rebuilt = overlay.apply(generated, records)
    assert overlay.differences(original, rebuilt) == []
    # overlays only add and replace: what the generator added (here: extra keyed items) stays, as a change
    assert overlay.differences(rebuilt, original) == [] or overlay.differences(generated, original) != []


@pytest.mark.parametrize("record, problem", [
    ({"object": "Module/ns/n", "path": "spec.x"}, "overlay[0] lacks value"),
    ({"object": "Module/ns/n", "path": "spec..x", "value": 1}, "overlay[0].path: 'spec..x': empty step"),
    ({"object": "Module", "path": "spec.x", "value": 1}, "not Kind/name"),
    ({"object": "Module/ns/n", "path": "spec.x", "value": 1, "op": "remove"}, "has unknown op"),
])
def test_overlay_answers_are_checked_naming_the_record(record, problem):
    findings = Answers({"method": "kmm"}).set("overlay", [record]).check()
    assert [f.where for f in findings] == ["overlay"] and problem in findings[0].message
    rendering = render(Answers({"method": "kmm"}).set("overlay", [record]))
    assert not rendering.ok and rendering.files == ()


def test_render_applies_the_overlay_and_names_an_unknown_object():
    answers = Answers({"method": "kmm", "overlay": [
        {"object": "Module/openshift-kmm/kmm-ci-a", "path": "spec.tolerations",
         "value": [{"key": "gpu", "operator": "Exists"}]},
        {"object": "Module/elsewhere/x", "path": "spec.y", "value": 1}]})
    rendering = render(answers)
    module = next(m for m in rendering.manifests if m["kind"] == "Module")
    assert module["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    file = next(f for f in rendering.files if f.manifest is module)
    assert b"tolerations:" in file.content
    bad = [f for f in rendering.findings if f.code == "overlay-object"]
    assert [f.where for f in bad] == ["overlay[1].object"] and "Module/elsewhere/x" in bad[0].message


def test_the_overlay_round_trips_through_an_answer_file():
    answers = Answers({"method": "kmm", "overlay": [{"object": "Module/openshift-kmm/kmm-ci-a",
                                                     "path": 'metadata.annotations["a.io/b"]', "value": "1"}]})
    assert Answers.from_document(__import__("yaml").safe_load(answers.to_yaml())) == answers


def _day2_kvc_answers(tmp_path) -> Answers:
    """Day-2 KVC answers over a fakeroot holding only the instance conf of module m."""
    root = tmp_path / "root"
    (root / "etc/kvc").mkdir(parents=True)
    (root / "etc/kvc/m.conf").write_text("KMOD_CONTAINER_BUILD_CONTEXT=https://example.com/m.git\n"
                                         "KMOD_CONTAINER_BUILD_FILE=Dockerfile.rhel\nKMOD_SOFTWARE_VERSION=1\n"
                                         "KMOD_NAMES=m\n")
    return Answers({"method": "kvc", "kvc.fakeroot": str(root), "kvc.module_name": "m", "day": 2})


def test_what_the_overlay_sets_is_linted_like_the_rest(tmp_path):
    """A day-2 MachineConfig whose overlay adds passwd.groups gets the linter's MCO refusal (the rule mirrors
    machine-config-operator pkg/daemon/update.go reconcilable()); without the overlay it does not."""
    answers = _day2_kvc_answers(tmp_path)
    plain = render(answers)
    assert plain.ok
    mc_name = plain.manifests[0]["metadata"]["name"]
    grouped = render(answers.set("overlay", [{"object": f"MachineConfig/{mc_name}", "path": "spec.config.passwd",
                                              "value": {"users": [{"name": "core", "groups": ["sudo"]}]}}]))
    new = {f.code for f in grouped.findings} - {f.code for f in plain.findings}
    assert new and all(f.where.startswith(f"{mc_name}.yaml") for f in grouped.findings if f.code in new)


def test_the_files_listing_shows_what_the_overlay_adds_to_the_machineconfig(tmp_path):
    """<name>.files.txt lists what the MachineConfig carries (kvc/render.py relist): it is made again after
    the overlay, so a file the answer file's overlay adds to spec.config.storage.files is in it, with its
    mode, and the tree's own files stay listed."""
    answers = _day2_kvc_answers(tmp_path)
    plain = render(answers)
    mc_name = plain.manifests[0]["metadata"]["name"]
    listing = {f.path: f.content.decode() for f in plain.files}[f"{mc_name}.files.txt"]
    assert "/etc/kvc/m.conf" in listing and "/etc/extra.conf" not in listing
    added = render(answers.set("overlay", [{"object": f"MachineConfig/{mc_name}",
                                            "path": "spec.config.storage.files[path=/etc/extra.conf]",
                                            "value": {"path": "/etc/extra.conf", "mode": 0o600, "overwrite": True,
                                                      "contents": {"source": "data:,x"}}}]))
    assert added.ok, [f.message for f in added.findings if f.severity.name == "ERROR"]
    carried = [e["path"] for e in added.manifests[0]["spec"]["config"]["storage"]["files"]]
    assert "/etc/extra.conf" in carried
    relisted = {f.path: f.content.decode() for f in added.files}[f"{mc_name}.files.txt"]
    assert "0600  /etc/extra.conf" in relisted.splitlines() and "/etc/kvc/m.conf" in relisted
