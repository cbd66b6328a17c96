# Compact a dynamic virtual disk (it must not be attached to a running VM).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path)
$ErrorActionPreference = 'Stop'
Hyper-V\Optimize-VHD -Path $Path -Mode Full
ConvertTo-DvmVhd $Path
