# Facts about the Hyper-V host: CPUs, memory, default folders, switches and optional features.
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'
$vmHost = Hyper-V\Get-VMHost
$switches = @(Hyper-V\Get-VMSwitch | Select-Object `
    @{ n = 'Name'; e = { [string]$_.Name } },
    @{ n = 'Id'; e = { $_.Id.ToString() } },
    @{ n = 'SwitchType'; e = { $_.SwitchType.ToString() } },
    @{ n = 'NetAdapterInterfaceDescription'; e = { [string]$_.NetAdapterInterfaceDescription } })
$build = [System.Environment]::OSVersion.Version.Build
$cpu = @(Get-CimInstance -ClassName Win32_Processor) | Select-Object -First 1
$templates = @('MicrosoftWindows', 'MicrosoftUEFICertificateAuthority')
if ($build -ge 14393) { $templates += 'OpenSourceShieldedVM' }
[ordered]@{
    ComputerName          = [string]$vmHost.ComputerName
    LogicalProcessorCount = [int]$vmHost.LogicalProcessorCount
    MemoryCapacity        = [int64]$vmHost.MemoryCapacity
    VirtualMachinePath    = [string]$vmHost.VirtualMachinePath
    VirtualHardDiskPath   = [string]$vmHost.VirtualHardDiskPath
    OsVersion             = [System.Environment]::OSVersion.Version.ToString()
    Switches              = $switches
    TpmSupported          = [bool](Get-Command Hyper-V\Enable-VMTPM -ErrorAction SilentlyContinue)
    NestedSupported       = (Get-Command Hyper-V\Set-VMProcessor).Parameters.ContainsKey('ExposeVirtualizationExtensions')
    ProcessorManufacturer = if ($cpu) { [string]$cpu.Manufacturer } else { '' }
    SecureBootTemplates   = $templates
}
