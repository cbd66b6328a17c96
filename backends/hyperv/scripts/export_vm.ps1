# Export a VM (or one checkpoint) in Hyper-V's own format into a folder.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [Parameter(Mandatory = $true)] [string]$Path, [string]$CheckpointId = '')
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
if ($CheckpointId) {
    Hyper-V\Export-VMSnapshot -VMSnapshot (Get-DvmCheckpoint $vm $CheckpointId) -Path $Path
} else {
    Hyper-V\Export-VM -VM $vm -Path $Path
}
[ordered]@{ Folder = (Join-DvmPath $Path ([string]$vm.Name)) }
