"""Suite-wide settings.

CI runs the property tests derandomized, so a submission's result does not depend on the examples drawn that
day; local runs keep drawing new examples to find new failures (set HYPOTHESIS_PROFILE=ci to replay CI's)."""
import os
import signal

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

# A shell without job control starts background jobs with SIGINT ignored, and an ignored signal stays ignored
# across exec: the programs the Ctrl-C tests start would then never see the SIGINT they send. With a handler
# here, children start with the default disposition, as they do from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """User presets, key map and the KVC cache under tmp_path, which is also the working directory:
    a test never reads or writes the real home or the checkout (the TUI and prompt tests use it)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def builds(monkeypatch):
    """Every KVC fetch-and-build the app starts, recorded and failed instead of run (no network in tests)."""
    from kmwizard.kvc import fetch

    calls = []

    def record(framework, module, entry, progress, refresh):
        calls.append((framework.repo, module.repo))
        raise fetch.FetchError(framework.key, "offline in this test", "no fix")

    monkeypatch.setattr(fetch, "_build", record)
    return calls
