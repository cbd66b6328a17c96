# Key combinations through Msvm_Keyboard: Ctrl+Alt+Del, or modifiers held around one key.
# $Combos: each {CtrlAltDel: bool, Modifiers: [virtual-key codes], Key: virtual-key code}.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [object[]]$Combos = @())
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running') 'type into it'
$keyboard = Get-DvmKeyboard $vm
foreach ($combo in $Combos) {
    if ($combo.CtrlAltDel) {
        $null = Invoke-CimMethod -InputObject $keyboard -MethodName TypeCtrlAltDel
        continue
    }
    $modifiers = @($combo.Modifiers)
    foreach ($code in $modifiers) { $null = Invoke-CimMethod -InputObject $keyboard -MethodName PressKey -Arguments @{ keyCode = [uint32]$code } }
    try {
        $null = Invoke-CimMethod -InputObject $keyboard -MethodName TypeKey -Arguments @{ keyCode = [uint32]$combo.Key }
    } finally {
        [array]::Reverse($modifiers)
        foreach ($code in $modifiers) { $null = Invoke-CimMethod -InputObject $keyboard -MethodName ReleaseKey -Arguments @{ keyCode = [uint32]$code } }
    }
}
