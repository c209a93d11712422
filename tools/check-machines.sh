# tools/check-machines.sh — check group `machines`: other QEMU versions and the KVM guest
# command (issue 20); forced features and the big NUMA shapes are cases in
# xtask/src/check_cases.rs. Sourced by tools/runner.sh; uses tools/check.sh's expect_boot and
# check_result and tools/qemu.sh.

# check_qemu10: QEMU 10.0 from bookworm-backports (fetched into the cache on first use):
# the self-tests without engines, and the runner's refusal of emulated engines under TCG
# (QEMU 10.0's x-pci-proxy-dev crashes there, see tools/qemu.sh).
check_qemu10() {
    local q saved=("$QEMU_BIN" "$PTDMA" "$QEMU_PROBED") err="$OUT/check-qemu10-get.txt"
    q=$(ensure_qemu10 2>"$err")
    if [[ -z "$q" || ! -x "$q" ]]; then
        check_result "QEMU 10.0 from bookworm-backports" 1 "get-qemu failed, see $err"
        return
    fi
    check_result "QEMU 10.0 from bookworm-backports" 0 ""
    QEMU_BIN=$q PTDMA=0
    qemu_probe 0
    expect_boot qemu10-selftest 0 '^[0-9]+ passed, 0 failed' "test=all $(expect_args)"
    check_qemu10_extra
    local refusal="$OUT/check-qemu10-refusal.txt"
    ( qemu_probe 1 ) 2>"$refusal"
    local rc=$?
    [[ $rc -eq $EX_SETUP ]] && grep -q 'x-pci-proxy-dev crashes under TCG' "$refusal"
    check_result "QEMU 10.0: emulated engines under TCG refused before QEMU crashes" $? "exit $rc; see $refusal"
    QEMU_BIN=${saved[0]} PTDMA=${saved[1]} QEMU_PROBED=${saved[2]}
}

# Boots on QEMU 10 that QEMU 7.2's TCG cannot do: x2APIC mode on a small shape, and a
# 288-vCPU two-socket shape (2 x 9 L3 domains x 8 cores x 2 threads) whose second socket
# has APIC IDs 256..399. Both: every CPU online, the topology tree equal to the shape,
# the dispatch and shootdown self-tests on all CPUs.
check_qemu10_extra() {
    check_x2apic_shape smp-x2apic-4cpu 2 2 1 1
    check_x2apic_shape smp-288cpu 2 9 8 2
}

# check_x2apic_shape NAME SOCKETS DIES CORES THREADS: as check_shape, with x2APIC on.
check_x2apic_shape() {
    local saved=("$CPU_MODEL" "$TIMEOUT")
    TIMEOUT=900
    CPU_MODEL="EPYC-Milan,level=0x1f,x2apic=on"
    local s_saved=("$CPUS" "$CPUS_SET" "$SOCKETS" "$DIES" "$CORES" "$THREADS")
    SOCKETS=$2 DIES=$3 CORES=$4 THREADS=$5 CPUS_SET=0
    apply_shape
    qemu_check_shape
    local t0=$SECONDS
    # QEMU warns once per vCPU about flags TCG lacks: keep that out of the check output.
    expect_boot "$1" 0 "^[0-9]+ passed, 0 failed" "test=all $(expect_args)" 2>"$OUT/check-$1.stderr"
    local log="$OUT/check-$1.log"
    grep -aE '^smp: .*(online|bring-up)' "$log"
    grep -qaE "^smp: $CPUS of $CPUS CPUs online \(x2APIC mode\)" "$log"
    check_result "$1: all $CPUS CPUs online in x2APIC mode ($(( SECONDS - t0 )) s wall)" $? "see $log"
    CPUS=${s_saved[0]} CPUS_SET=${s_saved[1]} SOCKETS=${s_saved[2]} DIES=${s_saved[3]}
    CORES=${s_saved[4]} THREADS=${s_saved[5]} CPU_MODEL=${saved[0]} TIMEOUT=${saved[1]}
    apply_shape
    qemu_check_shape
}

# make_fixture_host DIR: a host tree (DIR/sys, DIR/dev, DIR/proc/cpuinfo) like a
# two-socket AMD server with KVM: 4 nodes of 16 CPUs and 64 GiB free, no huge pages, one
# PTDMA function 0000:c1:00.2 on vfio-pci in IOMMU group 41.
make_fixture_host() {
    local r=$1 n d
    rm -rf "$r"
    mkdir -p "$r/dev/vfio" "$r/proc" "$r/sys/bus/pci/drivers/vfio-pci" "$r/sys/kernel/iommu_groups/41/devices"
    : > "$r/dev/kvm"; : > "$r/dev/vfio/41"
    printf 'flags\t\t: fpu sse2 svm\n' > "$r/proc/cpuinfo"
    for n in 0 1 2 3; do
        d="$r/sys/devices/system/node/node$n"
        mkdir -p "$d/hugepages/hugepages-2048kB"
        echo "$(( n * 16 ))-$(( n * 16 + 15 ))" > "$d/cpulist"
        echo "Node $n MemFree:        67108864 kB" > "$d/meminfo"
        echo 0 > "$d/hugepages/hugepages-2048kB/free_hugepages"
    done
    d="$r/sys/bus/pci/devices/0000:c1:00.2"
    mkdir -p "$d"
    echo 0x1022 > "$d/vendor"; echo 0x1498 > "$d/device"
    ln -s "$r/sys/bus/pci/drivers/vfio-pci" "$d/driver"
    ln -s "$r/sys/kernel/iommu_groups/41" "$d/iommu_group"
}

# check_kvm_dry_run: the KVM guest's command against a fixture host (no KVM here): nodes
# bound, vCPUs pinned, the engine assigned; and a refusal naming what the host lacks.
check_kvm_dry_run() {
    local r="$OUT/fixture-host" out rc
    make_fixture_host "$r"
    out=$(FOLIOMOVE_HOST_ROOT=$r "$ROOT/run-qemu.sh" --accel kvm --ptdma 0 --cpus 4 \
          --host-nodes 2,3 --vfio 0000:c1:00.2 --dry-run test 2>&1)
    rc=$?
    [[ $rc -eq 0 ]] \
        && grep -qF -- '-accel kvm -cpu host' <<< "$out" \
        && grep -qF 'memory-backend-memfd\,id=m0\,size=512M\,share=on\,host-nodes=2\,policy=bind' <<< "$out" \
        && grep -qF 'memory-backend-memfd\,id=m1\,size=512M\,share=on\,host-nodes=3\,policy=bind' <<< "$out" \
        && grep -qF -- '-device vfio-pci\,host=0000:c1:00.2' <<< "$out" \
        && grep -qF 'would pin vCPU 3 to host CPU 49' <<< "$out" \
        && grep -qF 'KVM guest, nodes bound to host nodes 0->2 1->3, 1 assigned engine(s) (PTDMA)' <<< "$out" \
        && grep -qF 'host-binding=kvm:0-2/1-3:1' <<< "$out"
    check_result "KVM guest command (--dry-run, fixture host)" $? "exit $rc: $out"
    out=$(FOLIOMOVE_HOST_ROOT=$r "$ROOT/run-qemu.sh" --accel kvm --ptdma 0 --cpus 4 \
          --host-nodes 1,7 --hugepages --dry-run test 2>&1)
    rc=$?
    [[ $rc -eq $EX_SETUP ]] \
        && grep -qF 'host NUMA node 7 does not exist' <<< "$out" \
        && grep -qF 'echo 256 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages' <<< "$out"
    check_result "KVM guest refused with what the host lacks" $? "exit $rc: $out"
}
