# Connect COM1/COM2 to named pipes ('' disconnects) (the VM must be off).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [object[]]$ComPorts = @())
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off') 'change its serial ports'
foreach ($port in $ComPorts) {
    Hyper-V\Set-VMComPort -VM $vm -Number ([int]$port.Number) -Path ([string]$port.Path)
}
