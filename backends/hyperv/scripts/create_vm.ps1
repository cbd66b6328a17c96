# Create a VM from a plan: folder, generation, CPU, memory, firmware, TPM, disks, DVDs, adapters.
# All or nothing: on any failure the VM, the disks it made and its folder are removed again.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Name,
    [Parameter(Mandatory = $true)] [string]$FolderName,
    [Parameter(Mandatory = $true)] [int]$Generation,
    [Parameter(Mandatory = $true)] [int64]$MemoryStartupBytes,
    [bool]$DynamicMemory = $false,
    [int64]$MemoryMinimumBytes = 0,
    [int64]$MemoryMaximumBytes = 0,
    [int]$ProcessorCount = 1,
    [bool]$NestedVirtualization = $false,
    [bool]$SecureBoot = $false,
    [string]$SecureBootTemplate = '',
    [bool]$Tpm = $false,
    [object[]]$Disks = @(),
    [object[]]$DvdDrives = @(),
    [object[]]$NetworkAdapters = @(),
    [object[]]$ComPorts = @(),
    [string[]]$BootOrder = @(),
    [string]$Notes = ''
)
$ErrorActionPreference = 'Stop'
$root = [string](Hyper-V\Get-VMHost).VirtualMachinePath
$leaf = $FolderName
if (Test-Path -LiteralPath (Join-DvmPath $root $leaf)) {
    $leaf = '{0}-{1}' -f $FolderName, [guid]::NewGuid().ToString('N').Substring(0, 8)
}
$folder = Join-DvmPath $root $leaf
$created = New-Object System.Collections.Generic.List[string]
$vm = $null
try {
    # Created under the folder's name (New-VM names the folder after the VM), renamed below.
    $vm = Hyper-V\New-VM -Name $leaf -Path $root -Generation $Generation -MemoryStartupBytes $MemoryStartupBytes -NoVHD
    @(Hyper-V\Get-VMNetworkAdapter -VM $vm) | Hyper-V\Remove-VMNetworkAdapter
    @(Hyper-V\Get-VMDvdDrive -VM $vm) | Hyper-V\Remove-VMDvdDrive
    if ($NestedVirtualization) {
        Hyper-V\Set-VMProcessor -VM $vm -Count $ProcessorCount -ExposeVirtualizationExtensions $true
    } else {
        Hyper-V\Set-VMProcessor -VM $vm -Count $ProcessorCount
    }
    if ($DynamicMemory) {
        Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $true -StartupBytes $MemoryStartupBytes `
            -MinimumBytes $MemoryMinimumBytes -MaximumBytes $MemoryMaximumBytes
    } else {
        Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes $MemoryStartupBytes
    }
    $paths = @(foreach ($disk in $Disks) { Add-DvmHardDisk $vm $disk $folder $created })
    foreach ($dvd in $DvdDrives) { Add-DvmDvdDrive $vm $dvd }
    foreach ($adapter in $NetworkAdapters) { Add-DvmNetworkAdapter $vm $adapter }
    foreach ($port in $ComPorts) {
        Hyper-V\Set-VMComPort -VM $vm -Number ([int]$port.Number) -Path ([string]$port.Path)
    }
    if ($Generation -eq 2) {
        if ($SecureBoot -and $SecureBootTemplate) {
            Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate $SecureBootTemplate
        } elseif ($SecureBoot) {
            Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot On
        } else {
            Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot Off
        }
        if ($Tpm) {
            Hyper-V\Set-VMKeyProtector -VM $vm -NewLocalKeyProtector
            Hyper-V\Enable-VMTPM -VM $vm
        }
    }
    if ($BootOrder.Count -gt 0) { Set-DvmBootOrder $vm $BootOrder }
    Hyper-V\Set-VM -VM $vm -Notes $Notes
    Hyper-V\Rename-VM -VM $vm -NewName $Name
    [ordered]@{ Id = $vm.Id.ToString(); Folder = $folder; Disks = $paths }
} catch {
    $failure = $_
    if ($null -ne $vm) { try { Hyper-V\Remove-VM -VM $vm -Force } catch { } }
    foreach ($path in $created) { Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue }
    if (Test-Path -LiteralPath $folder) { Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction SilentlyContinue }
    throw $failure
}
