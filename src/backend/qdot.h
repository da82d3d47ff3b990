/*
 * The CPU's products with quantized weights (quant.h): activations are quantized to 8 bits per
 * block of 32 (one float scale per block, as the best CPU engines do), and each block's dot
 * product is summed exactly in integers before its two scales are applied:
 *
 *   y[r][j] = sum over blocks b of  dw[j][b] * da[r][b] * sum_i w[j][b][i] * a[r][b][i]
 *
 * with w the q8 value v or the q4 value u - 8. One activation row or a few (decode) run as
 * matrix-vector products that stream each weight row once; many rows (prefill) as a matrix
 * product that unpacks 16 weight rows at a time and reuses them for every position. The kernels
 * come in plain C, AVX2 and AVX-512 VNNI, chosen at run time (cpufeat.h); the SIMD ones compute
 * the same integer sums and differ from the plain ones only in the order of the float additions.
 */
#ifndef IMP_QDOT_H
#define IMP_QDOT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "quant.h"
#include "threadpool.h"

/* At most this many activation rows run as matrix-vector products; more as a matrix product. */
#define QDOT_GEMV_MAX_ROWS 8
/* Weight rows the matrix product unpacks at a time. */
#define QDOT_PANEL 16

/* Activations quantized to 8 bits per block, laid out for the kernels; reused across calls. */
typedef struct {
    int rows;
    int64_t blocks;  /* per row, padded like the weights (a multiple of 4) */
    int8_t *q;       /* (rows, blocks * 32) values in [-127, 127] */
    int8_t *q4;      /* matrix-vector rows only: q reordered for the q4 kernels (see qdot.c) */
    float *d;        /* (rows, blocks) scales */
    int32_t *sum;    /* (rows, blocks) sums of each block's values */
    int32_t *sum128; /* (rows, blocks) -128 * sum: the correction for weights offset by 128 */
    float *dsum;     /* (rows, blocks) d * sum */
    size_t cap_rows, cap_blocks;
} qdot_act;

/* An empty activation buffer. */
void qdot_act_init(qdot_act *a);
/* Free its arrays. */
void qdot_act_free(qdot_act *a);
/*
 * Quantize x (rows, cols) into a for weights of cols columns, using pool's threads for many rows
 * (pool may be NULL).
 */
void qdot_act_quantize(qdot_act *a, const float *x, int rows, int64_t cols, threadpool *pool);
/*
 * y[r * ldy + j] = the product of activation row r with weight row j, plus bias[j] (bias may be
 * NULL), for every row r of a and j in [j0, j1): matrix-vector products for a few rows, the
 * matrix product for more. Threads split [0, m->rows) among themselves.
 */
void qdot_rows(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
               int64_t ldy, const float *bias);

/* The kernels of each level (qdot_rows calls the one cpufeat_level_get names). */
void qdot_rows_portable(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                        int64_t ldy, const float *bias);
void qdot_gemv_avx2(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                    int64_t ldy, const float *bias);
void qdot_gemm_avx2(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                    int64_t ldy, const float *bias);
void qdot_gemv_avx512(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                      int64_t ldy, const float *bias);
void qdot_gemm_avx512(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                      int64_t ldy, const float *bias);
/* Four activation values as one 32-bit word (for the kernels' broadcasts). */
static inline int32_t
qdot_word(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
/*
 * For a panel of lanes weight rows from j0, n of them real (later lanes repeat the last, and are
 * never stored): each lane's row offset in bytes (idx), and the scales (blocks, lanes) as floats
 * times unit.
 */
void qdot_panel_rows(const quant_matrix *m, int n, int lanes, int32_t *idx);
void qdot_panel_scales(const quant_matrix *m, int64_t j0, int n, int lanes, float unit,
                       float *scales);
/* Quantize activation rows [r0, r1) of x (rows of cols floats) into a (AVX2; same bits as C). */
void qdot_act_rows_avx2(qdot_act *a, const float *x, int64_t cols, int r0, int r1);

#endif
