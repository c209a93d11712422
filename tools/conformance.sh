# tools/conformance.sh — `./run-qemu.sh conformance`: Linux's own ptdma driver and dmatest
# against the emulated PTDMA engines. Sourced by tools/runner.sh (uses its boot helpers).
#
# Builds once, cached outside the repository, a small Linux 6.12 from Debian's
# linux-source-6.12 with AMD_PTDMA and DMATEST, and a busybox initramfs whose /init is
# tools/conformance-init.sh. Boots it with 1 and 4 engines and once with an injected
# descriptor error; one summary line per run, then "conformance: N passed, N failed".

CONF_PKG=linux-source-6.12
# Options enabled on top of tinyconfig (linux-ptdma-conformance.md); each must stay =y.
CONF_ENABLE="64BIT SMP NUMA ACPI ACPI_NUMA X86_64_ACPI_NUMA PCI PCI_MSI X86_LOCAL_APIC X86_IO_APIC
HPET_TIMER PRINTK PRINTK_TIME TTY SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP
DEVTMPFS DEVTMPFS_MOUNT PROC_FS SYSFS DEBUG_FS BINFMT_ELF BINFMT_SCRIPT MULTIUSER FUTEX EPOLL
DMADEVICES DMA_ENGINE AMD_PTDMA DMATEST"
CONF_DISABLE="MODULES AMD_IOMMU INTEL_IOMMU SLUB_TINY"

conf_cache_root() { echo "${XDG_CACHE_HOME:-$HOME/.cache}/foliomove"; }

