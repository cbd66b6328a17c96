# Boot order from 'disk', 'optical', 'network' (the VM must be off).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [string[]]$BootOrder = @())
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off') 'change its boot order'
Set-DvmBootOrder $vm $BootOrder
