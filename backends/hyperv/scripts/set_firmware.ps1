# Secure Boot (with its template) and the TPM of a Generation 2 VM (the VM must be off).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Id,
    [bool]$SecureBoot = $false,
    [string]$SecureBootTemplate = '',
    [bool]$Tpm = $false
)
$ErrorActionPreference = 'Stop'
$vm = Get-DvmVM $Id
Assert-DvmState $vm @('Off') 'change its firmware'
if ([int]$vm.Generation -ne 2) {
    throw (New-DvmError 'DesktopVM.Unsupported' 'Generation 1 machines have no UEFI, Secure Boot or TPM' 'InvalidOperation' $vm.Name)
}
if ($SecureBoot -and $SecureBootTemplate) {
    Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate $SecureBootTemplate
} elseif ($SecureBoot) {
    Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot On
} else {
    Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot Off
}
$enabled = [bool](Hyper-V\Get-VMSecurity -VM $vm).TpmEnabled
if ($Tpm -and -not $enabled) {
    Hyper-V\Set-VMKeyProtector -VM $vm -NewLocalKeyProtector
    Hyper-V\Enable-VMTPM -VM $vm
} elseif ($enabled -and -not $Tpm) {
    Hyper-V\Disable-VMTPM -VM $vm
}
