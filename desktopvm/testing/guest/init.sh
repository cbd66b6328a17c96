#!/bin/sh
# PID 1 of the DesktopVM test guest (busybox sh): report what the VM looks like, then serve a
# shell on the serial port and one on the VGA console. Lines starting with "DESKTOPVM-TEST-GUEST"
# are the contract with the test suite (see README.md); keep them stable.
#
# This file is also the guest's helper commands: /bin/load-driver, /bin/record-input and
# /bin/dump-input are links to it, and run the function of their name (see "Commands" below).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
TAG=DESKTOPVM-TEST-GUEST
EVENT_SIZE=24 # sizeof(struct input_event) on x86_64

# --- Commands -------------------------------------------------------------------------------

# Load the modules of a list written by build_iso.py: one "file.ko [params]" per line,
# dependencies first. Modules already loaded are skipped (shared dependencies).
load_module_list() {
    status=0
    while read -r ko params; do
        [ -d "/sys/module/${ko%.ko}" ] && continue
        # shellcheck disable=SC2086  # params must word-split into separate module arguments
        insmod "/lib/modules/$ko" $params || {
            echo "$TAG insmod-failed=$ko"
            status=1
        }
    done <"$1"
    return $status
}

# load-driver NAME: load an on-demand driver (one build_iso.py put in the initramfs without
# loading it at boot) and its dependencies. Prints "$TAG load-driver ok|failed NAME ...".
load_driver() {
    list=/lib/modules/on-demand/$1
    if [ -z "$1" ] || [ ! -f "$list" ]; then
        have=$(ls /lib/modules/on-demand 2>/dev/null | tr '\n' ' ')
        echo "$TAG load-driver failed $1: not in this guest (have: ${have% })"
        return 1
    fi
    if load_module_list "$list"; then
        echo "$TAG load-driver ok $1"
    else
        echo "$TAG load-driver failed $1: insmod failed"
        return 1
    fi
}

# record-input NAME [FILE [WAIT]]: copy the raw events (struct input_event) of the input device
# called NAME (see /sys/class/input/input*/name) into FILE from now on, in the background. Waits
# up to WAIT (30) s for the device: PS/2 and USB devices are probed in the background, after
# boot. Prints "$TAG record-input ok eventN NAME" once the device is open, so no later event is
# missed.
record_input() {
    name=$1 file=${2:-/tmp/input} wait=${3:-30} tries=0
    while :; do
        for input in /sys/class/input/input*; do
            read -r found 2>/dev/null <"$input/name" && [ "$found" = "$name" ] || continue
            for event in "$input"/event*; do
                [ -e "$event" ] && record_from "/dev/input/${event##*/}" "$file" "$name" && return 0
            done
        done
        if [ $tries -ge $((wait * 10)) ]; then
            names=$(cat /sys/class/input/input*/name 2>/dev/null | tr '\n' ',')
            echo "$TAG record-input failed $name: no such input device (have: ${names%,})"
            return 1
        fi
        sleep 0.1
        tries=$((tries + 1))
    done
}

# record_from DEVICE FILE NAME: record_input's background copy, started and confirmed.
record_from() {
    : >"$2"
    # Appending, so that tests can empty the file (": >FILE") while cat keeps writing to it.
    cat "$1" >>"$2" &
    pid=$! tries=0
    # cat's first file descriptor after stdio is the device.
    until [ "$(readlink "/proc/$pid/fd/3" 2>/dev/null)" = "$1" ]; do
        if ! kill -0 $pid 2>/dev/null || [ $tries -ge 100 ]; then
            echo "$TAG record-input failed $3: cannot read $1"
            return 1
        fi
        sleep 0.05
        tries=$((tries + 1))
    done
    echo "$TAG record-input ok ${1##*/} $3"
}

# dump-input [FILE [COUNT]]: wait (up to 30 s) until FILE holds at least COUNT events, then
# print it in hex (od -An -tx1 -v) between "$TAG dump-input begin" and "$TAG dump-input end".
dump_input() {
    file=${1:-/tmp/input} want=$((${2:-0} * EVENT_SIZE)) tries=0
    while [ "$(wc -c <"$file")" -lt $want ] && [ $tries -lt 300 ]; do
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "$TAG dump-input begin $file"
    od -An -tx1 -v "$file"
    echo "$TAG dump-input end $file"
}

# Run as one of the commands: do its job, and exit with its status.
case ${0##*/} in
    load-driver) load_driver "$@"; exit ;;
    record-input) record_input "$@"; exit ;;
    dump-input) dump_input "$@"; exit ;;
esac
# Anywhere but PID 1 of the guest (say, run by mistake on a developer's machine): do nothing.
[ "$$" = 1 ] || exit 1

# --- Boot (PID 1) ---------------------------------------------------------------------------

/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# /dev/console is ttyS0 because it is the last console= on the kernel command line.
exec </dev/console >/dev/console 2>&1
# Keep kernel chatter (module probes, ACPI) off the consoles so it cannot interleave with the shell.
echo 1 >/proc/sys/kernel/printk

