# Back up a VM's disks: Export-VM into a staging folder (a running VM through Hyper-V's
# production checkpoint technology), then each attached disk as one whole VHD/VHDX file in the
# destination folder; the staging folder is removed in every case.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [Parameter(Mandatory = $true)] [string]$Staging,
    [Parameter(Mandatory = $true)] [string]$Destination
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$state = [string]$vm.State
$drives = @(Hyper-V\Get-VMHardDiskDrive -VM $vm)
try {
    if ($state -eq 'Running' -or $state -eq 'Paused') {
        # The guest is asked to flush (VSS) and no memory is copied; Export-VM reference:
        # "CaptureDataConsistentState. Use Production Checkpoint technology."
        Hyper-V\Export-VM -VM $vm -Path $Staging -CaptureLiveState CaptureDataConsistentState
    } else {
        Hyper-V\Export-VM -VM $vm -Path $Staging
    }
    $exported = Join-DvmPath (Join-DvmPath $Staging ([string]$vm.Name)) 'Virtual Hard Disks'
    $disks = @()
    $number = 0
    foreach ($drive in $drives) {
        $source = [string]$drive.Path
        if (-not $source) {
            throw (New-DvmError 'DesktopVM.Unsupported' ('{0} has a physical (pass-through) disk, which Hyper-V does not export' -f $vm.Name) 'NotImplemented' $Id)
        }
        $copy = Join-DvmPath $exported ([System.IO.Path]::GetFileName($source))
        if (-not (Test-Path -LiteralPath $copy)) {
            throw (New-DvmError 'DesktopVM.NotFound' ('The export of {0} lacks its disk {1}' -f $vm.Name, $source) 'ObjectNotFound' $copy)
        }
        $extension = '.vhdx'
        if ($source -match '\.a?vhd$') { $extension = '.vhd' }
        $target = Join-DvmPath $Destination ('disk-{0}{1}' -f $number, $extension)
        if ((Hyper-V\Get-VHD -Path $copy).ParentPath) {
            # A checkpoint's differencing disk (.avhdx) becomes one whole disk: Convert-VHD
            # reads through its parents.
            Hyper-V\Convert-VHD -Path $copy -DestinationPath $target -VHDType Dynamic
        } else {
            Move-Item -LiteralPath $copy -Destination $target
        }
        $disks += [ordered]@{ Source = $source; Path = $target; Size = [int64](Hyper-V\Get-VHD -Path $target).Size }
        $number++
    }
    [ordered]@{ State = $state; Disks = @($disks) }
} finally {
    if (Test-Path -LiteralPath $Staging) { Remove-Item -LiteralPath $Staging -Recurse -Force -ErrorAction SilentlyContinue }
}
