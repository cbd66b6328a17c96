# Compact a dynamic virtual disk, mounted read-only so Full mode sees the guest's free space.
# Optimize-VHD reference: Full on a VHDX not attached read-only "will default to Prezeroed mode",
# and the disk "must not be attached or must be attached in read-only mode" (review H9).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path)
$ErrorActionPreference = 'Stop'
if ([bool](Hyper-V\Get-VHD -Path $Path).Attached) {
    throw (New-DvmError 'DesktopVM.InvalidState' ('{0} is in use (a running machine or a mount has it); shut the machine down to compact it' -f $Path) 'InvalidOperation' $Path)
}
$mounted = $false
try {
    Hyper-V\Mount-VHD -Path $Path -ReadOnly -NoDriveLetter
    $mounted = $true
} catch {
    $mounted = $false  # mounting needs more rights than compacting: compact it unmounted
}
try {
    Hyper-V\Optimize-VHD -Path $Path -Mode Full
} finally {
    if ($mounted) { Hyper-V\Dismount-VHD -Path $Path }
}
$result = ConvertTo-DvmVhd $Path
$result.CompactedMounted = $mounted
$result
