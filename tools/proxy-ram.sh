# tools/proxy-ram.sh — which QEMU machine shapes leave guest RAM reachable by the emulated
# PTDMA engines. Sourced by tools/runner.sh (uses its NODES, MEM_PER_NODE, PTDMA and die_usage).
#
# QEMU's device proxy (x-pci-proxy-dev) gives the device model guest RAM in SYNC_SYSMEM
# messages with one fd per RAM section, at most REMOTE_MAX_FDS = 8; with more sections it
# sends nothing ("Number of fds is more than 8", hw/remote/proxy-memory-listener.c), so the
# engines see no guest RAM and every descriptor fails. Each NUMA node is its own
# memory-backend-memfd, so at least one section. q35 splits RAM at the below-4G boundary
# (hw/i386/pc_q35.c, the same in QEMU 7.2 and 10.x): 2 GiB below 4 GiB when the total is
# >= 0xB0000000 (2816 MiB), else all of it below (no split); a node across that boundary is
# two sections. Booted with the model at --log-level=debug: 8 x 256 and 8 x 512 MiB get 8
# sections, 7 x 448 gets 8 (node 4 twice), 8 x 384 gets 9 and the model no RAM at all.
# (While SeaBIOS runs, node 0 is briefly split around the legacy VGA hole too; QEMU drops
# those messages and sends the final table, so that does not count.)
PROXY_MAX_SECTIONS=8 Q35_SPLIT_FROM_MIB=2816 Q35_LOWMEM_MIB=2048

# ram_sections NODES MIB: prints "SECTIONS STRADDLE LOWMEM" for NODES nodes of MIB MiB each on
# q35: RAM sections QEMU's proxy has to share, the node that straddles the below-4G boundary
# (-1 for none), and the MiB of RAM below 4 GiB.
ram_sections() {
    local nodes=$1 mib=$2 total=$(( $1 * $2 )) lowmem straddle=-1
    lowmem=$total
    (( total >= Q35_SPLIT_FROM_MIB )) && lowmem=$Q35_LOWMEM_MIB
    (( lowmem < total && lowmem % mib != 0 )) && straddle=$(( lowmem / mib ))
    echo "$(( nodes + (straddle >= 0 ? 1 : 0) )) $straddle $lowmem"
}

# check_proxy_ram: with PTDMA engines, refuses (exit 2, before building or booting) a shape
# whose guest RAM is more sections than the proxy shares, naming the node that straddles
# the split and shapes that work.
check_proxy_ram() {
    (( PTDMA > 0 )) || return 0
    local sections straddle lowmem total=$(( NODES * MEM_PER_NODE ))
    read -r sections straddle lowmem <<< "$(ram_sections "$NODES" "$MEM_PER_NODE")"
    (( sections <= PROXY_MAX_SECTIONS )) && return 0
    local why="$NODES nodes are $NODES RAM sections"
    if (( straddle >= 0 )); then
        why="q35 maps $lowmem of the $total MiB below the 4 GiB hole and the rest above it, so"
        why+=" node $straddle ($(( straddle * MEM_PER_NODE ))-$(( (straddle + 1) * MEM_PER_NODE )) MiB)"
        why+=" straddles the hole and is 2 RAM sections: $sections sections in all"
    fi
    local alts=() m n s st lm
    # The nearest multiples of 64 MiB per node below and above that fit, then fewer nodes.
    for (( m = (MEM_PER_NODE - 1) / 64 * 64; m >= 64; m -= 64 )); do
        read -r s st lm <<< "$(ram_sections "$NODES" "$m")"
        if (( s <= PROXY_MAX_SECTIONS )); then alts+=("--mem-per-node $m ($(ram_fit_reason "$NODES" "$m"))"); break; fi
    done
    for (( m = MEM_PER_NODE / 64 * 64 + 64; m <= 16384; m += 64 )); do
        read -r s st lm <<< "$(ram_sections "$NODES" "$m")"
        if (( s <= PROXY_MAX_SECTIONS )); then alts+=("--mem-per-node $m ($(ram_fit_reason "$NODES" "$m"))"); break; fi
    done
    for (( n = NODES - 1; n >= 1; n-- )); do
        read -r s st lm <<< "$(ram_sections "$n" "$MEM_PER_NODE")"
        if (( s <= PROXY_MAX_SECTIONS )); then alts+=("--nodes $n ($(ram_fit_reason "$n" "$MEM_PER_NODE"))"); break; fi
    done
    alts+=("--ptdma 0 (CPU engines only)")
    local IFS=';'
    die_usage "$NODES NUMA nodes x $MEM_PER_NODE MiB cannot work with PTDMA engines: $why, but QEMU's device proxy (x-pci-proxy-dev) shares at most $PROXY_MAX_SECTIONS RAM sections with the device model and none when there are more, so every DMA would fail and the CPU would copy everything. Shapes that work:${alts[*]/#/ }"
}

# ram_fit_reason NODES MIB: why that shape fits, in words.
ram_fit_reason() {
    local s st lm
    read -r s st lm <<< "$(ram_sections "$1" "$2")"
    if (( lm == $1 * $2 )); then
        echo "all $(( $1 * $2 )) MiB below the 4 GiB hole, $s sections"
    elif (( st < 0 )); then
        echo "a node boundary at the hole ($lm MiB), $s sections"
    else
        echo "node $st straddles the hole, $s sections"
    fi
}
