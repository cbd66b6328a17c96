# The VM's screen as raw RGB565 (Msvm_VirtualSystemManagementService.GetVirtualSystemThumbnailImage).
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Id, [int]$Width = 0, [int]$Height = 0)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Running', 'Paused') 'show its screen'
$system = Get-DvmCimSystem $vm
if ($Width -le 0 -or $Height -le 0) {
    $Width = 640
    $Height = 480
    $head = @(Get-CimAssociatedInstance -InputObject $system -ResultClassName Msvm_VideoHead) | Select-Object -First 1
    if ($null -ne $head -and $head.CurrentHorizontalResolution -gt 0) {
        $Width = [int]$head.CurrentHorizontalResolution
        $Height = [int]$head.CurrentVerticalResolution
    }
}
$settings = Get-CimAssociatedInstance -InputObject $system -ResultClassName Msvm_VirtualSystemSettingData -Association Msvm_SettingsDefineState
$service = Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_VirtualSystemManagementService
$answer = Invoke-CimMethod -InputObject $service -MethodName GetVirtualSystemThumbnailImage -Arguments @{
    TargetSystem = $settings
    WidthPixels = [uint16]$Width
    HeightPixels = [uint16]$Height
}
if ($answer.ReturnValue -ne 0) {
    throw (New-DvmError 'DesktopVM.WmiFailed' ('The screen image failed with code {0}' -f $answer.ReturnValue))
}
[ordered]@{ Width = $Width; Height = $Height; ImageData = [System.Convert]::ToBase64String([byte[]]$answer.ImageData) }
