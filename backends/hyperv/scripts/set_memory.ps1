# Set start-up memory and the dynamic memory range (the VM must be off).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [Parameter(Mandatory = $true)] [int64]$StartupBytes,
    [bool]$DynamicMemory = $false,
    [int64]$MinimumBytes = 0,
    [int64]$MaximumBytes = 0
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off') 'change its memory'
if ($DynamicMemory) {
    Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $true -StartupBytes $StartupBytes `
        -MinimumBytes $MinimumBytes -MaximumBytes $MaximumBytes
} else {
    Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes $StartupBytes
}
