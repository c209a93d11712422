#!/usr/bin/env bash
# tools/runner.sh — the bash runner behind ./run-qemu.sh (xtask/ hands it the commands it
# has not taken over yet: check, bench, faults, soak, iso, conformance, get-qemu, and ISO or
# KVM-guest boots).
#
# Installs what is missing (Debian packages), builds the kernel (release), boots it with
# the requested NUMA/CPU shape and emulated PTDMA engines, and exits with the kernel's
# meaning (table below). `./run-qemu.sh --help` for everything.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/out"

# ---- exit codes of this script (README.md "Exit codes") ----
EX_OK=0          # kernel reported success
EX_TEST=1        # a self-test or verification failed
EX_USAGE=2       # bad arguments to this script
EX_PANIC=3       # kernel panic
EX_EXCEPTION=4   # unexpected CPU exception
EX_WATCHDOG=5    # kernel watchdog: no progress
EX_BADINPUT=6    # kernel rejected its command line / input
EX_NOSTATUS=7    # QEMU ended without a kernel status (triple fault, killed, crash)
EX_SETUP=8       # could not install, build or start something
EX_INVALID=9     # a figure is invalid: the named engine did not do the work
EX_OOM=10        # out of memory mid-run; every folio stayed where it was
EX_TIMEOUT=124   # wall-clock timeout

# The help text is xtask/src/help.txt (`./run-qemu.sh --help`), which parses the options first.
usage() { "$ROOT/target/release/xtask" --help; }

die_usage() { echo "run-qemu.sh: $*" >&2; echo "run 'run-qemu.sh --help' for usage" >&2; exit $EX_USAGE; }
note() { echo "run-qemu.sh: $*" >&2; }

