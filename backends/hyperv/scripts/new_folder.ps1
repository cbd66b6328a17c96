# Make a new empty folder for files DesktopVM copies to or from this host (backups, restores).
# New-Item refuses a folder that already exists, so nothing of anybody else's is ever reused.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path)
$ErrorActionPreference = 'Stop'
$item = New-Item -ItemType Directory -Path $Path
[ordered]@{ Path = [string]$item.FullName }
