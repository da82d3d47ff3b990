/*
 * The quantized kernels with AVX-512 VNNI: vpdpbusd multiplies 64 unsigned bytes by 64 signed ones
 * and adds each four products into a 32-bit lane, so the weights go in as unsigned values (q4's
 * nibbles u, q8's values plus 128) and the offset times the activations' sum comes off. The
 * matrix product takes q4 nibbles times 16 (0..240, offset 128, a scale 16 times smaller), so
 * one correction serves both formats.
 */
#include "config.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <stdlib.h>

#include "qdot.h"
#include "xmalloc.h"

#define QDOT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
/* Positions of the matrix product's register tile (its weight rows: QDOT_PANEL, one per lane). */
#define QDOT_AVX512_POSITIONS 8

QDOT_AVX512 static inline float
qdot_hsum128_512(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* ------------------------------------------------------------------ matrix-vector */

/* One q8 weight row with one activation row: two blocks a register, lanes 0-7 and 8-15. */
QDOT_AVX512 static float
qdot_row_q8_avx512(const uint8_t *w, const uint16_t *dw, const int8_t *aq, const float *da,
                   const float *dsum, int64_t blocks, const uint8_t *ahead)
{
    __m512 acc = _mm512_setzero_ps();
    __m128 corr = _mm_setzero_ps();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i first = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i second = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    for (int64_t b = 0; b < blocks; b += 4) {
        _mm_prefetch((const char *)(ahead + b * 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + b * 32 + 64), _MM_HINT_T0);
        __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dw + b)));
        __m512 s = _mm512_castps128_ps512(_mm_mul_ps(d4, _mm_loadu_ps(da + b)));
        corr = _mm_fmadd_ps(d4, _mm_loadu_ps(dsum + b), corr);
        __m512i w0 = _mm512_xor_si512(_mm512_loadu_si512(w + b * 32), flip);
        __m512i w1 = _mm512_xor_si512(_mm512_loadu_si512(w + b * 32 + 64), flip);
        __m512i i0 =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, _mm512_loadu_si512(aq + b * 32));
        __m512i i1 =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), w1, _mm512_loadu_si512(aq + b * 32 + 64));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_permutexvar_ps(first, s), acc);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), _mm512_permutexvar_ps(second, s), acc);
    }
    return _mm512_reduce_add_ps(acc) - 128.0f * qdot_hsum128_512(corr);
}

/*
 * One q4 weight row with one activation row in q4 order (qdot.c): four blocks a register, the low
 * nibbles against the group's first halves and the high nibbles against the second; lanes 4b to
 * 4b + 3 hold block b.
 */
QDOT_AVX512 static float
qdot_row_q4_avx512(const uint8_t *w, const uint16_t *dw, const int8_t *aq4, const float *da,
                   const float *dsum, int64_t blocks, const uint8_t *ahead)
{
    __m512 acc = _mm512_setzero_ps();
    __m128 corr = _mm_setzero_ps();
    const __m512i low = _mm512_set1_epi8(15);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int64_t b = 0; b < blocks; b += 4) {
        _mm_prefetch((const char *)(ahead + b * 16), _MM_HINT_T0);
        __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dw + b)));
        __m512 s = _mm512_castps128_ps512(_mm_mul_ps(d4, _mm_loadu_ps(da + b)));
        corr = _mm_fmadd_ps(d4, _mm_loadu_ps(dsum + b), corr);
        __m512i x = _mm512_loadu_si512(w + b * 16);
        __m512i i = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(x, low),
                                        _mm512_loadu_si512(aq4 + b * 32));
        i = _mm512_dpbusd_epi32(i, _mm512_and_si512(_mm512_srli_epi16(x, 4), low),
                                _mm512_loadu_si512(aq4 + b * 32 + 64));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(spread, s), acc);
    }
    return _mm512_reduce_add_ps(acc) - 8.0f * qdot_hsum128_512(corr);
}

/*
 * Four q4 rows at once against one activation row: four streams in flight for each thread, and
 * the activations loaded once for the four.
 */
