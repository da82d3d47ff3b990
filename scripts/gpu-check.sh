#!/bin/sh
# Everything the CUDA backend needs checked on a GPU, in one call of at most 6 minutes: unpack the
# libraries prepared by scripts/fetch-debs.sh, configure for the local GPU only, build, run the
# CUDA tests (IMP_CUDA_SYNC=1, so a failing kernel is named), a short
# imp-bench --synthetic --backend cuda with f16, q8 and q4 weights, and the rest of the test suite
# while time remains. Every
# step has a timeout; logs go to $OUT when it is set (else .deps/gpu-check); a short table is
# printed last.
#
# A GPU machine without network (Ubuntu 24.04, gcc 13, CUDA 13) may lack jansson, PCRE2, stb,
# ncurses, chafa and glib headers. Prepare on a machine with network, copy the checkout with the
# prepared folders .deps/debs and .deps/gen (about 10 MB; not .deps/root, which this script makes
# there), and run this script there:
#     scripts/fetch-debs.sh                  (with network)
#     scripts/gpu-check.sh                   (on the GPU machine, allow about 7 minutes)
#
# Options: --arch LIST   CUDA architectures for configure (default: native, the local GPU only)
#          --build-only  stop after the build (to try the script on a machine without a GPU)
#          --emulated    the same steps on a machine without a GPU, against the CPU harness
#                        (tests/cudaemu): the system's libraries, configure
#                        --enable-cuda-emulation=yes, arch 80 unless --arch; no benchmark and no
#                        full test suite (both would only time the CPU); allow about 10 minutes
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

arch=native
build_only=0
unpack_only=0
emulated=0
while [ $# -gt 0 ]; do
    case "$1" in
    --arch) arch=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --emulated) emulated=1; shift ;;
    --unpack-only) unpack_only=1; shift ;; # the first step, run under its timeout
    *) echo "usage: scripts/gpu-check.sh [--arch LIST] [--build-only] [--emulated]" >&2; exit 2 ;;
    esac
done

start=$(date +%s)
budget=340 # seconds for all steps: the call's limit is 6 minutes
if [ "$emulated" -eq 1 ]; then
    budget=900 # the harness runs the kernels on the CPU
    [ "$arch" = native ] && arch=80 # no GPU to ask
fi
log=${OUT:-$top/.deps/gpu-check}
mkdir -p "$log"
table="$log/table.txt"
: >"$table"
jobs=$(nproc 2>/dev/null || echo 4)

# step NAME LIMIT COMMAND...: run with a timeout (cut to the time left), log to $log/NAME.log
step() {
    name=$1 limit=$2
    shift 2
    left=$((budget - ($(date +%s) - start)))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 10 ]; then
        printf '%-14s %-8s %5s  %s\n' "$name" "skipped" "-" "no time left" >>"$table"
        return 124
    fi
    t0=$(date +%s)
    timeout "$limit" "$@" >"$log/$name.log" 2>&1
    rc=$?
    status=ok
    [ "$rc" -ne 0 ] && status="rc=$rc"
    [ "$rc" -eq 124 ] && status="timeout"
    printf '%-14s %-8s %5s  %s\n' "$name" "$status" "$(($(date +%s) - t0))" "${note:-}" >>"$table"
    note=
    return "$rc"
}

