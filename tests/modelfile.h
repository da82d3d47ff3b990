/* Reading, editing and writing safetensors model folders, for the test tools and test_weights. */
#ifndef IMP_MODELFILE_H
#define IMP_MODELFILE_H

#include <stddef.h>

#include <jansson.h>

/* One safetensors file in memory: its parsed header and a copy of its data area. */
typedef struct {
    json_t *header;       /* name -> {dtype, shape, data_offsets}, and __metadata__ */
    unsigned char *data;
    size_t size;
} modelfile_st;

/* Read a whole safetensors file (only as checked as reading needs); -1 with *cause. */
int modelfile_st_read(modelfile_st *st, const char *path, char **cause);
/* Start an empty file that tensors are appended to. */
void modelfile_st_init(modelfile_st *st);
/* Append a tensor: its data goes right after the previous one's. */
void modelfile_st_add(modelfile_st *st, const char *name, const char *dtype, json_t *shape,
                      const void *data, size_t nbytes);
/* Borrow the bytes of a tensor by name (*nbytes set); NULL when absent. */
const unsigned char *modelfile_st_tensor(const modelfile_st *st, const char *name, size_t *nbytes);
/* Write: u64 LE header length, compact JSON padded with spaces to 8 bytes, data; -1 with *cause. */
int modelfile_st_write(const modelfile_st *st, const char *path, char **cause);
/* Free what st holds. */
void modelfile_st_free(modelfile_st *st);

/* Copy every regular file of src into dst, which must be absent or empty; -1 with *cause. */
int modelfile_copy_dir(const char *src, const char *dst, char **cause);
/* The corruption kinds modelfile_corrupt knows, NULL-terminated. */
extern const char *const modelfile_kinds[];
/*
 * Copy the model folder src to dst and apply one corruption kind (see modelfile_kinds);
 * *what gets a one-line description naming the file and tensor changed. -1 with *cause.
 */
int modelfile_corrupt(const char *kind, const char *src, const char *dst, char **what, char **cause);
/*
 * Build the old checkpoint layout (MODEL.md B3.2) in dst from the new-layout model in src:
 * fused q|k|v Wqkv, old names, the same shards with a new index, config.json with the old keys.
 */
int modelfile_oldlayout(const char *src, const char *dst, char **cause);

#endif
