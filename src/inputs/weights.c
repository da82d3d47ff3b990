#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "quant.h"
#include "regfile.h"
#include "safetext.h"
#include "weights.h"
#include "xmalloc.h"

#define WEIGHTS_INDEX_NAME "model.safetensors.index.json"
#define WEIGHTS_SINGLE_NAME "model.safetensors"

/* One mapped safetensors file. */
typedef struct {
    char *path;  /* DIR/NAME, for messages */
    char *name;  /* NAME, what tensors point to */
    void *map;
    size_t size;
} weights_file;

struct weights {
    weights_file *files;
    size_t nfiles;
    weights_tensor *tensors;
    size_t ntensors;
    size_t cap;
    const weights_tensor **sorted;  /* ordered by name, for bsearch; built once loading is done */
    size_t total_bytes;
};

/* Begin/end of one tensor's data while a header is checked for overlaps. */
typedef struct {
    uint64_t begin, end;
    const char *name;
} weights_span;

size_t
weights_dtype_size(weights_dtype dtype)
{
    assert(dtype == WEIGHTS_F16 || dtype == WEIGHTS_BF16 || dtype == WEIGHTS_F32);
    return dtype == WEIGHTS_F32 ? 4 : 2;
}

const char *
weights_dtype_name(weights_dtype dtype)
{
    switch (dtype) {
    case WEIGHTS_F16:
        return "F16";
    case WEIGHTS_BF16:
        return "BF16";
    case WEIGHTS_F32:
        return "F32";
    case WEIGHTS_Q8:
        return "Q8";
    case WEIGHTS_Q4:
        return "Q4";
    }
    return "?";
}

size_t
weights_tensor_bytes(const weights_tensor *t)
{
    if (t->dtype == WEIGHTS_Q8 || t->dtype == WEIGHTS_Q4)
        return quant_matrix_bytes(t->dtype, t->shape[0], t->shape[1]);
    return (size_t)t->nelem * weights_dtype_size(t->dtype);
}

const char *
weights_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static int
weights_dtype_parse(const char *s, weights_dtype *dtype)
{
    if (strcmp(s, "F16") == 0)
        *dtype = WEIGHTS_F16;
    else if (strcmp(s, "BF16") == 0)
        *dtype = WEIGHTS_BF16;
    else if (strcmp(s, "F32") == 0)
        *dtype = WEIGHTS_F32;
    else
        return -1;
    return 0;
}

/* A JSON value as a non-negative integer; -1 when it is anything else. */
static int
weights_json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static weights_tensor *
weights_push(weights *w)
{
    if (w->ntensors == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->tensors = xreallocarray(w->tensors, w->cap, sizeof *w->tensors);
    }
    weights_tensor *t = &w->tensors[w->ntensors++];
    memset(t, 0, sizeof *t);
    return t;
}

/* Parse and check one header entry; fills t (name already set). */
static int
weights_parse_entry(weights_tensor *t, weights_span *span, const json_t *e, const char *path,
                    uint64_t data_size, char **cause)
{
    const char *name = t->name;
    char shp[WEIGHTS_SHAPE_STRLEN];

    if (!json_is_object(e))
        return log_cause(cause, "%s: tensor %s: header entry is not a JSON object", path, name);

    const json_t *dt = json_object_get(e, "dtype");
    if (!json_is_string(dt))
        return log_cause(cause, "%s: tensor %s: \"dtype\" is missing or not a string", path, name);
    if (weights_dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return log_cause(cause, "%s: unknown dtype \"%s\" for tensor %s (F16, BF16 and F32 are supported)",
                         path, json_string_value(dt), name);

    const json_t *sh = json_object_get(e, "shape");
    if (!json_is_array(sh))
        return log_cause(cause, "%s: tensor %s: \"shape\" is missing or not an array", path, name);
    if (json_array_size(sh) > WEIGHTS_MAX_DIMS)
        return log_cause(cause, "%s: tensor %s: shape has %zu dimensions, at most %d are supported",
                         path, name, json_array_size(sh), WEIGHTS_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t nelem = 1;
    int too_big = 0;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (weights_json_u64(json_array_get(sh, (size_t)i), &d) != 0)
            return log_cause(cause, "%s: tensor %s: shape entry %d is not a non-negative integer",
                             path, name, i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(nelem, d, &nelem))
            too_big = 1;
    }
    weights_format_shape(shp, sizeof shp, t->ndim, t->shape);
    uint64_t need;
    if (too_big || nelem > INT64_MAX
        || __builtin_mul_overflow(nelem, (uint64_t)weights_dtype_size(t->dtype), &need))
        return log_cause(cause, "%s: tensor %s: shape %s is too large", path, name, shp);
    t->nelem = (int64_t)nelem;

    const json_t *off = json_object_get(e, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(off) || json_array_size(off) != 2
        || weights_json_u64(json_array_get(off, 0), &begin) != 0
        || weights_json_u64(json_array_get(off, 1), &end) != 0)
        return log_cause(cause, "%s: tensor %s: \"data_offsets\" must be [begin, end] with non-negative "
                         "integers", path, name);
    if (begin > end)
        return log_cause(cause, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] have begin after end",
                         path, name, begin, end);
    if (end > data_size)
        return log_cause(cause, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end past the data "
                         "area of %" PRIu64 " bytes (truncated file?)", path, name, begin, end, data_size);
    if (end - begin != need)
        return log_cause(cause, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                         " bytes but %s x %s needs %" PRIu64, path, name, begin, end, end - begin,
                         weights_dtype_name(t->dtype), shp, need);
    span->begin = begin;
    span->end = end;
    span->name = name;
    return 0;
}

