# Import an exported Hyper-V machine as a copy with a new id into its own folder.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path, [Parameter(Mandatory = $true)] [string]$FolderName, [string]$Name = '')
$ErrorActionPreference = 'Stop'
$root = [string](Hyper-V\Get-VMHost).VirtualMachinePath
Import-DvmCopy (Find-DvmConfiguration $Path) (Join-DvmPath $root $FolderName) $Name
