# Apply a storage diff: detach drives, attach or create disks, add DVD drives, change DVD media.
# Only media changes are allowed while the VM runs; the plan says which it is.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [object[]]$Remove = @(),
    [object[]]$AddDisks = @(),
    [object[]]$AddDvdDrives = @(),
    [object[]]$Media = @()
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
if ($Remove.Count + $AddDisks.Count + $AddDvdDrives.Count -gt 0) {
    Assert-DvmState $vm @('Off') 'add or remove drives'
}
$created = New-Object System.Collections.Generic.List[string]
foreach ($slot in $Remove) {
    $match = {
        $_.ControllerType.ToString() -eq [string]$slot.ControllerType -and
        [int]$_.ControllerNumber -eq [int]$slot.ControllerNumber -and
        [int]$_.ControllerLocation -eq [int]$slot.ControllerLocation
    }
    if ([string]$slot.Kind -eq 'dvd') {
        @(Hyper-V\Get-VMDvdDrive -VM $vm | Where-Object $match) | Hyper-V\Remove-VMDvdDrive
    } else {
        @(Hyper-V\Get-VMHardDiskDrive -VM $vm | Where-Object $match) | Hyper-V\Remove-VMHardDiskDrive
    }
}
try {
    $paths = @(foreach ($disk in $AddDisks) { Add-DvmHardDisk $vm $disk ([string]$vm.Path) $created })
} catch {
    $failure = $_
    foreach ($path in $created) { Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue }
    throw $failure
}
foreach ($dvd in $AddDvdDrives) { Add-DvmDvdDrive $vm $dvd }
foreach ($change in $Media) {
    $drive = @(Hyper-V\Get-VMDvdDrive -VM $vm | Where-Object {
        [int]$_.ControllerNumber -eq [int]$change.ControllerNumber -and
        [int]$_.ControllerLocation -eq [int]$change.ControllerLocation
    }) | Select-Object -First 1
    if ($null -eq $drive) { continue }
    if ([string]$change.Path) {
        Hyper-V\Set-VMDvdDrive -VMDvdDrive $drive -Path ([string]$change.Path)
    } else {
        Hyper-V\Set-VMDvdDrive -VMDvdDrive $drive -Path $null
    }
}
[ordered]@{ Disks = $paths }