#define QDOT_Q4_ROW(k)                                                                             \
    do {                                                                                           \
        __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(dw + (k)*m->blocks + b)));      \
        __m512 s = _mm512_castps128_ps512(_mm_mul_ps(d4, da4));                                    \
        corr##k = _mm_fmadd_ps(d4, ds4, corr##k);                                                  \
        __m512i x = _mm512_loadu_si512(w + (k)*m->row_bytes + b * 16);                             \
        __m512i i = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(x, low), lo);     \
        i = _mm512_dpbusd_epi32(i, _mm512_and_si512(_mm512_srli_epi16(x, 4), low), hi);            \
        acc##k = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(spread, s), acc##k); \
    } while (0)

QDOT_AVX512 static void
qdot_rows4_q4_avx512(const quant_matrix *m, int64_t j, const int8_t *aq4, const float *da,
                     const float *dsum, float *out)
{
    const uint8_t *w = m->qs + (size_t)j * m->row_bytes;
    const uint16_t *dw = m->d + (size_t)j * (size_t)m->blocks;
    /* the next four rows, fetched while these are read */
    const uint8_t *ahead = j + 8 <= m->rows ? w + 4 * m->row_bytes : w;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    __m128 corr0 = _mm_setzero_ps(), corr1 = corr0, corr2 = corr0, corr3 = corr0;
    const __m512i low = _mm512_set1_epi8(15);
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int64_t b = 0; b < m->blocks; b += 4) {
        for (int k = 0; k < 4; k++)
            _mm_prefetch((const char *)(ahead + k * m->row_bytes + b * 16), _MM_HINT_T0);
        __m512i lo = _mm512_loadu_si512(aq4 + b * 32), hi = _mm512_loadu_si512(aq4 + b * 32 + 64);
        __m128 da4 = _mm_loadu_ps(da + b), ds4 = _mm_loadu_ps(dsum + b);
        QDOT_Q4_ROW(0);
        QDOT_Q4_ROW(1);
        QDOT_Q4_ROW(2);
        QDOT_Q4_ROW(3);
    }
    out[0] = _mm512_reduce_add_ps(acc0) - 8.0f * qdot_hsum128_512(corr0);
    out[1] = _mm512_reduce_add_ps(acc1) - 8.0f * qdot_hsum128_512(corr1);
    out[2] = _mm512_reduce_add_ps(acc2) - 8.0f * qdot_hsum128_512(corr2);
    out[3] = _mm512_reduce_add_ps(acc3) - 8.0f * qdot_hsum128_512(corr3);
}

QDOT_AVX512 void
qdot_gemv_avx512(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                 int64_t ldy, const float *bias)
{
    size_t n = (size_t)a->blocks * QUANT_BLOCK, ab = (size_t)a->blocks;
    if (m->dtype == WEIGHTS_Q4) {
        for (; j0 + 4 <= j1; j0 += 4)
            for (int r = 0; r < a->rows; r++) {
                float v[4];
                qdot_rows4_q4_avx512(m, j0, a->q4 + r * n, a->d + r * ab, a->dsum + r * ab, v);
                for (int k = 0; k < 4; k++)
                    y[(size_t)r * (size_t)ldy + (size_t)(j0 + k)] =
                        v[k] + (bias != NULL ? bias[j0 + k] : 0.0f);
            }
    }
    for (int64_t j = j0; j < j1; j++) {
        const uint8_t *w = m->qs + (size_t)j * m->row_bytes;
        const uint16_t *dw = m->d + (size_t)j * (size_t)m->blocks;
        const uint8_t *ahead = j + 2 < m->rows ? w + 2 * m->row_bytes : w;
        for (int r = 0; r < a->rows; r++) {
            float v = m->dtype == WEIGHTS_Q8
                          ? qdot_row_q8_avx512(w, dw, a->q + r * n, a->d + r * ab, a->dsum + r * ab,
                                               m->blocks, ahead)
                          : qdot_row_q4_avx512(w, dw, a->q4 + r * n, a->d + r * ab,
                                               a->dsum + r * ab, m->blocks, ahead);
            y[(size_t)r * (size_t)ldy + (size_t)j] = v + (bias != NULL ? bias[j] : 0.0f);
        }
    }
}

