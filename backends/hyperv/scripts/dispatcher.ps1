# DesktopVM request loop: one JSON request per stdin line, one framed JSON reply per stdout line.
# Request:  {"id": 7, "op": "get_vm", "args": {"Id": "..."}}
# Reply:    @@DVM@@{"id": 7, "ok": true, "result": ...}
#           @@DVM@@{"id": 7, "ok": false, "error": {"category", "message", "fqid", "type", ...}}
# Arguments are splatted into the operation's param() block: values are data, never code.
# Every reply is pure ASCII (non-ASCII escaped as \uXXXX), so no console code page can garble it.
param()
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'
$InformationPreference = 'SilentlyContinue'
$ConfirmPreference = 'None'

$DvmUtf8 = New-Object System.Text.UTF8Encoding($false)
try { [Console]::OutputEncoding = $DvmUtf8 } catch { }
# No [Console]::InputEncoding here: stdin carries ASCII only (framing.encode_request), and in
# .NET Framework that setter drops Console.In's reader with whatever the bootstrap's read had
# buffered beyond the load line (review H13).
$OutputEncoding = $DvmUtf8

function Write-DvmFrame {
    param([Parameter(Mandatory = $true)] $Frame)
    $json = ConvertTo-Json -InputObject $Frame -Depth 16 -Compress
    $ascii = [regex]::Replace($json, '[^\x00-\x7F]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
    [Console]::Out.Write('@@DVM@@' + $ascii + "`n")
    [Console]::Out.Flush()
}

function ConvertTo-DvmError {
    param([Parameter(Mandatory = $true)] $Record)
    $exception = $Record.Exception
    $inner = ''
    if ($null -ne $exception.InnerException) { $inner = [string]$exception.InnerException.Message }
    [ordered]@{
        category = [string]$Record.CategoryInfo.Category.ToString()
        message  = [string]$exception.Message
        fqid     = [string]$Record.FullyQualifiedErrorId
        type     = [string]$exception.GetType().FullName
        target   = [string]$Record.TargetObject
        position = [string]$Record.InvocationInfo.PositionMessage
        inner    = $inner
    }
}

function ConvertFrom-DvmToken {
    # Newtonsoft tokens (PowerShell 6+) to plain values; strings stay strings (no date guessing).
    param($Token)
    if ($null -eq $Token) { return $null }
    switch ($Token.Type.ToString()) {
        'Object' {
            $table = @{}
            foreach ($property in $Token.Properties()) { $table[$property.Name] = ConvertFrom-DvmToken $property.Value }
            return $table
        }
        'Array' { return , @(foreach ($item in $Token) { ConvertFrom-DvmToken $item }) }
        'Null' { return $null }
        default { return $Token.Value }
    }
}

function ConvertFrom-DvmRequest {
    param([Parameter(Mandatory = $true)] [string]$Line)
    if ($PSVersionTable.PSVersion.Major -ge 6) {
        $reader = New-Object Newtonsoft.Json.JsonTextReader (New-Object System.IO.StringReader $Line)
        $reader.DateParseHandling = [Newtonsoft.Json.DateParseHandling]::None
        return ConvertFrom-DvmToken ([Newtonsoft.Json.Linq.JToken]::ReadFrom($reader))
    }
    $parsed = ConvertFrom-Json -InputObject $Line
    $table = @{ id = $parsed.id; op = $parsed.op; args = @{} }
    if ($null -ne $parsed.args) {
        foreach ($property in $parsed.args.PSObject.Properties) { $table.args[$property.Name] = $property.Value }
    }
    return $table
}

. ([ScriptBlock]::Create([string]$DvmLoad.common))
$DvmOps = @{}
foreach ($property in $DvmLoad.scripts.PSObject.Properties) {
    $DvmOps[$property.Name] = [ScriptBlock]::Create([string]$property.Value)
}

$ready = [ordered]@{
    ps_version = $PSVersionTable.PSVersion.ToString()
    edition    = [string]$PSVersionTable.PSEdition
    computer   = [string][System.Environment]::MachineName
    hyperv     = $false
    hyperv_error = ''
}
try {
    Import-Module Hyper-V -ErrorAction Stop
    $ready.hyperv = $true
} catch {
    $ready.hyperv_error = [string]$_.Exception.Message
}
Write-DvmFrame ([ordered]@{ id = 0; ok = $true; result = $ready })

while ($true) {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { break }
    if ($line.Trim().Length -eq 0) { continue }
    $requestId = $null
    try {
        $request = ConvertFrom-DvmRequest -Line $line
        $requestId = $request.id
        $op = [string]$request.op
        if (-not $DvmOps.ContainsKey($op)) {
            throw (New-DvmError 'DesktopVM.UnknownOperation' ('No operation named {0}' -f $op) 'InvalidArgument' $op)
        }
        $arguments = $request.args
        $output = @(& $DvmOps[$op] @arguments)
        $result = $null
        if ($output.Count -gt 0) { $result = $output[$output.Count - 1] }
        Write-DvmFrame ([ordered]@{ id = $requestId; ok = $true; result = $result })
    } catch {
        Write-DvmFrame ([ordered]@{ id = $requestId; ok = $false; error = (ConvertTo-DvmError $_) })
    }
}
