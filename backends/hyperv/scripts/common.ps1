# Helpers shared by every DesktopVM operation script (dot-sourced once by the dispatcher).
param()
$ErrorActionPreference = 'Stop'

function New-DvmError {
    # An ErrorRecord with our own FullyQualifiedErrorId, so Python maps it without reading text.
    param([string]$ErrorId, [string]$Message, [string]$Category = 'InvalidOperation', $Target = $null)
    $exception = New-Object System.Exception $Message
    $errorCategory = [System.Management.Automation.ErrorCategory]$Category
    New-Object System.Management.Automation.ErrorRecord $exception, $ErrorId, $errorCategory, $Target
}

function ConvertTo-DvmGuid {
    param([string]$Value, [string]$What = 'machine')
    $guid = [guid]::Empty
    if (-not [guid]::TryParse($Value, [ref]$guid)) {
        throw (New-DvmError 'DesktopVM.MachineNotFound' ('No {0} with id {1}' -f $What, $Value) 'ObjectNotFound' $Value)
    }
    $guid
}

function Get-DvmVM {
    param([string]$Id)
    $guid = ConvertTo-DvmGuid $Id
    $vm = $null
    try { $vm = Hyper-V\Get-VM -Id $guid -ErrorAction SilentlyContinue } catch { $vm = $null }
    if ($null -eq $vm) {
        throw (New-DvmError 'DesktopVM.MachineNotFound' ('No machine with id {0}' -f $Id) 'ObjectNotFound' $Id)
    }
    $vm
}

function Get-DvmCheckpoint {
    param($VM, [string]$CheckpointId)
    $guid = ConvertTo-DvmGuid $CheckpointId 'checkpoint'
    $found = @(Hyper-V\Get-VMSnapshot -VM $VM | Where-Object { $_.Id -eq $guid })
    if ($found.Count -eq 0) {
        throw (New-DvmError 'DesktopVM.MachineNotFound' ('No checkpoint with id {0}' -f $CheckpointId) 'ObjectNotFound' $CheckpointId)
    }
    $found[0]
}

function Assert-DvmState {
    param($VM, [string[]]$Allowed, [string]$Action)
    $state = $VM.State.ToString()
    if ($Allowed -notcontains $state) {
        $message = '{0} is {1}; it must be {2} to {3}' -f $VM.Name, $state, ($Allowed -join ' or '), $Action
        throw (New-DvmError 'DesktopVM.InvalidState' $message 'InvalidOperation' $VM.Name)
    }
}

function ConvertTo-DvmDate {
    param($Value)
    if ($null -eq $Value) { return '' }
    ([datetime]$Value).ToUniversalTime().ToString('o')
}

function ConvertTo-DvmSummary {
    param($VM)
    [ordered]@{
        Id             = $VM.Id.ToString()
        Name           = [string]$VM.Name
        State          = $VM.State.ToString()
        Generation     = [int]$VM.Generation
        ProcessorCount = [int]$VM.ProcessorCount
        MemoryStartup  = [int64]$VM.MemoryStartup
        Version        = [string]$VM.Version
    }
}

function Get-DvmCimSystem {
    # The Msvm_ComputerSystem of a VM; the WQL filter is built from a parsed GUID only.
    param($VM)
    $filter = "Name='{0}'" -f ([guid]$VM.Id).ToString()
    Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_ComputerSystem -Filter $filter
}

function Wait-DvmCimJob {
    # A Hyper-V WMI method returns 0 (done) or 4096 (a job started); anything else failed.
    param($Result, [string]$What, [int]$TimeoutSeconds = 600)
    if ($Result.ReturnValue -eq 0) { return }
    if ($Result.ReturnValue -ne 4096) {
        throw (New-DvmError 'DesktopVM.WmiFailed' ('{0} failed with code {1}' -f $What, $Result.ReturnValue))
    }
    $job = $Result.Job | Get-CimInstance
    $deadline = (Get-Date).AddSeconds($TimeoutSeconds)
    while (($job.JobState -eq 3 -or $job.JobState -eq 4) -and (Get-Date) -lt $deadline) {
        Start-Sleep -Milliseconds 200
        $job = $job | Get-CimInstance
    }
    if ($job.JobState -ne 7) {
        throw (New-DvmError 'DesktopVM.WmiFailed' ('{0} failed: {1}' -f $What, $job.ErrorDescription))
    }
}

