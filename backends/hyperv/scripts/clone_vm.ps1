# Full clone: export the VM (or one checkpoint) to a work folder, import a copy with a new id.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [Parameter(Mandatory = $true)] [string]$Name,
    [Parameter(Mandatory = $true)] [string]$FolderName,
    [Parameter(Mandatory = $true)] [string]$WorkName,
    [string]$CheckpointId = ''
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$root = [string](Hyper-V\Get-VMHost).VirtualMachinePath
$work = Join-DvmPath $root ('.desktopvm-' + $WorkName)
$folder = Join-DvmPath $root $FolderName
try {
    if ($CheckpointId) {
        Hyper-V\Export-VMSnapshot -VMSnapshot (Get-DvmCheckpoint $vm $CheckpointId) -Path $work
    } else {
        Hyper-V\Export-VM -VM $vm -Path $work
    }
    Import-DvmCopy (Find-DvmConfiguration $work) $folder $Name
} finally {
    if (Test-Path -LiteralPath $work) { Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue }
}
