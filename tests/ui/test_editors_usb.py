"""The USB editor: controller generation and tablet round trip; no-USB backends; locks."""

from __future__ import annotations

from desktopvm.model import UsbSpec, UsbVersion, defaults_for, validate
from desktopvm.protocol import PowerState
from desktopvm.testing.doubles.memory_backend import CAPABILITIES
from desktopvm.ui.editors import UsbEditor
from tests.ui.test_settings_dialog import iso, ok_button, open_settings  # noqa: F401 (fixtures)

CAPS = CAPABILITIES.model_copy(update={"usb": True})
NO_USB = CAPABILITIES.model_copy(update={"usb": False})
USB2_TABLET = UsbSpec(version=UsbVersion.USB2, tablet=True)


def editor_for(qtbot, caps=CAPS, usb=USB2_TABLET, state=PowerState.OFF):
    spec = defaults_for("debian12", caps, name="usb").model_copy(update={"usb": usb})
    editor = UsbEditor(caps, None)
    qtbot.addWidget(editor)
    editor.set_spec(spec)
    editor.set_state(state)
    return editor, spec


def test_the_controller_and_the_tablet_round_trip(qtbot):
    editor, spec = editor_for(qtbot)
    assert editor.version() is UsbVersion.USB2 and editor.tablet.isChecked()
    assert editor.apply(spec) is spec
    editor.buttons[UsbVersion.USB3].click()
    editor.tablet.click()
    assert editor.apply(spec).usb == UsbSpec(version=UsbVersion.USB3, tablet=False)


def test_no_controller_means_no_tablet_and_the_wish_comes_back(qtbot):
    editor, spec = editor_for(qtbot)
    editor.buttons[None].click()
    assert not editor.tablet.isEnabled() and not editor.tablet.isChecked()
    assert "choose a USB controller first" in editor.tablet.toolTip()
    assert editor.apply(spec).usb == UsbSpec(version=None, tablet=False)
    editor.buttons[UsbVersion.USB1].click()
    assert editor.tablet.isEnabled() and editor.tablet.isChecked()
    assert editor.apply(spec).usb == UsbSpec(version=UsbVersion.USB1, tablet=True)


def test_a_backend_without_usb_offers_none_alone_and_says_why(qtbot):
    editor, _ = editor_for(qtbot, caps=NO_USB, usb=UsbSpec(version=None, tablet=False))
    assert editor.buttons[None].isEnabled()
    for version in UsbVersion:
        assert not editor.buttons[version].isEnabled()
        assert editor.buttons[version].toolTip() == "Memory offers no USB controller here."
    assert editor.versions_hint.text() == "Memory offers no USB controller here."


def test_a_loaded_controller_the_backend_lacks_stays_and_is_named(qtbot):
    editor, spec = editor_for(qtbot, caps=NO_USB)
    assert editor.version() is UsbVersion.USB2 and editor.buttons[UsbVersion.USB2].isEnabled()
    assert editor.apply(spec) is spec
    assert [p.message for p in validate(spec, NO_USB) if p.field == "usb.version"] == [
        "Memory offers no USB controller here."]


def test_only_the_generations_the_backend_has_are_offered(qtbot):
    """VirtualBox 6.1 without its Extension Pack has USB 1.1 only (review V3)."""
    reason = "USB 2.0 and 3.0 need the VirtualBox Extension Pack on 6.1"
    caps = CAPS.model_copy(update={"usb_versions": frozenset({UsbVersion.USB1}),
                                   "usb_versions_reason": reason})
    editor, _ = editor_for(qtbot, caps=caps, usb=UsbSpec(version=UsbVersion.USB1))
    assert editor.buttons[UsbVersion.USB1].isEnabled() and editor.buttons[None].isEnabled()
    for version in (UsbVersion.USB2, UsbVersion.USB3):
        assert not editor.buttons[version].isEnabled()
        assert editor.buttons[version].toolTip() == reason


def test_a_saved_machine_locks_usb(qtbot):
    editor, _ = editor_for(qtbot, state=PowerState.SAVED)
    assert not any(b.isEnabled() for b in editor.buttons.values())
    assert not editor.tablet.isEnabled()
    assert "saved state" in editor.buttons[UsbVersion.USB3].toolTip()


def test_the_ports_tab_feeds_the_usb_change_into_the_diff(open_settings):  # noqa: F811
    # The memory double has no USB, so the change is checked in the diff; the QEMU
    # end-to-end test sends one to a real backend.
    dialog, _ = open_settings(usb=True)
    assert dialog.usb.version() is None  # as the double's machine was made
    dialog.usb.buttons[UsbVersion.USB3].click()
    assert dialog.changed_groups() == {"usb"}
    assert dialog.edited_spec().usb == UsbSpec(version=UsbVersion.USB3, tablet=True)
    assert ok_button(dialog).isEnabled()
