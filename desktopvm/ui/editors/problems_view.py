"""`ProblemsView`: validation problems of the fields in view, errors red, warnings amber."""

from __future__ import annotations

import re
from collections.abc import Iterable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QStyle, QWidget

from desktopvm.model import Problem, Severity
from desktopvm.ui.editors.base import EVERYTHING, FieldScope
from desktopvm.ui.editors.widgets import severity_color

_ADAPTER = re.compile(r"^network\[(\d+)\]")


class ProblemsView(QWidget):
    """A list of problems, each an icon and a sentence; hidden while there are none.

    Only problems whose field one of `scopes` covers are shown, so each page or tab shows
    what its own controls can fix; `name_adapters` prefixes network problems with the
    adapter's number, for views of several adapters. The text of each row is also its
    accessible name, prefixed with "Error:" or "Warning:" for screen readers, which cannot
    see colour.
    """

    def __init__(self, scopes: Iterable[FieldScope] = (EVERYTHING,),
                 name_adapters: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_adapters = name_adapters
        self.setObjectName("problems")
        self.setAccessibleName(self.tr("Problems"))
        self.scopes = tuple(scopes)
        self.problems: list[Problem] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 4, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setColumnStretch(1, 1)
        self._rows: list[tuple[QLabel, QLabel]] = []
        self.setVisible(False)

    def show_problems(self, problems: Iterable[Problem]) -> None:
        """Show the problems in scope (errors first), replacing what was shown."""
        mine = [p for p in problems if any(s.covers(p.field) for s in self.scopes)]
        mine.sort(key=lambda p: p.severity is not Severity.ERROR)
        if mine == self.problems:
            return
        self.problems = mine
        for old in (w for row in self._rows for w in row):
            old.hide()
            self._grid.removeWidget(old)
            old.deleteLater()
        self._rows = [self._add_row(row, problem) for row, problem in enumerate(mine)]
        self.setVisible(bool(mine))

    @property
    def has_errors(self) -> bool:
        """Whether a shown problem blocks going on."""
        return any(p.severity is Severity.ERROR for p in self.problems)

    def texts(self) -> list[str]:
        """The shown messages (with their adapter prefix), for tests and summaries."""
        return [text.text() for _, text in self._rows]

    def _add_row(self, row: int, problem: Problem) -> tuple[QLabel, QLabel]:
        error = problem.severity is Severity.ERROR
        standard = (QStyle.StandardPixmap.SP_MessageBoxCritical if error
                    else QStyle.StandardPixmap.SP_MessageBoxWarning)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        icon_label = QLabel()
        icon_label.setPixmap(self.style().standardIcon(standard).pixmap(QSize(size, size)))
        icon_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        text_label = QLabel(self._message(problem))
        text_label.setWordWrap(True)
        text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text_label.setObjectName("problem-error" if error else "problem-warning")
        palette = text_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText,
                         severity_color(problem.severity, self.palette()))
        text_label.setPalette(palette)
        kind = self.tr("Error") if error else self.tr("Warning")
        text_label.setAccessibleName(f"{kind}: {text_label.text()}")
        icon_label.setAccessibleName(kind)
        self._grid.addWidget(icon_label, row, 0)
        self._grid.addWidget(text_label, row, 1)
        return icon_label, text_label

    def _message(self, problem: Problem) -> str:
        # With several adapters a bare "Choose the switch." does not say which one.
        match = _ADAPTER.match(problem.field)
        if match and self.name_adapters:
            return self.tr("Network adapter %s: %s") % (int(match.group(1)) + 1, problem.message)
        return problem.message
