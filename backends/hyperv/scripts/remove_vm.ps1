# Delete a VM. Disk paths (with their checkpoint chains) are read first; files go only if asked.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [bool]$DeleteDisks = $false)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off', 'Saved') 'be deleted'
$disks = New-Object System.Collections.Generic.List[string]
foreach ($drive in @(Hyper-V\Get-VMHardDiskDrive -VM $vm)) {
    foreach ($path in (Get-DvmDiskChain ([string]$drive.Path))) { if (-not $disks.Contains($path)) { $disks.Add($path) } }
}
foreach ($checkpoint in @(Hyper-V\Get-VMSnapshot -VM $vm)) {
    foreach ($drive in @(Hyper-V\Get-VMHardDiskDrive -VMSnapshot $checkpoint)) {
        foreach ($path in (Get-DvmDiskChain ([string]$drive.Path))) { if (-not $disks.Contains($path)) { $disks.Add($path) } }
    }
}
$folder = [string]$vm.Path
Hyper-V\Remove-VM -VM $vm -Force
$removed = @()
if ($DeleteDisks) {
    $removed = @(foreach ($path in $disks) {
        if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Force; $path }
    })
    foreach ($sub in @('Virtual Hard Disks', 'Virtual Machines', 'Snapshots', '')) {
        $dir = Join-DvmPath $folder $sub
        if ((Test-Path -LiteralPath $dir) -and @(Get-ChildItem -LiteralPath $dir -Force).Count -eq 0) {
            Remove-Item -LiteralPath $dir -Force
        }
    }
}
[ordered]@{ Disks = @($disks); Removed = $removed }
