// The harness's runtime: fibers that run the CUDA threads of a block, device memory with guard
// pages, the CUDA runtime and cuBLAS calls the backend makes, and the reports of what a GPU would
// have failed on. Everything runs on the calling OS thread; streams are synchronous.
#include <cblas.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "cudaemu.h"

cudaemu_thread *cudaemu_cur;
uint3 cudaemu_block_idx;
dim3 cudaemu_block_dim, cudaemu_grid_dim;
unsigned long cudaemu_block_epoch;

// ---- reports

static const cudaemu_launch_info *cur_launch; // the kernel running, NULL on the host

static void
where(char *buf, size_t size)
{
    if (cur_launch == NULL) {
        snprintf(buf, size, "host code");
        return;
    }
    const cudaemu_launch_info *L = cur_launch;
    if (cudaemu_cur != NULL)
        snprintf(buf, size, "kernel %s launched at %s:%d, block (%u,%u,%u), thread (%u,%u,%u)",
                 L->kernel, L->file, L->line, blockIdx.x, blockIdx.y, blockIdx.z,
                 cudaemu_cur->thread_idx.x, cudaemu_cur->thread_idx.y, cudaemu_cur->thread_idx.z);
    else
        snprintf(buf, size, "kernel %s launched at %s:%d", L->kernel, L->file, L->line);
}

// A bug a GPU would show: one line naming it and where, then exit status 3.
static void __attribute__((noreturn, format(printf, 1, 2)))
report(const char *fmt, ...)
{
    char at[512], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    where(at, sizeof at);
    fprintf(stderr, "cudaemu: %s: %s\n", at, msg);
    fflush(stderr);
    _exit(3);
}

// ---- device memory: guard pages on both sides, NaN bytes on allocation

struct allocation {
    char *base;   // the mapping, guard pages included
    size_t total; // its length
    size_t size;  // what was asked for
};
static std::map<uintptr_t, allocation> allocations; // by user address
static size_t allocated_bytes;
static const size_t fake_memory = (size_t)16 << 30;

// The allocation holding [p, p + n), or NULL.
static const allocation *
find_allocation(const void *p, size_t n, uintptr_t *start)
{
    uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin())
        return NULL;
    --it;
    if (a + n > it->first + it->second.size)
        return NULL;
    *start = it->first;
    return &it->second;
}

// Is p (possibly one past the end) inside some allocation?
static bool
is_device(const void *p)
{
    uintptr_t s;
    return find_allocation(p, 0, &s) != NULL;
}

cudaError_t
cudaMalloc(void **p, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (size + 15) & ~(size_t)15; // 16-byte aligned: the end sits on the guard
    size_t span = (data + page - 1) / page * page;
    if (size > fake_memory - allocated_bytes) {
        *p = NULL;
        return cudaErrorMemoryAllocation;
    }
    char *base = (char *)mmap(NULL, span + 2 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        *p = NULL;
        return cudaErrorMemoryAllocation;
    }
    mprotect(base, page, PROT_NONE);
    mprotect(base + page + span, page, PROT_NONE);
    char *user = base + page + (span - data);
    memset(user, 0xff, data); // NaN as float and as fp16
    allocations[(uintptr_t)user] = allocation{base, span + 2 * page, size};
    allocated_bytes += size;
    *p = user;
    return cudaSuccess;
}

cudaError_t
cudaFree(void *p)
{
    if (p == NULL)
        return cudaSuccess;
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end())
        report("cudaFree(%p): not a pointer cudaMalloc returned", p);
    allocated_bytes -= it->second.size;
    munmap(it->second.base, it->second.total);
    allocations.erase(it);
    return cudaSuccess;
}

static const char *
kind_name(cudaMemcpyKind k)
{
    switch (k) {
    case cudaMemcpyHostToDevice:
        return "HostToDevice";
    case cudaMemcpyDeviceToHost:
        return "DeviceToHost";
    case cudaMemcpyDeviceToDevice:
        return "DeviceToDevice";
    case cudaMemcpyHostToHost:
        return "HostToHost";
    default:
        return "Default";
    }
}

