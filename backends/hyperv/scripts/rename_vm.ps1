# Rename a VM (allowed while it runs).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [Parameter(Mandatory = $true)] [string]$Name)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Hyper-V\Rename-VM -VM $vm -NewName $Name
