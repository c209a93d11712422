# tools/shapes.sh — NUMA distances for the runner's machine shapes (issue 20). Sourced by
# run-qemu.sh; only builds QEMU arguments, the shape checks stay in run-qemu.sh.

# numa_dist_args: `-numa dist,...` for every pair of nodes when --numa-dist asks for a
# SLIT (QEMU builds none without them):
#   line  d(i,j) = 10 + 10*|i-j| (nodes in a chain, like sockets with CXL memory behind
#         them: the first and last node are the farthest pair)
#   none  no SLIT (the kernel assumes 10 local / 20 remote)
numa_dist_args() {
    [[ "${NUMA_DIST:-none}" == line ]] || return 0
    local i j d
    for (( i = 0; i < NODES; i++ )); do
        for (( j = i + 1; j < NODES; j++ )); do
            d=$(( 10 + 10 * (j - i) ))
            (( d > 254 )) && d=254
            echo "-numa dist,src=$i,dst=$j,val=$d"
        done
    done
}
