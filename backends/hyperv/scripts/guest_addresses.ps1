# The guest's IP addresses as its integration services report them, per network adapter.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$addresses = @(foreach ($nic in @(Hyper-V\Get-VMNetworkAdapter -VM $vm)) { @($nic.IPAddresses) })
[ordered]@{ Addresses = @($addresses | Where-Object { $_ } | ForEach-Object { [string]$_ }) }
