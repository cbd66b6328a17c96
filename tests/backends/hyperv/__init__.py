"""Tests of the Hyper-V backend against a process-boundary PowerShell double and a WinRM server."""
