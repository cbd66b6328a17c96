"""`SliderSpin` (a slider and a spin box kept in step) and `ZoneBar` (green/amber/red zones)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QGridLayout, QSlider, QSpinBox, QWidget

from desktopvm.model import Severity
from desktopvm.ui.editors.widgets import is_dark, severity_color


class SliderSpin(QWidget):
    """A slider for a rough choice and a spin box for an exact one, showing one value.

    Signals:
        value_changed(int)
    """

    value_changed = Signal(int)

    def __init__(self, suffix: str = "", zones: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QSpinBox()
        self.spin.setSuffix(suffix)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.spin.setMinimumWidth(self.spin.fontMetrics().horizontalAdvance("0000000" + suffix))
        self.zones = ZoneBar()
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(0)
        layout.addWidget(self.slider, 0, 0)
        layout.addWidget(self.spin, 0, 1)
        # Under the slider only, so the zones line up with the values they mark.
        layout.addWidget(self.zones, 1, 0)
        layout.setColumnStretch(0, 1)
        self.zones.setVisible(zones)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self._spin_changed)

    def _spin_changed(self, value: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self.value_changed.emit(value)

    def set_range(self, minimum: int, maximum: int, step: int = 1) -> None:
        """Bounds of both controls; `step` is the slider's and the spin box's step."""
        for control in (self.slider, self.spin):
            control.blockSignals(True)
            control.setRange(minimum, maximum)
            control.setSingleStep(step)
            control.blockSignals(False)
        self.slider.setPageStep(max(step, (maximum - minimum) // 8))

    def value(self) -> int:
        """The current value."""
        return self.spin.value()

    def set_value(self, value: int) -> None:
        """Show `value` (clamped to the range)."""
        self.spin.setValue(value)

    def setAccessibleName(self, name: str) -> None:
        """Name both controls, which a screen reader reaches separately."""
        super().setAccessibleName(name)
        self.slider.setAccessibleName(name)
        self.spin.setAccessibleName(name)


class ZoneBar(QWidget):
    """A thin bar under a slider: fine up to `warn_from`, risky up to `error_from`, then not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(6)
        self._range = (0, 1)
        self._warn_from = 1
        self._error_from = 1

    def set_zones(self, minimum: int, maximum: int, warn_from: int, error_from: int) -> None:
        """Zones over the slider's range [minimum, maximum]."""
        self._range = (minimum, max(maximum, minimum + 1))
        self._warn_from, self._error_from = warn_from, error_from
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        lowest, highest = self._range
        # The slider's handle centre never reaches the widget's edges: inset by half a handle.
        inset = 6.0
        width = max(1.0, self.width() - 2 * inset)

        def x_of(value: int) -> float:
            value = max(lowest, min(highest, value))
            return inset + width * (value - lowest) / (highest - lowest)

        dark = is_dark(self.palette())
        # Brighter than the warning text colour: a bar needs no contrast with text.
        zones = (
            (lowest, self._warn_from, QColor("#57e389" if dark else "#2ec27e")),
            (self._warn_from, self._error_from, QColor("#f8e45c" if dark else "#e5a50a")),
            (self._error_from, highest, severity_color(Severity.ERROR, self.palette())),
        )
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        for start, end, colour in zones:
            if end > start:
                painter.setBrush(colour)
                painter.drawRoundedRect(QRectF(x_of(start), 1, x_of(end) - x_of(start), 4), 2, 2)
        painter.end()