static int
weights_span_cmp(const void *a, const void *b)
{
    const weights_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* No byte of the data area may belong to two tensors (empty tensors own no bytes). */
static int
weights_check_overlap(weights_span *spans, size_t n, const char *path, char **cause)
{
    qsort(spans, n, sizeof *spans, weights_span_cmp);
    const weights_span *last = NULL; /* the non-empty tensor reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        const weights_span *s = &spans[i];
        if (s->begin == s->end)
            continue;
        if (last != NULL && last->end > s->begin)
            return log_cause(cause, "%s: tensors %s [%" PRIu64 ", %" PRIu64 "] and %s [%" PRIu64 ", %" PRIu64
                             "] overlap", path, last->name, last->begin, last->end, s->name, s->begin, s->end);
        if (last == NULL || s->end > last->end)
            last = s;
    }
    return 0;
}

/* Map one safetensors file and append its validated tensors. */
static int
weights_load_file(weights *w, const char *dir, const char *name, int from_index, char **cause)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = regfile_open(path, from_index ? "named in " WEIGHTS_INDEX_NAME : NULL, cause);
    if (fd < 0) {
        free(path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        log_cause(cause, "%s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    if (st.st_size < 8) {
        log_cause(cause, "%s: file is %lld bytes, too short for a safetensors file (at least 8)",
                  path, (long long)st.st_size);
        close(fd);
        free(path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file */
    if (map == MAP_FAILED) {
        log_cause(cause, "%s: cannot map %zu bytes: %s", path, size, strerror(map_errno));
        free(path);
        return -1;
    }

    /* Registered at once so that weights_free unmaps it whatever fails below. */
    w->files = xreallocarray(w->files, w->nfiles + 1, sizeof *w->files);
    weights_file *f = &w->files[w->nfiles++];
    f->path = path;
    f->name = xstrdup(name);
    f->map = map;
    f->size = size;

    const unsigned char *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return log_cause(cause, "%s: header length %" PRIu64 " exceeds the file size of %zu bytes "
                         "(corrupt or not a safetensors file)", path, hlen, size);

    json_error_t jerr;
    json_t *hdr = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (hdr == NULL)
        return log_cause(cause, "%s: header is not valid JSON: %s (line %d, column %d)",
                         path, jerr.text, jerr.line, jerr.column);
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        return log_cause(cause, "%s: header is not a JSON object", path);
    }

    const unsigned char *data = p + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    weights_span *spans = xcalloc(json_object_size(hdr) + 1, sizeof *spans);
    size_t nspans = 0;
    const char *key;
    json_t *e;
    int rc = 0;
    json_object_foreach(hdr, key, e) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        weights_tensor *t = weights_push(w);
        t->name = xstrdup(key);
        t->file = f->name;
        if (weights_parse_entry(t, &spans[nspans], e, path, data_size, cause) != 0) {
            rc = -1;
            break;
        }
        /* Byte alignment only: F32 data may sit at an odd-of-4 offset, so readers use memcpy-safe loads. */
        t->data = data + spans[nspans].begin;
        w->total_bytes += (size_t)(spans[nspans].end - spans[nspans].begin);
        nspans++;
    }
    if (rc == 0)
        rc = weights_check_overlap(spans, nspans, path, cause);
    free(spans);
    json_decref(hdr);
    return rc;
}

static int
weights_name_cmp(const void *a, const void *b)
{
    const weights_tensor *x = *(const weights_tensor *const *)a;
    const weights_tensor *y = *(const weights_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Sort the lookup table; a name held by two files is an error. */
static int
weights_build_lookup(weights *w, char **cause)
{
    w->sorted = xcalloc(w->ntensors + 1, sizeof *w->sorted);
    for (size_t i = 0; i < w->ntensors; i++)
        w->sorted[i] = &w->tensors[i];
    qsort(w->sorted, w->ntensors, sizeof *w->sorted, weights_name_cmp);
    for (size_t i = 1; i < w->ntensors; i++) {
        const weights_tensor *a = w->sorted[i - 1];
        const weights_tensor *b = w->sorted[i];
        if (strcmp(a->name, b->name) == 0)
            return log_cause(cause, "tensor %s is stored twice: in %s and in %s", a->name, a->file, b->file);
    }
    return 0;
}

static int
weights_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Load the shards an index names and check that every mapped tensor is where the index says. */
static int
weights_load_index(weights *w, const char *dir, const char *index_path, char **cause)
{
    FILE *fp = regfile_fopen(index_path, NULL, cause);
    if (fp == NULL)
        return -1;
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    if (root == NULL)
        return log_cause(cause, "%s: not valid JSON: %s (line %d, column %d)",
                         index_path, jerr.text, jerr.line, jerr.column);

    int rc = -1;
    const char **shards = NULL;
    size_t nshards = 0;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        log_cause(cause, "%s: \"weight_map\" is missing, empty or not an object", index_path);
        goto out;
    }
    const char *key;
    json_t *v;
    shards = xcalloc(json_object_size(map), sizeof *shards);
    json_object_foreach(map, key, v) {
        const char *s = json_string_value(v);
        if (s == NULL) {
            log_cause(cause, "%s: weight_map entry for %s is not a file name", index_path, key);
            goto out;
        }
        /* Shards must live in the model folder itself. */
        if (*s == '\0' || strchr(s, '/') != NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            log_cause(cause, "%s: weight_map entry for %s names \"%s\", not a file in the model folder",
                      index_path, key, s);
            goto out;
        }
        shards[nshards++] = s;
    }
    qsort(shards, nshards, sizeof *shards, weights_strcmp_ptr);
    for (size_t i = 0; i < nshards; i++) {
        if (i > 0 && strcmp(shards[i], shards[i - 1]) == 0)
            continue;
        if (weights_load_file(w, dir, shards[i], 1, cause) != 0)
            goto out;
    }
    if (weights_build_lookup(w, cause) != 0)
        goto out;
    json_object_foreach(map, key, v) {
        const char *s = json_string_value(v);
        const weights_tensor *t = weights_find(w, key);
        if (t == NULL) {
            log_cause(cause, "%s/%s: tensor %s is missing (named in " WEIGHTS_INDEX_NAME ")", dir, s, key);
            goto out;
        }
        if (strcmp(t->file, s) != 0) {
            log_cause(cause, "%s: tensor %s is mapped to %s but is stored in %s", index_path, key, s, t->file);
            goto out;
        }
    }
    rc = 0;
out:
    free(shards);
    json_decref(root);
    return rc;
}

static int
weights_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

weights *
weights_open(const char *dir, char **cause)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        log_cause(cause, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_cause(cause, "%s: not a directory (expected a model folder)", dir);
        return NULL;
    }

    weights *w = xcalloc(1, sizeof *w);
    char *index_path = xasprintf("%s/%s", dir, WEIGHTS_INDEX_NAME);
    char *single_path = xasprintf("%s/%s", dir, WEIGHTS_SINGLE_NAME);
    int rc;
    if (weights_exists(index_path)) {
        rc = weights_load_index(w, dir, index_path, cause);
    } else if (weights_exists(single_path)) {
        rc = weights_load_file(w, dir, WEIGHTS_SINGLE_NAME, 0, cause);
        if (rc == 0)
            rc = weights_build_lookup(w, cause);
    } else {
        char *bin = xasprintf("%s/pytorch_model.bin.index.json", dir);
        char *bin1 = xasprintf("%s/pytorch_model.bin", dir);
        int has_bin = weights_exists(bin) || weights_exists(bin1);
        rc = log_cause(cause, "%s: no model weights: neither %s nor %s is there%s", dir, WEIGHTS_INDEX_NAME,
                       WEIGHTS_SINGLE_NAME,
                       has_bin ? " (pytorch_model*.bin files are not supported: convert them to safetensors)"
                               : "");
        free(bin);
        free(bin1);
    }
    free(index_path);
    free(single_path);
    if (rc != 0) {
        weights_free(w);
        return NULL;
    }
    return w;
}

void
weights_free(weights *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nfiles; i++) {
        munmap(w->files[i].map, w->files[i].size);
        free(w->files[i].path);
        free(w->files[i].name);
    }
    for (size_t i = 0; i < w->ntensors; i++)
        free((char *)w->tensors[i].name);
    free(w->files);
    free(w->tensors);
    free(w->sorted);
    free(w);
}

const weights_tensor *
weights_find(const weights *w, const char *name)
{
    size_t lo = 0, hi = w->sorted != NULL ? w->ntensors : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const weights_tensor *t = w->sorted[mid];
        int c = strcmp(name, t->name);
        if (c == 0)
            return t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void
weights_drop_pages(const weights *w, const weights_tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t begin = (uintptr_t)t->data, end = begin + weights_tensor_bytes(t);
    for (size_t i = 0; i < w->nfiles; i++) {
        uintptr_t map = (uintptr_t)w->files[i].map;
        if (begin < map || end > map + w->files[i].size)
            continue;
        /* whole pages only: a neighbour's first or last bytes may share a page */
        uintptr_t lo = (begin + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        uintptr_t hi = end & ~((uintptr_t)page - 1);
        if (lo < hi)
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
        return;
    }
}

size_t
weights_count(const weights *w)
{
    return w->ntensors;
}

const weights_tensor *
weights_at(const weights *w, size_t i)
{
    return i < w->ntensors ? &w->tensors[i] : NULL;
}

size_t
weights_total_bytes(const weights *w)
{
    return w->total_bytes;
}

void
weights_tensor_to_f16(const weights_tensor *t, uint16_t *dst, weights_f16_loss *loss)
{
    memset(loss, 0, sizeof *loss);
    for (int64_t i = 0; i < t->nelem; i++) {
        float f = weights_tensor_value(t, i);
        uint16_t h = f32_to_f16(f);
        if (dst != NULL)
            dst[i] = h;
        if ((h & 0x7c00) != 0x7c00)
            continue; /* finite in fp16 */
        float mag = fabsf(f);
        if (isinf(f) || isnan(f)) {
            loss->nonfinite++;
        } else {
            loss->overflow++;
            if (mag > loss->largest)
                loss->largest = mag;
        }
    }
}

int
weights_f16_loss_check(const weights_tensor *t, const weights_f16_loss *loss, char **cause)
{
    if (loss->overflow == 0 && loss->nonfinite == 0)
        return 0;
    char *name = safetext_new(t->name, strlen(t->name), 0);
    char over[96] = "", bad[64] = "";
    if (loss->overflow > 0)
        snprintf(over, sizeof over, "%" PRId64 " value%s beyond fp16's range (largest magnitude %g)",
                 loss->overflow, loss->overflow == 1 ? "" : "s", (double)loss->largest);
    if (loss->nonfinite > 0)
        snprintf(bad, sizeof bad, "%s%" PRId64 " inf or NaN value%s already in the file",
                 loss->overflow > 0 ? " and " : "", loss->nonfinite,
                 loss->nonfinite == 1 ? "" : "s");
    log_cause(cause, "tensor %s (%s, %" PRId64 " values) has %s%s: fp16 holds magnitudes up to 65504, "
              "beyond that a value becomes inf",
              name, weights_dtype_name(t->dtype), t->nelem, over, bad);
    free(name);
    return -1;
}
