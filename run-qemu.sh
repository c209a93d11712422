#!/usr/bin/env bash
# run-qemu.sh — the one command to build and boot foliomove in QEMU.
#
# Installs what is missing (Debian packages), builds the kernel (release), boots it with
# the requested NUMA/CPU shape and emulated PTDMA engines, and exits with the kernel's
# meaning (table below). `./run-qemu.sh --help` for everything.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
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
EX_TIMEOUT=124   # wall-clock timeout

usage() {
    cat <<'EOF'
Usage: ./run-qemu.sh [options] [command] [-- kernel-cmdline...]

Commands:
  run            (default) boot and run the default job
  test           boot the in-kernel self-tests (test=all); passes on "N passed, 0 failed"
  check          everything CI runs: host cargo tests + clippy, QEMU self-tests, and
                 boots that must fail in a given way (bad input, failing test, exception,
                 panic)
  iso            build out/foliomove.iso (GRUB, BIOS + UEFI) for USB sticks and servers
  help           this text

Options:
  --cpus N           vCPUs (default 2)
  --nodes N          NUMA nodes, each a memory-backend-memfd,share=on (default 2)
  --mem-per-node M   MiB of RAM per node (default 512)
  --cpu MODEL        QEMU CPU model (default max)
  --ptdma N          emulated PTDMA engines (default 2; 0 = none), served by tools/ptdma-model
  --ptdma-arg ARG    pass ARG to the PTDMA model (repeatable), e.g. --ptdma-arg=--profile=seed
                     or --ptdma-arg=--fault=error-at=5
  --accel A          auto | tcg | kvm (default auto: KVM only on a real VT-x/AMD-V host)
  --timeout S        wall-clock limit in seconds (default 600)
  --debug            boot a debug build instead of release
  --dry-run          print the QEMU command line and exit
  --iso              boot through GRUB from an ISO (SeaBIOS) instead of -kernel
  --uefi             with --iso: boot the ISO with OVMF (UEFI) firmware
  -- ARGS...         appended to the kernel command line (boot with `-- help` to list keys)

Exit codes: 0 success, 1 test failure, 2 usage, 3 kernel panic, 4 CPU exception,
5 watchdog, 6 bad kernel input, 7 no kernel status (triple fault/crash), 8 setup
failure, 124 timeout.
EOF
}

die_usage() { echo "run-qemu.sh: $*" >&2; echo "run 'run-qemu.sh --help' for usage" >&2; exit $EX_USAGE; }
note() { echo "run-qemu.sh: $*" >&2; }

CPUS=2 NODES=2 MEM_PER_NODE=512 CPU_MODEL=max PTDMA=2 ACCEL=auto TIMEOUT=600
MODEL_ARGS=()
PROFILE=release DRY_RUN=0 CMD=run ISO=0 UEFI=0
KARGS=()

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die_usage "option $1 needs a value"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpus) need_value "$@"; is_uint "$2" && (( $2 >= 1 && $2 <= 64 )) || die_usage "--cpus takes 1..64, got '$2'"; CPUS=$2; shift 2 ;;
        --nodes) need_value "$@"; is_uint "$2" && (( $2 >= 1 && $2 <= 8 )) || die_usage "--nodes takes 1..8 (the proxy maps at most 8 RAM sections), got '$2'"; NODES=$2; shift 2 ;;
        --mem-per-node) need_value "$@"; is_uint "$2" && (( $2 >= 64 )) || die_usage "--mem-per-node takes MiB >= 64, got '$2'"; MEM_PER_NODE=$2; shift 2 ;;
        --cpu) need_value "$@"; CPU_MODEL=$2; shift 2 ;;
        --ptdma) need_value "$@"; is_uint "$2" && (( $2 <= 16 )) || die_usage "--ptdma takes 0..16, got '$2'"; PTDMA=$2; shift 2 ;;
        --ptdma-arg) need_value "$@"; MODEL_ARGS+=("$2"); shift 2 ;;
        --ptdma-arg=*) MODEL_ARGS+=("${1#--ptdma-arg=}"); shift ;;
        --accel) need_value "$@"; [[ "$2" =~ ^(auto|tcg|kvm)$ ]] || die_usage "--accel takes auto|tcg|kvm, got '$2'"; ACCEL=$2; shift 2 ;;
        --timeout) need_value "$@"; is_uint "$2" && (( $2 >= 1 )) || die_usage "--timeout takes seconds >= 1, got '$2'"; TIMEOUT=$2; shift 2 ;;
        --debug) PROFILE=debug; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --iso) ISO=1; shift ;;
        --uefi) ISO=1; UEFI=1; shift ;;
        -h|--help|help) usage; exit $EX_OK ;;
        --) shift; KARGS+=("$@"); break ;;
        run|test|check|iso) CMD=$1; shift ;;
        -*) die_usage "unknown option '$1'" ;;
        *) die_usage "unknown command '$1' (commands: run, test, check, iso, help)" ;;
    esac
