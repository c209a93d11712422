# tools/check-machines.sh — the parts of `./run-qemu.sh check` about other QEMU versions and
# machine shapes (issue 20). Sourced by run-qemu.sh; uses tools/check.sh's expect_boot and
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

# Boots on QEMU 10 beyond the plain self-tests (filled in by the x2APIC work).
check_qemu10_extra() { :; }