// One side of a copy: device memory when dev, host memory otherwise, whole range inside.
static void
check_side(const void *p, size_t n, bool dev, const char *side, cudaMemcpyKind k)
{
    uintptr_t start;
    const allocation *a = find_allocation(p, n, &start);
    if (dev && a == NULL) {
        if (is_device(p))
            report("cudaMemcpy%s of %zu bytes: the %s %p runs past the end of its device "
                   "allocation",
                   kind_name(k), n, side, p);
        report("cudaMemcpy%s of %zu bytes: the %s %p is not device memory (a host pointer, or "
               "the wrong direction)",
               kind_name(k), n, side, p);
    }
    if (!dev && is_device(p))
        report("cudaMemcpy%s of %zu bytes: the %s %p is device memory (the wrong direction)",
               kind_name(k), n, side, p);
}

static cudaError_t
copy(void *dst, const void *src, size_t n, cudaMemcpyKind k)
{
    if (n == 0)
        return cudaSuccess;
    if (k != cudaMemcpyDefault) {
        check_side(dst, n, k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice,
                   "destination", k);
        check_side(src, n, k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice, "source",
                   k);
    }
    memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t
cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k)
{
    return copy(dst, src, n, k);
}

cudaError_t
cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t)
{
    return copy(dst, src, n, k);
}

cudaError_t
cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t)
{
    uintptr_t s;
    if (n > 0 && find_allocation(p, n, &s) == NULL)
        report("cudaMemset of %zu bytes at %p: not inside one device allocation", n, p);
    memset(p, v, n);
    return cudaSuccess;
}

cudaError_t
cudaMemset(void *p, int v, size_t n)
{
    return cudaMemsetAsync(p, v, n, 0);
}

cudaError_t
cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
    *free_b = fake_memory - allocated_bytes;
    *total_b = fake_memory;
    return cudaSuccess;
}

// ---- device, streams, events, errors

cudaError_t
cudaRuntimeGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t
cudaDriverGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t
cudaGetDeviceCount(int *n)
{
    *n = 1;
    return cudaSuccess;
}
cudaError_t
cudaSetDevice(int)
{
    return cudaSuccess;
}
cudaError_t
cudaGetDeviceProperties(cudaDeviceProp *prop, int)
{
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cudaemu (CUDA on the CPU)");
    prop->major = 8;
    prop->minor = 0;
    prop->totalGlobalMem = fake_memory;
    prop->multiProcessorCount = 1;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->sharedMemPerBlock = 48 << 10;
    return cudaSuccess;
}
cudaError_t
cudaFuncGetAttributes(cudaFuncAttributes *attr, const void *)
{
    memset(attr, 0, sizeof *attr);
    attr->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}
cudaError_t
cudaGetLastError(void)
{
    return cudaSuccess;
}
cudaError_t
cudaPeekAtLastError(void)
{
    return cudaSuccess;
}
cudaError_t
cudaDeviceSynchronize(void)
{
    return cudaSuccess;
}
cudaError_t
cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int)
{
    static int token;
    *s = (cudaStream_t)&token;
    return cudaSuccess;
}
cudaError_t
cudaStreamCreate(cudaStream_t *s)
{
    return cudaStreamCreateWithFlags(s, 0);
}
cudaError_t
cudaStreamDestroy(cudaStream_t)
{
    return cudaSuccess;
}
cudaError_t
cudaStreamSynchronize(cudaStream_t)
{
    return cudaSuccess;
}
const char *
cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidValue:
        return "invalid argument";
    default:
        return "unknown error";
    }
}
const char *
cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess:
        return "cudaSuccess";
    case cudaErrorMemoryAllocation:
        return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidValue:
        return "cudaErrorInvalidValue";
    default:
        return "cudaErrorUnknown";
    }
}

// ---- cuBLAS

struct cublasContext {
    int unused;
};

