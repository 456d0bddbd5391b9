"""Fakeroot -> Ignition storage.files.  Judges: the tree's own definition (tests/kvc_trees.py), the
standard library's decoders, ignition-validate and the real Ignition files stage."""
from __future__ import annotations

import base64
import gzip
import json
import os
import string
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kmwizard.findings import Severity
from kmwizard.kvc import transpile
from kmwizard.kvc.transpile import encode_contents, transpile_tree
from tests.ignition_oracle import apply_files_stage, require_ignition, validate
from tests.kvc_trees import build_kvc_tree


def decode(contents: dict) -> bytes:
    """Decode an Ignition contents entry with the standard library only."""
    header, _, data = contents["source"].partition(",")
    raw = base64.b64decode(data, validate=True) if header.endswith(";base64") else \
        urllib.parse.unquote_to_bytes(data)
    return gzip.decompress(raw) if contents.get("compression") == "gzip" else raw


def config_of(files: list[dict], version: str = "3.2.0") -> dict:
    return {"ignition": {"version": version}, "storage": {"files": files}}


# --- the KVC layout --------------------------------------------------------------------------------

def test_tree_paths_modes_and_bytes(tmp_path):
    root, expected = build_kvc_tree(tmp_path)
    files, findings = transpile_tree(root, gzip_allowed=True)
    assert findings == []
    assert [f["path"] for f in files] == sorted(expected), "one entry per file, sorted by path"
    for entry in files:
        data, mode = expected[entry["path"]]
        assert entry["mode"] == mode, entry["path"]
        assert entry["overwrite"] is True
        assert set(entry) == {"path", "mode", "overwrite", "contents"}
        assert decode(entry["contents"]) == data, entry["path"]


def test_same_name_folder_and_unnormalised_root(tmp_path):
    # filetranspiler computed paths with str.replace of the fakeroot path: a folder named like the
    # fakeroot inside it came out as /etc//... .  Paths here come from the components below the root.
    root, expected = build_kvc_tree(tmp_path, name="kvc")
    odd_root = Path(str(root) + "/../kvc/./")
    files, findings = transpile_tree(odd_root, gzip_allowed=False)
    assert not findings
    paths = [f["path"] for f in files]
    assert "/etc/kvc/kvc.conf" in paths
    assert paths == sorted(expected)
    assert all("//" not in p and "/./" not in p and "/../" not in p for p in paths)


def test_root_given_through_a_symlink(tmp_path):
    root, expected = build_kvc_tree(tmp_path)
    (tmp_path / "alias").symlink_to(root)
    files, findings = transpile_tree(tmp_path / "alias", gzip_allowed=False)
    assert not findings and [f["path"] for f in files] == sorted(expected)


def test_deterministic_output(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    first = json.dumps(transpile_tree(root, gzip_allowed=True)[0])
    transpile.clear_cache()
    assert json.dumps(transpile_tree(root, gzip_allowed=True)[0]) == first


def test_no_gzip_below_4_10(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    files, _ = transpile_tree(root, gzip_allowed=False)
    assert not any("compression" in f["contents"] for f in files)
    files, _ = transpile_tree(root, gzip_allowed=True)
    gz = [f["path"] for f in files if f["contents"].get("compression") == "gzip"]
    assert "/etc/kvc/big.txt" in gz and "/usr/local/lib/kvc/zeros.bin" in gz
    assert "/usr/local/lib/kvc/blob.bin" not in gz          # random bytes do not compress


def test_empty_file_is_data_comma(tmp_path):
    # filetranspiler wrote data:inode/x-empty..., which Ignition rejects
    root, _ = build_kvc_tree(tmp_path)
    files, _ = transpile_tree(root, gzip_allowed=True)
    assert {f["path"]: f for f in files}["/usr/local/share/empty"]["contents"] == {"source": "data:,"}


def test_tree_passes_ignition_validate(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    for gzip_allowed in (False, True):
        files, _ = transpile_tree(root, gzip_allowed=gzip_allowed)
        rc, out = validate(config_of(files), tmp_path)
        assert (rc, out) == (0, ""), out


def test_tree_lands_byte_for_byte(tmp_path):
    """The real Ignition files stage writes exactly the fakeroot's files (links dereferenced)."""
    require_ignition()
    root, expected = build_kvc_tree(tmp_path / "src")
    files, _ = transpile_tree(root, gzip_allowed=True)
    written = apply_files_stage(config_of(files, "3.4.0"))
    landed = {p: (w.data, w.mode) for p, w in written.items() if w.kind != "dir"}
    assert landed == expected


# --- encodings ----------------------------------------------------------------------------------

SAFE = string.ascii_letters + string.digits + "-_.!~*'()" + ";/?:@&=+$,"


def reference_lengths(data: bytes, *, gzip_allowed: bool) -> int:
    """Shortest of the three encodings, computed with the standard library (gzip at level 9, as
    Butane does), plus what the compression field costs."""
    percent = len("data:,") + len(urllib.parse.quote_from_bytes(data, safe=SAFE))
    b64 = len("data:;base64,") + len(base64.b64encode(data))
    best = min(percent, b64)
    if gzip_allowed:
        gz = len("data:;base64,") + len(base64.b64encode(gzip.compress(data, 9, mtime=0)))
        best = min(best, gz + len('"compression": "gzip", '))
    return best


@pytest.mark.parametrize("data", [
    b"", b"a", b"KEY=value\n", b"#!/bin/bash\necho 100%\n", b"\0\1\2\3" * 10, bytes(range(256)),
    b"x" * 10000, os.urandom(3000), "日本語のテキスト\n".encode() * 50,
])
@pytest.mark.parametrize("gzip_allowed", [False, True])
def test_encoding_round_trips_and_is_shortest(data, gzip_allowed):
    contents = encode_contents(data, gzip_allowed=gzip_allowed)
    assert decode(contents) == data
    if not gzip_allowed:
        assert "compression" not in contents
    size = len(contents["source"]) + (len('"compression": "gzip", ') if "compression" in contents else 0)
    # level 6 instead of Butane's 9 costs at most a fraction of a percent on compressible data
    assert size <= reference_lengths(data, gzip_allowed=gzip_allowed) * 1.01 + 8


def test_percent_encoding_is_rfc2397():
    data = bytes(range(256))
    source = encode_contents(data, gzip_allowed=False)["source"]
    assert source.startswith("data:;base64,")               # 250 escapes: base64 is shorter
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * 3        # mostly safe: percent wins
    text = filler + b"a b#c%d\"e<f>g{h}i|j\\k^l[m]n`o\x7fp\nq?r&s\x00\xff"
    source = encode_contents(text, gzip_allowed=False)["source"]
    assert source == ("data:," + filler.decode() + "a%20b%23c%25d%22e%3Cf%3Eg%7Bh%7Di%7Cj%5Ck%5El%5Bm%5D"
                      "n%60o%7Fp%0Aq?r&s%00%FF")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode)),
       gzip_allowed=st.booleans())
