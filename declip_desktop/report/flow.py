"""Page-flow rules of the report.

- A heading stays with the first lines of what follows it (it was left alone at a page's foot).
- A table never leaves one or two rows alone on a page: short tables move whole, long ones split
  with at least `keep` rows on each side and say "(continued)" where they go on.
- A page that continues an item says which item (ItemMark feeds the page furniture in pages.py).
- A long text that goes on to the next page can be headed there by what it is (Continued).
"""
from __future__ import annotations

from typing import Callable

from reportlab.platypus import Flowable, KeepTogether, SimpleDocTemplate, Spacer, Table
from reportlab.platypus.doctemplate import ActionFlowable, _ktAllow
from reportlab.platypus.flowables import _listWrapOn

MIN_BODY = 34   # pt: about three lines of text or two table rows under a heading


class ItemMark(Flowable):
    """Zero-size marker: from here on, pages belong to item `label` (None: to no item). The canvas
    keeps the label so a page that starts inside an item can name it in its header."""

    _ZEROSIZE = 1

    def __init__(self, label: str | None):
        super().__init__()
        self.label = label

    def wrap(self, aw, ah):
        return 0, 0

    def draw(self):
        self.canv.item_open = self.label


def _at_top(f: Flowable) -> bool:
    frame = getattr(f, "_frame", None)
    return bool(frame is not None and getattr(frame, "_atTop", False))


class HeadingKeep(Flowable):
    """Headings (and the spacers after them) kept with the start of the flowable that follows.

    Unlike reportlab's KeepTogether, a long follower is not moved whole to the next page: it is split
    so that the heading goes with at least MIN_BODY of it; only when that much does not fit does the
    group move on. At the top of a page it just flows (nothing better is possible)."""

    def __init__(self, flowables: list[Flowable]):
        super().__init__()
        self._content = list(flowables)

    def wrap(self, aw, ah):
        return aw, 0xFFFFFF   # always asks to be split, as KeepTogether does

    def getSpaceBefore(self):  # noqa: N802 (reportlab API): the frame then leaves the heading's own
        return self._content[0].getSpaceBefore()

    def split(self, aw, ah):
        content = self._content
        if len(content) < 2 or _at_top(self):
            return content
        *head, body = content
        _, total = _listWrapOn(content, aw, self.canv)
        if total <= ah:
            return content
        _, hh = _listWrapOn(head, aw, self.canv)
        room = ah - hh - max(head[-1].getSpaceAfter(), body.getSpaceBefore()) - 2
        if room < MIN_BODY:
            return []
        parts = body.splitOn(self.canv, aw, room)
        if len(parts) >= 2 and not isinstance(parts[0], ActionFlowable):
            _, first = parts[0].wrapOn(self.canv, aw, room)
            if MIN_BODY <= first <= room:
                return head + parts
        return []


def _is_spacer(f: Flowable) -> bool:
    return isinstance(f, (Spacer, ItemMark))


class ReportDoc(SimpleDocTemplate):
    """SimpleDocTemplate whose keepWithNext groups a heading with its body as HeadingKeep does."""

    def handle_keepWithNext(self, flowables):
        n, i = len(flowables), 0
        while i < n and flowables[i].getKeepWithNext() and _ktAllow(flowables[i]):
            i += 1
        if not i:
            return
        while i < n and _is_spacer(flowables[i]):   # a Spacer between heading and text is the heading's
            i += 1
        head = flowables[:i]
        for f in head:
            f.__dict__["keepWithNext"] = 0   # grouped once; the group's parts are not regrouped
        if i < n and isinstance(flowables[i], KeepTogether):
            # the heading joins a group that must stay together anyway
            group: Flowable = KeepTogether(head + flowables[i]._content)
            i += 1
        else:
            if i < n and _ktAllow(flowables[i]) and not isinstance(flowables[i], ActionFlowable):
                i += 1
            group = HeadingKeep(flowables[:i])
        del flowables[:i]
        flowables.insert(0, group)


class KeptTable(Table):
    """A Table that splits only with at least `keep` body rows on each side (unless it starts a
    page, where any split is better than none); `continued` is said above the rest on the next page."""

    keep = 3
    short = 10      # body rows: a table this short moves whole (a split of it read as two tables)
    # makes the caption said above the rest on the next page (set by blocks.kv_table, which knows the
    # report's paragraph styles; flow stays below blocks)
    continued: Callable[[], Flowable] | None = None

    def split(self, aw, ah):
        rr = self.repeatRows if isinstance(self.repeatRows, int) else max(self.repeatRows) + 1
        top = _at_top(self)
        if not top and len(self._cellvalues) - rr <= self.short:
            return []
        self._rowSplitRange = None if top else (rr + self.keep, -self.keep)
        parts = super().split(aw, ah)
        for p in parts:
            p.keep, p.short, p.continued = self.keep, self.short, self.continued
        if len(parts) == 2 and self.continued:
            cap = self.continued()
            cap.keepWithNext = 1
            return [parts[0], cap, parts[1]]
        return parts


class Continued(Flowable):
    """A flowable (a long paragraph) whose rest, when it goes on to the next page, is headed by
    `caption()`: a page starting mid-text must say what the text is."""

    def __init__(self, body: Flowable, caption: Callable[[], Flowable]):
        super().__init__()
        self.body, self.caption = body, caption

    def wrap(self, aw, ah):
        self.width, self.height = self.body.wrapOn(self.canv, aw, ah)
        return self.width, self.height

    def draw(self):
        self.body.drawOn(self.canv, 0, 0)

    def getSpaceBefore(self):  # noqa: N802 (reportlab API)
        return self.body.getSpaceBefore()

    def getSpaceAfter(self):  # noqa: N802 (reportlab API)
        return self.body.getSpaceAfter()

    def split(self, aw, ah):
        parts = self.body.splitOn(self.canv, aw, ah)
        if len(parts) < 2:
            return parts
        cap = self.caption()
        cap.keepWithNext = 1
        return [parts[0], cap] + [Continued(p, self.caption) for p in parts[1:]]
