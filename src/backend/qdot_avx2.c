/* The quantized kernels with AVX2 (the integer sums with maddubs and madd), FMA and F16C. */
#include "config.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qdot.h"
#include "xmalloc.h"

#define QDOT_AVX2 __attribute__((target("avx2,fma,f16c")))
/* Weight rows and positions of the matrix product's register tile. */
#define QDOT_AVX2_LANES 8
#define QDOT_AVX2_POSITIONS 4

QDOT_AVX2 static inline float
qdot_hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

QDOT_AVX2 static inline float
qdot_hsum128(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

QDOT_AVX2 void
qdot_act_rows_avx2(qdot_act *a, const float *x, int64_t cols, int r0, int r1)
{
    size_t rb = (size_t)a->blocks;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * (size_t)cols;
        for (int64_t b = 0; b < a->blocks; b++) {
            int64_t c0 = b * QUANT_BLOCK;
            size_t k = (size_t)r * rb + (size_t)b;
            int8_t *q = a->q + k * QUANT_BLOCK;
            if (c0 + QUANT_BLOCK > cols) {
                /* the row's last, partial block and the padding: as in C */
                float tail[QUANT_BLOCK] = {0};
                if (c0 < cols)
                    memcpy(tail, xr + c0, (size_t)(cols - c0) * sizeof(float));
                float amax = 0;
                for (int i = 0; i < QUANT_BLOCK; i++)
                    amax = fmaxf(amax, fabsf(tail[i]));
                float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
                int32_t s = 0;
                for (int i = 0; i < QUANT_BLOCK; i++) {
                    long v = lrintf(tail[i] * id);
                    v = v > 127 ? 127 : v < -127 ? -127 : v;
                    q[i] = (int8_t)v;
                    s += (int32_t)v;
                }
                a->d[k] = d;
                a->sum[k] = s;
                continue;
            }
            __m256 v[4];
            for (int i = 0; i < 4; i++)
                v[i] = _mm256_loadu_ps(xr + c0 + 8 * i);
            __m256 m = _mm256_max_ps(
                _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
            float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
            __m256 idv = _mm256_set1_ps(id);
            __m256i qi[4];
            for (int i = 0; i < 4; i++)
                qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], idv));
            __m256i total =
                _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
            __m128i t =
                _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]),
                                           _mm256_packs_epi32(qi[2], qi[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)q, p);
            a->d[k] = d;
            a->sum[k] = _mm_cvtsi128_si32(t);
        }
    }
}

/* ------------------------------------------------------------------ matrix-vector */

/* The product of one q8 weight row with one activation row; ahead: a row to fetch meanwhile. */
QDOT_AVX2 static float
qdot_row_q8_avx2(const uint8_t *w, const uint16_t *dw, const int8_t *aq, const float *da,
                 int64_t blocks, const uint8_t *ahead)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < blocks; b += 4) {
        _mm_prefetch((const char *)(ahead + b * 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + b * 32 + 64), _MM_HINT_T0);
        __m128 s4 = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dw + b))),
                               _mm_loadu_ps(da + b));
        __m256 s8 = _mm256_set_m128(s4, s4);
        for (int i = 0; i < 4; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(w + (b + i) * 32));
            __m256i av = _mm256_loadu_si256((const __m256i *)(aq + (b + i) * 32));
            /* |w| * (a with w's sign): maddubs wants one unsigned side; pairs stay below 2^15 */
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
            __m256 sv = _mm256_permutevar8x32_ps(s8, _mm256_set1_epi32(i));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), sv, acc);
        }
    }
    return qdot_hsum256(acc);
}

/*
 * The product of one q4 weight row with one activation row in q4 order (qdot.c): the unsigned
 * nibbles u multiply the activations, and 8 * sum(a) per block comes off at the end.
 */
