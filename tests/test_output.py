"""Writing files: atomic, no silent overwrite, secrets 0600 from the first byte, day-1 layout."""
from __future__ import annotations

import os
import stat

import pytest

from kmwizard import output
from kmwizard.findings import UsageError
from kmwizard.render import OutputFile, Rendering


def _rendering(**kw) -> Rendering:
    return Rendering(files=(OutputFile("mc.yaml", b"kind: MachineConfig\n"),
                            OutputFile("secret-ent.yaml", b"data: {key: c2VjcmV0}\n", mode=0o600, secret=True)),
                     **kw)


def test_writes_files_with_modes(tmp_path):
    written = output.write(output.plan(_rendering(), tmp_path / "out"))
    assert [p.name for p in written] == ["mc.yaml", "secret-ent.yaml"]
    assert stat.S_IMODE((tmp_path / "out/secret-ent.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out/mc.yaml").stat().st_mode) == 0o644
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")], "temp files left behind"


def test_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / "secret-ent.yaml").write_text("user's own file\n")
    with pytest.raises(UsageError) as exc:
        output.write(output.plan(_rendering(), tmp_path))
    assert "secret-ent.yaml" in exc.value.message and "--force" in exc.value.fix
    assert (tmp_path / "secret-ent.yaml").read_text() == "user's own file\n"
    assert not (tmp_path / "mc.yaml").exists(), "nothing is written when one file would be overwritten"
    output.write(output.plan(_rendering(), tmp_path), force=True)
    assert (tmp_path / "secret-ent.yaml").read_bytes().startswith(b"data:")


def test_identical_files_are_not_overwrites(tmp_path):
    output.write(output.plan(_rendering(), tmp_path))
    again = output.plan(_rendering(), tmp_path)
    assert again.overwrites == [] and all(p.unchanged for p in again.files)


def test_secret_is_never_world_readable_while_written(tmp_path, monkeypatch):
    seen = []
    real_fdopen = os.fdopen

    def spy(fd, *a, **k):
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *a, **k)

    monkeypatch.setattr(os, "fdopen", spy)
    output.atomic_write(tmp_path / "k.pem", b"KEY", 0o600)
    assert seen == [0o600]


def test_day1_needs_an_openshift_install_directory(tmp_path):
    rendering = _rendering(install_subdir="openshift")
    with pytest.raises(UsageError) as exc:
        output.plan(rendering, tmp_path)
    assert "openshift-install create manifests" in exc.value.fix
    (tmp_path / "manifests").mkdir()
    (tmp_path / "openshift").mkdir()
    plan = output.plan(rendering, tmp_path)
    assert plan.directory == tmp_path / "openshift"


def test_an_output_dir_that_cannot_be_written_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        with pytest.raises(UsageError) as exc:
            output.write(output.plan(_rendering(), out))
        assert "afile is a file, not a directory" in exc.value.message and "--output-dir" in exc.value.fix
    (tmp_path / "out" / "mc.yaml").mkdir(parents=True)  # a directory where a file goes
    with pytest.raises(UsageError) as exc:
        output.write(output.plan(_rendering(), tmp_path / "out"), force=True)
    assert "mc.yaml" in exc.value.message and "nothing was written" in exc.value.message
