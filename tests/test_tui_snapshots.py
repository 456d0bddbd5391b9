"""SVG snapshots of every wizard step (pytest-textual-snapshot; textual is pinned exactly in
pyproject's test extra).  No clocks, no blinking cursor, no toasts, relative paths only, so
the pictures do not depend on the machine.  Regenerate after a deliberate change with
`python -m pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs."""
from __future__ import annotations

import pytest
from textual.widgets import Input, TextArea

from kmwizard.answers import Answers
from kvc_trees import build_kvc_tree
from test_tui_support import settle

from kmwizard.screens.app import WizardApp
from kmwizard.screens.fields import field_id

WIDE, SMALL = (110, 32), (80, 24)


@pytest.fixture(autouse=True)
def _isolated(isolated_home):
    tmp_path = isolated_home
    build_kvc_tree(tmp_path, "fakeroot")  # KVC answers point at it relatively: same text everywhere
    # A real signing key pair (kmwizard parses both and checks they pair up); only masked in the pictures.
    key, cert = _signing_pair()
    (tmp_path / "signing.priv").write_bytes(key)
    (tmp_path / "signing.x509").write_bytes(cert)


def _signing_pair() -> tuple[bytes, bytes]:
    """An EC key (PKCS#8 PEM) and its self-signed DER certificate, valid for ten years."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kmwizard-test")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()), cert.public_bytes(serialization.Encoding.DER))


def kvc() -> WizardApp:
    return WizardApp(Answers({"method": "kvc", "kvc.fakeroot": "fakeroot", "role": "worker"}))


def kmm() -> WizardApp:
    return WizardApp(Answers({"method": "kmm", "kmm.name": "my-driver", "kmm.module_name": "my_driver",
                              "kmm.sign.enabled": True, "kmm.sign.key_file": "signing.priv",
                              "kmm.sign.cert_file": "signing.x509"}))


def at_step(step: str, *, focus: str | None = None, keys: tuple[str, ...] = (), to_end: bool = False):
    async def run_before(pilot) -> None:
        app = pilot.app
        for widget in app.query(Input).results():
            widget.cursor_blink = False
        for widget in app.query(TextArea).results():
            widget.cursor_blink = False
        await settle(pilot)
        await app.show_step(step)
        for widget in [*app.query(Input).results(), *app.query(TextArea).results()]:
            widget.cursor_blink = False  # the step's own widgets are mounted only now
        if focus:
            app.query_one(focus).focus()
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
        if to_end:  # typing scrolls the form while the answer grows: settle on its final position
            column, last = app.query_one(f"#step-{step}"), None
            for _ in range(40):  # until the layout (the answer's height, the findings') stops changing
                await pilot.pause(0.05)
                column.scroll_end(animate=False)
                await pilot.wait_for_scheduled_animations()
                now = (column.max_scroll_y, column.scroll_y, app.query_one("#findings").size)
                if now == last:
                    break
                last = now
    return run_before


@pytest.mark.parametrize("step", ["method", "target", "source", "entitlement", "output", "review"])
def test_kvc_steps(snap_compare, step):
    assert snap_compare(kvc(), terminal_size=WIDE, run_before=at_step(step))


@pytest.mark.parametrize("step", ["target", "source", "mappings", "signing", "review"])
def test_kmm_steps(snap_compare, step):
    assert snap_compare(kmm(), terminal_size=WIDE, run_before=at_step(step))


def test_kmm_kernel_tester(snap_compare):
    assert snap_compare(kmm(), terminal_size=WIDE,
                        run_before=at_step("mappings", focus="#kernel-test",
                                           keys=tuple("5.14.0-427.13.1.el9_4.x86_64"), to_end=True))


def test_small_terminal_method(snap_compare):
    assert snap_compare(kvc(), terminal_size=SMALL, run_before=at_step("method"))


def test_small_terminal_source(snap_compare):
    assert snap_compare(kmm(), terminal_size=SMALL, run_before=at_step("source"))


def test_field_help(snap_compare):
    assert snap_compare(kvc(), terminal_size=WIDE,
                        run_before=at_step("target", focus="#" + field_id("role"), keys=("f1",)))


def test_write_dialog(snap_compare):
    assert snap_compare(kmm(), terminal_size=WIDE, run_before=at_step("review", keys=("f2",)))


# --- issue 13: what a newcomer meets ---------------------------------------------------------

def bad_regexp() -> WizardApp:
    return WizardApp(Answers({"method": "kmm", "kmm.name": "my-driver", "kmm.module_name": "my_driver",
                              "kmm.kernel_mappings": ({"regexp": "^(.+$"},)}))


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["wide", "small"])
def test_offline_first_screen(snap_compare, size):
    """No answers: KVC by default, and nothing fetched until the repositories are chosen."""
    assert snap_compare(WizardApp(Answers()), terminal_size=size, run_before=at_step("method"))


def test_small_terminal_preview_swapped_in(snap_compare):
    assert snap_compare(kmm(), terminal_size=SMALL, run_before=at_step("source", keys=("f9",)))


def test_error_marks_step_and_field(snap_compare):
    assert snap_compare(bad_regexp(), terminal_size=WIDE, run_before=at_step("method", keys=("f6", "enter")))


def test_findings_fill_the_screen(snap_compare):
    assert snap_compare(bad_regexp(), terminal_size=SMALL, run_before=at_step("method", keys=("f6", "f6")))


def test_small_terminal_preset_list(snap_compare):
    """Item 11: at 80x24 the first screen's preset list shows the built-in presets one line each,
    several at once (it used to wrap one long description over the whole list). It is on the screen
    itself now, not in a drop-down: focused, the second preset highlighted (nothing loaded)."""
    assert snap_compare(WizardApp(Answers()), terminal_size=SMALL,
                        run_before=at_step("method", focus="#start-preset", keys=("down",)))
