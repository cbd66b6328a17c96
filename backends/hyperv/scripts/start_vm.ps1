# Start (or resume from saved state) a VM.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off', 'Saved') 'start'
Hyper-V\Start-VM -VM $vm
