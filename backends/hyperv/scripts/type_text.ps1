# Type ASCII text into the guest through its virtual keyboard (Msvm_Keyboard.TypeText).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [Parameter(Mandatory = $true)] [string]$Text)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running') 'type into it'
$keyboard = Get-DvmKeyboard $vm
$answer = Invoke-CimMethod -InputObject $keyboard -MethodName TypeText -Arguments @{ asciiText = $Text }
Wait-DvmCimJob $answer 'Typing'
