# The whole inventory in one call: one row per VM with ids, names, states as strings.
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'
$rows = @(foreach ($vm in @(Hyper-V\Get-VM)) { ConvertTo-DvmSummary $vm })
[ordered]@{ VMs = $rows }
