# Pause a running VM in memory.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running') 'pause'
Hyper-V\Suspend-VM -VM $vm
