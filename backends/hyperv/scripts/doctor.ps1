# What a support engineer checks on a Hyper-V host: role, module, rights, firmware, folders, VirtualBox.
# Each probe is separate so one that fails (a CIM class a SKU lacks) leaves the others' answers.
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'
$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object System.Security.Principal.WindowsPrincipal $identity
$result = [ordered]@{
    OsVersion                     = [System.Environment]::OSVersion.Version.ToString()
    OsCaption                     = ''
    HyperVFeature                 = 'Unknown'
    ModulePresent                 = $false
    VmmsRunning                   = $false
    HypervisorPresent             = $false
    VirtualizationFirmwareEnabled = $false
    SlatSupported                 = $false
    IsAdministrator               = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
    IsHyperVAdmin                 = $principal.IsInRole((New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-578'))
    Folders                       = @()
    VirtualBoxVersion             = ''
    Errors                        = @()
}
# Win32_OperatingSystem.Caption: "Microsoft Windows 11 Pro", "Microsoft Windows Server 2022 Standard".
try { $result.OsCaption = [string](Get-CimInstance -ClassName Win32_OperatingSystem).Caption } catch { $result.Errors += 'Win32_OperatingSystem: ' + $_.Exception.Message }
# Win32_OptionalFeature.InstallState: 1 enabled, 2 disabled, 3 absent (client and Server DISM name).
try {
    $feature = @(Get-CimInstance -ClassName Win32_OptionalFeature -Filter "Name='Microsoft-Hyper-V'") | Select-Object -First 1
    if ($feature) {
        if ([int]$feature.InstallState -eq 1) { $result.HyperVFeature = 'Enabled' } else { $result.HyperVFeature = 'Disabled' }
    } else { $result.HyperVFeature = 'Absent' }
} catch { $result.Errors += 'Win32_OptionalFeature: ' + $_.Exception.Message }
$result.ModulePresent = [bool](Get-Module -ListAvailable -Name Hyper-V)
try { $result.VmmsRunning = ([string](Get-Service -Name vmms).Status -eq 'Running') } catch { $result.Errors += 'vmms: ' + $_.Exception.Message }
# HypervisorPresent is true while a hypervisor runs; VirtualizationFirmwareEnabled then reads false
# (the hypervisor owns VT-x/AMD-V), so the Python side reads the two together.
try { $result.HypervisorPresent = [bool](Get-CimInstance -ClassName Win32_ComputerSystem).HypervisorPresent } catch { $result.Errors += 'Win32_ComputerSystem: ' + $_.Exception.Message }
try {
    $cpu = @(Get-CimInstance -ClassName Win32_Processor) | Select-Object -First 1
    $result.VirtualizationFirmwareEnabled = [bool]$cpu.VirtualizationFirmwareEnabled
    $result.SlatSupported = [bool]$cpu.SecondLevelAddressTranslationExtensions
} catch { $result.Errors += 'Win32_Processor: ' + $_.Exception.Message }
try {
    $vmHost = Hyper-V\Get-VMHost
    $paths = [ordered]@{ VirtualMachinePath = [string]$vmHost.VirtualMachinePath; VirtualHardDiskPath = [string]$vmHost.VirtualHardDiskPath }
    $folders = @()
    foreach ($kind in @($paths.Keys)) {
        $path = $paths[$kind]
        $entry = [ordered]@{ Kind = $kind; Path = $path; FreeBytes = -1; TotalBytes = -1 }
        try {
            $drive = New-Object System.IO.DriveInfo ([System.IO.Path]::GetPathRoot($path))
            $entry.FreeBytes = [int64]$drive.AvailableFreeSpace
            $entry.TotalBytes = [int64]$drive.TotalSize
        } catch { $result.Errors += $kind + ': ' + $_.Exception.Message }
        $folders += $entry
    }
    $result.Folders = $folders
} catch { $result.Errors += 'Hyper-V host: ' + $_.Exception.Message }
# VirtualBox's installer writes its version here (HKLM\SOFTWARE\Oracle\VirtualBox, VersionExt).
try {
    $key = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Oracle\VirtualBox' -ErrorAction SilentlyContinue
    if ($key) { $result.VirtualBoxVersion = [string]$key.VersionExt }
} catch { $result.Errors += 'VirtualBox: ' + $_.Exception.Message }
$result
