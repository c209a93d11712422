# tools/qemu.sh — which QEMU the runner uses, what it can do, and `get-qemu`.
# Sourced by tools/runner.sh (uses its note/exit codes and apt_install).
#
# The binary: `--qemu PATH`, else $FOLIOMOVE_QEMU, else `qemu-system-x86_64` from PATH
# (Debian's package, installed when missing). Before the first boot the runner asks the
# binary for its version and for the devices and backends a boot needs, and refuses with
# the list of what is missing.
#
# `./run-qemu.sh get-qemu 10` puts QEMU 10.0 from Debian's bookworm-backports into
# "${XDG_CACHE_HOME:-$HOME/.cache}/foliomove/qemu-10.0/" without touching the system QEMU:
# a private apt configuration (the system's Debian mirror plus its backports suite, own
# lists and cache) downloads the packages, `dpkg-deb -x` unpacks them, and a wrapper
# `bin/qemu-system-x86_64` there sets the library, module and firmware paths.

QEMU_BIN=${QEMU_BIN:-}
QEMU_VERSION=""     # e.g. 10.0.2, set by qemu_probe
QEMU_PROBED=""      # the binary qemu_probe last accepted
QEMU_FW_ARGS=()     # firmware override for this QEMU and CPU model (qemu_check_shape)

foliomove_cache() { echo "${XDG_CACHE_HOME:-$HOME/.cache}/foliomove"; }

# The wrapper get-qemu installs for VERSION (10 -> .../qemu-10.0/bin/qemu-system-x86_64).
cached_qemu() { echo "$(foliomove_cache)/qemu-$1.0/bin/qemu-system-x86_64"; }

# qemu_select: settles QEMU_BIN (option, environment, default) without probing it.
qemu_select() {
    [[ -n "$QEMU_BIN" ]] || QEMU_BIN=${FOLIOMOVE_QEMU:-}
    [[ -n "$QEMU_BIN" ]] || QEMU_BIN=qemu-system-x86_64
}

