# Go back to a checkpoint (the VM must not be running).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [Parameter(Mandatory = $true)] [string]$CheckpointId)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off', 'Saved') 'restore a checkpoint'
$checkpoint = Get-DvmCheckpoint $vm $CheckpointId
Hyper-V\Restore-VMSnapshot -VMSnapshot $checkpoint -Confirm:$false
