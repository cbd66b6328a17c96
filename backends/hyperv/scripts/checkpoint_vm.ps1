# Take a checkpoint; Standard keeps a running VM's memory, ProductionOnly asks the guest (VSS)
# and fails rather than fall back to a Standard one with memory (review H8).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [Parameter(Mandatory = $true)] [string]$Name,
    [string]$Notes = '',
    [bool]$IncludeMemory = $true
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
$previous = $vm.CheckpointType.ToString()
$wanted = if ($IncludeMemory) { 'Standard' } else { 'ProductionOnly' }
if ($previous -ne $wanted) { Hyper-V\Set-VM -VM $vm -CheckpointType $wanted }
try {
    $checkpoint = Hyper-V\Checkpoint-VM -VM $vm -SnapshotName $Name -Passthru
} finally {
    if ($previous -ne $wanted) { Hyper-V\Set-VM -VM $vm -CheckpointType $previous }
}
if ($Notes) {
    $filter = "InstanceID='Microsoft:{0}'" -f ([guid]$checkpoint.Id).ToString()
    $settings = Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_VirtualSystemSettingData -Filter $filter
    $settings.Notes = @($Notes)
    $service = Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_VirtualSystemManagementService
    $answer = Invoke-CimMethod -InputObject $service -MethodName ModifySystemSettings -Arguments @{
        SystemSettings = (ConvertTo-DvmEmbeddedInstance $settings)
    }
    Wait-DvmCimJob $answer 'Saving the checkpoint notes'
}
[ordered]@{
    Id = $checkpoint.Id.ToString()
    Name = [string]$checkpoint.Name
    ParentCheckpointId = if ($checkpoint.ParentSnapshotId) { $checkpoint.ParentSnapshotId.ToString() } else { '' }
    CreationTime = ConvertTo-DvmDate $checkpoint.CreationTime
    SnapshotType = $checkpoint.SnapshotType.ToString()
    State = $checkpoint.State.ToString()
    Notes = $Notes
}