# qemu_probe: exits with EX_SETUP, naming what is missing, unless QEMU_BIN runs, is 7.2 or
# newer and has isa-debug-exit, x-pci-proxy-dev (only when engines are attached) and
# memory-backend-memfd. Each device is asked for alone (`-device NAME,help`), which needs
# no machine and loads no unrelated modules.
qemu_probe() {
    local need_proxy=$1
    [[ "$QEMU_PROBED" == "$QEMU_BIN:$need_proxy" ]] && return 0
    local out
    if ! out=$("$QEMU_BIN" --version 2>&1); then
        note "QEMU '$QEMU_BIN' does not run: ${out%%$'\n'*}"
        exit $EX_SETUP
    fi
    QEMU_VERSION=$(sed -nE '1s/^QEMU emulator version ([0-9]+\.[0-9]+(\.[0-9]+)?).*/\1/p' <<< "$out")
    if [[ -z "$QEMU_VERSION" ]]; then
        note "'$QEMU_BIN --version' does not name a QEMU version: ${out%%$'\n'*}"
        exit $EX_SETUP
    fi
    local major=${QEMU_VERSION%%.*} minor=${QEMU_VERSION#*.}
    minor=${minor%%.*}
    if (( major < 7 || (major == 7 && minor < 2) )); then
        note "QEMU $QEMU_VERSION ($QEMU_BIN) is too old: foliomove needs 7.2 or newer ('./run-qemu.sh get-qemu 10' fetches 10.0)"
        exit $EX_SETUP
    fi
    local missing=() d
    local devices=(isa-debug-exit)
    (( need_proxy )) && devices+=(x-pci-proxy-dev)
    for d in "${devices[@]}"; do
        "$QEMU_BIN" -machine none -device "$d,help" >/dev/null 2>&1 || missing+=("device $d")
    done
    "$QEMU_BIN" -machine none -object memory-backend-memfd,help >/dev/null 2>&1 \
        || missing+=("object memory-backend-memfd")
    if (( ${#missing[@]} )); then
        local IFS=', '
        note "QEMU $QEMU_VERSION ($QEMU_BIN) lacks: ${missing[*]}"
        [[ " ${missing[*]} " == *x-pci-proxy-dev* ]] \
            && note "x-pci-proxy-dev needs a QEMU built with multiprocess support (Debian's is); or boot with --ptdma 0"
        exit $EX_SETUP
    fi
    if (( need_proxy )) && [[ "$(pick_accel 2>/dev/null)" == tcg* ]] && ! proxy_survives_tcg; then
        note "QEMU $QEMU_VERSION ($QEMU_BIN): its x-pci-proxy-dev crashes under TCG (SIGSEGV while realizing:"
        note "  it registers the INTx irqfd with KVM, which TCG does not have; QEMU 7.2 skipped that)."
        note "  Emulated PTDMA engines need QEMU 7.2 under TCG, or KVM with this QEMU; boot with --ptdma 0 here."
        exit $EX_SETUP
    fi
    QEMU_PROBED="$QEMU_BIN:$need_proxy"
    note "QEMU $QEMU_VERSION ($QEMU_BIN)"
}

# proxy_survives_tcg: starts QEMU paused (-S) under TCG with one x-pci-proxy-dev served by
# tools/ptdma-model for one second. True unless QEMU dies while realizing the device
# (QEMU 10.0 does: SIGSEGV in kvm_vm_ioctl without KVM).
proxy_survives_tcg() {
    build_model
    "$MODEL" launch --count 1 --timeout 1 -- "$QEMU_BIN" -machine q35 -accel tcg -S -nodefaults \
        -display none -monitor none -serial none -m 64M \
        -object memory-backend-memfd,id=probe,size=64M,share=on -machine memory-backend=probe \
        >/dev/null 2>&1
    local rc=$?
    (( rc == 0 || rc == 143 ))
}

# The private apt configuration of get-qemu: the system's Debian mirror (the one its
# sources use for this release) with the release's backports suite added.
bpo_apt_opts() {
    local dir=$1
    echo "-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir -o Dir::Cache::archives=$dir/archives" \
         "-o Dir::Etc::SourceParts=$dir/sources.list.d -o Dir::Etc::SourceList=/dev/null -o Debug::NoLocking=1"
}

# bpo_setup DIR CODENAME: writes DIR/sources.list.d (system sources + backports) and
# refreshes the private package lists.
bpo_setup() {
    local dir=$1 codename=$2 uri f
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null \
          | awk -v c="$codename" '$2 == c { print $1; exit }')
    if [[ -z "$uri" ]]; then
        note "no Debian '$codename' source in this system's apt configuration (run 'apt-get update' first)"
        return 1
    fi
    mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/sources.list.d"
    rm -f "$dir/sources.list.d/"*
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] && cp "$f" "$dir/sources.list.d/system-$(basename "$f")"
    done
    [[ -r "$dir/sources.list.d/system-sources.list" ]] \
        && mv "$dir/sources.list.d/system-sources.list" "$dir/sources.list.d/system-main.list"
    {
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: $codename-backports"
        echo "Components: main"
        [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]] \
            && echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    } > "$dir/sources.list.d/foliomove-backports.sources"
    # shellcheck disable=SC2046
    apt-get $(bpo_apt_opts "$dir") update -qq >/dev/null 2>&1 || { note "apt-get update of $codename-backports failed"; return 1; }
}

# cmd_get_qemu VERSION: only 10 (10.0 from bookworm-backports) is offered.
cmd_get_qemu() {
    local want=$1
    [[ "$want" == 10 || "$want" == 10.0 ]] || die_usage "get-qemu offers 10 (10.0 from Debian bookworm-backports), not '$want'"
    local cache dest apt_dir codename
    cache=$(foliomove_cache)
    dest="$cache/qemu-10.0"
    apt_dir="$cache/apt-backports"
    if [[ -x "$dest/bin/qemu-system-x86_64" ]] && "$dest/bin/qemu-system-x86_64" --version 2>/dev/null | grep -q 'version 10\.0'; then
        note "QEMU 10.0 already in $dest"
        echo "$dest/bin/qemu-system-x86_64"
        return $EX_OK
    fi
    command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { note "get-qemu needs apt-get and dpkg-deb (Debian)"; return $EX_SETUP; }
    codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
    [[ "$codename" == bookworm ]] || note "this is '$codename', not Debian 12 bookworm: trying $codename-backports"
    bpo_setup "$apt_dir" "$codename" || return $EX_SETUP
    local opts
    opts=$(bpo_apt_opts "$apt_dir")
    # What installing QEMU 10 here would bring in (relative to what is installed): the
    # QEMU packages, SeaBIOS, and the shared libraries that are missing or older.
    local sim spec=() p v
    # shellcheck disable=SC2086
    sim=$(apt-get $opts install -s --no-install-recommends -t "$codename-backports" qemu-system-x86 2>&1) \
        || { note "apt cannot resolve qemu-system-x86 from $codename-backports: $(tail -1 <<< "$sim")"; return $EX_SETUP; }
    # "Inst NAME [OLD] (NEW origin...)": take exactly the version the resolver chose.
    while read -r p v; do
        case "$p" in qemu-system-x86|qemu-system-common|qemu-system-data|seabios|lib*) spec+=("$p=$v") ;; esac
    done < <(sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*/\1 \3/p' <<< "$sim")
    for p in qemu-system-x86 qemu-system-common qemu-system-data seabios; do
        [[ " ${spec[*]}" == *" $p="* ]] || spec+=("$p/$codename-backports")
    done
    local debs="$apt_dir/debs" stage="$dest.partial"
    rm -rf "$debs" "$stage"
    mkdir -p "$debs" "$stage/root" "$stage/bin"
    note "downloading ${spec[*]}"
    # shellcheck disable=SC2086
    (cd "$debs" && apt-get $opts download -qq "${spec[@]}" >/dev/null 2>"$apt_dir/download.err") \
        || { note "apt-get download failed: $(tail -2 "$apt_dir/download.err")"; return $EX_SETUP; }
    local deb
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$stage/root" || { note "could not unpack $deb"; return $EX_SETUP; }
    done
    write_qemu_wrapper "$stage" "$dest"
    local libs
    libs=$(LD_LIBRARY_PATH="$stage/root/usr/lib/x86_64-linux-gnu:$stage/root/lib/x86_64-linux-gnu" \
           ldd "$stage/root/usr/bin/qemu-system-x86_64" | grep 'not found')
    if [[ -n "$libs" ]]; then
        note "QEMU 10.0 still lacks shared libraries:"; echo "$libs" >&2
        return $EX_SETUP
    fi
    rm -rf "$dest"
    mv "$stage" "$dest"
    local v
    v=$("$dest/bin/qemu-system-x86_64" --version | head -1) || { note "the unpacked QEMU does not run"; return $EX_SETUP; }
    note "$v in $dest (use --qemu $dest/bin/qemu-system-x86_64 or FOLIOMOVE_QEMU)"
    echo "$dest/bin/qemu-system-x86_64"
}

# write_qemu_wrapper STAGE DEST: STAGE/bin/qemu-system-x86_64 runs DEST's unpacked binary
# with its own libraries, its own modules only (the system QEMU's modules are of another
# build and abort it), its firmware (-L), and no audio backend (probing one would load
# the system's audio modules).
write_qemu_wrapper() {
    local stage=$1 dest=$2
    cat > "$stage/bin/qemu-system-x86_64" <<EOF
#!/bin/sh
# QEMU 10.0 unpacked by foliomove's run-qemu.sh get-qemu (not installed system-wide).
R="$dest/root"
export LD_LIBRARY_PATH="\$R/usr/lib/x86_64-linux-gnu:\$R/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export QEMU_MODULE_DIR="\$R/usr/lib/x86_64-linux-gnu/qemu"
for a in "\$@"; do
    case "\$a" in --version|-version|-h|--help) exec "\$R/usr/bin/qemu-system-x86_64" "\$@" ;; esac
done
exec "\$R/usr/bin/qemu-system-x86_64" -L "\$R/usr/share/qemu" -L "\$R/usr/share/seabios" -audio none "\$@"
EOF
    chmod +x "$stage/bin/qemu-system-x86_64"
}

