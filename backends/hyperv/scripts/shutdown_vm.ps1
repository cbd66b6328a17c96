# Ask the guest to shut down (the shutdown integration service) and return at once.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running') 'shut down'
$system = Get-DvmCimSystem $vm
$component = Get-CimAssociatedInstance -InputObject $system -ResultClassName Msvm_ShutdownComponent
if ($null -eq $component) {
    throw (New-DvmError 'DesktopVM.Unsupported' ('{0} offers no shutdown integration service; turn it off instead' -f $vm.Name) 'InvalidOperation' $vm.Name)
}
$answer = Invoke-CimMethod -InputObject $component -MethodName InitiateShutdown -Arguments @{ Force = $true; Reason = 'DesktopVM' }
Wait-DvmCimJob $answer 'Shutting down the guest' 5
