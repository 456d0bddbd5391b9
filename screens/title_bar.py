"""The wizard's title bar: the command palette's ⭘, then "kmwizard — <step>", in one widget.

Textual's Header is four widgets (the header, its icon, its title and a space for a clock), each
styled, laid out and drawn on its own while the first screen is built (benchmarks/bench_startup.py).
This bar looks the same and does what the wizard used of it: it shows the app's title and the
current step (``App.sub_title``), and a click on the ⭘ opens the command palette.
"""
from __future__ import annotations

from textual import events
from textual.content import Content
from textual.widget import Widget

ICON = "⭘"
ICON_WIDTH = 8  # the icon's cell, padding included, as in Textual's Header
RIGHT_SPACE = 10  # Header keeps this room for a clock: the title stays centred where it was


class TitleBar(Widget, can_focus=False):
    COMPONENT_CLASSES = {"title-bar--hover"}
    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        .title-bar--hover { background: $foreground 10%; }
    }
    """
    ALLOW_SELECT = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._hover = False  # the pointer is on the icon

    def on_mount(self) -> None:
        for attribute in ("title", "sub_title"):
            self.watch(self.app, attribute, lambda _value: self.refresh(), init=False)

    def render(self) -> Content:
        room = max(0, self.size.width - ICON_WIDTH - RIGHT_SPACE)
        title = self.app.format_title(self.app.title, self.app.sub_title).truncate(room, ellipsis=True)
        icon = Content(f" {ICON}".ljust(ICON_WIDTH))
        if self._hover:
            icon = icon.stylize(self.get_visual_style("title-bar--hover"))
        return Content.assemble(icon, " " * ((room - title.cell_length) // 2), title)

    def _on_icon(self, x: int) -> bool:
        return 0 <= x < ICON_WIDTH

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hover = self._on_icon(event.x)
        if hover != self._hover:
            self._hover = hover
            self.tooltip = "Open the command palette" if hover else None
            self.refresh()

    def on_leave(self, _event: events.Leave) -> None:
        if self._hover:
            self._hover = False
            self.tooltip = None
            self.refresh()

    async def on_click(self, event: events.Click) -> None:
        if self._on_icon(event.x):
            event.stop()
            await self.run_action("app.command_palette")