# ensure_qemu10: the cached QEMU 10.0, fetched when missing; prints its path.
ensure_qemu10() {
    local q
    q=$(cached_qemu 10)
    if [[ -x "$q" ]]; then echo "$q"; return 0; fi
    cmd_get_qemu 10 | tail -1
    [[ -x "$q" ]]
}

# shape_max_apic_id: the highest APIC ID QEMU gives the current shape (each level takes
# ceil(log2(count)) bits: threads, cores, dies, then sockets), or CPUS-1 without a shape.
shape_max_apic_id() {
    bits() { local n=$1 b=0; while (( (1 << b) < n )); do b=$(( b + 1 )); done; echo $b; }
    if [[ -z "${SHAPE:-}" ]]; then echo $(( CPUS - 1 )); return; fi
    local tb cb db
    tb=$(bits "$THREADS"); cb=$(bits "$CORES"); db=$(bits "$DIES")
    echo $(( ((SOCKETS - 1) << (tb + cb + db)) | ((DIES - 1) << (tb + cb)) | ((CORES - 1) << tb) | (THREADS - 1) ))
}

# qemu_check_shape: APIC IDs above 254 need x2APIC; QEMU's TCG has it from 9.0 on.
# Also sets QEMU_FW_ARGS: QEMU 10.0 aborts (assertion in encode_topo_cpuid1f) when
# SeaBIOS 1.16.3 runs CPUID 0x1F on an AMD model with level=0x1f, so such -kernel boots
# use QEMU's qboot firmware instead (it loads the kernel and ACPI tables the same way).
qemu_check_shape() {
    QEMU_FW_ARGS=()
    if [[ "$CPU_MODEL" == *level=0x1f* ]] && (( ${QEMU_VERSION%%.*} >= 10 && ! ISO )); then
        QEMU_FW_ARGS=(-bios qboot.rom)
    fi
    local max
    max=$(shape_max_apic_id)
    (( max > 254 )) || return 0
    [[ "$(pick_accel 2>/dev/null)" == tcg* ]] || return 0
    local major=${QEMU_VERSION%%.*}
    if (( major < 9 )); then
        note "this shape has APIC IDs up to $max: above 254 they need x2APIC, which QEMU's TCG has from 9.0 on;"
        note "  QEMU $QEMU_VERSION cannot boot it. './run-qemu.sh get-qemu 10', then --qemu (or FOLIOMOVE_QEMU)."
        exit $EX_SETUP
    fi
    # Named CPU models (EPYC-*, Skylake-*) lack x2APIC in QEMU's definition; QEMU refuses
    # APIC IDs above 255 without it ("Try x2apic=on in -cpu").
    [[ "$CPU_MODEL" == *x2apic* ]] || CPU_MODEL="$CPU_MODEL,x2apic=on"
}