# conf_build_linux: sets CONF_BZIMAGE, building it unless the cache has it. The cache key is
# the Debian package version and a hash of the config recipe (this file's option lists).
conf_build_linux() {
    local ver key dir work
    ver=$(apt-cache show "$CONF_PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
    if [[ -z "$ver" ]]; then
        apt-get update -qq >/dev/null 2>&1 || true
        ver=$(apt-cache show "$CONF_PKG" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
    fi
    [[ -n "$ver" ]] || { note "conformance: Debian package $CONF_PKG not found"; return $EX_SETUP; }
    key=$(printf '%s\n%s\n' "$CONF_ENABLE" "$CONF_DISABLE" | sha256sum | cut -c1-12)
    dir="$(conf_cache_root)/linux-${ver%%-*}-$key"
    CONF_BZIMAGE="$dir/bzImage"
    [[ -s "$CONF_BZIMAGE" ]] && return 0
    local t0=$SECONDS
    command -v flex >/dev/null && command -v bison >/dev/null && command -v bc >/dev/null \
        && [[ -e /usr/include/libelf.h ]] || apt_install flex bison bc libelf-dev build-essential
    note "conformance: building Linux $ver into $dir (once; several minutes with make -j2)"
    work="$dir/work"
    if [[ ! -e "$work/extracted" ]]; then  # a tree from an interrupted build is reused
        rm -rf "$work" && mkdir -p "$work" || return $EX_SETUP
        (cd "$work" && apt-get download -q "$CONF_PKG=$ver" >/dev/null 2>&1) \
            || { note "conformance: apt-get download $CONF_PKG failed"; return $EX_SETUP; }
        dpkg-deb -x "$work"/"$CONF_PKG"_*.deb "$work/deb" || return $EX_SETUP
        tar -C "$work" -xaf "$work"/deb/usr/src/linux-source-*.tar.* || return $EX_SETUP
        rm -rf "$work/deb" "$work"/*.deb && touch "$work/extracted"
    fi
    local src
    src=$(find "$work" -maxdepth 1 -type d -name 'linux-source-*' | head -1)
    [[ -d "$src" ]] || { note "conformance: no source tree in the package"; return $EX_SETUP; }
    (
        cd "$src" || exit 1
        make -s ARCH=x86_64 tinyconfig >/dev/null || exit 1
        local o args=()
        for o in $CONF_ENABLE; do args+=(--enable "$o"); done
        for o in $CONF_DISABLE; do args+=(--disable "$o"); done
        scripts/config "${args[@]}" || exit 1
        make -s ARCH=x86_64 olddefconfig >/dev/null || exit 1
        for o in $CONF_ENABLE; do
            grep -qx "CONFIG_$o=y" .config || { echo "run-qemu.sh: conformance: CONFIG_$o is not =y after olddefconfig" >&2; exit 1; }
        done
        make -s -j2 ARCH=x86_64 bzImage >build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
        cp arch/x86/boot/bzImage "$dir/bzImage.tmp" && cp .config "$dir/config"
    ) || { note "conformance: Linux build failed (tree kept in $work)"; return $EX_SETUP; }
    mv "$dir/bzImage.tmp" "$CONF_BZIMAGE" && rm -rf "$work"
    note "conformance: Linux built in $(( SECONDS - t0 )) s"
}

# conf_initramfs OUT: a gzip cpio with Debian's static busybox and tools/conformance-init.sh
# as /init (busybox cached beside the kernels).
conf_initramfs() {
    local out=$1 bb ver tree
    ver=$(apt-cache show busybox-static 2>/dev/null | sed -n 's/^Version: //p' | head -1)
    bb="$(conf_cache_root)/busybox-static-${ver//[:~]/_}/busybox"
    if [[ ! -x "$bb" ]]; then
        local dl
        dl=$(mktemp -d) || return $EX_SETUP
        (cd "$dl" && apt-get download -q busybox-static >/dev/null 2>&1 \
            && dpkg-deb -x busybox-static_*.deb x) || { rm -rf "$dl"; note "conformance: cannot get busybox-static"; return $EX_SETUP; }
        mkdir -p "$(dirname "$bb")" && cp "$dl/x/bin/busybox" "$bb"
        rm -rf "$dl"
    fi
    command -v cpio >/dev/null || apt_install cpio
    tree=$(mktemp -d) || return $EX_SETUP
    mkdir -p "$tree/bin" && cp "$bb" "$tree/bin/busybox" \
        && install -m 755 "$ROOT/tools/conformance-init.sh" "$tree/init" \
        && (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -9 > "$out")
    local rc=$?
    rm -rf "$tree"
    return $rc
}

# conf_boot NAME ENGINES SIZES ITER [MODEL-ARGS...]: boots Linux with ENGINES PTDMA functions
# attached by ptdma-model exactly as boot() does; serial log in $CONF_DIR/NAME.log, model
# counters in $CONF_DIR/NAME.counters.json.
conf_boot() {
    local name=$1 engines=$2 sizes=$3 iter=$4
    local log="$CONF_DIR/$name.log" counters="$CONF_DIR/$name.counters.json" accel
    accel=$(pick_accel)
    # qemu_args reads KERNEL and KCMDLINE: set them only for this call, so the boots that
    # follow (e.g. in check) still get foliomove's kernel.
    KERNEL=$CONF_BZIMAGE KCMDLINE="console=ttyS0 panic=-1 CONF_SIZES=$sizes CONF_ITER=$iter" \
        qemu_args "$accel"
    QEMU+=(-initrd "$CONF_DIR/initramfs.cpio.gz")
    rm -f "$counters"
    local cmd=("$MODEL" launch --count "$engines" "${@:5}" --counters "$counters"
               --log "$CONF_DIR/$name.model.log" -- "${QEMU[@]}")
    echo "run-qemu.sh: $(printf '%q ' timeout "$TIMEOUT" "${cmd[@]}")" >&2
    timeout --foreground -k 10 "$TIMEOUT" "${cmd[@]}" > "$log" 2>&1
}

# conf_verdict NAME ENGINES SIZES ITER WANT_FAILURES: checks one boot's log and counters and
# prints its summary line; returns 0 when it passed.
conf_verdict() {
    python3 - "$CONF_DIR/$1.log" "$CONF_DIR/$1.counters.json" "$@" <<'PY'
import json, re, sys
log, counters, name, engines, sizes, it, want = sys.argv[1:8]
engines, it, want = int(engines), int(it), int(want)
text = open(log, errors="replace").read()
bad = []
bound = re.findall(r"^CONF function (\S+) driver=(\S+)", text, re.M)
probed = sum(d == "ptdma" for _, d in bound)
if len(bound) != engines or probed != engines:
    bad.append(f"{probed}/{engines} functions bound to ptdma ({len(bound)} seen)")
if "initialization failed" in text:
    bad.append("ptdma probe failed")
runs, size, tests, fails = {}, None, 0, 0
for line in text.splitlines():
    m = re.search(r"CONF dmatest size=(\d+) iterations=\d+ start", line)
    if m:
        size = m.group(1)
    m = re.search(r"dmatest: (\S+): summary (\d+) tests, (\d+) failures", line)
    if m and size:
        runs.setdefault(size, []).append((m.group(1), int(m.group(2)), int(m.group(3))))
for s in sizes.split(","):
    got = runs.get(s, [])
    if len(got) != engines or any(t != it for _, t, _ in got):
        bad.append(f"size {s}: {len(got)} channel summaries, want {engines} x {it} tests")
    tests += sum(t for _, t, _ in got)
    fails += sum(f for _, _, f in got)
if fails != want:
    bad.append(f"{fails} dmatest failures, want {want}")
logged = re.findall(r"PTDMA error: .*\(0x([0-9a-f]+)\)", text)
if len(logged) != want:
    bad.append(f"Linux logged {len(logged)} PTDMA errors, want {want}")
stats = {int(b, 16): int(p) for b, p in re.findall(r"^CONF stats \S+ bar2=(0x[0-9a-f]+) passthru=(\d+)", text, re.M)}
try:
    model = [json.loads(l) for l in open(counters) if l.strip()]
except OSError:
    model = []
ran = errors = 0
for f in model:
    q = f["queues"][0]
    ran += q["descriptors"] + q["errors"]
    errors += q["errors"]
    if not f["interrupts"]["msix_enabled"]:
        bad.append(f"function {f['function']}: Linux did not enable MSI-X")
    linux = stats.get(f["config"]["bar_assigned"])
    if linux != q["descriptors"] + q["errors"]:
        bad.append(f"function {f['function']}: model ran {q['descriptors']}+{q['errors']} descriptors, Linux issued {linux}")
if len(model) != engines or len(stats) != engines:
    bad.append(f"{len(model)} model counter lines, {len(stats)} Linux q/stats, want {engines}")
if errors != want:
    bad.append(f"model counted {errors} descriptor errors, want {want}")
if "CONF end" not in text:
    bad.append("no CONF end (Linux did not finish)")
print(f"conformance: {name}: {engines} engine(s), {probed} probed, dmatest {tests} tests {fails} failures, "
      f"model ran {ran} descriptors ({errors} failed) = Linux pass-through {sum(stats.values())}"
      f" ... {'ok' if not bad else 'FAILED: ' + '; '.join(bad)}")
sys.exit(1 if bad else 0)
PY
}

# cmd_conformance: the three boots; "conformance: N passed, N failed".
cmd_conformance() {
    ensure_qemu
    command -v python3 >/dev/null || apt_install python3
    local t0=$SECONDS
    local tb=$SECONDS
    conf_build_linux || { [[ -n "${CONF_IN_CHECK:-}" ]] && check_result "conformance: Linux kernel build" 1 "see above"; return $EX_SETUP; }
    note "conformance: kernel ready after $(( SECONDS - tb )) s"
    build_model
    CONF_DIR="$OUT/conformance"
    mkdir -p "$CONF_DIR"
    conf_initramfs "$CONF_DIR/initramfs.cpio.gz" || { note "conformance: initramfs build failed"; return $EX_SETUP; }
    local sizes=4096,16384,65536,1048576 iter=${CONF_ITERATIONS:-1000} passed=0 failed=0 c
    local cases=(
        "dmatest-1-engine|1|$sizes|$iter|0"
        "dmatest-4-engines|4|$sizes|$iter|0"
        "descriptor-error|1|4096|200|1|--fault=error-at=100"
    )
    for c in "${cases[@]}"; do
        local name engines csizes citer want fault
        IFS='|' read -r name engines csizes citer want fault <<< "$c"
        conf_boot "$name" "$engines" "$csizes" "$citer" ${fault:+"$fault"}
        if conf_verdict "$name" "$engines" "$csizes" "$citer" "$want"; then
            passed=$((passed + 1))
            [[ -n "${CONF_IN_CHECK:-}" ]] && check_result "conformance $name" 0 ""
        else
            failed=$((failed + 1)); echo "  (log $CONF_DIR/$name.log)"
            [[ -n "${CONF_IN_CHECK:-}" ]] && check_result "conformance $name" 1 "see $CONF_DIR/$name.log"
        fi
    done
    note "conformance: took $(( SECONDS - t0 )) s (kernel in $(dirname "$CONF_BZIMAGE"))"
    echo "conformance: $passed passed, $failed failed"
    (( failed == 0 )) && return $EX_OK || return $EX_TEST
}