function ConvertTo-DvmEmbeddedInstance {
    # What Hyper-V's WMI methods take for an embedded instance (as Microsoft's own scripts do it).
    param($Instance)
    $serializer = [Microsoft.Management.Infrastructure.Serialization.CimSerializer]::Create()
    $options = [Microsoft.Management.Infrastructure.Serialization.InstanceSerializationOptions]::None
    [System.Text.Encoding]::Unicode.GetString($serializer.Serialize($Instance, $options))
}

function Join-DvmPath {
    param([string]$Parent, [string]$Child)
    [System.IO.Path]::Combine($Parent, $Child)
}

function Get-DvmDiskChain {
    # A disk and the parents of its differencing chain (checkpoints make .avhdx children).
    param([string]$Path)
    $chain = New-Object System.Collections.Generic.List[string]
    $current = $Path
    while ($current -and -not $chain.Contains($current)) {
        $chain.Add($current)
        $parent = ''
        try { $parent = [string](Hyper-V\Get-VHD -Path $current).ParentPath } catch { $parent = '' }
        $current = $parent
    }
    , $chain.ToArray()
}

function Add-DvmHardDisk {
    # Create (when asked) and attach one disk; returns its path. $Disk: Path, FileName, Create,
    # SizeBytes, ControllerType, ControllerNumber, ControllerLocation.
    param($VM, $Disk, [string]$Folder, $Created)
    $path = [string]$Disk.Path
    if (-not $path) {
        $directory = Join-DvmPath $Folder 'Virtual Hard Disks'
        $null = [System.IO.Directory]::CreateDirectory($directory)
        $path = Join-DvmPath $directory ([string]$Disk.FileName)
    }
    if ($Disk.Create) {
        $null = Hyper-V\New-VHD -Path $path -SizeBytes ([uint64]$Disk.SizeBytes) -Dynamic
        $Created.Add($path)
    } else {
        Assert-DvmOwnDisk $path
    }
    if ([string]$Disk.ControllerType -eq 'SCSI') {
        while (@(Hyper-V\Get-VMScsiController -VM $VM).Count -le [int]$Disk.ControllerNumber) {
            Hyper-V\Add-VMScsiController -VM $VM
        }
    }
    Hyper-V\Add-VMHardDiskDrive -VM $VM -ControllerType ([string]$Disk.ControllerType) `
        -ControllerNumber ([int]$Disk.ControllerNumber) -ControllerLocation ([int]$Disk.ControllerLocation) `
        -Path $path
    $path
}

function Add-DvmDvdDrive {
    # $Dvd: Path ('' = empty drive), ControllerNumber, ControllerLocation (IDE on Gen 1, SCSI on Gen 2).
    param($VM, $Dvd)
    if ([int]$VM.Generation -eq 2) {
        while (@(Hyper-V\Get-VMScsiController -VM $VM).Count -le [int]$Dvd.ControllerNumber) {
            Hyper-V\Add-VMScsiController -VM $VM
        }
    }
    $path = [string]$Dvd.Path
    if ($path) {
        Hyper-V\Add-VMDvdDrive -VM $VM -ControllerNumber ([int]$Dvd.ControllerNumber) `
            -ControllerLocation ([int]$Dvd.ControllerLocation) -Path $path
    } else {
        Hyper-V\Add-VMDvdDrive -VM $VM -ControllerNumber ([int]$Dvd.ControllerNumber) `
            -ControllerLocation ([int]$Dvd.ControllerLocation)
    }
}

function Add-DvmNetworkAdapter {
    # $Adapter: SwitchName ('' = not connected), MacAddress ('' = dynamic).
    param($VM, $Adapter)
    $nic = Hyper-V\Add-VMNetworkAdapter -VM $VM -Name 'Network Adapter' -Passthru
    Set-DvmNetworkAdapter $nic $Adapter
}

function Set-DvmNetworkAdapter {
    param($Nic, $Adapter)
    if ([string]$Adapter.SwitchName) {
        Hyper-V\Connect-VMNetworkAdapter -VMNetworkAdapter $Nic -SwitchName ([string]$Adapter.SwitchName)
    } else {
        Hyper-V\Disconnect-VMNetworkAdapter -VMNetworkAdapter $Nic
    }
    if ([string]$Adapter.MacAddress) {
        Hyper-V\Set-VMNetworkAdapter -VMNetworkAdapter $Nic -StaticMacAddress ([string]$Adapter.MacAddress)
    } else {
        Hyper-V\Set-VMNetworkAdapter -VMNetworkAdapter $Nic -DynamicMacAddress
    }
}

