"""Evidence list model: one row per evidence item, with a thumbnail and status badges."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap

from .provenance_view import draw_chip, tooltip_line

THUMB = 96
IdRole = Qt.ItemDataRole.UserRole + 1

STATUS_COLORS = {
    "not reviewed": QColor(140, 140, 140),
    "no finding": QColor(60, 170, 90),
    "suspicious": QColor(235, 160, 30),
    "manipulation confirmed": QColor(215, 50, 50),
}
# What the dot's colours mean, for the list's tooltip (the dot alone has no legend).
STATUS_LEGEND = ("Dot (finding status): grey = not reviewed, green = no finding, orange = suspicious, "
                 "red = manipulation confirmed")
WARNING_MARK = "⚠"

# Ingest notes that say the file itself may be damaged (case.metadata): the row is marked with them.
_DAMAGE_WORDS = ("damaged", "truncated", "metadata extraction failed")


def ingest_warnings(metadata: dict | None) -> list[str]:
    """The ingest notes of an item that warn its file may be damaged (e.g. a truncated JPEG)."""
    return [str(n) for n in (metadata or {}).get("notes", []) or []
            if any(w in str(n) for w in _DAMAGE_WORDS)]


@dataclass
class EvidenceRow:
    id: str
    name: str
    thumbnail: QImage | None = None
    score: float | None = None
    status: str = "not reviewed"
    integrity: str = "not checked"  # "ok", "modified", "missing", "not checked"
    error: str | None = None
    busy: bool = False
    provenance: str | None = None  # C2PA verdict recorded at ingest (declip_desktop.provenance_view)
    untrusted_analyses: int = 0  # stored analyses that failed the last verification (never displayed)
    warning: str | None = None  # an ingest warning about the file itself (e.g. a truncated JPEG)
    thumb_error: str | None = None  # why no thumbnail could be made (the placeholder says so)

    @property
    def analysed(self) -> bool:
        return self.score is not None


class EvidenceModel(QAbstractListModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[EvidenceRow] = []
        self._icons: dict[str, QIcon] = {}

    # -- Qt model API ---------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{row.name}\n{self._summary(row)}"
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(row.id)
            if icon is None:
                icon = self._icons[row.id] = _badged_icon(row)
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = [row.name, self._summary(row), f"finding: {row.status}", f"integrity: {row.integrity}"]
            if row.warning:
                tip.append(f"{WARNING_MARK} added with a warning: {row.warning}")
            if row.thumb_error:
                why = row.thumb_error.removeprefix(f"{row.id} ({row.name}): ")
                tip.append(f"preview cannot be shown: {why}")
            if tooltip_line(row.provenance):
                tip.append(tooltip_line(row.provenance))
            if row.error:
                tip.append(f"error: {row.error}")
            tip.append(STATUS_LEGEND)
            return "\n".join(tip)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{row.name}, {self._summary(row)}".replace("\n", ", ")
        if role == IdRole:
            return row.id
        return None

    @staticmethod
    def _summary(row: EvidenceRow) -> str:
        """The row's lines under the name: a damaged-file warning first (it qualifies the rest), the
        score, and the finding status on a line of its own (beside the score it was cut off)."""
        warn = f"{WARNING_MARK} file may be damaged\n" if row.warning else ""
        if row.busy:
            return f"{warn}analysing…"
        if row.error:
            return f"{warn}error"
        n = row.untrusted_analyses
        score = (f"score {row.score:.2f}" if row.score is not None else
                 "no verified analysis" if n else "not analysed")
        bad = (f"\n⚠ {n} analysis fails verification" if n == 1 else f"\n⚠ {n} analyses fail verification") if n else ""
        return f"{warn}{score}\n{row.status}{bad}"

    # -- rows -----------------------------------------------------------------------------------
    def set_rows(self, rows: list[EvidenceRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._icons.clear()
        self.endResetModel()

    def append(self, row: EvidenceRow) -> None:
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(row)
        self.endInsertRows()

    def rows(self) -> list[EvidenceRow]:
        return list(self._rows)

    def row_of(self, evidence_id: str) -> int:
        for i, r in enumerate(self._rows):
            if r.id == evidence_id:
                return i
        return -1

    def get(self, evidence_id: str) -> EvidenceRow | None:
        i = self.row_of(evidence_id)
        return self._rows[i] if i >= 0 else None

    def update(self, evidence_id: str, **changes) -> None:
        i = self.row_of(evidence_id)
        if i < 0:
            return
        row = self._rows[i]
        for k, v in changes.items():
            setattr(row, k, v)
        self._icons.pop(row.id, None)
        idx = self.index(i)
        self.dataChanged.emit(idx, idx)


def _badged_icon(row: EvidenceRow) -> QIcon:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor(50, 50, 55))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if row.thumbnail is not None and not row.thumbnail.isNull():
        img = row.thumbnail.scaled(QSize(THUMB, THUMB), Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        p.drawImage((THUMB - img.width()) // 2, (THUMB - img.height()) // 2, img)
    elif row.thumb_error:  # a blank square read as "still loading": say it cannot be shown
        font = QFont(p.font())
        font.setPixelSize(11)
        p.setFont(font)
        p.setPen(QColor(225, 225, 225))
        p.drawText(QRectF(6, 22, THUMB - 12, THUMB - 44), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                   "preview cannot be shown")
    # Finding status: a coloured dot at top left.
    p.setPen(QColor(20, 20, 20))
    p.setBrush(STATUS_COLORS.get(row.status, QColor(140, 140, 140)))
    p.drawEllipse(QRectF(4, 4, 14, 14))
    font = QFont(p.font())
    font.setPixelSize(12)
    font.setBold(True)
    p.setFont(font)
    # Score: a chip at the bottom.
    if row.error or row.score is not None or row.busy:
        text = "ERROR" if row.error else ("…" if row.busy else f"{row.score:.2f}")
        bg = QColor(200, 40, 40) if row.error else QColor(0, 0, 0, 170)
        p.setBrush(bg)
        p.setPen(Qt.PenStyle.NoPen)
        w = max(42, p.fontMetrics().horizontalAdvance(text) + 8)  # "ERROR" is wider than a score
        chip = QRectF(THUMB - 4 - w, THUMB - 20, w, 16)
        p.drawRoundedRect(chip, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
    draw_chip(p, row.provenance, THUMB)  # Content Credentials verdict, bottom left
    # Integrity: a warning mark at top right when the evidence copy no longer matches, or when the
    # file was added with a warning (it may be damaged).
    if row.integrity in ("modified", "missing") or row.untrusted_analyses or row.warning:
        p.setBrush(QColor(215, 50, 50))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRectF(THUMB - 20, 4, 16, 16), 3, 3)
        p.setPen(QColor(255, 255, 255))
        p.drawText(QRectF(THUMB - 20, 4, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")
    p.end()
    return QIcon(pix)
