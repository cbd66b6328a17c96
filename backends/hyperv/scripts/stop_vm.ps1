# Power a VM off at once (Stop-VM -TurnOff); a saved VM loses its saved state.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running', 'Paused', 'Saved', 'Starting', 'Stopping') 'power off'
if ($vm.State.ToString() -eq 'Saved') {
    Hyper-V\Remove-VMSavedState -VM $vm
} else {
    Hyper-V\Stop-VM -VM $vm -TurnOff -Force
}