cublasStatus_t
cublasCreate_v2(cublasHandle_t *h)
{
    *h = new cublasContext();
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t
cublasDestroy_v2(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t
cublasSetStream_v2(cublasHandle_t, cudaStream_t)
{
    return CUBLAS_STATUS_SUCCESS;
}
const char *
cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

static float
load(const void *p, cudaDataType t, size_t i)
{
    switch (t) {
    case CUDA_R_16F:
        return __half2float(((const __half *)p)[i]);
    case CUDA_R_16BF:
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default:
        return ((const float *)p)[i];
    }
}

static size_t
type_size(cudaDataType t)
{
    return t == CUDA_R_32F ? 4 : 2;
}

// Checks that a column-major matrix of rows x cols with leading dimension ld lies in one device
// allocation.
static void
check_matrix(const char *name, const void *p, cudaDataType t, int rows, int cols, int ld)
{
    uintptr_t s;
    if (rows <= 0 || cols <= 0)
        return;
    size_t n = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * type_size(t);
    if (find_allocation(p, n, &s) == NULL)
        report("cublasGemmEx: matrix %s (%d x %d, ld %d) at %p is not inside one device "
               "allocation",
               name, rows, cols, ld, p);
}

// C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C, column-major, through sgemm in fp32.
cublasStatus_t
cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
             cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
             cublasComputeType_t, cublasGemmAlgo_t)
{
    bool a_t = ta != CUBLAS_OP_N, b_t = tb != CUBLAS_OP_N;
    if (m < 0 || n < 0 || k < 0 || lda < (a_t ? k : m) || ldb < (b_t ? n : k) || ldc < m ||
        lda < 1 || ldb < 1 || ldc < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0)
        return CUBLAS_STATUS_SUCCESS;
    check_matrix("A", A, at, a_t ? k : m, a_t ? m : k, lda);
    check_matrix("B", B, bt, b_t ? n : k, b_t ? k : n, ldb);
    check_matrix("C", C, ct, m, n, ldc);
    // dense fp32 copies of op(A) (m x k) and op(B) (k x n), column-major
    std::vector<float> a((size_t)m * k), b((size_t)k * n), c((size_t)m * n);
    for (int l = 0; l < k; l++)
        for (int i = 0; i < m; i++)
            a[(size_t)l * m + i] = load(A, at, a_t ? (size_t)i * lda + l : (size_t)l * lda + i);
    for (int j = 0; j < n; j++)
        for (int l = 0; l < k; l++)
            b[(size_t)j * k + l] = load(B, bt, b_t ? (size_t)l * ldb + j : (size_t)j * ldb + l);
    if (k > 0)
        cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), m,
                    b.data(), k, 0.0f, c.data(), m);
    float al = *(const float *)alpha, be = *(const float *)beta;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            size_t o = (size_t)j * ldc + i;
            float v = al * c[(size_t)j * m + i];
            if (be != 0.0f) // beta 0: C is not read, as in cuBLAS
                v += be * load(C, ct, o);
            if (ct == CUDA_R_32F)
                ((float *)C)[o] = v;
            else if (ct == CUDA_R_16F)
                ((__half *)C)[o] = __float2half_rn(v);
            else
                ((__nv_bfloat16 *)C)[o] = __float2bfloat16_rn(v);
        }
    return CUBLAS_STATUS_SUCCESS;
}

// ---- fibers

struct fiber {
    void *sp;
    char *stack;
    cudaemu_thread t;
    enum { READY, BARRIER, WARP, DONE } state;
    const char *waiting_in; // the warp call it waits in
};

static const size_t stack_size = 64 << 10;
static std::vector<fiber> fibers;
static void *scheduler_sp;
static fiber *running;
static void (*block_body)(void *);
static void *block_ctx;
static unsigned long progress; // counts steps forward; a round without one is a deadlock
static unsigned barrier_arrived;
static unsigned long barrier_gen;

struct warp_state {
    unsigned long gen;
    unsigned arrived, mask;
    uint64_t vals[2][32];
};
static std::vector<warp_state> warps;

