/*
 * Quantized weight matrices (q8, q4) and the quantization of a checkpoint at load time.
 *
 * Both formats cut each row into blocks of 32 weights with one fp16 scale d per block:
 *   q8: values v in [-127, 127], weight = d * v (8.5 bits a weight, like llama.cpp's Q8_0);
 *   q4: values u in [0, 15], weight = d * (u - 8) (4.5 bits a weight, like llama.cpp's Q4_0);
 *       byte j of a block holds element j in its low nibble and element j + 16 in its high one.
 * The scale is the block's largest magnitude over 127 (q8), or its value of largest magnitude over
 * -8 (q4), rounded to fp16; values are rounded to nearest.
 *
 * A (rows, cols) matrix is one buffer, 64-byte aligned: first the values of every row, each row
 * padded with zero weights to a multiple of QUANT_ROW_ALIGN elements (so every row starts on a
 * 64-byte boundary), then, at the next 64-byte boundary, the scales (rows, blocks) as fp16. Values
 * and scales lie apart, each row-major, so a GPU warp reads either in whole aligned transactions
 * and a kernel streams the matrix once, front to back.
 */
#ifndef IMP_QUANT_H
#define IMP_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "threadpool.h"
#include "weights.h"

/* Weights in a block, and the element multiple rows are padded to (four blocks). */
#define QUANT_BLOCK 32
#define QUANT_ROW_ALIGN 128

/* The weights a user asks for (--weights): as shipped, or quantized. */
typedef enum {
    QUANT_AUTO = -1, /* the backend's default */
    QUANT_F16 = 0,   /* as shipped (fp16; BF16 and F32 files as they are) */
    QUANT_Q8,
    QUANT_Q4,
} quant_mode;

/* Bit of a mode in a set of modes (backend_ops.weight_modes). */
#define QUANT_MODE_BIT(m) (1u << (m))

/* A quantized matrix seen through its parts. */
typedef struct {
    weights_dtype dtype; /* WEIGHTS_Q8 or WEIGHTS_Q4 */
    int64_t rows, cols;  /* the logical shape (cols before padding) */
    int64_t blocks;      /* blocks per stored row: padded cols / QUANT_BLOCK */
    size_t row_bytes;    /* bytes of values per stored row */
    const uint8_t *qs;   /* (rows, row_bytes) values */
    const uint16_t *d;   /* (rows, blocks) fp16 scales */
} quant_matrix;

/* Parse "f16", "q8" or "q4"; -1 when unknown. */
int quant_parse_mode(const char *s, quant_mode *mode);
/* Name of a mode ("f16", "q8", "q4"; "auto" for QUANT_AUTO). */
const char *quant_mode_name(quant_mode mode);
/* Names of the modes in a set of QUANT_MODE_BIT bits, as "f16, q8" (static buffer). */
const char *quant_mode_list(unsigned modes);
/* Blocks per stored row of a matrix with cols columns (padding included). */
int64_t quant_row_blocks(int64_t cols);
/* Bytes of a (rows, cols) matrix stored as dtype (WEIGHTS_Q8 or WEIGHTS_Q4). */
size_t quant_matrix_bytes(weights_dtype dtype, int64_t rows, int64_t cols);
/* The parts of a quantized tensor (2 dims, dtype WEIGHTS_Q8 or WEIGHTS_Q4). */
quant_matrix quant_matrix_of(const weights_tensor *t);
/*
 * Quantize rows [r0, r1) of src (F16, BF16 or F32, 2 dims) into dst, a buffer of
 * quant_matrix_bytes(dtype, rows, cols) bytes laid out for src's shape. -1 when a value is NaN or
 * infinite, with *bad set to its element index in src.
 */
int quant_rows(weights_dtype dtype, void *dst, const weights_tensor *src, int64_t r0, int64_t r1,
               int64_t *bad);
/* Dequantize row r of a quantized tensor into out (cols floats). */
void quant_dequantize_row(const weights_tensor *t, int64_t r, float *out);
/*
 * y (rows, out) = x (rows, in) . W^T + b for a quantized W (out, in) and b (out) or NULL, as the
 * CUDA backend computes it (the plain-C twin of gpu_linear_q): x rounded to fp16, each weight
 * d * v exactly, or rounded to fp16 too when w16 (the fp16 tiles of its path for rows > 1), and
 * fp32 sums.
 */
void quant_linear_f16(const weights_tensor *t, float *y, const float *x, int rows, const float *b,
                      int w16);

/* Which weights a mode quantizes, and to what. */
typedef enum {
    QUANT_PART_LM,     /* the language model's linear layers and lm_head */
    QUANT_PART_VISION, /* the vision tower's linear layers and the projector */
} quant_part;
/* The storage of a part's matrices under mode (WEIGHTS_F16 meaning: left as they are). */
weights_dtype quant_part_dtype(quant_mode mode, quant_part part);

/* Quantized matrices owned together; tensors that were quantized point into it. */
typedef struct quant_store quant_store;

/* An empty store. */
quant_store *quant_store_new(void);
/* Free the store (the tensors pointing into it become invalid). */
void quant_store_free(quant_store *s);
/* Bytes of quantized matrices held. */
size_t quant_store_bytes(const quant_store *s);
/* Seconds spent quantizing into the store (0 for NULL). */
double quant_store_seconds(const quant_store *s);
/*
 * Quantize *t into the store as dtype, using pool's threads, and make *t the quantized view (same
 * name, file and shape). -1 with *cause naming the file, the tensor and the element when a value
 * is NaN or infinite (*t is then unchanged).
 */
int quant_store_add(quant_store *s, weights_tensor *t, weights_dtype dtype, threadpool *pool,
                    char **cause);
/*
 * Quantize the matrices of ck (cfg's model, loaded from files) that mode covers, tensor by tensor,
 * dropping each mapped tensor's pages once it is quantized; ck then points into *store. QUANT_F16
 * does nothing (*store NULL). -1 with *cause when a weight is NaN or infinite (named); ck is then
 * only fit for checkpoint_free.
 */
int quant_checkpoint(checkpoint *ck, const imp_config *cfg, const weights *files, quant_mode mode,
                     int threads, quant_store **store, char **cause);

#endif
