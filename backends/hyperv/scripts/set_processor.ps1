# Set the virtual CPU count and nested virtualisation (the VM must be off).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [int]$Count = 1, [bool]$NestedVirtualization = $false)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off') 'change its processors'
Hyper-V\Set-VMProcessor -VM $vm -Count $Count -ExposeVirtualizationExtensions $NestedVirtualization
