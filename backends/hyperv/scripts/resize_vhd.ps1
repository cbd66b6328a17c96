# Grow (or shrink, where the data allows) a virtual disk.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path, [Parameter(Mandatory = $true)] [int64]$SizeBytes)
$ErrorActionPreference = 'Stop'
Hyper-V\Resize-VHD -Path $Path -SizeBytes ([uint64]$SizeBytes)
ConvertTo-DvmVhd $Path
