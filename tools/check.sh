# tools/check.sh — the groups of `./run-qemu.sh check` that still run in bash. The suite
# itself (its order, the host checks, most QEMU cases and the final line) is in
# xtask/src/check.rs and xtask/src/check_cases.rs; it runs each group here as
# `tools/runner.sh [options] check-part GROUP` and counts the `check: NAME ... ok|FAILED`
# lines. Sourced by tools/runner.sh (uses its boot/build helpers and exit codes).

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

# probe_descriptors: descriptors the kernel's first-use DMA probe sends before anything
# else (one page per memory node plus the completion marker, on each PTDMA channel).
probe_descriptors() { echo $(( PTDMA * (NODES + 1) )); }

# cmd_check_part GROUP: one group of the check suite (xtask/src/check_cases.rs names them).
cmd_check_part() {
    ensure_qemu
    build_kernel
    mkdir -p "$OUT"
    case "$1" in
        conformance)
            # Linux 6.12's own ptdma driver and dmatest on the model, 1 and 4 engines, and an
            # injected descriptor error (tools/conformance.sh; the kernel build is cached).
            CONF_IN_CHECK=1 cmd_conformance
            echo ;;
        iso) check_iso ;;
        machines)
            # The KVM guest command, and QEMU 10.0 (issue 20): self-tests and shapes it can
            # run that 7.2 cannot.
            check_kvm_dry_run
            check_qemu10 ;;
        *) die_usage "unknown check group '$1' (conformance, iso, machines)" ;;
    esac
    (( CHECK_FAILED == 0 )) && return $EX_OK || return $EX_TEST
}