def test_any_bytes_validate(tmp_path, data, gzip_allowed):
    contents = encode_contents(data, gzip_allowed=gzip_allowed)
    assert decode(contents) == data
    rc, out = validate(config_of([{"path": "/etc/x", "mode": 420, "overwrite": True,
                                   "contents": contents}]), tmp_path)
    assert (rc, out) == (0, ""), (data, contents, out)


# --- links and other things that cannot be delivered -----------------------------------------------

def _errors_by_where(findings):
    assert all(f.severity is Severity.ERROR for f in findings), findings
    return {f.where: f for f in findings}


def test_bad_links_all_reported_at_once(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    bin_ = root / "usr/local/bin"
    os.symlink("/usr/bin/podman", bin_ / "absolute")
    os.symlink("../lib/kvc/missing.sh", bin_ / "dangling")
    os.symlink("../../../../outside", bin_ / "escapes")
    os.symlink("loop-b", bin_ / "loop-a")
    os.symlink("loop-a", bin_ / "loop-b")
    os.symlink("../..", bin_ / "parent-dir")                  # directory link to its own ancestor
    os.symlink(f"../../../../{root.name}/etc/kvc/kmods-via-containers.conf", bin_ / "out-and-back")
    os.symlink("spkut/x", bin_ / "through-file")
    (root / "etc/kvc/hop").symlink_to("/etc/passwd")
    os.symlink("../../etc/kvc/hop", bin_ / "via-absolute")
    files, findings = transpile_tree(root, gzip_allowed=True)
    by_where = _errors_by_where(findings)
    names = ["absolute", "dangling", "escapes", "loop-a", "loop-b", "parent-dir", "out-and-back",
             "through-file", "via-absolute"]
    for name in names:
        finding = by_where[f"kvc.fakeroot:/usr/local/bin/{name}"]
        assert f"/usr/local/bin/{name}" in finding.message and finding.fix, finding
    assert by_where["kvc.fakeroot:/etc/kvc/hop"]
    assert len(findings) == len(names) + 1
    assert "absolute" in by_where["kvc.fakeroot:/usr/local/bin/absolute"].message
    assert "dangling" in by_where["kvc.fakeroot:/usr/local/bin/dangling"].message
    assert "outside" in by_where["kvc.fakeroot:/usr/local/bin/escapes"].message
    assert "loop" in by_where["kvc.fakeroot:/usr/local/bin/loop-a"].message
    assert "loop" in by_where["kvc.fakeroot:/usr/local/bin/parent-dir"].message
    # the good files are still all there
    assert "/usr/local/bin/spkut" in {f["path"] for f in files}


def test_special_files_and_undecodable_names(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    os.mkfifo(root / "etc/kvc/fifo")
    os.mkdir(root / "etc/empty-dir")
    bad_name = os.fsencode(root / "etc/kvc") + b"/bad-\xff.conf"
    with open(bad_name, "wb") as f:
        f.write(b"x")
    _, findings = transpile_tree(root, gzip_allowed=True)
    by_where = {f.where: f for f in findings}
    fifo = by_where["kvc.fakeroot:/etc/kvc/fifo"]
    assert fifo.severity is Severity.ERROR and "named pipe" in fifo.message
    assert by_where["kvc.fakeroot:/etc/empty-dir"].severity is Severity.WARNING
    bad = [f for f in findings if "UTF-8" in f.message]
    assert len(bad) == 1 and "bad-" in bad[0].where and bad[0].severity is Severity.ERROR


def test_missing_or_empty_root(tmp_path):
    _, findings = transpile_tree(tmp_path / "nope", gzip_allowed=True)
    assert findings[0].severity is Severity.ERROR and "nope" in findings[0].message
    (tmp_path / "empty").mkdir()
    files, findings = transpile_tree(tmp_path / "empty", gzip_allowed=True)
    assert files == [] and findings[0].severity is Severity.WARNING


def test_cache_reuses_unchanged_files_and_sees_changes(tmp_path):
    root, _ = build_kvc_tree(tmp_path)
    transpile.clear_cache()
    transpile_tree(root, gzip_allowed=True)
    misses = transpile._encode_file.cache_info().misses
    transpile_tree(root, gzip_allowed=True)
    assert transpile._encode_file.cache_info().misses == misses      # nothing re-read
    conf = root / "etc/kvc/kmods-via-containers.conf"
    conf.write_bytes(b"KVC_CONTAINER_RUNTIME=podman\nX=1\n")
    files, _ = transpile_tree(root, gzip_allowed=True)
    entry = {f["path"]: f for f in files}["/etc/kvc/kmods-via-containers.conf"]
    assert decode(entry["contents"]) == b"KVC_CONTAINER_RUNTIME=podman\nX=1\n"


# --- property: any tree of regular files lands identically ----------------------------------------

_names = st.text(alphabet=string.ascii_letters + string.digits + "-_.@+ äé日", min_size=1, max_size=12)\
    .filter(lambda s: s not in (".", ".."))
_contents = st.one_of(st.just(b""), st.binary(max_size=400), st.text(max_size=200).map(str.encode),
                      st.builds(lambda line, n: line * n, st.binary(min_size=1, max_size=20),
                                st.integers(1, 300)))
_tree = st.dictionaries(st.lists(_names, min_size=1, max_size=4).map(tuple),
                        st.tuples(_contents, st.sampled_from([0o644, 0o755, 0o600, 0o400, 0o700])),
                        min_size=1, max_size=8)


def _consistent(tree: dict) -> dict:
    """Drop entries whose path is a prefix of another (a name cannot be a file and a directory)."""
    keys = sorted(tree)
    return {k: v for k, v in tree.items() if not any(o[:len(k)] == k and o != k for o in keys)}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_tree.map(_consistent), gzip_allowed=st.booleans())
def test_any_tree_validates_and_lands_identically(tmp_path_factory, tree, gzip_allowed):
    require_ignition()
    base = tmp_path_factory.mktemp("tree")
    root = base / "fakeroot"
    expected = {}
    for parts, (data, mode) in tree.items():
        full = root.joinpath("etc", *parts)
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(data)
        os.chmod(full, mode)
        expected["/etc/" + "/".join(parts)] = (data, mode)
    files, findings = transpile_tree(root, gzip_allowed=gzip_allowed)
    assert findings == []
    config = config_of(files, "3.4.0" if gzip_allowed else "3.2.0")
    assert validate(config, base) == (0, "")
    written = apply_files_stage(config)
    assert {p: (w.data, w.mode) for p, w in written.items() if w.kind == "file"} == expected


def test_big_tree_encoded_on_threads_lands_byte_for_byte(tmp_path):
    """Trees over 1 MiB are encoded on a thread pool; order, bytes and modes must not suffer."""
    require_ignition()
    rng = __import__("random").Random(7)
    root = tmp_path / "fakeroot"
    expected = {}
    for i in range(24):
        data = rng.randbytes(30_000) if i % 3 == 0 else b"".join(
            b"%d %s\n" % (n, rng.choice([b"load", b"unload", b"build"])) for n in range(6000))
        path = root / "usr/local/lib/kvc" / f"part{i:02d}.{'bin' if i % 3 == 0 else 'txt'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, 0o755 if i % 2 else 0o644)
        expected[f"/usr/local/lib/kvc/{path.name}"] = (data, 0o755 if i % 2 else 0o644)
    assert sum(len(d) for d, _ in expected.values()) > transpile._PARALLEL_MIN_BYTES
    transpile.clear_cache()
    files, findings = transpile_tree(root, gzip_allowed=True)
    assert not findings and [f["path"] for f in files] == sorted(expected)
    written = apply_files_stage(config_of(files, "3.4.0"))
    assert {p: (w.data, w.mode) for p, w in written.items() if w.kind == "file"} == expected
