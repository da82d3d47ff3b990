#!/bin/sh
# The CUDA-on-CPU harness (tests/cudaemu) catches what a GPU would fail on: one deliberately broken
# kernel per bug class in tests/cudaemu_bugs.cu, each reported in one line naming the kernel, the
# launch's source line, the block and the thread, with status 3; the correct kernel passes.
. "$(dirname "$0")/lib.sh"
BUGS="$TOOLDIR/cudaemu_bugs"

# caught CASE PATTERN WHAT: the case exits 3 and its report matches PATTERN
caught() {
    "$BUGS" "$1" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    [ "$rc" -eq 3 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -qE "$2" "$WORK/err"
    ok $? "$3: $(cat "$WORK/err")"
}

"$BUGS" good >"$WORK/out" 2>"$WORK/err"
[ $? -eq 0 ] && [ "$(cat "$WORK/out")" = 2016 ] && [ ! -s "$WORK/err" ]
ok $? "a correct kernel (shuffles, shared memory, barrier) passes with the right sum"

L=tests/cudaemu_bugs.cu
line() { grep -n "$1<<<" "$SRCDIR/$L" | head -1 | cut -d: -f1; }
caught partial-barrier \
    "kernel partial_barrier launched at .*$L:$(line partial_barrier), block \(0,0,0\), thread \([0-9]+,0,0\): __syncthreads reached by only part of the block \(32 of 64 threads\): thread \(32,0,0\) exited" \
    "a barrier reached by part of the block"
caught shuffle-exited \
    "kernel shuffle_exited launched at .*$L:$(line shuffle_exited), block \(0,0,0\), thread \(0,0,0\): __shfl_xor_sync with mask 0xffffffff waits for lane 16 \(thread \(16,0,0\)\), which has exited" \
    "a shuffle waiting on an exited lane"
caught shuffle-mask \
    "kernel shuffle_outside_mask launched at .*$L:$(line shuffle_outside_mask), block \(0,0,0\), thread \(0,0,0\): __shfl_xor_sync with mask 0x0000ffff reads lane 16, which is not in the mask" \
    "a shuffle reading a lane outside its mask"
caught read-oob \
    "kernel read_past_end launched at .*$L:$(line read_past_end), block \(0,0,0\), thread \(7,0,0\): out-of-bounds access at 0x[0-9a-f]+, 0 bytes past the end of a 256-byte device allocation" \
    "a read past the end of device memory"
caught write-oob \
    "kernel write_past_end launched at .*$L:$(line write_past_end), block \(0,0,0\), thread \(9,0,0\): out-of-bounds access at 0x[0-9a-f]+, 0 bytes past the end of a 256-byte device allocation" \
    "a write past the end of device memory"
caught host-pointer \
    "kernel good_sum launched at .*$L:$(grep -n 'good_sum<<<1, N>>>(out, host)' "$SRCDIR/$L" | cut -d: -f1): argument 2 is 0x[0-9a-f]+, not device memory" \
    "a host pointer passed as a device pointer"
caught copy-direction \
    "host code: cudaMemcpyHostToDevice of 256 bytes: the destination 0x[0-9a-f]+ is not device memory \(a host pointer, or the wrong direction\)" \
    "a copy in the wrong direction"

# a read of shared memory another warp wrote without a barrier: the result depends on the order
# the warps run in, so the two orders the harness offers disagree
CUDAEMU_ORDER=forward "$BUGS" shared-race >"$WORK/fwd" 2>&1
CUDAEMU_ORDER=reverse "$BUGS" shared-race >"$WORK/rev" 2>&1
[ "$(cat "$WORK/fwd")" = 5 ] && ! cmp -s "$WORK/fwd" "$WORK/rev"
ok $? "a shared-memory race between warps changes the result with the warp order ($(cat "$WORK/fwd") vs $(cat "$WORK/rev"))"
CUDAEMU_ORDER=reverse "$BUGS" good >"$WORK/rev" 2>&1
[ "$(cat "$WORK/rev")" = 2016 ]; ok $? "the correct kernel gives the same sum in the reverse order"
# CUDAEMU_RACECHECK=1 runs every block in both orders from the same memory and reports a difference
CUDAEMU_RACECHECK=1 caught shared-race \
    "kernel shared_race launched at .*$L:$(line shared_race): block \(0,0,0\) leaves different results when the last warp runs ahead of the first \(byte 0 of a 256-byte device allocation\)" \
    "a shared-memory race between warps, found by the race check"
CUDAEMU_RACECHECK=1 "$BUGS" good >"$WORK/out" 2>"$WORK/err"
[ $? -eq 0 ] && [ "$(cat "$WORK/out")" = 2016 ] && [ ! -s "$WORK/err" ]
ok $? "the correct kernel passes the race check"
finish
