"""The VMware stand-in: fake vmrun, vmware-vdiskmanager, vmware-vmx, vmware and its VNC server."""
