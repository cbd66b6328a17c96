# Write one piece of a file DesktopVM copies to this host (gzip-compressed base64 text). The
# first piece creates the file and refuses one that exists; every later piece must start where
# the file ends, so a piece lost or sent twice is an error, never a silent hole or overlap.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string]$Path,
    [Parameter(Mandatory = $true)] [int64]$Offset,
    [Parameter(Mandatory = $true)] [string]$Data
)
$ErrorActionPreference = 'Stop'
$packed = New-Object System.IO.MemoryStream(, [Convert]::FromBase64String($Data))
$gzip = New-Object System.IO.Compression.GZipStream($packed, [System.IO.Compression.CompressionMode]::Decompress)
$plain = New-Object System.IO.MemoryStream
$gzip.CopyTo($plain)
$gzip.Dispose()
$mode = [System.IO.FileMode]::Open
if ($Offset -eq 0) { $mode = [System.IO.FileMode]::CreateNew }
# FileShare.Read: a virus scanner may read the file between pieces; no other writer may.
$stream = [System.IO.File]::Open($Path, $mode, [System.IO.FileAccess]::Write, [System.IO.FileShare]::Read)
$written = $false
try {
    if ($stream.Length -ne $Offset) {
        throw (New-DvmError 'DesktopVM.OutOfStep' ('{0} holds {1} bytes, not {2}' -f $Path, $stream.Length, $Offset) 'InvalidOperation' $Path)
    }
    [void]$stream.Seek($Offset, [System.IO.SeekOrigin]::Begin)
    $plain.WriteTo($stream)
    $length = $stream.Length
    $written = $true
} finally {
    $stream.Dispose()
    # A first piece that failed (a full disk) removes the file it created: the caller is told
    # of an error, and an error means no file was made.
    if (-not $written -and $Offset -eq 0) { Remove-Item -LiteralPath $Path -Force -ErrorAction SilentlyContinue }
}
[ordered]@{ Length = [int64]$length }
