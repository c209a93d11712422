# tools/kvmguest.sh — a KVM guest on a real server (issue 20): `--accel kvm --host-nodes
# A,B,... [--hugepages] [--vfio BDF,...]`. Sourced by tools/runner.sh. tools/kvm-guest checks
# the host (sysfs) and gives the QEMU arguments and the vCPU pinning; this file applies
# them: -accel kvm -cpu host, each node's memfd bound to its host node, vfio-pci devices,
# and after QEMU starts, each vCPU thread (from QMP query-cpus-fast) pinned to its host
# CPU. FOLIOMOVE_HOST_ROOT reads a fixture tree instead of / (for tests).

KVM_ARGS=() KVM_PINS=() KVM_SUMMARY="" KVM_BINDING=""   # set by kvm_guest_plan

# kvm_guest_plan: fills KVM_ARGS/KVM_PINS/KVM_SUMMARY, or exits (usage or setup error).
kvm_guest_plan() {
    [[ -n "$HOST_NODES$VFIO" ]] || { (( HUGEPAGES )) && die_usage "--hugepages needs --host-nodes"; return 0; }
    [[ "$ACCEL" == kvm ]] || die_usage "--host-nodes and --vfio need --accel kvm"
    [[ -n "$HOST_NODES" ]] || HOST_NODES=$(seq -s, 0 $(( NODES - 1 )))
    local n
    IFS=, read -ra n <<< "$HOST_NODES"
    (( ${#n[@]} == NODES )) || die_usage "--host-nodes names ${#n[@]} host node(s) for $NODES guest node(s)"
    (cd "$ROOT" && cargo build -q --release -p kvm-guest) || { note "tools/kvm-guest build failed"; exit $EX_SETUP; }
    local args=(plan --cpus "$CPUS" --mem-per-node "$MEM_PER_NODE" --host-nodes "$HOST_NODES")
    (( HUGEPAGES )) && args+=(--hugepages)
    [[ -n "$VFIO" ]] && args+=(--vfio "$VFIO")
    [[ -n "${FOLIOMOVE_HOST_ROOT:-}" ]] && args+=(--host-root "$FOLIOMOVE_HOST_ROOT")
    local out line
    if ! out=$("$ROOT/target/release/kvm-guest" "${args[@]}"); then
        note "this host cannot run the requested KVM guest (see above)"
        exit $EX_SETUP
    fi
    while IFS= read -r line; do
        case "$line" in
            "arg "*) KVM_ARGS+=("${line#arg }") ;;
            "pin "*) KVM_PINS+=("${line#pin }") ;;
            "summary "*) KVM_SUMMARY=${line#summary } ;;
        esac
    done <<< "$out"
    note "$KVM_SUMMARY"
    # For the kernel's results: kvm:G-H/...:ENGINES[:huge] (kcore::hostbind).
    local g pairs=() engines=0
    for (( g = 0; g < NODES; g++ )); do pairs+=("$g-${n[g]}"); done
    [[ -n "$VFIO" ]] && engines=$(tr ',' '\n' <<< "$VFIO" | grep -c .)
    KVM_BINDING="kvm:$(IFS=/; echo "${pairs[*]}"):$engines"
    (( HUGEPAGES )) && KVM_BINDING+=":huge"
}

# kvm_rewrite_args: applies KVM_ARGS to QEMU[] (built for TCG by qemu_args): accelerator
# and CPU model, the node memory backends m<N>, the vfio-pci devices, a QMP socket for
# the pinning.
kvm_rewrite_args() {
    (( ${#KVM_ARGS[@]} )) || return 0
    local i j a id
    for (( i = 0; i < ${#KVM_ARGS[@]}; i += 2 )); do
        a=${KVM_ARGS[i]}
        case "$a" in
            -accel|-cpu)
                for j in "${!QEMU[@]}"; do [[ ${QEMU[$j]} == "$a" ]] && QEMU[j+1]=${KVM_ARGS[i+1]}; done ;;
            -object)
                id=$(sed -nE 's/.*[,]id=(m[0-9]+),.*/\1/p' <<< "${KVM_ARGS[i+1]}")
                for j in "${!QEMU[@]}"; do
                    [[ ${QEMU[$j]} == memory-backend-memfd,id=$id,* ]] && QEMU[j]=${KVM_ARGS[i+1]}
                done ;;
            *) QEMU+=("$a" "${KVM_ARGS[i+1]}") ;;
        esac
    done
    QEMU+=(-qmp "unix:$OUT/qmp.sock,server=on,wait=off")
}

# kvm_pin_vcpus: in the background, once QEMU's QMP socket answers, pins each vCPU thread
# to its host CPU (query-cpus-fast gives the thread IDs). In --dry-run, prints the plan.
kvm_pin_vcpus() {
    (( ${#KVM_PINS[@]} )) || return 0
    if (( DRY_RUN )); then
        local p
        for p in "${KVM_PINS[@]}"; do echo "run-qemu.sh: would pin vCPU ${p% *} to host CPU ${p#* }" >&2; done
        return 0
    fi
    python3 - "$OUT/qmp.sock" "${KVM_PINS[@]}" <<'PY' >&2 &
import json, os, socket, sys, time
path, pins = sys.argv[1], dict(tuple(map(int, p.split())) for p in sys.argv[2:])
for _ in range(300):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("run-qemu.sh: no QMP socket: vCPUs not pinned")
f = s.makefile("rw")
def cmd(c):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
f.readline(); cmd("qmp_capabilities")
for cpu in cmd("query-cpus-fast").get("return", []):
    v, tid = cpu["cpu-index"], cpu["thread-id"]
    if v in pins:
        os.sched_setaffinity(tid, {pins[v]})
        print(f"run-qemu.sh: pinned vCPU {v} (thread {tid}) to host CPU {pins[v]}")
PY
}
