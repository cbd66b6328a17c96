"""The rows of "Test connection": each step passed (✓) or failed (✗), with the fix in words."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from desktopvm.connections import Check, Diagnosis
from desktopvm.printable import printable, printable_lines

OK_COLOR, FAILED_COLOR, MUTED_COLOR = "#1b7f3b", "#b00020", "#6b7280"
_COMMAND = re.compile(r"`([^`]+)`")


def fix_html(fix: str) -> str:
    """A fix as rich text: escaped, line breaks kept, `commands` in a fixed-width font."""
    text = html.escape(printable_lines(fix))
    text = _COMMAND.sub(lambda m: f"<code>{m.group(1)}</code>", text)
    return text.replace("\n", "<br>")


def _label(text: str, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    # Selectable, so an admin can copy a command or an address from it.
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    return label


class CheckList(QWidget):
    """Shows one Diagnosis (or why the test could not run) as rows: mark, step, detail, fix."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("check-list")
        self.rows: list[tuple[QLabel, QLabel, QLabel]] = []  # mark, name, detail
        self.fix: QLabel | None = None
        self.summary = _label("")
        self.summary.setObjectName("check-summary")
        self.summary.hide()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._rows_widget, self._grid = self._new_grid()
        self._layout.addWidget(self.summary)

    def _new_grid(self) -> tuple[QWidget, QGridLayout]:
        holder = QWidget()
        grid = QGridLayout(holder)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setColumnStretch(2, 1)
        self._layout.insertWidget(0, holder)
        return holder, grid

    def clear(self) -> None:
        """No rows, no summary."""
        self._layout.removeWidget(self._rows_widget)
        self._rows_widget.deleteLater()
        self._rows_widget, self._grid = self._new_grid()
        self.rows, self.fix = [], None
        self.summary.clear()
        self.summary.hide()

    def show_diagnosis(self, diagnosis: Diagnosis) -> None:
        """One row per step that ran; the failed step's fix under it."""
        self.clear()
        for check in diagnosis.checks:
            self._add_row(check)
        if diagnosis.ok:
            version = f" ({printable(diagnosis.version)})" if diagnosis.version else ""
            self.show_summary(f"Connected: every check passed{version}.", OK_COLOR)
        elif not diagnosis.checks:
            self.show_summary("The test found nothing to report.", FAILED_COLOR)

    def show_summary(self, text: str, color: str = MUTED_COLOR) -> None:
        """A line under the rows (plain text)."""
        self.summary.setText(printable_lines(text))
        self.summary.setStyleSheet(f"color: {color};")
        self.summary.show()

    def show_failure(self, summary: str, hint: str = "") -> None:
        """The test itself could not run (no keyring, a kind this build cannot test)."""
        self.clear()
        self._add_row(Check("Test connection", False, summary, hint))

    def _add_row(self, check: Check) -> None:
        row = self._grid.rowCount()
        mark = _label("✓" if check.ok else "✗")
        mark.setStyleSheet(f"color: {OK_COLOR if check.ok else FAILED_COLOR}; font-weight: 700;")
        mark.setAccessibleName("passed" if check.ok else "failed")
        name = _label(printable(check.name))
        name.setWordWrap(False)  # a step's name is short: one line keeps the rows aligned
        name.setStyleSheet("font-weight: 600;")
        detail = _label(printable_lines(check.detail))
        for column, widget in enumerate((mark, name, detail)):
            self._grid.addWidget(widget, row, column, Qt.AlignmentFlag.AlignTop)
        self.rows.append((mark, name, detail))
        if not check.ok and check.fix:
            self.fix = _label(fix_html(check.fix), rich=True)
            self.fix.setObjectName("check-fix")
            self.fix.setStyleSheet("background: #fef3c7; color: #1f2937; padding: 6px; "
                                   "border-radius: 4px;")
            self._grid.addWidget(self.fix, row + 1, 1, 1, 2)
