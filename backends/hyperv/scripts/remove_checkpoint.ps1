# Delete one checkpoint; its children move up to its parent and its disk is merged.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [Parameter(Mandatory = $true)] [string]$CheckpointId)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$checkpoint = Get-DvmCheckpoint $vm $CheckpointId
Hyper-V\Remove-VMSnapshot -VMSnapshot $checkpoint -Confirm:$false
