"""The preview's file tabs (imported with the first files: the first screen has none)."""
from __future__ import annotations

from textual.widgets import Tabs


class FileTabs(Tabs):
    """Tabs that scroll no more than it takes to show the active one.

    Textual's Tabs centres the active tab (textual/widgets/_tabs.py Tabs._scroll_active_tab), so when
    the tabs are wider than the preview and the second one is active (the Module after its ConfigMap),
    the first tab's name was cut at the left edge ("onfigMap (Dockerfile)")."""

    def _scroll_active_tab(self) -> None:
        active = self.active_tab
        if active is not None:  # force: the tab strip hides its scrollbar (overflow hidden), as Tabs does
            self.query_one("#tabs-scroll").scroll_to_widget(active, animate=False, force=True)
