"""`StepsSidebar`: the wizard's steps down the left side, the current one highlighted."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontMetrics, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


class StepsSidebar(QFrame):
    """Names of the steps; done ones normal, the current one bold, later ones muted."""

    def __init__(self, steps: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("wizard-steps")
        self.setAccessibleName(self.tr("Steps"))
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.labels: list[QLabel] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 24, 16)
        layout.setSpacing(10)
        for number, step in enumerate(steps, start=1):
            label = QLabel(f"{number}.  {step}")
            self.labels.append(label)
            layout.addWidget(label)
        layout.addStretch(1)
        # Wide enough for the longest step in bold, so the current step is never clipped.
        bold = QFont(self.font())
        bold.setBold(True)
        widest = max((QFontMetrics(bold).horizontalAdvance(lab.text()) for lab in self.labels),
                     default=0)
        margins = layout.contentsMargins()
        self.setFixedWidth(widest + margins.left() + margins.right() + 2 * self.frameWidth() + 8)
        self.set_current(0)

    def set_current(self, index: int) -> None:
        """Highlight step `index` (0-based)."""
        for position, label in enumerate(self.labels):
            font = QFont(label.font())
            font.setBold(position == index)
            label.setFont(font)
            label.setForegroundRole(QPalette.ColorRole.PlaceholderText if position > index
                                    else QPalette.ColorRole.WindowText)
            current = self.tr("current step") if position == index else ""
            label.setAccessibleName(f"{label.text()} {current}".strip())