finish() {
    echo
    echo "== gpu-check: FAIL lines of the tests (first 40; logs in $log)"
    grep -h "^FAIL" "$log"/*.log tests/*.log 2>/dev/null | head -40
    echo "== gpu-check on $(nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'), arch $arch"
    printf '%-14s %-8s %5s  %s\n' step status sec note
    cat "$table"
    [ -n "${bench_line:-}" ] && echo "$bench_line"
    echo "total $(($(date +%s) - start)) s"
    exit "$1"
}

# --- the libraries: unpack, repoint absolute symlinks, search only there
root=$top/.deps/root
unpack() {
    ls .deps/debs/*.deb >/dev/null || return 1
    rm -rf "$root" && mkdir -p "$root" || return 1
    for deb in .deps/debs/*.deb; do
        dpkg-deb -x "$deb" "$root" || return 1
    done
    # -dev packages link some .so names to /lib/...: point them into the unpacked tree
    find "$root" -type l | while read -r link; do
        target=$(readlink "$link")
        case "$target" in
        /*) [ -e "$root$target" ] && ln -sfn "$root$target" "$link" ;;
        esac
    done
    # pkg-config and make from the packages when the machine has none
    mkdir -p "$root/bin"
    if ! command -v pkg-config >/dev/null; then
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' \
            "$root/usr/lib/x86_64-linux-gnu" "$root/usr/bin/pkgconf" >"$root/bin/pkg-config"
        chmod +x "$root/bin/pkg-config"
    fi
    command -v make >/dev/null || ln -sf "$root/usr/bin/make" "$root/bin/make"
    # the generated build system, unless the sources changed since it was made
    if [ -f .deps/gen/buildsys.tar.gz ] && sha256sum -c --status .deps/gen/stamp 2>/dev/null; then
        tar -xzf .deps/gen/buildsys.tar.gz || return 1
        # newer than its sources (copied just now), so make never asks for autotools
        touch aclocal.m4 configure config.h.in Makefile.in
    elif command -v autoreconf >/dev/null; then
        autoreconf -fi
    else
        echo "no autoreconf and .deps/gen is stale: run scripts/fetch-debs.sh again" >&2
        return 1
    fi
}
libdirs="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
PATH="$root/bin:$PATH"
PKG_CONFIG_LIBDIR="$root/usr/lib/x86_64-linux-gnu/pkgconfig:$root/usr/share/pkgconfig"
PKG_CONFIG_PATH=$PKG_CONFIG_LIBDIR
PKG_CONFIG_SYSROOT_DIR=$root
export PATH PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
if [ "$unpack_only" -eq 1 ]; then
    unpack
    exit
fi

if [ "$emulated" -eq 1 ]; then
    unset PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR # the system's libraries
    step autoreconf 120 autoreconf -fi || finish 1
    step configure 120 ./configure --with-cuda --with-cuda-arch="$arch" \
        --enable-cuda-emulation=yes || finish 1
    step build 400 make -j"$jobs" all || finish 1
    step build-tests 240 make -j"$jobs" tests/test_cuda tests/imp-chat-cudaemu \
        tests/cudaemu_bugs tests/tool_compare || finish 1
    [ "$build_only" -eq 1 ] && finish 0
    failed=0
    step cuda-tests 400 make -j2 check \
        TESTS="tests/test_cuda tests/test_cuda.sh tests/test_cudaemu.sh" || failed=1
    cp tests/test_cuda.log tests/test_cuda.sh.log tests/test_cudaemu.sh.log test-suite.log \
        "$log/" 2>/dev/null
    grep -E "^# (TOTAL|PASS|SKIP|FAIL|ERROR)" test-suite.log 2>/dev/null | tr '\n' ' ' >>"$table"
    echo >>"$table"
    arch="$arch, emulated on the CPU (tests/cudaemu)"
    finish "$failed"
fi

step unpack 60 "$top/scripts/gpu-check.sh" --unpack-only || finish 1
# the rpath lets the programs find the unpacked libraries without LD_LIBRARY_PATH too
step configure 120 ./configure --with-cuda --with-cuda-arch="$arch" --without-openblas \
    CPPFLAGS="-I$root/usr/include" \
    LDFLAGS="-L$root/usr/lib/x86_64-linux-gnu -L$root/lib/x86_64-linux-gnu -Wl,-rpath-link,$libdirs -Wl,-rpath,$libdirs" ||
    finish 1
step build 240 make -j"$jobs" all || finish 1
step build-tests 120 make -j"$jobs" -C "$top" tests/test_cuda tests/test_sampler tests/tool_compare ||
    finish 1
[ "$build_only" -eq 1 ] && finish 0

LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
nvidia-smi >"$log/nvidia-smi.log" 2>&1

failed=0
step cuda-tests 150 env IMP_CUDA_SYNC=1 make -j2 check TESTS="tests/test_cuda tests/test_cuda.sh" ||
    failed=1
cp tests/test_cuda.log tests/test_cuda.sh.log test-suite.log "$log/" 2>/dev/null

note="synthetic weights at the real size"
step bench 120 ./imp-bench --synthetic --backend cuda --decode-positions 100,1500 \
    --decode-tokens 8 || failed=1
# q8 and q4: the language model's prefill and decode (the vision tower is q8 in both)
for mode in q8 q4; do
    note="synthetic weights, --weights $mode"
    step bench-$mode 90 ./imp-bench --synthetic --backend cuda --weights $mode --skip-vision \
        --decode-positions 100,1500 --decode-tokens 8 || failed=1
done
# field LOG BENCH KEY [N]: one number per measurement for the table
field() {
    grep "\"bench\":\"$2\"" "$log/$1.log" | sed -n "${4:-1}p" |
        sed -n "s/.*\"$3\":\([0-9.]*\).*/\1/p"
}
bench_line="bench f16: vision $(field bench vision ms) ms, \
prefill 777 $(field bench prefill ms) ms, \
follow-up 20 $(field bench followup_first_token ms) ms, \
decode@100 $(field bench decode tokens_per_s 1) tok/s, \
decode@1500 $(field bench decode tokens_per_s 2) tok/s"
for mode in q8 q4; do
    bench_line="$bench_line
bench $mode: prefill 777 $(field bench-$mode prefill ms) ms, \
follow-up 20 $(field bench-$mode followup_first_token ms) ms, \
decode@100 $(field bench-$mode decode tokens_per_s 1) tok/s, \
decode@1500 $(field bench-$mode decode tokens_per_s 2) tok/s"
done

step check-all 150 make -j"$jobs" check || failed=1
cp test-suite.log "$log/check-all-suite.log" 2>/dev/null
grep -E "^# (TOTAL|PASS|SKIP|FAIL|ERROR)" test-suite.log 2>/dev/null | tr '\n' ' ' >>"$table"
echo >>"$table"
finish "$failed"
