"""A footer whose keys keep one order whatever has focus, drawn with the first screen.

Textual's Footer lists keys in the order the focused widget's bindings meet the app's: a
TextArea (which binds F6 and F7 itself) moved the wizard's F6 and F7 to the front.  Users read
a footer by position, so this one sorts the keys by the order of the app's BINDINGS.

Textual's Footer also stays empty until the screen first reports its bindings, one frame after
the first screen is drawn, and rebuilds its keys on every focus change.  This one composes its
keys at once (the screen's bindings are known when it mounts) and rebuilds only when what it
shows changes.
"""
from __future__ import annotations

from textual.widgets import Footer


class StableFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_reactive(Footer._bindings_ready, True)
        self._shown: tuple = ()

    def compose(self):
        order = {binding.action: index for index, binding in enumerate(self.app.BINDINGS)}
        items = list(super().compose())
        self._shown = self._keys()
        return sorted(items, key=lambda item: order.get(getattr(item, "action", None), len(order)))

    def bindings_changed(self, screen) -> None:
        if screen is self.screen and self._keys() == self._shown:
            return  # focus moved between widgets that bind nothing shown: keep the keys as they are
        super().bindings_changed(screen)

    def _keys(self) -> tuple:
        """What the footer shows of the screen's bindings: key, label and whether it is enabled."""
        return tuple((binding.key, binding.description, enabled)
                     for _node, binding, enabled, _tooltip in self.screen.active_bindings.values() if binding.show)