extern "C" void cudaemu_switch(void **save_sp, void *to_sp);
#if defined(__x86_64__)
// Saves the callee-saved registers on the current stack, swaps stacks, restores. No syscall,
// unlike swapcontext's signal mask.
__asm__(".text\n"
        ".globl cudaemu_switch\n"
        ".type cudaemu_switch,@function\n"
        "cudaemu_switch:\n"
        "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n"
        "    pushq %r13\n    pushq %r14\n    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n    popq %r14\n    popq %r13\n"
        "    popq %r12\n    popq %rbx\n    popq %rbp\n"
        "    ret\n"
        ".size cudaemu_switch, .-cudaemu_switch\n");
#else
#error "cudaemu: the fiber switch is written for x86-64 only"
#endif

static void __attribute__((noreturn))
fiber_main(void)
{
    block_body(block_ctx);
    running->state = fiber::DONE;
    progress++;
    cudaemu_switch(&running->sp, scheduler_sp);
    __builtin_unreachable();
}

static void
yield(void)
{
    cudaemu_switch(&running->sp, scheduler_sp);
}

static std::vector<char *> stacks; // kept from launch to launch, one per thread index

static void
fiber_start(fiber *f, size_t index)
{
    if (stacks.size() <= index)
        stacks.resize(index + 1, NULL);
    f->stack = stacks[index];
    if (f->stack == NULL) {
        f->stack = stacks[index] = (char *)mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (f->stack == (char *)MAP_FAILED) {
            fprintf(stderr, "cudaemu: cannot map a fiber stack\n");
            _exit(3);
        }
        mprotect(f->stack, 4096, PROT_NONE); // overflow faults instead of corrupting
    }
    uintptr_t top = ((uintptr_t)f->stack + stack_size) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                  // fiber_main's return address: never used
    *--sp = (void *)fiber_main;    // where cudaemu_switch returns to
    for (int i = 0; i < 6; i++)    // rbp rbx r12 r13 r14 r15
        *--sp = NULL;
    f->sp = sp;
    f->state = fiber::READY;
}

static void
thread_name(char *buf, size_t size, const fiber &f)
{
    snprintf(buf, size, "thread (%u,%u,%u)", f.t.thread_idx.x, f.t.thread_idx.y,
             f.t.thread_idx.z);
}

// No fiber moved in a whole round: say who waits on whom.
static void __attribute__((noreturn))
deadlock(void)
{
    const fiber *waiter = NULL, *done = NULL, *barrier = NULL;
    for (const fiber &f : fibers) {
        if (f.state == fiber::WARP && waiter == NULL)
            waiter = &f;
        if (f.state == fiber::DONE && done == NULL)
            done = &f;
        if (f.state == fiber::BARRIER && barrier == NULL)
            barrier = &f;
    }
    char a[64], b[64];
    cudaemu_cur = NULL;
    if (waiter != NULL) {
        cudaemu_cur = const_cast<cudaemu_thread *>(&waiter->t);
        const warp_state &w = warps[waiter->t.warp];
        int missing = -1;
        for (int l = 0; l < 32; l++)
            if (((w.mask >> l) & 1u) && !((w.arrived >> l) & 1u)) {
                missing = l;
                break;
            }
        const fiber *m = missing >= 0 ? &fibers[(size_t)waiter->t.warp * 32 + missing] : NULL;
        if (m != NULL && (size_t)(m - fibers.data()) < fibers.size()) {
            thread_name(b, sizeof b, *m);
            report("%s with mask 0x%08x waits for lane %d (%s), which %s", waiter->waiting_in,
                   w.mask, missing, b,
                   m->state == fiber::DONE ? "has exited"
                   : m->state == fiber::BARRIER ? "waits at __syncthreads"
                                                : "waits in another warp call");
        }
        report("%s with mask 0x%08x waits for lane %d, which does not exist in this block",
               waiter->waiting_in, w.mask, missing);
    }
    if (barrier != NULL && done != NULL) {
        cudaemu_cur = const_cast<cudaemu_thread *>(&barrier->t);
        thread_name(a, sizeof a, *done);
        report("__syncthreads reached by only part of the block (%u of %zu threads): %s exited "
               "without reaching it",
               barrier_arrived, fibers.size(), a);
    }
    report("the block's threads wait on each other forever");
}

