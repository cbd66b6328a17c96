"""Remote hosts in the app: the Add/Edit host dialog, the trust question, the host details.

Import the modules themselves (this package imports nothing, so the details widget can be
loaded at start-up without the dialogs):

- `host_dialog.HostDialog(registry: Registry, runner: JobRunner, parent: QWidget | None = None,
  host: HostConfig | None = None)`: "Add host…" (host None) or "Edit host…". Run it with
  `open()` or `exec()`; when it ends Accepted, `dialog.host()` is the HostConfig to save (the
  caller saves the settings with `Settings.with_host(host, replacing=old_id)` and builds a new
  Registry). The password is already in the keyring then, never in the returned HostConfig.
  Test connection and every keyring call run on `runner`; the dialog never waits, and the
  trust question it may ask is window-modal without a nested event loop.
- `trust_dialog.ask_trust(parent: QWidget | None, facts: CertificateFacts,
  changed: bool = False) -> bool`: a modal question (a nested event loop: the app keeps
  painting) whether to pin a certificate for its host; True only when the user chose "Trust
  this certificate". With `changed`, it warns of a possible interception and trusting needs
  a confirming tick. The caller pins it: `host.replace(pinned_sha256=facts.sha256)`.
  `trust_dialog.TrustDialog(facts, changed, parent)` is the same question without a nested
  loop (`open()` and its `accepted`/`rejected` signals).
- `host_details.HostDetails(QWidget)` with `show_host(host: HostConfig | None,
  status: Status, info: HostInfo | None)`: a host node's details (state and fix, how it is
  reached, CPUs, memory, OS, networks from Backend.host_info()).

What proved them (pytest-qt: tests/ui/test_host_dialog.py, test_host_dialog_end_to_end.py,
test_trust_dialog.py, test_host_details.py): Test connection, trusting a self-signed
certificate, a wrong password and the password reaching only the keyring were run against the
loopback HTTPS WinRM server with the PowerShell double behind it (a stand-in enforcing the
documented WinRM and Hyper-V rules) and a real keyrings.alt file keyring; an ESXi host the
same way against govmomi's vSphere simulator (vcsim, built by .ci/vcsim); the rest of the
dialog's rules against a scripted test_host. No real Windows, ESXi or vCenter host was used
(live-only).
"""
