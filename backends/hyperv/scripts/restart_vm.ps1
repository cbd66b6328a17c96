# Hard reset of a running VM.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running', 'Paused') 'reset'
Hyper-V\Restart-VM -VM $vm -Force
