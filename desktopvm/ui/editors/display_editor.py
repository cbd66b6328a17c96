"""`DisplayEditor`: the virtual graphics card's monitors and video memory, within capabilities."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QSpinBox, QVBoxLayout, QWidget

from desktopvm.model import Capabilities, DisplaySpec, MachineSpec
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.slider_spin import SliderSpin
from desktopvm.ui.editors.widgets import caption, format_mib

VIDEO_MEMORY_STEP_MIB = 8


class DisplayEditor(SpecEditor):
    """Monitors and video memory; the ranges come from the backend's capabilities.

    A loaded value beyond the backend's limit stays shown (the range widens to hold it) so
    that opening the settings never changes the spec; validation says what the limit is.
    """

    scope = FieldScope(("display",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        caps = capabilities
        self.monitors = QSpinBox()
        self.monitors.setObjectName("monitors")
        self.monitors.setAccessibleName(self.tr("Number of monitors"))
        self.monitors.setRange(1, max(1, caps.max_monitors))
        self.monitors.setMaximumWidth(120)
        self.monitors_hint = caption(self._monitors_hint())
        self.monitors_hint.setObjectName("monitors-hint")
        self.video_memory = SliderSpin(self.tr(" MiB"))
        self.video_memory.setObjectName("video-memory")
        self.video_memory.spin.setObjectName("video-memory-spin")
        self.video_memory.setAccessibleName(self.tr("Video memory in MiB"))
        self.video_memory.set_range(1, max(1, caps.max_video_memory_mib), 1)
        self.video_memory_hint = caption(self.tr(
            "%s gives a machine up to %s. More memory allows higher resolutions and more "
            "monitors; 16 MiB is plenty for one Full HD screen without 3D.")
            % (caps.backend, format_mib(max(1, caps.max_video_memory_mib))))
        self.video_memory_hint.setObjectName("video-memory-hint")
        form = QFormLayout()
        form.addRow(self.tr("Monitors:"), self.monitors)
        form.addRow("", self.monitors_hint)
        form.addRow(self.tr("Video memory:"), self.video_memory)
        form.addRow("", self.video_memory_hint)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addStretch(1)
        self.monitors.valueChanged.connect(self._user_changed)
        self.video_memory.value_changed.connect(self._user_changed)

    def _monitors_hint(self) -> str:
        caps = self.capabilities
        if caps.max_monitors <= 1:
            return self.tr("%s gives a machine one monitor.") % caps.backend
        return self.tr("%s gives a machine up to %d monitors; each needs video memory.") % (
            caps.backend, caps.max_monitors)

    def _load(self, spec: MachineSpec) -> None:
        caps = self.capabilities
        display = spec.display
        self.monitors.setMaximum(max(1, caps.max_monitors, display.monitors))
        self.monitors.setValue(display.monitors)
        memory = display.video_memory_mib
        self.video_memory.set_range(min(1, memory), max(1, caps.max_video_memory_mib, memory))
        self.video_memory.slider.setSingleStep(VIDEO_MEMORY_STEP_MIB)
        self.video_memory.set_value(memory)

    def _refresh(self) -> None:
        caps = self.capabilities
        one = caps.max_monitors <= 1 and self.monitors.value() <= 1
        self.offer(self.monitors, not one, self.tr("%s gives a machine one monitor.")
                   % caps.backend)
        self.offer(self.video_memory, True, "")

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        display = DisplaySpec(video_memory_mib=self.video_memory.value(),
                              monitors=self.monitors.value())
        return spec.model_copy(update={"display": display})
