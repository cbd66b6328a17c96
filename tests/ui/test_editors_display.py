"""The display editor: monitors and video memory round trip, limits, locked states."""

from __future__ import annotations

from desktopvm.model import DisplaySpec, defaults_for, validate
from desktopvm.protocol import PowerState
from desktopvm.testing.doubles.memory_backend import CAPABILITIES
from desktopvm.ui.editors import DisplayEditor
from tests.ui.test_settings_dialog import iso, ok_button, open_settings  # noqa: F401 (fixtures)

CAPS = CAPABILITIES.model_copy(update={"max_monitors": 4, "max_video_memory_mib": 256})
ONE_SCREEN = DisplaySpec(video_memory_mib=16, monitors=1)


def editor_for(qtbot, caps=CAPS, display=ONE_SCREEN,
               state=PowerState.OFF):
    spec = defaults_for("debian12", caps, name="desk").model_copy(update={"display": display})
    editor = DisplayEditor(caps, None)
    qtbot.addWidget(editor)
    editor.set_spec(spec)
    editor.set_state(state)
    return editor, spec


def test_monitors_and_video_memory_round_trip(qtbot):
    editor, spec = editor_for(qtbot)
    assert editor.apply(spec) is spec  # untouched: nothing to send
    editor.monitors.setValue(2)
    editor.video_memory.spin.setValue(64)
    assert editor.touched
    assert editor.apply(spec).display == DisplaySpec(video_memory_mib=64, monitors=2)


def test_the_ranges_come_from_the_capabilities(qtbot):
    editor, _ = editor_for(qtbot)
    assert editor.monitors.maximum() == 4
    assert editor.video_memory.spin.maximum() == 256
    assert "up to 256 MiB" in editor.video_memory_hint.text()


def test_a_value_past_the_limit_stays_shown_and_is_refused_in_words(qtbot):
    """Loading never changes the spec: 512 MiB on a 256 MiB backend is shown and named."""
    editor, spec = editor_for(qtbot, display=DisplaySpec(video_memory_mib=512, monitors=1))
    assert editor.video_memory.value() == 512
    assert editor.apply(spec) is spec
    messages = [p.message for p in validate(spec, CAPS) if p.field.startswith("display")]
    assert messages == ["At most 256 MiB of video memory."]


def test_one_monitor_backends_grey_the_count_with_the_reason(qtbot):
    editor, _ = editor_for(qtbot, caps=CAPS.model_copy(update={"max_monitors": 1}))
    assert not editor.monitors.isEnabled()
    assert editor.monitors.toolTip() == "Memory gives a machine one monitor."
    assert editor.video_memory.isEnabled()


def test_a_running_machine_locks_the_display(qtbot):
    editor, _ = editor_for(qtbot, state=PowerState.RUNNING)
    assert not editor.monitors.isEnabled() and not editor.video_memory.isEnabled()
    assert "Shut down the machine" in editor.video_memory.toolTip()
    assert editor.needs_shutdown()


def test_the_display_tab_sends_its_change(open_settings, qtbot):  # noqa: F811
    dialog, backend = open_settings(max_video_memory_mib=128)
    dialog.display.video_memory.spin.setValue(96)
    assert dialog.changed_groups() == {"display"}
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.get_machine(dialog.info.summary.id).spec.display.video_memory_mib == 96


def test_more_monitors_than_the_backend_allows_stay_shown(qtbot):
    caps = CAPS.model_copy(update={"max_monitors": 1})
    editor, spec = editor_for(qtbot, caps=caps,
                              display=DisplaySpec(video_memory_mib=16, monitors=2))
    assert editor.monitors.value() == 2
    assert editor.monitors.isEnabled()  # so the user can bring it down to one
    editor.monitors.setValue(1)
    assert editor.apply(spec).display.monitors == 1
    assert validate(editor.apply(spec), caps) == []
