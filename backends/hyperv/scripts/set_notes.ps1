# Replace a VM's notes (allowed while it runs).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [string]$Notes = '')
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Hyper-V\Set-VM -VM $vm -Notes $Notes