NUMA_DIST=none HOST_NODES= HUGEPAGES=0 VFIO=
MAX_VCPUS=512    # the kernel's CPU sets name 512 CPUs (kcore::cpuset)
CPUS=2 CPUS_SET=0 SOCKETS= DIES= CORES= THREADS= NODES=2 MEM_PER_NODE=512 CPU_MODEL=max PTDMA=2 ACCEL=auto TIMEOUT=600
MODEL_ARGS=()
PROFILE=release DRY_RUN=0 QEMU_BIN= GET_QEMU=10 CMD=run BENCH=efficiency SOAK_MIN=3 ISO=0 UEFI=0
KARGS=()

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die_usage "option $1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpus) need_value "$@"; is_uint "$2" && (( $2 >= 1 && $2 <= MAX_VCPUS )) || die_usage "--cpus takes 1..$MAX_VCPUS, got '$2'"; CPUS=$2; CPUS_SET=1; shift 2 ;;
        --sockets|--dies|--cores|--threads)
            need_value "$@"; is_uint "$2" && (( $2 >= 1 && $2 <= 64 )) || die_usage "$1 takes 1..64, got '$2'"
            case "$1" in --sockets) SOCKETS=$2 ;; --dies) DIES=$2 ;; --cores) CORES=$2 ;; --threads) THREADS=$2 ;; esac
            shift 2 ;;
        --nodes) need_value "$@"; is_uint "$2" && (( $2 >= 1 && $2 <= 8 )) || die_usage "--nodes takes 1..8 (the proxy maps at most 8 RAM sections), got '$2'"; NODES=$2; shift 2 ;;
        --numa-dist) need_value "$@"; [[ "$2" =~ ^(none|line)$ ]] || die_usage "--numa-dist takes none|line, got '$2'"; NUMA_DIST=$2; shift 2 ;;
        --mem-per-node) need_value "$@"; is_uint "$2" && (( $2 >= 64 )) || die_usage "--mem-per-node takes MiB >= 64, got '$2'"; MEM_PER_NODE=$2; shift 2 ;;
        --cpu) need_value "$@"; CPU_MODEL=$2; shift 2 ;;
        --ptdma) need_value "$@"; is_uint "$2" && (( $2 <= 16 )) || die_usage "--ptdma takes 0..16, got '$2'"; PTDMA=$2; shift 2 ;;
        --ptdma-arg) need_value "$@"; MODEL_ARGS+=("$2"); shift 2 ;;
        --ptdma-arg=*) MODEL_ARGS+=("${1#--ptdma-arg=}"); shift ;;
        --qemu) need_value "$@"; QEMU_BIN=$2; shift 2 ;;
        --host-nodes) need_value "$@"; [[ "$2" =~ ^[0-9]+(,[0-9]+)*$ ]] || die_usage "--host-nodes takes host node numbers A,B,..., got '$2'"; HOST_NODES=$2; shift 2 ;;
        --hugepages) HUGEPAGES=1; shift ;;
        --vfio) need_value "$@"; VFIO=$2; shift 2 ;;
        --accel) need_value "$@"; [[ "$2" =~ ^(auto|tcg|kvm)$ ]] || die_usage "--accel takes auto|tcg|kvm, got '$2'"; ACCEL=$2; shift 2 ;;
        --timeout) need_value "$@"; is_uint "$2" && (( $2 >= 1 )) || die_usage "--timeout takes seconds >= 1, got '$2'"; TIMEOUT=$2; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --iso) ISO=1; shift ;;
        --uefi) ISO=1; UEFI=1; shift ;;
        -h|--help|help) usage; exit $EX_OK ;;
        --) shift; KARGS+=("$@"); break ;;
        run|test|check|faults) CMD=$1; shift ;;
        soak)
            CMD=soak; shift
            if [[ $# -gt 0 && "$1" != -* ]]; then
                is_uint "$1" && (( $1 >= 1 )) || die_usage "soak takes whole minutes >= 1, got '$1'"
                SOAK_MIN=$1; shift
            fi ;;
        bench)
            CMD=bench; shift
            if [[ $# -gt 0 && "$1" != -* ]]; then BENCH=$1; shift; fi ;;
        iso) CMD=iso; shift ;;
        get-qemu)
            CMD=get-qemu; shift
            if [[ $# -gt 0 && "$1" != -* ]]; then GET_QEMU=$1; shift; fi ;;
        conformance) CMD=conformance; shift ;;
        check-part)  # internal: one group of `check` that still runs here (xtask/src/check.rs)
            CMD=check-part; shift; [[ $# -gt 0 ]] || die_usage "check-part needs a group"; PART=$1; shift ;;
        -*) die_usage "unknown option '$1'" ;;
        *) die_usage "unknown command '$1' (commands: run, test, bench, soak, faults, iso, conformance, check, get-qemu, help)" ;;
    esac
done

# ---- CPU shape: -smp with sockets/dies/cores/threads, consistent with the NUMA split ----
# apply_shape: sets SMP (the -smp value) and SHAPE (expect-topo) from CPUS, NODES and
# SOCKETS/DIES/CORES/THREADS (empty = no shape); exits with a usage error when they clash.
apply_shape() {
    SMP="$CPUS"
    SHAPE=""
    [[ -n "$SOCKETS$DIES$CORES$THREADS" ]] || return 0
    SOCKETS=${SOCKETS:-1} DIES=${DIES:-1} CORES=${CORES:-1} THREADS=${THREADS:-1}
    local product=$(( SOCKETS * DIES * CORES * THREADS ))
    if (( CPUS_SET )) && (( CPUS != product )); then
        die_usage "--cpus $CPUS differs from sockets x dies x cores x threads = $product"
    fi
    (( product <= MAX_VCPUS )) || die_usage "the shape has $product CPUs; at most $MAX_VCPUS"
    CPUS=$product
    (( CPUS % NODES == 0 )) || die_usage "$CPUS CPUs do not split evenly into $NODES NUMA nodes"
    (( (CPUS / NODES) % THREADS == 0 )) || die_usage "$NODES NUMA nodes of $(( CPUS / NODES )) CPUs would split a core of $THREADS threads"
    SMP="$CPUS,sockets=$SOCKETS,dies=$DIES,cores=$CORES,threads=$THREADS"
    SHAPE="${SOCKETS}s${DIES}d${CORES}c${THREADS}t${NODES}n"
}
apply_shape

# ---- guest RAM the emulated PTDMA engines can reach (tools/proxy-ram.sh) ----
source "$ROOT/tools/proxy-ram.sh"
[[ $CMD == iso ]] || check_proxy_ram

# ---- dependencies ----
apt_install() {
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    note "installing $* (Debian packages)"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1; then
        $sudo apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1 \
            || { note "could not install $*"; exit $EX_SETUP; }
    fi
}

ensure_qemu() {
    qemu_select
    if [[ "$QEMU_BIN" == qemu-system-x86_64 ]]; then
        command -v qemu-system-x86_64 >/dev/null 2>&1 || apt_install qemu-system-x86
        command -v qemu-system-x86_64 >/dev/null 2>&1 || { note "qemu-system-x86_64 still missing"; exit $EX_SETUP; }
    fi
    qemu_probe "$(( PTDMA > 0 ))"
    qemu_check_shape
}

ensure_cargo() {
    command -v cargo >/dev/null 2>&1 || { note "cargo not found: install Rust (rustup) first"; exit $EX_SETUP; }
}

# ---- acceleration: KVM only where the CPU really has VT-x/AMD-V ----
pick_accel() {
    case "$ACCEL" in
        tcg) echo "tcg,thread=multi" ;;
        kvm) echo "kvm" ;;
        auto)
            # A /dev/kvm without vmx/svm flags (or with kvm_pvm) is a software shim on
            # which bare-metal guests fail: use TCG there.
            if [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo \
                && [[ ! -d /sys/module/kvm_pvm ]]; then
                echo "kvm"
            else
                note "no hardware virtualization here: using TCG (emulation; timings are emulator speed)"
                echo "tcg,thread=multi"
            fi ;;
    esac
}