void
cudaemu_syncthreads(void)
{
    unsigned long gen = barrier_gen;
    progress++;
    if (++barrier_arrived == fibers.size()) {
        barrier_arrived = 0;
        barrier_gen++;
        return;
    }
    running->state = fiber::BARRIER;
    while (barrier_gen == gen)
        yield();
    running->state = fiber::READY;
}

void
cudaemu_warp_exchange(unsigned mask, uint64_t value, uint64_t out[32], const char *what)
{
    int lane = cudaemu_cur->lane;
    warp_state &w = warps[cudaemu_cur->warp];
    if (!((mask >> lane) & 1u))
        report("%s with mask 0x%08x called by lane %d, which is not in the mask", what, mask, lane);
    if (w.arrived == 0)
        w.mask = mask;
    else if (w.mask != mask)
        report("%s with mask 0x%08x while other lanes of the warp wait with mask 0x%08x", what,
               mask, w.mask);
    unsigned long gen = w.gen;
    w.vals[gen & 1][lane] = value;
    w.arrived |= 1u << lane;
    progress++;
    if (w.arrived == mask) {
        w.arrived = 0;
        w.gen++;
    } else {
        running->state = fiber::WARP;
        running->waiting_in = what;
        while (w.gen == gen)
            yield();
        running->state = fiber::READY;
    }
    memcpy(out, w.vals[gen & 1], sizeof w.vals[0]);
}

void
cudaemu_shfl_source(unsigned mask, int src, const char *what)
{
    if (src < 0 || src > 31 || !((mask >> src) & 1u))
        report("%s with mask 0x%08x reads lane %d, which is not in the mask", what, mask, src);
}

// Warp order of the scheduler: forward (warp 0 first) or, with CUDAEMU_ORDER=reverse, the last
// warp first; a result that changes with the order reads shared memory without a barrier.
static bool
reverse_order(void)
{
    static int r = -1;
    if (r < 0) {
        const char *e = getenv("CUDAEMU_ORDER");
        r = e != NULL && strcmp(e, "reverse") == 0;
    }
    return r != 0;
}

static void
run_block_in(bool rev)
{
    size_t n = fibers.size();
    for (size_t i = 0; i < n; i++)
        fiber_start(&fibers[i], i);
    for (warp_state &w : warps)
        w = warp_state{};
    barrier_arrived = 0;
    cudaemu_block_epoch++; // fresh (NaN) shared memory
    size_t nwarps = warps.size();
    for (;;) {
        unsigned long before = progress;
        size_t live = 0;
        for (size_t wi = 0; wi < nwarps; wi++) {
            size_t w = rev ? nwarps - 1 - wi : wi;
            for (size_t i = w * 32; i < n && i < w * 32 + 32; i++) {
                fiber &f = fibers[i];
                if (f.state == fiber::DONE)
                    continue;
                running = &f;
                cudaemu_cur = &f.t;
                cudaemu_switch(&scheduler_sp, f.sp);
                if (f.state != fiber::DONE)
                    live++;
            }
        }
        running = NULL;
        if (live == 0)
            break;
        if (progress == before)
            deadlock();
    }
    cudaemu_cur = NULL;
}

// CUDAEMU_RACECHECK=1: every block runs twice from the same device memory, first warp ahead then
// last warp ahead; a difference in what they leave is a read of shared (or global) memory another
// warp wrote without a barrier between. Costs a copy of all device memory per block.
static bool
race_check(void)
{
    static int r = -1;
    if (r < 0) {
        const char *e = getenv("CUDAEMU_RACECHECK");
        r = e != NULL && *e != '\0' && strcmp(e, "0") != 0;
    }
    return r != 0;
}

static void
run_block(void)
{
    if (!race_check() || warps.size() < 2) {
        run_block_in(reverse_order());
        return;
    }
    std::vector<std::vector<char>> before, first;
    for (auto &a : allocations)
        before.emplace_back((char *)a.first, (char *)a.first + a.second.size);
    run_block_in(false);
    size_t k = 0;
    for (auto &a : allocations) {
        first.emplace_back((char *)a.first, (char *)a.first + a.second.size);
        memcpy((void *)a.first, before[k++].data(), a.second.size);
    }
    run_block_in(true);
    k = 0;
    for (auto &a : allocations) {
        const std::vector<char> &f = first[k++];
        if (memcmp(f.data(), (void *)a.first, f.size()) == 0)
            continue;
        size_t off = 0;
        while (((char *)a.first)[off] == f[off])
            off++;
        report("block (%u,%u,%u) leaves different results when the last warp runs ahead of the "
               "first (byte %zu of a %zu-byte device allocation): a warp reads memory another "
               "warp wrote without a barrier between",
               blockIdx.x, blockIdx.y, blockIdx.z, off, a.second.size);
    }
}

