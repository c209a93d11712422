#!/bin/busybox sh
# tools/conformance-init.sh — /init of the conformance initramfs (xtask/src/conformance/).
# It stays a shell script because it runs inside the Linux guest, not on the host: the
# initramfs holds only Debian's static busybox, so busybox sh is the interpreter there (a
# Rust /init would have to be cross-built static and would still drive sysfs/debugfs files
# the same way). The host side (building Linux and the initramfs, booting, judging) is Rust.
# Runs Linux's dmatest on every DMA channel at once (polled, one thread per channel) for each
# buffer size, prints what the ptdma driver's debugfs counted, and powers off. Settings come
# from the kernel command line (unknown key=value pairs become init's environment):
#   CONF_SIZES  comma list of dmatest test_buf_size values in bytes
#   CONF_ITER   iterations per thread and size
# Lines for the runner's verdict (xtask/src/conformance/verdict.rs) start with "CONF ".
/bin/busybox mkdir -p /proc /sys /dev /bin
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug

for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x1022:0x1498" ] || continue
    drv=none
    [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
    echo "CONF function $(basename "$d") driver=$drv"
done
echo "CONF channels $(ls /sys/class/dma 2>/dev/null | tr '\n' ' ')"
nch=$(ls /sys/class/dma 2>/dev/null | wc -l)

P=/sys/module/dmatest/parameters
echo 1 > $P/polled
echo 1 > $P/threads_per_chan
echo 0 > $P/max_channels
echo "${CONF_ITER:-1000}" > $P/iterations
for size in $(echo "${CONF_SIZES:-4096}" | tr ',' ' '); do
    echo "$size" > $P/test_buf_size
    echo "CONF dmatest size=$size iterations=$(cat $P/iterations) start"
    # No channel named: dmatest takes every free MEMCPY channel, one thread each, at once.
    before=$(dmesg | grep -c ': summary ')
    echo 1 > $P/run
    # 'wait' returns at once if read before a woken thread has cleared its pending flag,
    # so wait until every channel's summary line is in the kernel log (at most ~10 min).
    n=0
    while true; do
        cat $P/wait > /dev/null
        [ "$(dmesg | grep -c ': summary ')" -ge $((before + nch)) ] && break
        [ $n -ge 600 ] && break
        sleep 1
        n=$((n + 1))
    done
    echo "CONF dmatest size=$size done"
done

# What Linux's driver counted per function: pass-through commands issued (q/stats) and the
# register BAR's address, by which the verdict finds the model's function.
for d in /sys/kernel/debug/dmaengine/*/; do
    bdf=$(basename "$d")
    [ -e "$d/q/stats" ] || continue
    pt=$(grep 'Pass-Thru' "$d/q/stats" | tr -dc '0-9')
    irqs=$(grep 'Interrupts' "$d/stats" | tr -dc '0-9')
    bar2=$(sed -n 3p "/sys/bus/pci/devices/$bdf/resource" | cut -d' ' -f1)
    echo "CONF stats $bdf bar2=$bar2 passthru=$pt interrupts=$irqs"
done
echo "CONF end"
poweroff -f
