# Everything about one VM in one call: hardware, firmware, drives, adapters, checkpoints.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$result = ConvertTo-DvmSummary $vm
$result.Notes = [string]$vm.Notes
$result.Path = [string]$vm.Path
$result.CurrentCheckpointId = if ($vm.ParentSnapshotId) { $vm.ParentSnapshotId.ToString() } else { '' }

$cpu = Hyper-V\Get-VMProcessor -VM $vm
$result.Processor = [ordered]@{
    Count = [int]$cpu.Count
    ExposeVirtualizationExtensions = [bool]$cpu.ExposeVirtualizationExtensions
}
$memory = Hyper-V\Get-VMMemory -VM $vm
$result.Memory = [ordered]@{
    Startup = [int64]$memory.Startup
    DynamicMemoryEnabled = [bool]$memory.DynamicMemoryEnabled
    Minimum = [int64]$memory.Minimum
    Maximum = [int64]$memory.Maximum
}

$boot = @()
$firmware = [ordered]@{ SecureBoot = 'Off'; SecureBootTemplate = ''; TpmEnabled = $false }
if ([int]$vm.Generation -eq 2) {
    $fw = Hyper-V\Get-VMFirmware -VM $vm
    $firmware.SecureBoot = $fw.SecureBoot.ToString()
    $firmware.SecureBootTemplate = [string]$fw.SecureBootTemplate
    $boot = @(foreach ($entry in @($fw.BootOrder)) {
        if ($entry.BootType.ToString() -eq 'Network') { 'network' }
        elseif ($entry.Device -is [Microsoft.HyperV.PowerShell.DvdDrive]) { 'optical' }
        elseif ($entry.BootType.ToString() -eq 'Drive') { 'disk' }
    })
    try { $firmware.TpmEnabled = [bool](Hyper-V\Get-VMSecurity -VM $vm).TpmEnabled } catch { }
} else {
    $names = @{ IDE = 'disk'; VHD = 'disk'; CD = 'optical'; LegacyNetworkAdapter = 'network'; NetworkAdapter = 'network' }
    $boot = @(foreach ($device in @((Hyper-V\Get-VMBios -VM $vm).StartupOrder)) {
        $name = $device.ToString()
        if ($names.ContainsKey($name)) { $names[$name] }
    })
}
$result.Firmware = $firmware
$result.BootOrder = $boot

$result.HardDrives = @(foreach ($drive in @(Hyper-V\Get-VMHardDiskDrive -VM $vm)) {
    $size = [int64]0
    $format = ''
    try {
        $vhd = Hyper-V\Get-VHD -Path $drive.Path
        $size = [int64]$vhd.Size
        $format = $vhd.VhdFormat.ToString()
    } catch { }
    [ordered]@{
        ControllerType = $drive.ControllerType.ToString()
        ControllerNumber = [int]$drive.ControllerNumber
        ControllerLocation = [int]$drive.ControllerLocation
        Path = [string]$drive.Path
        Size = $size
        VhdFormat = $format
    }
})
$result.DvdDrives = @(foreach ($drive in @(Hyper-V\Get-VMDvdDrive -VM $vm)) {
    [ordered]@{
        ControllerType = $drive.ControllerType.ToString()
        ControllerNumber = [int]$drive.ControllerNumber
        ControllerLocation = [int]$drive.ControllerLocation
        Path = [string]$drive.Path
    }
})
$result.NetworkAdapters = @(foreach ($nic in @(Hyper-V\Get-VMNetworkAdapter -VM $vm)) {
    [ordered]@{
        Name = [string]$nic.Name
        SwitchName = [string]$nic.SwitchName
        SwitchId = [string]$nic.SwitchId
        MacAddress = [string]$nic.MacAddress
        DynamicMacAddressEnabled = [bool]$nic.DynamicMacAddressEnabled
        IsLegacy = [bool]$nic.IsLegacy
        IPAddresses = @(@($nic.IPAddresses) | Where-Object { $_ } | ForEach-Object { [string]$_ })
    }
})
$result.ScsiControllerCount = @(Hyper-V\Get-VMScsiController -VM $vm).Count
$result.ComPorts = @(foreach ($number in 1, 2) {
    $port = Hyper-V\Get-VMComPort -VM $vm -Number $number
    [ordered]@{ Number = $number; Path = [string]$port.Path }
})
$result.Checkpoints = @(foreach ($checkpoint in @(Hyper-V\Get-VMSnapshot -VM $vm)) {
    [ordered]@{
        Id = $checkpoint.Id.ToString()
        Name = [string]$checkpoint.Name
        ParentCheckpointId = if ($checkpoint.ParentSnapshotId) { $checkpoint.ParentSnapshotId.ToString() } else { '' }
        CreationTime = ConvertTo-DvmDate $checkpoint.CreationTime
        SnapshotType = $checkpoint.SnapshotType.ToString()
        State = $checkpoint.State.ToString()
        Notes = [string]$checkpoint.Notes
    }
})
$result
