"""The Hyper-V stand-in: a fake PowerShell with a fake Hyper-V behind it, and a WinRM server."""
