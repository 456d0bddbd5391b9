"""The wizard's footer: its keys on one line, in one order whatever has focus, drawn with the first screen.

Textual's Footer is a widget per key: each is styled (three times during start-up), laid out and
drawn on its own, and the keys only appear a frame after the first screen, once the screen reports
its bindings.  It also lists keys in the order the focused widget's bindings meet the app's (a
TextArea, which binds F6 and F7 itself, moved the wizard's F6 and F7 to the front), while users
read a footer by position.  This footer is one widget: it renders the screen's shown bindings,
sorted by the app's BINDINGS, as one line of text, and maps a click to the key under the pointer.
"""
from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget


class KeyFooter(Widget, can_focus=False):
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description", "key-footer--hover"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        .key-footer--description { color: $footer-description-foreground;
                                   background: $footer-description-background; }
        .key-footer--hover { background: $block-hover-background; }
    }
    """
    ALLOW_SELECT = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keys: tuple[tuple[str, str, str, bool], ...] = ()  # (key, shown as, description, enabled)
        self._spans: list[tuple[int, int, int]] = []  # (first column, end column, index into keys)
        self._hover: int | None = None
        self._app_keys = 0  # how many of keys are the app's; the rest are the focused widget's

    def on_mount(self) -> None:
        self.keys = self._shown_keys()
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        keys = self._shown_keys()
        if keys != self.keys:  # focus moving between fields changes nothing shown: no redraw
            self.keys = keys
            self.refresh()

    def _shown_keys(self) -> tuple[tuple[str, str, str, bool], ...]:
        """The app's keys in the order of its BINDINGS, then the focused widget's own (e.g. esc of an
        open list), one key per action as Textual's Footer shows them."""
        order = {binding.action: index for index, binding in enumerate(self.app.BINDINGS)}
        shown, actions = [], set()
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in actions:
                actions.add(binding.action)
                shown.append((order.get(binding.action, len(order)), binding, enabled))
        shown.sort(key=lambda item: item[0])
        self._app_keys = sum(1 for index, _, _ in shown if index < len(order))
        return tuple((binding.key, self.app.get_key_display(binding), binding.description, enabled)
                     for _, binding, enabled in shown)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        hover_style = self.get_component_rich_style("key-footer--hover", partial=True)
        labels = []
        for index, (_key, shown_as, description, enabled) in enumerate(self.keys):
            label = Text.assemble((shown_as, key_style), (f" {description}", description_style))
            if not enabled:
                label.stylize("dim")
            if index == self._hover:
                label.stylize(hover_style)
            labels.append(label)
        own = labels[self._app_keys:]
        # The focused widget's keys (esc of an open list) always show: the app's that do not fit give way.
        room = self.size.width - sum(len(label) + 1 for label in own) - 2  # 2: the "… " of a cut
        line, self._spans, cut = Text(no_wrap=True, end=""), [], False
        for index, label in enumerate(labels):
            if own and index < self._app_keys and len(line) + len(label) + 1 > room:
                if not cut:
                    line.append("… ")
                    cut = True
                continue
            self._spans.append((len(line), len(line) + len(label), index))
            line.append_text(label)
            line.append(" ")
        line.stylize_before(self.rich_style)
        return line

    def key_at(self, x: int) -> int | None:
        return next((index for start, end, index in self._spans if start <= x < end), None)

    def on_click(self, event: events.Click) -> None:
        index = self.key_at(event.x)
        if index is None:
            return
        key, _shown_as, _description, enabled = self.keys[index]
        if enabled:
            self.app.simulate_key(key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self.key_at(event.x))

    def on_leave(self, _event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, index: int | None) -> None:
        if index != self._hover:
            self._hover = index
            self.refresh()