build_kernel() {
    ensure_cargo
    local flag=()
    [[ $PROFILE == release ]] && flag=(--release)
    (cd "$ROOT" && cargo build -q -p kernel "${flag[@]}") || { note "kernel build failed"; exit $EX_SETUP; }
    KERNEL="$ROOT/target/$PROFILE/kernel"
}

build_model() {
    (cd "$ROOT" && cargo build -q -p ptdma-model --release) || { note "ptdma-model build failed"; exit $EX_SETUP; }
    MODEL="$ROOT/target/release/ptdma-model"
}

# ---- the QEMU command line ----
qemu_args() {
    local accel=$1 total=$(( NODES * MEM_PER_NODE ))
    QEMU=("$QEMU_BIN" -machine q35 -accel "$accel" -cpu "$CPU_MODEL"
          -smp "$SMP" -m "${total}M"
          -display none -vga none -nic none -monitor none -serial stdio -no-reboot
          -device isa-debug-exit,iobase=0xf4,iosize=0x04 "${QEMU_FW_ARGS[@]}")
    local n first last per=$(( CPUS / NODES )) extra=$(( CPUS % NODES )) next=0
    for (( n = 0; n < NODES; n++ )); do
        QEMU+=(-object "memory-backend-memfd,id=m$n,size=${MEM_PER_NODE}M,share=on")
        local count=$(( per + (n < extra ? 1 : 0) ))
        if (( count > 0 )); then
            first=$next; last=$(( next + count - 1 )); next=$(( last + 1 ))
            QEMU+=(-numa "node,nodeid=$n,cpus=$first-$last,memdev=m$n")
        else
            QEMU+=(-numa "node,nodeid=$n,memdev=m$n")
        fi
    done
    kvm_rewrite_args
    local dist
    for dist in $(numa_dist_args | tr ' ' '\n'); do QEMU+=("$dist"); done
    if (( ISO )); then
        iso_qemu_args
    else
        QEMU+=(-kernel "$KERNEL" -append "$KCMDLINE")
    fi
}

# The emulated engines' timing assumption, as the kernel echoes it into every result.
dma_profile() {
    local p=none a
    for a in "${MODEL_ARGS[@]}"; do
        case "$a" in
            --profile=*) p=${a#--profile=} ;;
            --bw-gbps=*|--desc-ns=*|--doorbell-ns=*) p=custom ;;
        esac
    done
    echo "$p"
}

