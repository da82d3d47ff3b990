// cub::DeviceRadixSort for the harness: the key sorts gpu/ uses, as a host sort of device memory.
#ifndef CUDAEMU_CUB_DEVICE_RADIX_SORT
#define CUDAEMU_CUB_DEVICE_RADIX_SORT
#include <algorithm>
#include <functional>

// Reports a range that is not inside one device allocation (runtime.cc).
void cudaemu_check_range(const char *op, const char *what, const void *p, size_t bytes);

namespace cub {
struct DeviceRadixSort {
    template <class K>
    static cudaError_t SortKeysDescending(void *tmp, size_t &tmp_bytes, const K *in, K *out,
                                          int n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                                          cudaStream_t stream = 0)
    {
        return sort(tmp, tmp_bytes, in, out, n, true);
    }
    template <class K>
    static cudaError_t SortKeys(void *tmp, size_t &tmp_bytes, const K *in, K *out, int n,
                                int begin_bit = 0, int end_bit = sizeof(K) * 8,
                                cudaStream_t stream = 0)
    {
        return sort(tmp, tmp_bytes, in, out, n, false);
    }

  private:
    template <class K>
    static cudaError_t sort(void *tmp, size_t &tmp_bytes, const K *in, K *out, int n, bool desc)
    {
        if (tmp == NULL) { // the sizing call
            tmp_bytes = 256;
            return cudaSuccess;
        }
        if (tmp_bytes < 256 || n < 0)
            return cudaErrorInvalidValue;
        cudaemu_check_range("cub::DeviceRadixSort", "the workspace", tmp, tmp_bytes);
        cudaemu_check_range("cub::DeviceRadixSort", "the input keys", in, (size_t)n * sizeof(K));
        cudaemu_check_range("cub::DeviceRadixSort", "the output keys", out, (size_t)n * sizeof(K));
        std::copy(in, in + n, out);
        if (desc)
            std::stable_sort(out, out + n, std::greater<K>());
        else
            std::stable_sort(out, out + n);
        return cudaSuccess;
    }
};
} // namespace cub
#endif
