# Copy a virtual disk into another format (by the destination's extension) and type.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Path,
    [Parameter(Mandatory = $true)] [string]$DestinationPath,
    [string]$VhdType = 'Dynamic'
)
$ErrorActionPreference = 'Stop'
Hyper-V\Convert-VHD -Path $Path -DestinationPath $DestinationPath -VHDType $VhdType
ConvertTo-DvmVhd $DestinationPath
