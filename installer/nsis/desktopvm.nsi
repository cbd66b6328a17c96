; DesktopVM Windows installer (NSIS 3, Modern UI 2), built by installer/build.py windows.
; Per-user by default (%LOCALAPPDATA%\Programs\DesktopVM, HKCU, no admin); per-machine with
; /AllUsers from an elevated prompt (Program Files, HKLM). Silent with /S. amd64 only.
; Defines from the build: APP_VERSION, APP_VERSION_QUAD, PUBLISHER, SOURCE_DIR, ICON,
; OUTFILE, FILE_LIST (generated uninstall list); optional FAST (zlib instead of solid LZMA).

Unicode true
Target amd64-unicode
!ifdef FAST
  SetCompressor zlib
!else
  SetCompressor /SOLID lzma
!endif

!define APP_NAME "DesktopVM"
!define APP_EXE "desktopvm.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\DesktopVM"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "x64.nsh"
!include "FileFunc.nsh"

Name "${APP_NAME} ${APP_VERSION}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
ShowInstDetails nevershow
ShowUninstDetails nevershow

VIProductVersion "${APP_VERSION_QUAD}"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${APP_VERSION}"
VIAddVersionKey "FileVersion" "${APP_VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "LegalCopyright" "${PUBLISHER}, GPL-3.0-or-later"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Var AllUsers

!macro SelectMode Un
Function ${Un}SelectMode
  StrCpy $AllUsers 0
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/AllUsers" $R1
  ${IfNot} ${Errors}
    StrCpy $AllUsers 1
  ${EndIf}
  ${If} $AllUsers == 1
    UserInfo::GetAccountType
    Pop $R2
    ${If} $R2 != "Admin"
      MessageBox MB_ICONSTOP "Installing for all users needs an administrator: run this from an elevated prompt." /SD IDOK
      SetErrorLevel 740
      Quit
    ${EndIf}
    SetShellVarContext all
  ${Else}
    SetShellVarContext current
  ${EndIf}
FunctionEnd
!macroend
!insertmacro SelectMode ""
!insertmacro SelectMode "un."

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${APP_NAME} needs 64-bit Windows (x64)." /SD IDOK
    SetErrorLevel 2
    Quit
  ${EndIf}
  SetRegView 64
  ; Was the folder left at its default? (/D= on the command line wins.) Asked before
  ; SelectMode, which switches $LOCALAPPDATA to the all-users folder for /AllUsers.
  StrCpy $R4 0
  ${If} $INSTDIR == "$LOCALAPPDATA\Programs\${APP_NAME}"
    StrCpy $R4 1
  ${EndIf}
  Call SelectMode
  ${If} $R4 == 1
  ${AndIf} $AllUsers == 1
    StrCpy $INSTDIR "$PROGRAMFILES64\${APP_NAME}"
  ${EndIf}
FunctionEnd

Function un.onInit
  SetRegView 64
  Call un.SelectMode
FunctionEnd

Section "DesktopVM" SecMain
  SectionIn RO
  SetOutPath "$INSTDIR"
  File /r "${SOURCE_DIR}/*"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0

  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  ${If} $AllUsers == 1
    StrCpy $R3 "/AllUsers"
  ${Else}
    StrCpy $R3 ""
  ${EndIf}
  !macro WriteKeys Root
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "DisplayVersion" "${APP_VERSION}"
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe" $R3'
    WriteRegStr ${Root} "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S $R3'
    WriteRegDWORD ${Root} "${UNINSTALL_KEY}" "EstimatedSize" "$0"
    WriteRegDWORD ${Root} "${UNINSTALL_KEY}" "NoModify" 1
    WriteRegDWORD ${Root} "${UNINSTALL_KEY}" "NoRepair" 1
  !macroend
  ${If} $AllUsers == 1
    !insertmacro WriteKeys HKLM
  ${Else}
    !insertmacro WriteKeys HKCU
  ${EndIf}
SectionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  !include "${FILE_LIST}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ${If} $AllUsers == 1
    DeleteRegKey HKLM "${UNINSTALL_KEY}"
  ${Else}
    DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ${EndIf}
SectionEnd