function Set-DvmBootOrder {
    # $Order: 'disk', 'optical', 'network' in the wanted order. Gen 2: firmware boot entries
    # (first disk, DVD, adapter); Gen 1: the BIOS startup order.
    param($VM, [string[]]$Order)
    if ([int]$VM.Generation -eq 2) {
        $devices = New-Object System.Collections.Generic.List[object]
        foreach ($kind in $Order) {
            $device = $null
            if ($kind -eq 'disk') { $device = @(Hyper-V\Get-VMHardDiskDrive -VM $VM) | Select-Object -First 1 }
            if ($kind -eq 'optical') { $device = @(Hyper-V\Get-VMDvdDrive -VM $VM) | Select-Object -First 1 }
            if ($kind -eq 'network') { $device = @(Hyper-V\Get-VMNetworkAdapter -VM $VM) | Select-Object -First 1 }
            if ($null -ne $device) { $devices.Add($device) }
        }
        if ($devices.Count -gt 0) { Hyper-V\Set-VMFirmware -VM $VM -BootOrder $devices.ToArray() }
        return
    }
    $names = @{ disk = 'IDE'; optical = 'CD'; network = 'LegacyNetworkAdapter' }
    $startup = New-Object System.Collections.Generic.List[string]
    foreach ($kind in $Order) { if ($names.ContainsKey($kind)) { $startup.Add($names[$kind]) } }
    foreach ($name in @('IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy')) {
        if (-not $startup.Contains($name)) { $startup.Add($name) }
    }
    Hyper-V\Set-VMBios -VM $VM -StartupOrder $startup.ToArray()
}

function ConvertTo-DvmVhd {
    param([string]$Path)
    $vhd = Hyper-V\Get-VHD -Path $Path
    [ordered]@{
        Path = [string]$vhd.Path
        VhdFormat = $vhd.VhdFormat.ToString()
        VhdType = $vhd.VhdType.ToString()
        Size = [int64]$vhd.Size
        FileSize = [int64]$vhd.FileSize
        ParentPath = [string]$vhd.ParentPath
        BlockSize = [int64]$vhd.BlockSize
        LogicalSectorSize = [int64]$vhd.LogicalSectorSize
        PhysicalSectorSize = [int64]$vhd.PhysicalSectorSize
    }
}

function Find-DvmConfiguration {
    # The .vmcx (or pre-2016 .xml) of an exported VM: the file itself, or the one in a folder.
    param([string]$Path)
    # No -Include: Windows PowerShell 5.1 ignores it with -LiteralPath -Recurse and returns
    # every file (PowerShell/PowerShell#5293), so the extension is checked here.
    if (Test-Path -LiteralPath $Path -PathType Leaf) { return $Path }
    $found = @(Get-ChildItem -LiteralPath $Path -Recurse -File |
        Where-Object { (@('.vmcx', '.xml') -contains $_.Extension.ToLowerInvariant()) -and $_.Directory.Name -eq 'Virtual Machines' } |
        Sort-Object FullName)
    if ($found.Count -eq 0) {
        throw (New-DvmError 'DesktopVM.NotFound' ('No exported Hyper-V machine (.vmcx) in {0}' -f $Path) 'ObjectNotFound' $Path)
    }
    $found[0].FullName
}

function Assert-DvmOwnDisk {
    # An existing disk the user attaches may come from outside (a download, a share): a link
    # or a differencing disk would hand the machine another file of this host (its parent:
    # another VM's disk). The same rule as QEMU's attach; a merged copy is fine.
    param([string]$Path)
    $item = Get-Item -LiteralPath $Path -ErrorAction Stop
    if ($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) {
        throw (New-DvmError 'DesktopVM.UnsafeImage' ('{0} is a link to another file; attach the disk file itself; refused' -f $item.Name) 'SecurityError' $Path)
    }
    $parent = [string](Hyper-V\Get-VHD -Path $Path).ParentPath
    if ($parent) {
        throw (New-DvmError 'DesktopVM.UnsafeImage' ('{0} is a differencing disk of {1}; attach a self-contained (merged) copy instead; refused' -f $item.Name, $parent) 'SecurityError' $Path)
    }
}

