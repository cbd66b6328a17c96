"""The VMware Workstation / Fusion / Player backend: vmrun, the .vmx files, vmware-vdiskmanager."""