/* ------------------------------------------------------------------ matrix product */

/*
 * A panel: QDOT_PANEL weight rows unpacked so that one register holds four consecutive values of
 * every row (lane l: row l) as unsigned bytes offset by 128 (q8 values + 128, q4 nibbles * 16), for
 * the 8 groups of four of every block; scales (blocks, QDOT_PANEL) float (q4's divided by 16).
 */
typedef struct {
    __m512i *values; /* (blocks, 8) */
    float *scales;
} qdot_panel16;

QDOT_AVX512 static void
qdot_pack16_avx512(const quant_matrix *m, int64_t j0, int64_t j1, qdot_panel16 *p)
{
    int n = (int)(j1 - j0);
    int32_t idx[QDOT_PANEL];
    qdot_panel_rows(m, n, QDOT_PANEL, idx);
    __m512i vidx = _mm512_loadu_si512(idx);
    const uint8_t *base = m->qs + (size_t)j0 * m->row_bytes;
    const __m512i high = _mm512_set1_epi8((char)0xf0), flip = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < m->blocks; b++) {
        __m512i *out = p->values + b * 8;
        if (m->dtype == WEIGHTS_Q8) {
            for (int k = 0; k < 8; k++)
                out[k] =
                    _mm512_xor_si512(_mm512_i32gather_epi32(vidx, base + b * 32 + 4 * k, 1), flip);
        } else {
            for (int k = 0; k < 4; k++) {
                __m512i g = _mm512_i32gather_epi32(vidx, base + b * 16 + 4 * k, 1);
                out[k] = _mm512_and_si512(_mm512_slli_epi16(g, 4), high);
                out[k + 4] = _mm512_and_si512(g, high);
            }
        }
    }
    qdot_panel_scales(m, j0, n, QDOT_PANEL, m->dtype == WEIGHTS_Q8 ? 1.0f : 1.0f / 16, p->scales);
}

/*
 * One position's sums over one block: they start at -128 * sum(a), for the weights' offset, and
 * take 8 vpdpbusd, each with four activation values broadcast against the panel's eight
 * registers; then scaled into acc.
 */
#define QDOT_POSITION(acc, k)                                                                      \
    do {                                                                                           \
        const int8_t *aq_ = a->q + (k)*QUANT_BLOCK;                                                \
        __m512i s_ = _mm512_set1_epi32(a->sum128[k]);                                              \
        s_ = _mm512_dpbusd_epi32(s_, w0, _mm512_set1_epi32(qdot_word(aq_)));                       \
        s_ = _mm512_dpbusd_epi32(s_, w1, _mm512_set1_epi32(qdot_word(aq_ + 4)));                   \
        s_ = _mm512_dpbusd_epi32(s_, w2, _mm512_set1_epi32(qdot_word(aq_ + 8)));                   \
        s_ = _mm512_dpbusd_epi32(s_, w3, _mm512_set1_epi32(qdot_word(aq_ + 12)));                  \
        s_ = _mm512_dpbusd_epi32(s_, w4, _mm512_set1_epi32(qdot_word(aq_ + 16)));                  \
        s_ = _mm512_dpbusd_epi32(s_, w5, _mm512_set1_epi32(qdot_word(aq_ + 20)));                  \
        s_ = _mm512_dpbusd_epi32(s_, w6, _mm512_set1_epi32(qdot_word(aq_ + 24)));                  \
        s_ = _mm512_dpbusd_epi32(s_, w7, _mm512_set1_epi32(qdot_word(aq_ + 28)));                  \
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_), _mm512_mul_ps(ds, _mm512_set1_ps(a->d[k])),  \
                              acc);                                                                \
    } while (0)

/* Store positions' sums (lanes [0, n)) plus the bias at y + j0 of each position's row. */
QDOT_AVX512 static void
qdot_store16_avx512(const __m512 *acc, int p0, int np, float *y, int64_t ldy, int64_t j0, int n,
                    const float *bias)
{
    __mmask16 mask = (__mmask16)((1u << n) - 1);
    __m512 bv = bias != NULL ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
    for (int p = 0; p < np; p++)
        _mm512_mask_storeu_ps(y + (size_t)(p0 + p) * (size_t)ldy + (size_t)j0, mask,
                              _mm512_add_ps(acc[p], bv));
}

