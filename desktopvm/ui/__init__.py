"""The Qt user interface: windows, dialogs, item models and console widgets."""
