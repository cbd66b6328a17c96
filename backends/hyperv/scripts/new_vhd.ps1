# Create a virtual disk (VHDX or VHD by the file's extension), dynamic unless asked for fixed.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path, [Parameter(Mandatory = $true)] [int64]$SizeBytes, [bool]$Fixed = $false)
$ErrorActionPreference = 'Stop'
if ($Fixed) { $null = Hyper-V\New-VHD -Path $Path -SizeBytes ([uint64]$SizeBytes) -Fixed }
else { $null = Hyper-V\New-VHD -Path $Path -SizeBytes ([uint64]$SizeBytes) -Dynamic }
ConvertTo-DvmVhd $Path
