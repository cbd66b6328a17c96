# Is Hyper-V usable here by this account? Version, OS, and the groups that grant access.
[CmdletBinding()]
param()
$ErrorActionPreference = 'Stop'
$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object System.Security.Principal.WindowsPrincipal $identity
$admins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$hypervAdmins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-578'
$module = Get-Module Hyper-V
$result = [ordered]@{
    ModuleVersion    = if ($module) { $module.Version.ToString() } else { '' }
    OsVersion        = [System.Environment]::OSVersion.Version.ToString()
    IsAdministrator  = $principal.IsInRole($admins)
    IsHyperVAdmin    = $principal.IsInRole($hypervAdmins)
    CanManage        = $false
    Error            = ''
    ErrorCategory    = ''
}
try {
    $null = Hyper-V\Get-VMHost
    $result.CanManage = $true
} catch {
    $result.Error = [string]$_.Exception.Message
    $result.ErrorCategory = $_.CategoryInfo.Category.ToString()
}
$result