QDOT_AVX2 static float
qdot_row_q4_avx2(const uint8_t *w, const uint16_t *dw, const int8_t *aq4, const float *da,
                 const float *dsum, int64_t blocks, const uint8_t *ahead)
{
    __m256 acc = _mm256_setzero_ps();
    __m128 corr = _mm_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(15);
    const __m256i first = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m256i second = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
    for (int64_t b = 0; b < blocks; b += 4) {
        const uint8_t *wg = w + b * 16;
        const int8_t *ag = aq4 + b * 32;
        _mm_prefetch((const char *)(ahead + b * 16), _MM_HINT_T0);
        __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dw + b)));
        __m128 s4 = _mm_mul_ps(d4, _mm_loadu_ps(da + b));
        corr = _mm_fmadd_ps(d4, _mm_loadu_ps(dsum + b), corr);
        __m256 s8 = _mm256_set_m128(s4, s4);
        __m256i x0 = _mm256_loadu_si256((const __m256i *)wg);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(wg + 32));
        __m256i p0 =
            _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(x0, low),
                                                  _mm256_loadu_si256((const __m256i *)ag)),
                             _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(x0, 4), low),
                                                  _mm256_loadu_si256((const __m256i *)(ag + 64))));
        __m256i p1 =
            _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(x1, low),
                                                  _mm256_loadu_si256((const __m256i *)(ag + 32))),
                             _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(x1, 4), low),
                                                  _mm256_loadu_si256((const __m256i *)(ag + 96))));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p0, ones)),
                              _mm256_permutevar8x32_ps(s8, first), acc);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p1, ones)),
                              _mm256_permutevar8x32_ps(s8, second), acc);
    }
    return qdot_hsum256(acc) - 8.0f * qdot_hsum128(corr);
}

QDOT_AVX2 void
qdot_gemv_avx2(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
               int64_t ldy, const float *bias)
{
    size_t n = (size_t)a->blocks * QUANT_BLOCK, ab = (size_t)a->blocks;
    for (int64_t j = j0; j < j1; j++) {
        const uint8_t *w = m->qs + (size_t)j * m->row_bytes;
        const uint16_t *dw = m->d + (size_t)j * (size_t)m->blocks;
        /* two rows ahead while there are rows (the hardware prefetchers alone fall short) */
        const uint8_t *ahead = j + 2 < m->rows ? w + 2 * m->row_bytes : w;
        for (int r = 0; r < a->rows; r++) {
            float v = m->dtype == WEIGHTS_Q8
                          ? qdot_row_q8_avx2(w, dw, a->q + r * n, a->d + r * ab, m->blocks, ahead)
                          : qdot_row_q4_avx2(w, dw, a->q4 + r * n, a->d + r * ab, a->dsum + r * ab,
                                             m->blocks, ahead);
            y[(size_t)r * (size_t)ldy + (size_t)j] = v + (bias != NULL ? bias[j] : 0.0f);
        }
    }
}

/* ------------------------------------------------------------------ matrix product */

/*
 * A panel: eight weight rows unpacked so that one register holds four consecutive values of each
 * row (lane l: row l), for the 8 groups of four values of every block; q4 as unsigned nibbles u,
 * q8 as they are. scales: (blocks, 8) float.
 */
typedef struct {
    __m256i *values; /* (blocks, 8) */
    float *scales;
} qdot_panel8;

QDOT_AVX2 static void
qdot_pack8_avx2(const quant_matrix *m, int64_t j0, int64_t j1, qdot_panel8 *p)
{
    int n = (int)(j1 - j0);
    int32_t idx[QDOT_AVX2_LANES];
    qdot_panel_rows(m, n, QDOT_AVX2_LANES, idx);
    __m256i vidx = _mm256_loadu_si256((const __m256i *)idx);
    const uint8_t *base = m->qs + (size_t)j0 * m->row_bytes;
    const __m256i low = _mm256_set1_epi8(15);
    for (int64_t b = 0; b < m->blocks; b++) {
        __m256i *out = p->values + b * 8;
        if (m->dtype == WEIGHTS_Q8) {
            for (int k = 0; k < 8; k++)
                out[k] = _mm256_i32gather_epi32((const int *)(base + b * 32 + 4 * k), vidx, 1);
        } else {
            for (int k = 0; k < 4; k++) {
                __m256i g = _mm256_i32gather_epi32((const int *)(base + b * 16 + 4 * k), vidx, 1);
                out[k] = _mm256_and_si256(g, low);
                out[k + 4] = _mm256_and_si256(_mm256_srli_epi16(g, 4), low);
            }
        }
    }
    qdot_panel_scales(m, j0, n, QDOT_AVX2_LANES, 1.0f, p->scales);
}

