// cub::BlockScan for the harness: the scans gpu/ uses, computed by thread 0 between barriers.
#ifndef CUDAEMU_CUB_BLOCK_SCAN
#define CUDAEMU_CUB_BLOCK_SCAN
namespace cub {
template <class T, int THREADS> class BlockScan {
  public:
    struct TempStorage {
        T in[THREADS], incl[THREADS];
    };
    explicit BlockScan(TempStorage &s) : s_(s) {}
    void InclusiveSum(T v, T &incl, T &total)
    {
        int tid = (int)threadIdx.x;
        s_.in[tid] = v;
        __syncthreads();
        if (tid == 0) {
            T run = T();
            for (int i = 0; i < THREADS; i++)
                s_.incl[i] = run = run + s_.in[i];
        }
        __syncthreads();
        incl = s_.incl[tid];
        total = s_.incl[THREADS - 1];
        __syncthreads(); // the storage may be reused at once
    }
    void InclusiveSum(T v, T &incl)
    {
        T total;
        InclusiveSum(v, incl, total);
    }
    void ExclusiveSum(T v, T &excl, T &total)
    {
        T incl;
        InclusiveSum(v, incl, total);
        excl = incl - v;
    }

  private:
    TempStorage &s_;
};
} // namespace cub
#endif
