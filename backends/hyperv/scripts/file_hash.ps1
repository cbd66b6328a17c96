# The size and SHA-256 of a file on this host, to check a copy made to or from it.
[CmdletBinding()]
param([Parameter(Mandatory = $true)] [string]$Path)
$ErrorActionPreference = 'Stop'
$item = Get-Item -LiteralPath $Path
$hash = Get-FileHash -LiteralPath $Path -Algorithm SHA256
[ordered]@{ Length = [int64]$item.Length; Sha256 = ([string]$hash.Hash).ToLowerInvariant() }
