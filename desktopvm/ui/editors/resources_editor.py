"""`ResourcesEditor`: CPUs and memory, bounded by the backend and the host."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QFormLayout, QSpinBox, QVBoxLayout, QWidget

from desktopvm.model import (
    Capabilities,
    CpuSpec,
    DynamicMemory,
    LiveChange,
    MachineSpec,
    MemorySpec,
    Problem,
    Severity,
    catalog,
)
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.slider_spin import SliderSpin
from desktopvm.ui.editors.widgets import caption, format_mib, note

# Above this share of the host's memory the host itself starts to run short.
HOST_MEMORY_WARNING_SHARE = 0.75
MEMORY_STEP_MIB = 128


class ResourcesEditor(SpecEditor):
    """Processors, nested virtualisation, memory (with a warning zone) and dynamic memory."""

    scope = FieldScope(("cpu", "memory"))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        caps = capabilities
        self.recommendation = note()
        self.recommendation.setObjectName("recommendation")
        self.cpus = SliderSpin()
        self.cpus.setObjectName("cpus")
        self.cpus.spin.setObjectName("cpus-spin")
        self.cpus.setAccessibleName(self.tr("Processors"))
        self.nested = QCheckBox(self.tr("Nested virtualisation (run hypervisors inside)"))
        self.nested.setObjectName("nested-virtualization")
        self.nested.setAccessibleName(self.tr("Nested virtualisation"))
        self.memory = SliderSpin(self.tr(" MiB"), zones=True)
        self.memory.setObjectName("memory")
        self.memory.spin.setObjectName("memory-spin")
        self.memory.setAccessibleName(self.tr("Memory in MiB"))
        self.memory.zones.setObjectName("memory-zones")
        self.dynamic = QCheckBox(self.tr("Dynamic memory: let the hypervisor adjust it as the "
                                         "guest needs"))
        self.dynamic.setObjectName("dynamic-memory")
        self.dynamic.setAccessibleName(self.tr("Dynamic memory"))
        self.dynamic_min = self._memory_spin("dynamic-minimum", self.tr("Minimum memory in MiB"))
        self.dynamic_max = self._memory_spin("dynamic-maximum", self.tr("Maximum memory in MiB"))

        host = host_info
        host_cpus = (self.tr("This host has %s.") % self._count_cpus(host.cpus)) if host else ""
        form = QFormLayout()
        form.addRow(self.tr("Processors:"), self.cpus)
        form.addRow("", caption(host_cpus))
        form.addRow("", self.nested)
        form.addRow(self.tr("Memory:"), self.memory)
        form.addRow("", caption(self._memory_hint()))
        if caps.dynamic_memory:
            form.addRow("", self.dynamic)
            form.addRow(self.tr("Minimum:"), self.dynamic_min)
            form.addRow(self.tr("Maximum:"), self.dynamic_max)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.recommendation)
        layout.addLayout(form)
        layout.addStretch(1)

        self.cpus.value_changed.connect(self._user_changed)
        self.nested.toggled.connect(self._user_changed)
        self.memory.value_changed.connect(self._user_changed)
        self.dynamic.toggled.connect(self._user_changed)
        self.dynamic_min.valueChanged.connect(self._user_changed)
        self.dynamic_max.valueChanged.connect(self._user_changed)

    def _count_cpus(self, count: int) -> str:
        return self.tr("1 CPU") if count == 1 else self.tr("%d CPUs") % count

    def _memory_spin(self, name: str, accessible: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setAccessibleName(accessible)
        spin.setSuffix(self.tr(" MiB"))
        spin.setSingleStep(MEMORY_STEP_MIB)
        spin.setRange(self.capabilities.min_memory_mib, self._memory_ceiling(0))
        return spin

    def _host_memory(self) -> int:
        return self.host_info.memory_mib if self.host_info and self.host_info.memory_mib else 0

    def _memory_ceiling(self, current: int) -> int:
        """The slider's top: the host's memory (never past it), else the backend's limit.

        Where the backend allows less than the host has, the part above its limit stays on
        the slider in red, and validation explains the limit instead of a silent clamp.
        """
        host = self._host_memory()
        return max(host or self.capabilities.max_memory_mib, current,
                   self.capabilities.min_memory_mib)

    def _warning_threshold(self) -> int:
        host = self._host_memory()
        return int(host * HOST_MEMORY_WARNING_SHARE) if host else self.capabilities.max_memory_mib

    def _memory_hint(self) -> str:
        host = self._host_memory()
        if not host:
            return self.tr("%s can give a machine up to %s.") % (
                self.capabilities.backend, format_mib(self.capabilities.max_memory_mib))
        limit = self.capabilities.max_memory_mib
        if limit < self._warning_threshold():
            return self.tr("This host has %s of memory; %s can give a machine up to %s.") % (
                format_mib(host), self.capabilities.backend, format_mib(limit))
        return self.tr("This host has %s of memory; keep the machine below %s so the host "
                       "does not run short.") % (format_mib(host),
                                                 format_mib(self._warning_threshold()))

    def _load(self, spec: MachineSpec) -> None:
        caps = self.capabilities
        count = spec.cpu.count
        self.cpus.set_range(max(1, caps.min_cpus), max(caps.max_cpus, count, 1))
        self.cpus.set_value(count)
        self.nested.setChecked(spec.cpu.nested_virtualization)
        size = spec.memory.size_mib
        ceiling = self._memory_ceiling(size)
        self.memory.set_range(caps.min_memory_mib, ceiling, MEMORY_STEP_MIB)
        self.memory.set_value(size)
        self.memory.zones.set_zones(caps.min_memory_mib, ceiling, self._warning_threshold(),
                             caps.max_memory_mib + 1)
        dynamic = spec.memory.dynamic
        self.dynamic.setChecked(dynamic is not None)
        for spin, value in ((self.dynamic_min, dynamic.minimum_mib if dynamic else size // 2),
                            (self.dynamic_max, dynamic.maximum_mib if dynamic else size)):
            spin.setMaximum(max(ceiling, value))
            spin.setValue(value)
        self.set_guest_os(spec.os)

    def set_guest_os(self, os_id: str) -> None:
        """Show what the catalog recommends for this guest."""
        entry = catalog().get(os_id)
        if entry is None:
            self.recommendation.hide()
            return
        self.recommendation.setText(
            self.tr("Recommended for %s: %s and %s of memory.")
            % (entry.name, self._count_cpus(entry.cpus), format_mib(entry.memory_mib)))
        self.recommendation.show()

    def _refresh(self) -> None:
        caps = self.capabilities
        self.offer(self.cpus, True, "", LiveChange.CPU_COUNT)
        self.offer(self.nested, caps.nested_virtualization or self.nested.isChecked(),
                    self.tr("%s cannot offer nested virtualisation on this host.")
                    % caps.backend)
        self.offer(self.memory, True, "", LiveChange.MEMORY_SIZE)
        self.offer(self.dynamic, True, "", LiveChange.MEMORY_DYNAMIC)
        for spin in (self.dynamic_min, self.dynamic_max):
            self.offer(spin, self.dynamic.isChecked(),
                        self.tr("Turn on dynamic memory first."), LiveChange.MEMORY_DYNAMIC)

    def own_problems(self) -> list[Problem]:
        """Advice the model cannot give: it does not know how much memory the host has."""
        size = self.memory.value()
        host = self._host_memory()
        if host and self._warning_threshold() < size <= self.capabilities.max_memory_mib:
            return [Problem(field="memory.size_mib", severity=Severity.WARNING, message=self.tr(
                "%s is more than %d%% of this host's %s; the host may run short of memory "
                "and slow down.") % (format_mib(size), round(HOST_MEMORY_WARNING_SHARE * 100),
                                     format_mib(host)))]
        return []

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        cpu = CpuSpec(count=self.cpus.value(), nested_virtualization=self.nested.isChecked())
        dynamic = None
        if self.dynamic.isChecked():
            dynamic = DynamicMemory(minimum_mib=self.dynamic_min.value(),
                                    maximum_mib=self.dynamic_max.value())
        memory = MemorySpec(size_mib=self.memory.value(), dynamic=dynamic)
        return spec.model_copy(update={"cpu": cpu, "memory": memory})
