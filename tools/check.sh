# tools/check.sh — `./run-qemu.sh check`: the whole test suite, as CI runs it.
# Sourced by run-qemu.sh (uses its boot/build helpers and exit codes).
#
# 1. host: cargo fmt --check, clippy (warnings are errors), cargo test --workspace
# 2. QEMU: the in-kernel self-tests must end with "N passed, 0 failed"
# 3. QEMU: boots that must fail in a given way (so failures are never silent)
# Ends with one line "check: N passed, N failed".

CHECK_PASSED=0
CHECK_FAILED=0
CHECK_FAILURES=()

check_result() { # name rc(0=ok) detail
    if [[ $2 -eq 0 ]]; then
        CHECK_PASSED=$((CHECK_PASSED + 1)); echo "check: $1 ... ok"
    else
        CHECK_FAILED=$((CHECK_FAILED + 1)); CHECK_FAILURES+=("$1: $3"); echo "check: $1 ... FAILED ($3)"
    fi
}

check_host() {
    ensure_cargo
    (cd "$ROOT" && cargo fmt --all -- --check >/dev/null 2>&1)
    check_result "cargo fmt" $? "run 'cargo fmt --all'"
    (cd "$ROOT" && cargo clippy -q --workspace --all-targets -- -D warnings)
    check_result "cargo clippy" $? "clippy warnings (see above)"
    (cd "$ROOT" && cargo test -q --workspace)
    check_result "cargo test --workspace" $? "host unit tests failed (see above)"
}

# expect_boot NAME WANT_RC REGEX KERNEL-ARGS [MODEL-ARGS...]: boot once (MODEL-ARGS go to
# the PTDMA model); the mapped exit code must be WANT_RC and the serial log must match
# REGEX (extended grep).
expect_boot() {
    local name=$1 want=$2 regex=$3 args=$4 log="$OUT/check-$1.log" rc
    local saved=("${MODEL_ARGS[@]}")
    MODEL_ARGS=("${@:5}")
    echo "check: booting '$args' (expect exit $want)"
    boot "$args" "$log" >/dev/null
    rc=$?
    MODEL_ARGS=("${saved[@]}")
    if [[ $rc -ne $want ]]; then
        check_result "$name" 1 "exit $rc, want $want; log $log"
    elif ! grep -qE "$regex" "$log"; then
        check_result "$name" 1 "log lacks /$regex/; log $log"
    else
        check_result "$name" 0 ""
    fi
}

cmd_check() {
    check_host
    ensure_qemu
    build_kernel
    mkdir -p "$OUT"

    # The self-test suite: prints every test and the closing line.
    local self_log="$OUT/check-selftest.log"
    echo "check: booting the self-tests"
    boot "test=all $(expect_args)" "$self_log"
    local rc=$?
    if [[ $rc -eq 0 ]] && grep -qE '^[0-9]+ passed, 0 failed' "$self_log"; then
        check_result "qemu self-tests" 0 ""
    else
        check_result "qemu self-tests" 1 "exit $rc; log $self_log"
    fi

    expect_boot default-run 0 'foliomove: exit success' ""
    expect_boot help 0 'test +default' "help"
    expect_boot bad-key "$EX_BADINPUT" "unknown key 'bogus'" "bogus=1"
    expect_boot bad-value "$EX_BADINPUT" "bad value for 'reboot'" "reboot=maybe"
    expect_boot unknown-test "$EX_BADINPUT" 'no self-test matches' "test=no_such_test"
    expect_boot failing-test "$EX_TEST" '^0 passed, 1 failed' "test=selftest_must_fail"
    expect_boot cpu-exception "$EX_EXCEPTION" '#PF page fault.*' "test=fault_page_fault"
    expect_boot panic "$EX_PANIC" 'PANIC at .*fault_panic fixture' "test=fault_panic"

    # DMA faults injected by the PTDMA model: reported, the CPU finishes the batch, the
    # data verifies, and the queue works again (or, for a vanished device, is retired).
    local dma="test=dma_fault_recovery dma-timeout-ms=300"
    expect_boot dma-error 0 'IDMA0_AXI_SLVERR.*4/8 ops done' "$dma" --fault=error-at=5
    expect_boot dma-error-recovered 0 'queue usable again' "$dma" --fault=error-at=5
    expect_boot dma-halted-queue 0 'queue usable again' "$dma" --fault=halt-at=5
    expect_boot dma-stuck-queue 0 'queue usable again' "$dma" --fault=stuck-at=5
    expect_boot dma-device-gone 0 'channel retired' "$dma" --fault=vanish-at=5
    local engines=$PTDMA
    PTDMA=0
    expect_boot no-dma-engine 0 'no DMA engine: the DMA copy engine is unavailable' "test=dma_engines_match_runner expect-ptdma=0"
    PTDMA=$engines

    check_iso

    echo
    if (( CHECK_FAILED > 0 )); then
        printf 'check: failed: %s\n' "${CHECK_FAILURES[@]}"
    fi
    echo "check: $CHECK_PASSED passed, $CHECK_FAILED failed"
    (( CHECK_FAILED == 0 )) && return $EX_OK || return $EX_TEST
}
