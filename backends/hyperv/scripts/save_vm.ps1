# Save a running or paused VM's state to disk and stop it.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running', 'Paused') 'save its state'
Hyper-V\Save-VM -VM $vm
