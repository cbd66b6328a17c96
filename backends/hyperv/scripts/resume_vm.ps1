# Resume a paused VM.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Paused') 'resume'
Hyper-V\Resume-VM -VM $vm
