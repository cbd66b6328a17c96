"""The VirtualBox stand-in: a process-boundary VBoxManage (fakevbox) and its test-side control."""