# boot CMDLINE LOGFILE: boots once, tees the serial log, returns the mapped exit code.
boot() {
    KCMDLINE=$1
    if (( PTDMA > 0 )) && [[ " $KCMDLINE " != *" dma-profile="* ]]; then
        KCMDLINE="${KCMDLINE:+$KCMDLINE }dma-profile=$(dma_profile)"
    fi
    local log=$2 accel
    accel=$(pick_accel)
    (( ${#KVM_ARGS[@]} )) || kvm_guest_plan
    [[ -n "$KVM_BINDING" && " $KCMDLINE " != *" host-binding="* ]] && KCMDLINE+=" host-binding=$KVM_BINDING"
    qemu_args "$accel"
    local cmd=("${QEMU[@]}")
    if (( PTDMA > 0 )); then
        build_model
        mkdir -p "$OUT"
        rm -f "$OUT/ptdma-counters.json"
        cmd=("$MODEL" launch --count "$PTDMA" "${MODEL_ARGS[@]}" --counters "$OUT/ptdma-counters.json" --log "$OUT/ptdma-model.log" -- "${QEMU[@]}")
    fi
    echo "run-qemu.sh: $(printf '%q ' timeout "$TIMEOUT" "${cmd[@]}")" >&2
    rm -f "$OUT/qmp.sock"
    kvm_pin_vcpus
    (( DRY_RUN )) && return $EX_OK
    mkdir -p "$OUT"
    timeout --foreground -k 10 "$TIMEOUT" "${cmd[@]}" | tee "$log"
    local rc=${PIPESTATUS[0]}
    map_status "$rc" "$log"
}

# host_table ARG: kcore's benchmark registry (--list-benches) or exit-code table
# (--exit-codes) as printed by tools/report, built quietly on first use; one entry a line,
# tab-separated. Fails when the report tool does not build.
HOST_TABLES_BUILT=0
host_table() {
    if (( ! HOST_TABLES_BUILT )); then
        (cd "$ROOT" && cargo build -q --release -p report) >&2 || { note "tools/report build failed"; return 1; }
        HOST_TABLES_BUILT=1
    fi
    "$ROOT/target/release/report" "$1"
}

# map_status RC LOG: QEMU's exit status to this script's exit code, through the kernel's
# exit-code table (kcore::exit, via `report --exit-codes`).
map_status() {
    local rc=$1 log=$2 table qemu code name summary
    case "$rc" in
        124|137) note "wall-clock timeout after ${TIMEOUT}s (see $log)"; return $EX_TIMEOUT ;;
    esac
    table=$(host_table --exit-codes) || return $EX_SETUP
    while IFS=$'\t' read -r qemu code name summary; do
        [[ $qemu == "$rc" ]] || continue
        (( code != EX_OK )) && note "kernel exit $name: $summary (see $log)"
        return "$code"
    done <<< "$table"
    note "QEMU exited with status $rc and no kernel status (triple fault or crash; see $log)"
    return $EX_NOSTATUS
}

# What this runner built, for the kernel's platform self-test.
expect_args() { echo "expect-cpus=$CPUS expect-nodes=$NODES expect-node-mib=$MEM_PER_NODE expect-ptdma=$PTDMA${SHAPE:+ expect-topo=$SHAPE}"; }

joined_kargs() { local IFS=' '; echo "${KARGS[*]:-}"; }

cmd_run() {
    ensure_qemu; build_kernel
    boot "$(joined_kargs)" "$OUT/run.log"
}

cmd_test() {
    ensure_qemu; build_kernel
    local extra
    extra=$(joined_kargs)
    boot "test=all $(expect_args)${extra:+ $extra}" "$OUT/test.log"
    local rc=$?
    (( DRY_RUN )) && return $rc
    if (( rc == EX_OK )) && ! grep -qE '^[0-9]+ passed, 0 failed' "$OUT/test.log"; then
        note "kernel exited 0 but printed no 'N passed, 0 failed' line"
        return $EX_TEST
    fi
    return $rc
}

# faults: each injected DMA fault during a real migration; prints case | detected |
# recovered | data ok, and fails unless every case is handled.
cmd_faults() {
    ensure_qemu; build_kernel
    # Descriptor numbers count from the kernel's first-use probe (see probe_descriptors).
    local p
    p=$(probe_descriptors)
    local cases=(
        "error status on a descriptor|--fault=error-at=$((p + 40))|test=migrate_dma_fault_falls_back_to_cpu"
        "stuck queue|--fault=stuck-at=$((p + 40))|test=migrate_dma_fault_falls_back_to_cpu dma-timeout-ms=300"
        "halted queue|--fault=halt-at=$((p + 40))|test=migrate_dma_fault_falls_back_to_cpu dma-timeout-ms=300"
        "device disappears mid-batch|--fault=vanish-at=$((p + 40))|test=migrate_dma_fault_falls_back_to_cpu"
        "corrupted copy (wrong bytes, success reported)|--fault=corrupt-at=$((p + 10))|test=migrate_dma_corruption_detected"
    )
    local rows=() failed=0 c name fault args log rc detected recovered dataok
    for c in "${cases[@]}"; do
        IFS='|' read -r name fault args <<< "$c"
        log="$OUT/faults-${fault#--fault=}.log"
        MODEL_ARGS=("$fault")
        boot "$args" "$log" > /dev/null
        rc=$?
        detected=no recovered=no dataok=no
        if grep -qaE 'dma: channel .*(error|timeout|gone|retired)|corruption detected' "$log"; then detected=yes; fi
        if grep -qaE 'op\(s\) copied by the CPU, frames balanced' "$log"; then recovered=yes; fi
        if grep -qaE 'corruption detected by verification' "$log"; then
            recovered="reported as an error, no result"; dataok="bad bytes caught"
        elif [[ $rc -eq 0 ]]; then
            dataok=yes
        fi
        [[ $rc -ne 0 || $detected == no ]] && failed=1
        rows+=("| $name | $detected | $recovered | $dataok |")
    done
    MODEL_ARGS=()
    echo
    echo "| case | detected | recovered | data ok |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "(logs in $OUT/faults-*.log; each case is a real batched DMA migration of 256 x 4K folios)"
    (( failed == 0 )) && return $EX_OK || return $EX_TEST
}

cmd_soak() {
    ensure_qemu; build_kernel
    local secs=$(( SOAK_MIN * 60 )) extra
    extra=$(joined_kargs)
    # Faults at random descriptor numbers, spread over the run (the model counts
    # descriptors across all engines).
    local r1=$(( 200 + RANDOM % 2000 )) r2=$(( 5000 + RANDOM % 5000 )) r3=$(( 20000 + RANDOM % 20000 ))
    MODEL_ARGS+=("--fault=error-at=$r1" "--fault=halt-at=$r2" "--fault=stuck-at=$r3" "--fault=error-at=$(( r3 + 5000 ))")
    (( TIMEOUT < secs + 180 )) && TIMEOUT=$(( secs + 180 ))
    echo "run-qemu.sh: soak for $SOAK_MIN min; model faults: ${MODEL_ARGS[*]}" >&2
    boot "soak=$secs dma-timeout-ms=500${extra:+ $extra}" "$OUT/soak.log"
    local rc=$?
    (( DRY_RUN )) && return $rc
    grep -aE '^SOAK ' "$OUT/soak.log" | tail -1
    return $rc
}

cmd_bench() {
    local b table names=()
    table=$(host_table --list-benches) || return $EX_SETUP
    while IFS=$'\t' read -r b _; do names+=("$b"); done <<< "$table"
    names+=(all)
    [[ -n $BENCH && $BENCH != *,,* && $BENCH != ,* && $BENCH != *, ]] \
        || die_usage "bench takes a comma list of benchmark names, got '$BENCH'"
    for b in ${BENCH//,/ }; do
        [[ " ${names[*]} " == *" $b "* ]] \
            || die_usage "unknown benchmark '$b' (available: $(IFS=,; echo "${names[*]}" | sed 's/,/, /g'); comma lists allowed)"
    done
    ensure_qemu; build_kernel
    local tag=${BENCH//,/-}
    local extra dir="$OUT/bench-$tag" rc
    extra=$(joined_kargs)
    mkdir -p "$dir"
    boot "bench=$BENCH${extra:+ $extra}" "$dir/serial.log"
    rc=$?
    (( DRY_RUN )) && return $rc
    (cd "$ROOT" && cargo build -q --release -p report) || { note "tools/report build failed"; return $EX_SETUP; }
    # Relative paths, so the report names the log the same way on every machine.
    (cd "$ROOT" && target/release/report --out "out/bench-$tag" "out/bench-$tag/serial.log")
    local rrc=$?
    echo "run-qemu.sh: report in $dir/report.md (CSV, JSON and plots beside it)" >&2
    (( rc != EX_OK )) && return $rc
    (( rrc != 0 )) && return $EX_TEST
    return $EX_OK
}

source "$ROOT/tools/qemu.sh"
source "$ROOT/tools/shapes.sh"
source "$ROOT/tools/kvmguest.sh"
source "$ROOT/tools/check.sh"
source "$ROOT/tools/check-machines.sh"
source "$ROOT/tools/iso.sh"
source "$ROOT/tools/conformance.sh"

case "$CMD" in
    run) cmd_run; exit $? ;;
    test) cmd_test; exit $? ;;
    bench) cmd_bench; exit $? ;;
    soak) cmd_soak; exit $? ;;
    faults) cmd_faults; exit $? ;;
    check) note "check is run by ./run-qemu.sh itself (xtask/src/check.rs)"; exit $EX_USAGE ;;
    iso) cmd_iso; exit $? ;;
    get-qemu) cmd_get_qemu "$GET_QEMU"; exit $? ;;
    conformance) cmd_conformance; exit $? ;;
    check-part) cmd_check_part "$PART"; exit $? ;;
esac