/* Positions [p0, p0 + QDOT_AVX512_POSITIONS) against a packed panel, unrolled. */
QDOT_AVX512 static void
qdot_tile16_avx512(const qdot_panel16 *pn, const qdot_act *a, int p0, float *y, int64_t ldy,
                   int64_t j0, int n, const float *bias)
{
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    size_t ab = (size_t)a->blocks, k0 = (size_t)p0 * ab;
    for (size_t b = 0; b < ab; b++) {
        const __m512i *wv = pn->values + b * 8;
        __m512i w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3];
        __m512i w4 = wv[4], w5 = wv[5], w6 = wv[6], w7 = wv[7];
        __m512 ds = _mm512_load_ps(pn->scales + b * QDOT_PANEL);
        QDOT_POSITION(c0, k0 + b);
        QDOT_POSITION(c1, k0 + ab + b);
        QDOT_POSITION(c2, k0 + 2 * ab + b);
        QDOT_POSITION(c3, k0 + 3 * ab + b);
        QDOT_POSITION(c4, k0 + 4 * ab + b);
        QDOT_POSITION(c5, k0 + 5 * ab + b);
        QDOT_POSITION(c6, k0 + 6 * ab + b);
        QDOT_POSITION(c7, k0 + 7 * ab + b);
    }
    __m512 acc[QDOT_AVX512_POSITIONS] = {c0, c1, c2, c3, c4, c5, c6, c7};
    qdot_store16_avx512(acc, p0, QDOT_AVX512_POSITIONS, y, ldy, j0, n, bias);
}

/* The last positions [p0, p0 + np), fewer than a tile, one at a time. */
QDOT_AVX512 static void
qdot_tail16_avx512(const qdot_panel16 *pn, const qdot_act *a, int p0, int np, float *y, int64_t ldy,
                   int64_t j0, int n, const float *bias)
{
    __m512 acc[QDOT_AVX512_POSITIONS];
    size_t ab = (size_t)a->blocks;
    for (int p = 0; p < np; p++) {
        __m512 c = _mm512_setzero_ps();
        for (size_t b = 0; b < ab; b++) {
            const __m512i *wv = pn->values + b * 8;
            __m512i w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3];
            __m512i w4 = wv[4], w5 = wv[5], w6 = wv[6], w7 = wv[7];
            __m512 ds = _mm512_load_ps(pn->scales + b * QDOT_PANEL);
            QDOT_POSITION(c, (size_t)(p0 + p) * ab + b);
        }
        acc[p] = c;
    }
    qdot_store16_avx512(acc, p0, np, y, ldy, j0, n, bias);
}

QDOT_AVX512 void
qdot_gemm_avx512(const quant_matrix *m, const qdot_act *a, int64_t j0, int64_t j1, float *y,
                 int64_t ldy, const float *bias)
{
    qdot_panel16 pn;
    pn.values = xmalloc_aligned((size_t)m->blocks * 8 * sizeof(__m512i));
    pn.scales = xmalloc_aligned((size_t)m->blocks * QDOT_PANEL * sizeof(float));
    for (int64_t jp = j0; jp < j1; jp += QDOT_PANEL) {
        int64_t je = jp + QDOT_PANEL < j1 ? jp + QDOT_PANEL : j1;
        int n = (int)(je - jp);
        qdot_pack16_avx512(m, jp, je, &pn);
        int p = 0;
        for (; p + QDOT_AVX512_POSITIONS <= a->rows; p += QDOT_AVX512_POSITIONS)
            qdot_tile16_avx512(&pn, a, p, y, ldy, jp, n, bias);
        if (p < a->rows)
            qdot_tail16_avx512(&pn, a, p, a->rows - p, y, ldy, jp, n, bias);
    }
    free(pn.values);
    free(pn.scales);
}

#endif
