# Apply a network diff by adapter index: re-plug or re-address ('set'), 'add', 'remove'.
# Re-plugging is allowed while the VM runs; adding, removing and MAC changes are not.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [object[]]$Adapters = @())
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$existing = @(Hyper-V\Get-VMNetworkAdapter -VM $vm)
$offline = @($Adapters | Where-Object { [string]$_.Action -ne 'connect' })
if ($offline.Count -gt 0) { Assert-DvmState $vm @('Off') 'add, remove or re-address adapters' }
$removed = New-Object System.Collections.Generic.List[object]
foreach ($adapter in $Adapters) {
    $action = [string]$adapter.Action
    if ($action -eq 'add') { Add-DvmNetworkAdapter $vm $adapter; continue }
    $index = [int]$adapter.Index
    if ($index -ge $existing.Count) { continue }
    $nic = $existing[$index]
    if ($action -eq 'remove') { $removed.Add($nic); continue }
    if ($action -eq 'connect') {
        if ([string]$adapter.SwitchName) {
            Hyper-V\Connect-VMNetworkAdapter -VMNetworkAdapter $nic -SwitchName ([string]$adapter.SwitchName)
        } else {
            Hyper-V\Disconnect-VMNetworkAdapter -VMNetworkAdapter $nic
        }
        continue
    }
    Set-DvmNetworkAdapter $nic $adapter
}
foreach ($nic in $removed) { Hyper-V\Remove-VMNetworkAdapter -VMNetworkAdapter $nic }