# Report on serial and on the VGA text console.
say() {
    echo "$TAG $*"
    echo "$TAG $*" >/dev/tty0 2>/dev/null
}

# QEMU's system_powerdown presses the ACPI power button; acpi/button.ko turns it into a key event
# on an input device called "Power Button". Any event there means "shut down now".
watch_power_button() {
    for input in /sys/class/input/input*; do
        [ "$(cat "$input/name" 2>/dev/null)" = "Power Button" ] || continue
        for event in "$input"/event*; do
            [ -e "$event" ] || continue
            (
                dd if="/dev/input/${event##*/}" of=/dev/null bs=24 count=1 2>/dev/null || exit
                say POWER-BUTTON
                # Setting the (unchanged) speed is a tcsetattr(TCSADRAIN): it returns once the
                # line above has left the UART, so poweroff cannot cut it off. Bounded, because
                # a serial client that stops reading stalls QEMU's UART (and so the drain).
                timeout 2 stty -F /dev/ttyS0 115200 2>/dev/null
                poweroff -f
            ) &
        done
    done
}

# A counter in the VGA console's top right corner, so screenshots differ over time without
# cluttering serial. Saving and restoring the cursor around it (CSI s, CSI u) keeps it out of
# the way of the VGA shell.
tick_on_vga() {
    n=0
    while :; do
        n=$((n + 1))
        printf '\033[s\033[1;69H tick %-6d\033[u' $n >/dev/tty0 2>/dev/null
        sleep 1
    done
}

# NVMe namespaces are scanned from a workqueue after the driver loads, so they can show up a
# moment later than the controller; wait (bounded) until every controller has a block device.
wait_for_nvme() {
    for ctrl in /sys/class/nvme/nvme*; do
        [ -e "$ctrl" ] || continue
        tries=0
        while [ $tries -lt 50 ] && ! ls -d "/sys/block/${ctrl##*/}"n* >/dev/null 2>&1; do
            sleep 0.1
            tries=$((tries + 1))
        done
    done
}

# virtio-scsi advertises 256 targets and scanning them all takes ~10 s under TCG, so scsi_mod is
# loaded with scan=manual and only targets 0-7 (all LUNs) of virtio-scsi hosts are scanned.
# libata (IDE, AHCI) adds its disks itself and needs no host scan.
scan_virtio_scsi() {
    for host in /sys/class/scsi_host/host*; do
        [ "$(cat "$host/proc_name" 2>/dev/null)" = virtio_scsi ] || continue
        for target in 0 1 2 3 4 5 6 7; do
            echo "0 $target -" >"$host/scan" 2>/dev/null
        done
    done
}

# sd attaches a scanned disk asynchronously: wait (bounded) until every SCSI disk (type 0) the
# scan found has its block device, or the disks line can come out empty on a busy host.
wait_for_scsi_disks() {
    for dev in /sys/bus/scsi/devices/*:*:*:*; do
        [ "$(cat "$dev/type" 2>/dev/null)" = 0 ] || continue
        tries=0
        while [ $tries -lt 50 ] && ! ls -d "$dev"/block/* >/dev/null 2>&1; do
            sleep 0.1
            tries=$((tries + 1))
        done
    done
}

list_disks() {
    for dev in /sys/block/*; do
        [ -e "$dev" ] || continue # no match: the glob stays literal
        name=${dev##*/}
        case $name in ram* | loop* | sr* | fd* | zram*) continue ;; esac
        printf '%s ' "$name"
    done
}

list_nics() {
    for dev in /sys/class/net/*; do
        [ -e "$dev" ] || continue
        [ "${dev##*/}" = lo ] || printf '%s ' "${dev##*/}"
    done
}

# The serial console's shell; cttyhack makes ttyS0 its controlling terminal (job control).
shell_on_serial() {
    while :; do
        setsid cttyhack sh
    done
}

# A shell on tty1, the virtual terminal the VGA console shows, for tests that type into the
# display. The pause only stops a busy loop if tty1 cannot be opened.
shell_on_vga() {
    while :; do
        setsid -c sh </dev/tty1 >/dev/tty1 2>&1 || sleep 1
    done
}

load_module_list /lib/modules/load-order
watch_power_button
tick_on_vga &
scan_virtio_scsi
wait_for_scsi_disks
wait_for_nvme

# Unquoted $(...) on purpose: it trims the trailing separator space.
# shellcheck disable=SC2046
say disks=$(list_disks)
# shellcheck disable=SC2046
say nics=$(list_nics)
echo "$TAG VGA" >/dev/tty0 2>/dev/null
say READY
mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
say "cpus=$(nproc) mem_mib=$((mem_kib / 1024)) uptime=$(cut -d' ' -f1 /proc/uptime)"

# PID 1 must never exit (that panics the kernel): the loops respawn the shells whenever they
# end. They run as a pipeline, not with "&": a background job of a shell without job control
# ignores SIGINT for good, and Ctrl-C would then do nothing in the VGA shell.
export PS1='guest# '
shell_on_vga | shell_on_serial