/* Positions [p0, p0 + np) against a packed panel; outputs lanes [0, n) of the panel at y + j0. */
QDOT_AVX2 static inline __attribute__((always_inline)) void
qdot_tile8_avx2(weights_dtype dtype, const qdot_panel8 *pn, const qdot_act *a, int p0, int np,
                float *y, int64_t ldy, int64_t j0, int n, const float *bias)
{
    __m256 acc[QDOT_AVX2_POSITIONS];
    size_t ab = (size_t)a->blocks;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int p = 0; p < np; p++)
        acc[p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < a->blocks; b++) {
        const __m256i *wv = pn->values + b * 8;
        __m256 ds = _mm256_loadu_ps(pn->scales + b * 8);
        if (dtype == WEIGHTS_Q4) {
            for (int p = 0; p < np; p++) {
                size_t k = (size_t)(p0 + p) * ab + (size_t)b;
                const int8_t *aq = a->q + k * QUANT_BLOCK;
                /* eight pairs of 15 * 127 stay below 2^15: sum in 16 bits, widen once */
                __m256i s16 = _mm256_setzero_si256();
                for (int i = 0; i < 8; i++)
                    s16 = _mm256_add_epi16(
                        s16, _mm256_maddubs_epi16(wv[i], _mm256_set1_epi32(qdot_word(aq + 4 * i))));
                __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(s16, ones),
                                             _mm256_set1_epi32(8 * a->sum[k]));
                acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                         _mm256_mul_ps(ds, _mm256_set1_ps(a->d[k])), acc[p]);
            }
        } else {
            __m256i aw[8];
            for (int i = 0; i < 8; i++)
                aw[i] = _mm256_sign_epi8(wv[i], wv[i]);
            for (int p = 0; p < np; p++) {
                size_t k = (size_t)(p0 + p) * ab + (size_t)b;
                const int8_t *aq = a->q + k * QUANT_BLOCK;
                __m256i s = _mm256_setzero_si256();
                for (int i = 0; i < 8; i++) {
                    __m256i sa = _mm256_sign_epi8(_mm256_set1_epi32(qdot_word(aq + 4 * i)), wv[i]);
                    s = _mm256_add_epi32(s,
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(aw[i], sa), ones));
                }
                acc[p] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
                                         _mm256_mul_ps(ds, _mm256_set1_ps(a->d[k])), acc[p]);
            }
        }
    }
    for (int p = 0; p < np; p++) {
        float out[QDOT_AVX2_LANES];
        _mm256_storeu_ps(out, acc[p]);
        float *yr = y + (size_t)(p0 + p) * (size_t)ldy + (size_t)j0;
        for (int l = 0; l < n; l++)
            yr[l] = out[l] + (bias != NULL ? bias[j0 + l] : 0.0f);
    }
}

QDOT_AVX2 void
qdot_gemm_avx2(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
               int64_t ldy, const float *bias)
{
    qdot_panel8 pn;
    pn.values = xmalloc_aligned((size_t)m->blocks * 8 * sizeof(__m256i));
    pn.scales = xmalloc_aligned((size_t)m->blocks * 8 * sizeof(float));
    for (int64_t jp = j0; jp < j1; jp += QDOT_AVX2_LANES) {
        int64_t je = jp + QDOT_AVX2_LANES < j1 ? jp + QDOT_AVX2_LANES : j1;
        int n = (int)(je - jp);
        qdot_pack8_avx2(m, jp, je, &pn);
        int p = 0;
        for (; p + QDOT_AVX2_POSITIONS <= a->rows; p += QDOT_AVX2_POSITIONS)
            qdot_tile8_avx2(m->dtype, &pn, a, p, QDOT_AVX2_POSITIONS, y, ldy, jp, n, bias);
        if (p < a->rows)
            qdot_tile8_avx2(m->dtype, &pn, a, p, a->rows - p, y, ldy, jp, n, bias);
    }
    free(pn.values);
    free(pn.scales);
}

#endif
