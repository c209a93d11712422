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

# check_proxy_ram_shapes: the RAM-section arithmetic of tools/proxy-ram.sh on shapes booted
# by hand (see there); the runner refuses issue 15's third run (8 nodes x 384 MiB, node 5
# across the 4 GiB hole) with exit 2 before booting and names a shape that works; that
# shape is accepted; and a shape where a node straddles the hole but the sections still fit
# (7 x 448 MiB) migrates from the straddling node by DMA with no CPU fallback.
check_proxy_ram_shapes() {
    local c got bad=""
    for c in "8 256:8 -1 2048" "8 512:8 -1 2048" "7 448:8 4 2048" "8 384:9 5 2048" \
             "8 351:8 -1 2808" "8 352:9 5 2048" "2 3072:3 0 2048" "1 64:1 -1 64"; do
        got=$(ram_sections ${c%%:*})
        [[ "$got" == "${c#*:}" ]] || bad+=" ${c%%:*} -> '$got' (want '${c#*:}');"
    done
    [[ -z "$bad" ]]
    check_result "RAM sections per QEMU shape" $? "$bad"

    local args=(--dry-run -- migrate engine=dma size=2m total=16m reps=1) out rc alt
    [[ $PROFILE == debug ]] && args=(--debug "${args[@]}")
    out=$("$ROOT/run-qemu.sh" --nodes 8 --mem-per-node 384 "${args[@]}" 2>&1)
    rc=$?
    [[ $rc -eq $EX_USAGE ]] && grep -qF 'node 5 (1920-2304 MiB) straddles the hole and is 2 RAM sections: 9 sections in all' <<< "$out"
    check_result "runner refuses 8 nodes x 384 MiB with PTDMA" $? "exit $rc, want $EX_USAGE: $out"
    alt=$(grep -oE -- '--mem-per-node [0-9]+' <<< "$out" | head -1)
    # shellcheck disable=SC2086 # $alt is an option and its value
    out=$("$ROOT/run-qemu.sh" --nodes 8 $alt "${args[@]}" 2>&1)
    rc=$?
    [[ -n "$alt" && $rc -eq 0 ]] && grep -qE "id=m7[^ ]*size=${alt##* }M" <<< "$out"
    check_result "runner accepts the shape it suggests (${alt:-none})" $? "exit $rc: $out"

    local shape=("$NODES" "$MEM_PER_NODE")
    NODES=7 MEM_PER_NODE=448
    expect_boot straddling-node-dma 0 '"status":"ok"' \
        "migrate engine=dma size=2m total=16m reps=1 from=4 to=5"
    NODES=${shape[0]} MEM_PER_NODE=${shape[1]}
}

# cmd_check_part GROUP: one group of the check suite (xtask/src/check_cases.rs names them).
cmd_check_part() {
    ensure_qemu
    build_kernel
    mkdir -p "$OUT"
    case "$1" in
        proxy-ram) check_proxy_ram_shapes ;;
        conformance)
            # Linux 6.12's own ptdma driver and dmatest on the model, 1 and 4 engines, and an
            # injected descriptor error (tools/conformance.sh; the kernel build is cached).
            CONF_IN_CHECK=1 cmd_conformance
            echo ;;
        iso) check_iso ;;
        machines)
            # Hardware paths forced on/off, and QEMU 10.0 (issue 20): self-tests and shapes it
            # can run that 7.2 cannot.
            check_forced_features
            check_large_numa
            check_kvm_dry_run
            check_qemu10 ;;
        *) die_usage "unknown check group '$1' (proxy-ram, conformance, iso, machines)" ;;
    esac
    (( CHECK_FAILED == 0 )) && return $EX_OK || return $EX_TEST
}
