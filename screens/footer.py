"""A footer whose keys keep one order whatever has focus.

Textual's Footer lists keys in the order the focused widget's bindings meet the app's: a
TextArea (which binds F6 and F7 itself) moved the wizard's F6 and F7 to the front.  Users read
a footer by position, so this one sorts the keys by the order of the app's BINDINGS.
"""
from __future__ import annotations

from textual.widgets import Footer


class StableFooter(Footer):
    def compose(self):
        order = {binding.action: index for index, binding in enumerate(self.app.BINDINGS)}
        items = list(super().compose())
        return sorted(items, key=lambda item: order.get(getattr(item, "action", None), len(order)))
