# DesktopVM session bootstrap (sent as -EncodedCommand; constant text, no values in it).
# Reads one JSON line from stdin holding the dispatcher, the shared helpers and every
# operation script, then runs the dispatcher, which serves requests until stdin closes.
param()
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$DvmLoad = ConvertFrom-Json -InputObject ([Console]::In.ReadLine())
. ([ScriptBlock]::Create([string]$DvmLoad.dispatcher))
