# Read one piece of a file for a copy to DesktopVM's computer, gzip-compressed as base64 text:
# WinRM carries only text, and the empty stretches of a disk image shrink to almost nothing.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Path,
    [Parameter(Mandatory = $true)] [int64]$Offset,
    [Parameter(Mandatory = $true)] [int]$Count
)
$ErrorActionPreference = 'Stop'
$buffer = New-Object byte[] $Count
$read = 0
$stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
try {
    $length = $stream.Length
    [void]$stream.Seek($Offset, [System.IO.SeekOrigin]::Begin)
    while ($read -lt $Count) {
        $got = $stream.Read($buffer, $read, $Count - $read)
        if ($got -le 0) { break }
        $read += $got
    }
} finally {
    $stream.Dispose()
}
$packed = New-Object System.IO.MemoryStream
$gzip = New-Object System.IO.Compression.GZipStream($packed, [System.IO.Compression.CompressionMode]::Compress)
$gzip.Write($buffer, 0, $read)
$gzip.Dispose()
[ordered]@{ Length = [int64]$length; Read = [int]$read; Data = [Convert]::ToBase64String($packed.ToArray()) }