done

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
    command -v qemu-system-x86_64 >/dev/null 2>&1 || apt_install qemu-system-x86
    command -v qemu-system-x86_64 >/dev/null 2>&1 || { note "qemu-system-x86_64 still missing"; exit $EX_SETUP; }
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
    QEMU=(qemu-system-x86_64 -machine q35 -accel "$accel" -cpu "$CPU_MODEL"
          -smp "$CPUS" -m "${total}M"
          -display none -vga none -nic none -monitor none -serial stdio -no-reboot
          -device isa-debug-exit,iobase=0xf4,iosize=0x04)
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
    if (( ISO )); then
        iso_qemu_args
    else
        QEMU+=(-kernel "$KERNEL" -append "$KCMDLINE")
    fi
}

# boot CMDLINE LOGFILE: boots once, tees the serial log, returns the mapped exit code.
boot() {
    KCMDLINE=$1
    local log=$2 accel
    accel=$(pick_accel)
    qemu_args "$accel"
    local cmd=("${QEMU[@]}")
    if (( PTDMA > 0 )); then
        build_model
        mkdir -p "$OUT"
        rm -f "$OUT/ptdma-counters.json"
        cmd=("$MODEL" launch --count "$PTDMA" "${MODEL_ARGS[@]}" --counters "$OUT/ptdma-counters.json" --log "$OUT/ptdma-model.log" -- "${QEMU[@]}")
    fi
    echo "run-qemu.sh: $(printf '%q ' timeout "$TIMEOUT" "${cmd[@]}")" >&2
    (( DRY_RUN )) && return $EX_OK
    mkdir -p "$OUT"
    timeout --foreground -k 10 "$TIMEOUT" "${cmd[@]}" | tee "$log"
    local rc=${PIPESTATUS[0]}
    map_status "$rc" "$log"
}

map_status() {
    local rc=$1 log=$2
    case "$rc" in
        33) return $EX_OK ;;
        35) return $EX_TEST ;;
        37) return $EX_PANIC ;;
        39) return $EX_EXCEPTION ;;
        41) return $EX_WATCHDOG ;;
        43) return $EX_BADINPUT ;;
        124|137) note "wall-clock timeout after ${TIMEOUT}s (see $log)"; return $EX_TIMEOUT ;;
        *) note "QEMU exited with status $rc and no kernel status (triple fault or crash; see $log)"; return $EX_NOSTATUS ;;
    esac
}

# What this runner built, for the kernel's platform self-test.
expect_args() { echo "expect-cpus=$CPUS expect-nodes=$NODES expect-node-mib=$MEM_PER_NODE expect-ptdma=$PTDMA"; }

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

source "$ROOT/tools/check.sh"
source "$ROOT/tools/iso.sh"

case "$CMD" in
    run) cmd_run; exit $? ;;
    test) cmd_test; exit $? ;;
    check) cmd_check; exit $? ;;
    iso) cmd_iso; exit $? ;;
esac