// ---- out-of-bounds accesses: the guard pages fault

static void
on_fault(int sig, siginfo_t *si, void *)
{
    char at[512];
    where(at, sizeof at);
    uintptr_t a = (uintptr_t)si->si_addr;
    // the nearest allocation, to say how far off the access is
    const char *rel = "outside any device allocation";
    char buf[160];
    auto it = allocations.upper_bound(a);
    if (it != allocations.end() && it->first - a < 4096) {
        snprintf(buf, sizeof buf, "%zu bytes before a %zu-byte device allocation",
                 (size_t)(it->first - a), it->second.size);
        rel = buf;
    }
    if (it != allocations.begin()) {
        --it;
        uintptr_t end = it->first + it->second.size;
        if (a >= end && a - end < 4096) {
            snprintf(buf, sizeof buf, "%zu bytes past the end of a %zu-byte device allocation",
                     (size_t)(a - end), it->second.size);
            rel = buf;
        }
    }
    char line[1024];
    int len = snprintf(line, sizeof line, "cudaemu: %s: out-of-bounds access at %p, %s\n", at,
                       si->si_addr, rel);
    if (write(2, line, len > 0 ? (size_t)len : 0) < 0) {
    }
    (void)sig;
    _exit(3);
}

static void
install_fault_handler(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    static char alt[64 << 10];
    stack_t ss = {};
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    sigaltstack(&ss, NULL);
    struct sigaction sa = {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

// ---- launches

void
cudaemu_check_pointer(const cudaemu_launch_info &info, int index, const void *p)
{
    if (p == NULL || is_device(p))
        return;
    cur_launch = &info;
    report("argument %d is %p, not device memory (a host pointer passed to the kernel)", index, p);
}

void
cudaemu_run(const cudaemu_launch_info &info, void (*body)(void *), void *ctx)
{
    size_t threads = (size_t)info.block.x * info.block.y * info.block.z;
    cur_launch = &info;
    if (threads == 0 || threads > 1024 || info.grid.x == 0 || info.grid.y == 0 ||
        info.grid.z == 0)
        report("invalid launch: grid (%u,%u,%u), block (%u,%u,%u)", info.grid.x, info.grid.y,
               info.grid.z, info.block.x, info.block.y, info.block.z);
    install_fault_handler();
    fibers.resize(threads);
    warps.resize((threads + 31) / 32);
    for (size_t i = 0; i < threads; i++) {
        fiber &f = fibers[i];
        f.t.thread_idx.x = (unsigned)(i % info.block.x);
        f.t.thread_idx.y = (unsigned)(i / info.block.x % info.block.y);
        f.t.thread_idx.z = (unsigned)(i / info.block.x / info.block.y);
        f.t.lane = (int)(i % 32);
        f.t.warp = (int)(i / 32);
    }
    cudaemu_block_dim = info.block;
    cudaemu_grid_dim = info.grid;
    block_body = body;
    block_ctx = ctx;
    for (unsigned z = 0; z < info.grid.z; z++)
        for (unsigned y = 0; y < info.grid.y; y++)
            for (unsigned x = 0; x < info.grid.x; x++) {
                cudaemu_block_idx = make_uint3(x, y, z);
                run_block();
            }
    cur_launch = NULL;
}

void
cudaemu_check_range(const char *op, const char *what, const void *p, size_t bytes)
{
    uintptr_t s;
    if (bytes > 0 && find_allocation(p, bytes, &s) == NULL)
        report("%s: %s (%zu bytes at %p) are not inside one device allocation", op, what, bytes,
               p);
}
