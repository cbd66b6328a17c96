#!/bin/sh
# PID 1 of the DesktopVM test guest (busybox sh): report what the VM looks like, then serve a
# shell on the serial port. Lines starting with "DESKTOPVM-TEST-GUEST" are the contract with the
# test suite (see README.md); keep them stable.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# /dev/console is ttyS0 because it is the last console= on the kernel command line.
exec </dev/console >/dev/console 2>&1
# Keep kernel chatter (module probes, ACPI) off the consoles so it cannot interleave with the shell.
echo 1 >/proc/sys/kernel/printk

TAG=DESKTOPVM-TEST-GUEST

# Report on serial and on the VGA text console.
say() {
    echo "$TAG $*"
    echo "$TAG $*" >/dev/tty0 2>/dev/null
}

load_modules() {
    # load-order is written by build_iso.py: dependencies first, one "file.ko [params]" per line.
    while read -r ko params; do
        # shellcheck disable=SC2086  # params must word-split into separate module arguments
        insmod "/lib/modules/$ko" $params || echo "$TAG insmod-failed=$ko"
    done </lib/modules/load-order
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

# A counter on the VGA console only, so screenshots differ over time without cluttering serial.
tick_on_vga() {
    n=0
    while :; do
        n=$((n + 1))
        echo "tick $n" >/dev/tty0 2>/dev/null
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

load_modules
watch_power_button
tick_on_vga &
scan_virtio_scsi
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

# PID 1 must never exit (that panics the kernel), so respawn the shell whenever it ends.
export PS1='guest# '
while :; do
    setsid cttyhack sh
done