function Assert-DvmPackageDisks {
    # Every disk of an export must be its own: a differencing disk whose parent Hyper-V would
    # find outside the export folder (or a linked disk) could hand the new machine another
    # disk of this host. DesktopVM applies the same rule to every other import.
    param([string]$Configuration)
    $root = [System.IO.Path]::GetFullPath((Split-Path -Parent (Split-Path -Parent $Configuration)))
    $root = $root.TrimEnd('\') + '\'
    $disks = @(Get-ChildItem -LiteralPath $root -Recurse -File -Include '*.vhd', '*.vhdx', '*.avhd', '*.avhdx')
    foreach ($disk in $disks) {
        if ($disk.Attributes -band [System.IO.FileAttributes]::ReparsePoint) {
            throw (New-DvmError 'DesktopVM.UnsafeImage' ('{0} is a link to another file; a package may contain only its own disks; refused' -f $disk.Name) 'SecurityError' $disk.FullName)
        }
        $parent = [string](Hyper-V\Get-VHD -Path $disk.FullName).ParentPath
        if ($parent -and -not [System.IO.Path]::GetFullPath($parent).StartsWith($root, [System.StringComparison]::OrdinalIgnoreCase)) {
            throw (New-DvmError 'DesktopVM.UnsafeImage' ('{0} refers to the parent disk {1} outside the package; a disk from outside must be self-contained; refused' -f $disk.Name, $parent) 'SecurityError' $disk.FullName)
        }
    }
}

function Resolve-DvmIncompatibility {
    # Repairs what Compare-VM found, as Microsoft's Compare-VM example does: an adapter on a
    # switch this host lacks ("Could not find Ethernet switch", MessageId 33012, Source a
    # VMNetworkAdapter) is disconnected. Anything else (a missing path, another processor)
    # is refused with Hyper-V's own message. Returns what was changed, in words.
    param($Report)
    $changes = New-Object System.Collections.Generic.List[string]
    $refused = New-Object System.Collections.Generic.List[string]
    foreach ($item in @($Report.Incompatibilities)) {
        if ($null -eq $item) { continue }
        $source = $item.Source
        if ($null -ne $source -and [int]$item.MessageId -eq 33012 -and $source.GetType().FullName -eq 'Microsoft.HyperV.PowerShell.VMNetworkAdapter') {
            $switchName = [string]$source.SwitchName
            Hyper-V\Disconnect-VMNetworkAdapter -VMNetworkAdapter $source
            $changes.Add(("Network adapter '{0}' was connected to switch '{1}', which this host does not have; it is now not connected" -f [string]$source.Name, $switchName))
        } else {
            $refused.Add(('{0} (Hyper-V message {1})' -f [string]$item.Message, [string]$item.MessageId))
        }
    }
    if ($refused.Count -gt 0) {
        throw (New-DvmError 'DesktopVM.ImportIncompatible' ('This host cannot run the exported machine: {0}' -f ($refused -join '; ')) 'InvalidData' ([string]$Report.Path))
    }
    , $changes.ToArray()
}

function Import-DvmCopy {
    # Import a copy with a new id into its own folder; renamed when a name is given.
    # Compare-VM first (same Copy parameter set), so an export from another host imports.
    param([string]$Configuration, [string]$Folder, [string]$Name)
    Assert-DvmPackageDisks $Configuration
    $report = Hyper-V\Compare-VM -Path $Configuration -Copy -GenerateNewId -VirtualMachinePath $Folder `
        -VhdDestinationPath (Join-DvmPath $Folder 'Virtual Hard Disks') -SnapshotFilePath $Folder `
        -SmartPagingFilePath $Folder
    $changes = Resolve-DvmIncompatibility $report
    $vm = Hyper-V\Import-VM -CompatibilityReport $report
    if ($Name) { Hyper-V\Rename-VM -VM $vm -NewName $Name }
    [ordered]@{ Id = $vm.Id.ToString(); Folder = $Folder; Changes = @($changes) }
}

function Get-DvmKeyboard {
    param($VM)
    $system = Get-DvmCimSystem $VM
    $keyboard = Get-CimAssociatedInstance -InputObject $system -ResultClassName Msvm_Keyboard
    if ($null -eq $keyboard) {
        throw (New-DvmError 'DesktopVM.Unsupported' ('{0} has no virtual keyboard now' -f $VM.Name) 'InvalidOperation' $VM.Name)
    }
    $keyboard
}
