# What a virtual disk file is: format, type, sizes, parent.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path)
$ErrorActionPreference = 'Stop'
ConvertTo-DvmVhd $Path
