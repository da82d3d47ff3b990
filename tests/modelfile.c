#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "f16.h"
#include "log.h"
#include "modelfile.h"
#include "weights.h"
#include "xmalloc.h"

#define MODELFILE_INDEX "model.safetensors.index.json"
#define MODELFILE_SINGLE "model.safetensors"

/* ------------------------------------------------------------------ files */

static char *
modelfile_read_all(const char *path, size_t *len, char **cause)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        log_cause(cause, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *buf = xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        log_cause(cause, "%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int
modelfile_write_all(const char *path, const void *data, size_t len, char **cause)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return log_cause(cause, "%s: %s", path, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0 || !ok)
        return log_cause(cause, "%s: write error", path);
    return 0;
}

static int
modelfile_remove(const char *dir, const char *name, char **cause)
{
    char *path = xasprintf("%s/%s", dir, name);
    int rc = unlink(path) == 0 ? 0 : log_cause(cause, "%s: %s", path, strerror(errno));
    free(path);
    return rc;
}

/* Load a JSON file of dir. */
static json_t *
modelfile_json_load(const char *dir, const char *name, char **cause)
{
    char *path = xasprintf("%s/%s", dir, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        log_cause(cause, "%s: %s (line %d)", path, jerr.text, jerr.line);
    free(path);
    return root;
}

/* Write a JSON file of dir the way transformers does (sorted keys, indent 2). */
static int
modelfile_json_save(const json_t *root, const char *dir, const char *name, char **cause)
{
    char *path = xasprintf("%s/%s", dir, name);
    int rc = 0;
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(12)) != 0)
        rc = log_cause(cause, "%s: cannot write", path);
    free(path);
    return rc;
}

int
modelfile_copy_dir(const char *src, const char *dst, char **cause)
{
    DIR *d = opendir(dst);
    if (d != NULL) {
        struct dirent *e;
        int empty = 1;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                empty = 0;
        closedir(d);
        if (!empty)
            return log_cause(cause, "%s: exists and is not empty", dst);
    } else if (mkdir(dst, 0777) != 0) {
        return log_cause(cause, "%s: %s", dst, strerror(errno));
    }
    d = opendir(src);
    if (d == NULL)
        return log_cause(cause, "%s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *from = xasprintf("%s/%s", src, e->d_name);
        struct stat st;
        if (stat(from, &st) == 0 && S_ISREG(st.st_mode)) {
            char *to = xasprintf("%s/%s", dst, e->d_name);
            size_t len;
            char *buf = modelfile_read_all(from, &len, cause);
            rc = buf != NULL ? modelfile_write_all(to, buf, len, cause) : -1;
            free(buf);
            free(to);
        }
        free(from);
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------ safetensors */

int
modelfile_st_read(modelfile_st *st, const char *path, char **cause)
{
    size_t len;
    memset(st, 0, sizeof *st);
    unsigned char *buf = (unsigned char *)modelfile_read_all(path, &len, cause);
    if (buf == NULL)
        return -1;
    uint64_t hlen = 0;
    for (int i = 7; len >= 8 && i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    if (len < 8 || hlen > len - 8) {
        free(buf);
        return log_cause(cause, "%s: not a safetensors file", path);
    }
    json_error_t jerr;
    st->header = json_loadb((const char *)buf + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(st->header)) {
        json_decref(st->header);
        st->header = NULL;
        free(buf);
        return log_cause(cause, "%s: bad header: %s", path, jerr.text);
    }
    st->size = len - 8 - (size_t)hlen;
    st->data = xmalloc(st->size + 1);
    memcpy(st->data, buf + 8 + hlen, st->size);
    free(buf);
    return 0;
}

void
modelfile_st_init(modelfile_st *st)
{
    memset(st, 0, sizeof *st);
    st->header = json_object();
    json_object_set_new(st->header, "__metadata__", json_pack("{s:s}", "format", "pt"));
}

void
modelfile_st_add(modelfile_st *st, const char *name, const char *dtype, json_t *shape, const void *data,
                 size_t nbytes)
{
    size_t begin = st->size;
    st->data = xrealloc(st->data, begin + nbytes + 1);
    memcpy(st->data + begin, data, nbytes);
    st->size += nbytes;
    json_object_set_new(st->header, name,
                        json_pack("{s:s, s:O, s:[I, I]}", "dtype", dtype, "shape", shape, "data_offsets",
                                  (json_int_t)begin, (json_int_t)st->size));
}

const unsigned char *
modelfile_st_tensor(const modelfile_st *st, const char *name, size_t *nbytes)
{
    json_t *off = json_object_get(json_object_get(st->header, name), "data_offsets");
    if (!json_is_array(off))
        return NULL;
    json_int_t b = json_integer_value(json_array_get(off, 0));
    json_int_t e = json_integer_value(json_array_get(off, 1));
    if (b < 0 || e < b || (size_t)e > st->size)
        return NULL;
    *nbytes = (size_t)(e - b);
    return st->data + b;
}

int
modelfile_st_write(const modelfile_st *st, const char *path, char **cause)
{
    char *json = json_dumps(st->header, JSON_COMPACT);
    size_t jlen = strlen(json);
    size_t hlen = (jlen + 7) & ~(size_t)7; /* data starts 8-byte aligned, as safetensors writes it */
    size_t total = 8 + hlen + st->size;
    unsigned char *buf = xmalloc(total);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, json, jlen);
    memset(buf + 8 + jlen, ' ', hlen - jlen);
    if (st->size > 0)
        memcpy(buf + 8 + hlen, st->data, st->size);
    int rc = modelfile_write_all(path, buf, total, cause);
    free(buf);
    free(json);
    return rc;
}

void
modelfile_st_free(modelfile_st *st)
{
    json_decref(st->header);
    free(st->data);
    memset(st, 0, sizeof *st);
}

/* ------------------------------------------------------------ index */

static int
modelfile_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The distinct shard names of an index, sorted (borrowed from it); NULL-terminated. */
static const char **
modelfile_shards(json_t *index)
{
    json_t *map = json_object_get(index, "weight_map");
    const char **names = xcalloc(json_object_size(map) + 1, sizeof *names);
    size_t n = 0, m = 0;
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v) {
        if (json_is_string(v))
            names[n++] = json_string_value(v);
    }
    qsort(names, n, sizeof *names, modelfile_strcmp_ptr);
    for (size_t i = 0; i < n; i++)
        if (m == 0 || strcmp(names[i], names[m - 1]) != 0)
            names[m++] = names[i];
    names[m] = NULL;
    return names;
}

/* The files holding the weights: the index's shards, else model.safetensors (*index NULL). */
static const char **
modelfile_weight_files(const char *dir, json_t **index, char **cause)
{
    char *path = xasprintf("%s/" MODELFILE_INDEX, dir);
    struct stat st;
    int has_index = stat(path, &st) == 0;
    free(path);
    *index = NULL;
    if (!has_index) {
        const char **one = xcalloc(2, sizeof *one);
        one[0] = MODELFILE_SINGLE;
        return one;
    }
    *index = modelfile_json_load(dir, MODELFILE_INDEX, cause);
    if (*index == NULL)
        return NULL;
    if (!json_is_object(json_object_get(*index, "weight_map"))) {
        json_decref(*index);
        *index = NULL;
        log_cause(cause, "%s/" MODELFILE_INDEX ": no weight_map", dir);
        return NULL;
    }
    return modelfile_shards(*index);
}

/* Read the shard holding tensor name; *file gets its name (new string). */
static int
modelfile_st_read_holding(modelfile_st *st, const char *dir, const char *name, char **file, char **cause)
{
    json_t *index;
    const char **files = modelfile_weight_files(dir, &index, cause);
    if (files == NULL)
        return -1;
    int rc = -1;
    const char *shard = MODELFILE_SINGLE;
    if (index != NULL)
        shard = json_string_value(json_object_get(json_object_get(index, "weight_map"), name));
    if (shard == NULL) {
        log_cause(cause, "%s: no tensor %s in the index", dir, name);
    } else {
        char *path = xasprintf("%s/%s", dir, shard);
        rc = modelfile_st_read(st, path, cause);
        free(path);
        if (rc == 0 && json_object_get(st->header, name) == NULL) {
            modelfile_st_free(st);
            rc = log_cause(cause, "%s/%s: no tensor %s", dir, shard, name);
        }
        if (rc == 0)
            *file = xstrdup(shard);
    }
    free(files);
    json_decref(index);
    return rc;
}

/* Set the total_size of an index from the files it names. */
static void
modelfile_index_total(json_t *index, size_t total)
{
    json_t *meta = json_object_get(index, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(index, "metadata", meta);
    }
    json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
}

/* ------------------------------------------------------------ dtypes */

static int
modelfile_dtype(const char *s, weights_dtype *dt)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "F16") == 0)
        *dt = WEIGHTS_F16;
    else if (strcmp(s, "BF16") == 0)
        *dt = WEIGHTS_BF16;
    else if (strcmp(s, "F32") == 0)
        *dt = WEIGHTS_F32;
    else
        return -1;
    return 0;
}

/* Round a float to bfloat16, nearest-even, keeping NaN a NaN. */
static uint16_t
modelfile_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float
modelfile_get(const unsigned char *p, weights_dtype dt, size_t i)
{
    weights_tensor t = {.dtype = dt, .data = p};
    return weights_tensor_value(&t, (int64_t)i);
}

static void
modelfile_put(unsigned char *p, weights_dtype dt, size_t i, float f)
{
    uint16_t h;
    switch (dt) {
    case WEIGHTS_F16:
        h = f32_to_f16(f);
        memcpy(p + 2 * i, &h, 2);
        return;
    case WEIGHTS_BF16:
        h = modelfile_f32_to_bf16(f);
        memcpy(p + 2 * i, &h, 2);
        return;
    default: /* F32: files hold no quantized tensors */
        break;
    }
    memcpy(p + 4 * i, &f, 4);
}

/*
 * Rewrite every weight file of dir with all tensors in dtype to (through float); the first value
 * of the tensor named big (NULL: none) becomes MODELFILE_BIG, beyond fp16's range.
 */
#define MODELFILE_BIG 100000.0f
#define MODELFILE_BIG_TENSOR "model.layers.0.mlp.fc2.weight"
static int
modelfile_convert(const char *dir, weights_dtype to, const char *big, char **cause)
{
    json_t *index;
    const char **files = modelfile_weight_files(dir, &index, cause);
    if (files == NULL)
        return -1;
    int rc = 0;
    size_t total = 0;
    for (size_t f = 0; rc == 0 && files[f] != NULL; f++) {
        char *path = xasprintf("%s/%s", dir, files[f]);
        modelfile_st in, out;
        rc = modelfile_st_read(&in, path, cause);
        if (rc == 0) {
            modelfile_st_init(&out);
            const char *key;
            json_t *e;
            json_object_foreach(in.header, key, e) {
                weights_dtype from;
                size_t nbytes;
                const unsigned char *src = modelfile_st_tensor(&in, key, &nbytes);
                if (strcmp(key, "__metadata__") == 0)
                    continue;
                if (src == NULL
                    || modelfile_dtype(json_string_value(json_object_get(e, "dtype")), &from) != 0) {
                    rc = log_cause(cause, "%s: cannot convert tensor %s", path, key);
                    break;
                }
                size_t n = nbytes / weights_dtype_size(from);
                unsigned char *dst = xmalloc(n * weights_dtype_size(to) + 1);
                for (size_t i = 0; i < n; i++)
                    modelfile_put(dst, to, i, modelfile_get(src, from, i));
                if (big != NULL && strcmp(key, big) == 0 && n > 0)
                    modelfile_put(dst, to, 0, MODELFILE_BIG);
                modelfile_st_add(&out, key, weights_dtype_name(to), json_object_get(e, "shape"), dst,
                                 n * weights_dtype_size(to));
                free(dst);
            }
            if (rc == 0)
                rc = modelfile_st_write(&out, path, cause);
            total += out.size;
            modelfile_st_free(&out);
            modelfile_st_free(&in);
        }
        free(path);
    }
    if (rc == 0 && index != NULL) {
        modelfile_index_total(index, total);
        rc = modelfile_json_save(index, dir, MODELFILE_INDEX, cause);
    }
    free(files);
    json_decref(index);
    return rc;
}

/* ------------------------------------------------------------ corruptions */

/* Apply fn to the header entry of tensor name and write its file back. */
static int
modelfile_edit(const char *dir, const char *name, void (*fn)(json_t *entry, const modelfile_st *st),
               char **file, char **cause)
{
    modelfile_st st;
    if (modelfile_st_read_holding(&st, dir, name, file, cause) != 0)
        return -1;
    fn(json_object_get(st.header, name), &st);
    char *path = xasprintf("%s/%s", dir, *file);
    int rc = modelfile_st_write(&st, path, cause);
    free(path);
    modelfile_st_free(&st);
    return rc;
}

static json_int_t
modelfile_offset(json_t *entry, size_t i)
{
    return json_integer_value(json_array_get(json_object_get(entry, "data_offsets"), i));
}

static void
modelfile_set_offsets(json_t *entry, json_int_t begin, json_int_t end)
{
    json_object_set_new(entry, "data_offsets", json_pack("[I, I]", begin, end));
}

static void
modelfile_fix_out_of_range(json_t *entry, const modelfile_st *st)
{
    json_int_t size = (json_int_t)st->size;
    modelfile_set_offsets(entry, modelfile_offset(entry, 0) + size, modelfile_offset(entry, 1) + size);
}

static void
modelfile_fix_mismatch(json_t *entry, const modelfile_st *st)
{
    modelfile_set_offsets(entry, modelfile_offset(entry, 0), modelfile_offset(entry, 0) + 100);
}

static void
modelfile_fix_overlap(json_t *entry, const modelfile_st *st)
{
    modelfile_set_offsets(entry, modelfile_offset(entry, 0) - 2, modelfile_offset(entry, 1) - 2);
}

static void
modelfile_fix_dtype(json_t *entry, const modelfile_st *st)
{
    json_object_set_new(entry, "dtype", json_string("I8"));
}

static void
modelfile_fix_shape(json_t *entry, const modelfile_st *st)
{
    json_t *shape = json_object_get(entry, "shape");
    json_object_set_new(entry, "shape",
                        json_pack("[O, O]", json_array_get(shape, 1), json_array_get(shape, 0)));
}

/* Tensors the header edits hit (all in the small second shard of imp-tiny, except the embedding). */
#define MODELFILE_T_RANGE "model.layers.1.mlp.fc2.weight"
#define MODELFILE_T_MISMATCH "model.embed_tokens.weight"
#define MODELFILE_T_OVERLAP "model.layers.0.mlp.fc1.weight"
#define MODELFILE_T_DTYPE "model.layers.0.self_attn.q_proj.weight"
#define MODELFILE_T_SHAPE "model.layers.0.mlp.fc1.weight"
#define MODELFILE_T_MISSING "model.layers.1.mlp.fc2.weight"

static int
modelfile_header_kind(const char *dir, const char *kind, char **what, char **cause)
{
    static const struct {
        const char *kind, *tensor, *desc;
        void (*fn)(json_t *, const modelfile_st *);
    } edits[] = {
        { "offset-out-of-range", MODELFILE_T_RANGE, "data_offsets moved past the data area",
          modelfile_fix_out_of_range },
        { "offset-mismatch", MODELFILE_T_MISMATCH, "data_offsets end set to begin + 100",
          modelfile_fix_mismatch },
        { "overlap", MODELFILE_T_OVERLAP, "data_offsets moved 2 bytes back into the previous tensor",
          modelfile_fix_overlap },
        { "unknown-dtype", MODELFILE_T_DTYPE, "dtype set to \"I8\"", modelfile_fix_dtype },
        { "wrong-shape", MODELFILE_T_SHAPE, "shape transposed", modelfile_fix_shape },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        if (strcmp(kind, edits[i].kind) != 0)
            continue;
        char *file = NULL;
        if (modelfile_edit(dir, edits[i].tensor, edits[i].fn, &file, cause) != 0)
            return -1;
        *what = xasprintf("%s/%s: tensor %s: %s", dir, file, edits[i].tensor, edits[i].desc);
        free(file);
        return 0;
    }
    return 1;
}

/* Remove a tensor from its shard's header and from the index. */
static int
modelfile_missing_tensor(const char *dir, char **what, char **cause)
{
    modelfile_st st;
    char *file;
    if (modelfile_st_read_holding(&st, dir, MODELFILE_T_MISSING, &file, cause) != 0)
        return -1;
    json_object_del(st.header, MODELFILE_T_MISSING);
    char *path = xasprintf("%s/%s", dir, file);
    int rc = modelfile_st_write(&st, path, cause);
    modelfile_st_free(&st);
    json_t *index = NULL;
    const char **files = rc == 0 ? modelfile_weight_files(dir, &index, cause) : NULL;
    if (files == NULL)
        rc = -1;
    if (rc == 0 && index != NULL) {
        json_object_del(json_object_get(index, "weight_map"), MODELFILE_T_MISSING);
        rc = modelfile_json_save(index, dir, MODELFILE_INDEX, cause);
    }
    if (rc == 0)
        *what = xasprintf("%s: tensor %s removed (header and index)", path, MODELFILE_T_MISSING);
    free(files);
    json_decref(index);
    free(path);
    free(file);
    return rc;
}

/* Raw byte edits of the first or last weight file: truncation, header length, header JSON. */
static int
modelfile_raw_kind(const char *dir, const char *kind, char **what, char **cause)
{
    int truncate = strcmp(kind, "truncated-shard") == 0;
    int absurd = strcmp(kind, "absurd-header") == 0;
    int badjson = strcmp(kind, "bad-json-header") == 0;
    int missing = strcmp(kind, "missing-shard") == 0;
    if (!truncate && !absurd && !badjson && !missing)
        return 1;
    json_t *index;
    const char **files = modelfile_weight_files(dir, &index, cause);
    if (files == NULL)
        return -1;
    size_t n = 0;
    while (files[n] != NULL)
        n++;
    /* the large first shard for length damage, the last (small) one otherwise */
    const char *name = truncate || absurd ? files[0] : files[n - 1];
    char *path = xasprintf("%s/%s", dir, name);
    size_t len = 0;
    char *buf = NULL;
    int rc = 0;
    if (missing) {
        rc = unlink(path) == 0 ? 0 : log_cause(cause, "%s: %s", path, strerror(errno));
        if (rc == 0)
            *what = xasprintf("%s: removed", path);
    } else if ((buf = modelfile_read_all(path, &len, cause)) == NULL) {
        rc = -1;
    } else if (len < 16) {
        rc = log_cause(cause, "%s: too short to damage", path);
    } else if (truncate) {
        rc = modelfile_write_all(path, buf, len / 2, cause);
        if (rc == 0)
            *what = xasprintf("%s: truncated from %zu to %zu bytes", path, len, len / 2);
    } else if (absurd) {
        uint64_t absurd_len = (uint64_t)1 << 60;
        for (int i = 0; i < 8; i++)
            buf[i] = (char)(unsigned char)(absurd_len >> (8 * i));
        rc = modelfile_write_all(path, buf, len, cause);
        if (rc == 0)
            *what = xasprintf("%s: header length set to %llu", path, (unsigned long long)absurd_len);
    } else {
        /* the first ':' of the header becomes ';' (line 1, a few columns in) */
        char *colon = memchr(buf + 8, ':', len - 8);
        if (colon == NULL) {
            rc = log_cause(cause, "%s: no ':' in the header", path);
        } else {
            *colon = ';';
            rc = modelfile_write_all(path, buf, len, cause);
            if (rc == 0)
                *what = xasprintf("%s: header JSON broken at byte %zu (':' -> ';')", path,
                                  (size_t)(colon - buf - 8));
        }
    }
    free(buf);
    free(path);
    free(files);
    json_decref(index);
    return rc;
}

/* Truncate a text file to half its length (breaks JSON, and a merges line). */
static int
modelfile_halve(const char *dir, const char *name, char **what, char **cause)
{
    char *path = xasprintf("%s/%s", dir, name);
    size_t len;
    char *buf = modelfile_read_all(path, &len, cause);
    int rc = buf != NULL ? modelfile_write_all(path, buf, len / 2, cause) : -1;
    if (rc == 0)
        *what = xasprintf("%s: truncated from %zu to %zu bytes", path, len, len / 2);
    free(buf);
    free(path);
    return rc;
}

/* Drop hidden_size (and n_embd) from config.json. */
static int
modelfile_config_missing_key(const char *dir, char **what, char **cause)
{
    json_t *cfg = modelfile_json_load(dir, "config.json", cause);
    if (cfg == NULL)
        return -1;
    json_object_del(cfg, "hidden_size");
    json_object_del(cfg, "n_embd");
    int rc = modelfile_json_save(cfg, dir, "config.json", cause);
    if (rc == 0)
        *what = xasprintf("%s/config.json: key \"hidden_size\" removed", dir);
    json_decref(cfg);
    return rc;
}

/* Put a line with a single symbol right after the #version line of merges.txt. */
static int
modelfile_bad_merges(const char *dir, char **what, char **cause)
{
    char *path = xasprintf("%s/merges.txt", dir);
    size_t len;
    char *buf = modelfile_read_all(path, &len, cause);
    int rc = -1;
    if (buf != NULL) {
        const char *bad = "this-merge-line-has-one-symbol\n";
        char *nl = memchr(buf, '\n', len);
        size_t head = nl != NULL ? (size_t)(nl - buf) + 1 : 0;
        size_t blen = strlen(bad);
        char *out = xmalloc(len + blen);
        memcpy(out, buf, head);
        memcpy(out + head, bad, blen);
        memcpy(out + head + blen, buf + head, len - head);
        rc = modelfile_write_all(path, out, len + blen, cause);
        if (rc == 0)
            *what = xasprintf("%s:2: a merge line with one symbol", path);
        free(out);
    }
    free(buf);
    free(path);
    return rc;
}

/* Merge the shards into one model.safetensors and drop the index. */
static int
modelfile_single_file(const char *dir, char **what, char **cause)
{
    json_t *index;
    const char **files = modelfile_weight_files(dir, &index, cause);
    if (files == NULL)
        return -1;
    int rc = 0;
    modelfile_st out;
    modelfile_st_init(&out);
    for (size_t f = 0; rc == 0 && index != NULL && files[f] != NULL; f++) {
        char *path = xasprintf("%s/%s", dir, files[f]);
        modelfile_st in;
        rc = modelfile_st_read(&in, path, cause);
        if (rc == 0) {
            const char *key;
            json_t *e;
            json_object_foreach(in.header, key, e) {
                size_t nbytes;
                const unsigned char *data = modelfile_st_tensor(&in, key, &nbytes);
                if (strcmp(key, "__metadata__") == 0)
                    continue;
                if (data == NULL) {
                    rc = log_cause(cause, "%s: bad offsets for %s", path, key);
                    break;
                }
                modelfile_st_add(&out, key, json_string_value(json_object_get(e, "dtype")),
                                 json_object_get(e, "shape"), data, nbytes);
            }
            modelfile_st_free(&in);
            if (rc == 0)
                rc = modelfile_remove(dir, files[f], cause);
        }
        free(path);
    }
    if (index == NULL)
        rc = log_cause(cause, "%s: already a single file", dir);
    if (rc == 0)
        rc = modelfile_remove(dir, MODELFILE_INDEX, cause);
    if (rc == 0) {
        char *path = xasprintf("%s/" MODELFILE_SINGLE, dir);
        rc = modelfile_st_write(&out, path, cause);
        if (rc == 0)
            *what = xasprintf("%s: every tensor in one file, no index", path);
        free(path);
    }
    modelfile_st_free(&out);
    free(files);
    json_decref(index);
    return rc;
}

const char *const modelfile_kinds[] = {
    "missing-shard", "truncated-shard", "absurd-header", "bad-json-header", "offset-out-of-range",
    "offset-mismatch", "overlap", "unknown-dtype", "wrong-shape", "missing-tensor", "no-config",
    "config-missing-key", "bad-config-json", "no-vocab", "bad-vocab", "no-merges", "bad-merges",
    "single-file", "bf16", "f32", "f32-overflow", NULL,
};

int
modelfile_corrupt(const char *kind, const char *src, const char *dst, char **what, char **cause)
{
    int known = 0;
    for (size_t i = 0; modelfile_kinds[i] != NULL; i++)
        known |= strcmp(kind, modelfile_kinds[i]) == 0;
    if (!known)
        return log_cause(cause, "unknown kind \"%s\"", kind);
    if (modelfile_copy_dir(src, dst, cause) != 0)
        return -1;
    *what = NULL;
    int rc = modelfile_header_kind(dst, kind, what, cause);
    if (rc <= 0)
        return rc;
    rc = modelfile_raw_kind(dst, kind, what, cause);
    if (rc <= 0)
        return rc;
    static const struct {
        const char *kind, *file;
    } removals[] = {
        { "no-config", "config.json" }, { "no-vocab", "vocab.json" }, { "no-merges", "merges.txt" },
    };
    for (size_t i = 0; i < sizeof removals / sizeof removals[0]; i++) {
        if (strcmp(kind, removals[i].kind) == 0) {
            if (modelfile_remove(dst, removals[i].file, cause) != 0)
                return -1;
            *what = xasprintf("%s/%s: removed", dst, removals[i].file);
            return 0;
        }
    }
    if (strcmp(kind, "bad-config-json") == 0)
        return modelfile_halve(dst, "config.json", what, cause);
    if (strcmp(kind, "bad-vocab") == 0)
        return modelfile_halve(dst, "vocab.json", what, cause);
    if (strcmp(kind, "bad-merges") == 0)
        return modelfile_bad_merges(dst, what, cause);
    if (strcmp(kind, "config-missing-key") == 0)
        return modelfile_config_missing_key(dst, what, cause);
    if (strcmp(kind, "missing-tensor") == 0)
        return modelfile_missing_tensor(dst, what, cause);
    if (strcmp(kind, "single-file") == 0)
        return modelfile_single_file(dst, what, cause);
    weights_dtype to = strcmp(kind, "bf16") == 0 ? WEIGHTS_BF16 : WEIGHTS_F32;
    int big = strcmp(kind, "f32-overflow") == 0;
    if (modelfile_convert(dst, to, big ? MODELFILE_BIG_TENSOR : NULL, cause) != 0)
        return -1;
    *what = xasprintf("%s: every tensor converted to %s%s", dst, weights_dtype_name(to),
                      big ? ", the first value of " MODELFILE_BIG_TENSOR " set to 100000 (beyond "
                            "fp16's range)"
                          : "");
    return 0;
}

/* ------------------------------------------------------------ old layout */

/* Results of modelfile_old_name besides -1. */
enum { MODELFILE_OLD_COPY, MODELFILE_OLD_FUSE, MODELFILE_OLD_SKIP };

/*
 * The old name of a new-layout tensor (MODEL.md B3.2) into *old: COPY for a plain rename, FUSE for
 * q_proj (whose old name is Wqkv, made of q|k|v), SKIP for k_proj and v_proj; -1 when unknown.
 */
static int
modelfile_old_name(const char *name, char **old, char **cause)
{
    static const struct {
        const char *from, *to;
    } prefixes[] = {
        { "model.vision_tower.", "transformer.vision_tower." },
        { "model.mm_projector.", "transformer.mm_projector." },
        { "model.final_layernorm.", "lm_head.ln." },
        { "lm_head.", "lm_head.linear." },
    };
    static const struct {
        const char *from, *to;
    } parts[] = {
        { "input_layernorm", "ln" }, { "self_attn.q_proj", "mixer.Wqkv" }, { "self_attn.k_proj", NULL },
        { "self_attn.v_proj", NULL }, { "self_attn.dense", "mixer.out_proj" }, { "mlp.fc1", "mlp.fc1" },
        { "mlp.fc2", "mlp.fc2" },
    };
    *old = NULL;
    if (strcmp(name, "model.embed_tokens.weight") == 0) {
        *old = xstrdup("transformer.embd.wte.weight");
        return MODELFILE_OLD_COPY;
    }
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i].from);
        if (strncmp(name, prefixes[i].from, n) == 0) {
            *old = xasprintf("%s%s", prefixes[i].to, name + n);
            return MODELFILE_OLD_COPY;
        }
    }
    int layer, off = 0;
    if (sscanf(name, "model.layers.%d.%n", &layer, &off) == 1 && off > 0) {
        const char *rest = name + off;
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            size_t n = strlen(parts[i].from);
            if (strncmp(rest, parts[i].from, n) != 0 || rest[n] != '.')
                continue;
            if (parts[i].to == NULL)
                return MODELFILE_OLD_SKIP;
            *old = xasprintf("transformer.h.%d.%s%s", layer, parts[i].to, rest + n);
            return strcmp(parts[i].from, "self_attn.q_proj") == 0 ? MODELFILE_OLD_FUSE : MODELFILE_OLD_COPY;
        }
    }
    return log_cause(cause, "tensor %s has no old-layout name", name);
}

/* Find a tensor in any of the shards read. */
static const unsigned char *
modelfile_find_any(modelfile_st *in, size_t n, const char *name, json_t **entry, size_t *nbytes)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = modelfile_st_tensor(&in[i], name, nbytes);
        if (p != NULL) {
            *entry = json_object_get(in[i].header, name);
            return p;
        }
    }
    return NULL;
}

/* Append the fused q|k|v of the q_proj tensor qname under old. */
static int
modelfile_add_fused(modelfile_st *out, modelfile_st *in, size_t nin, const char *qname, const char *old,
                    char **cause)
{
    const unsigned char *part[3];
    json_t *entry[3];
    size_t nbytes[3];
    size_t at = (size_t)(strstr(qname, "q_proj") - qname);
    for (int i = 0; i < 3; i++) {
        char *name = xstrdup(qname);
        name[at] = "qkv"[i];
        part[i] = modelfile_find_any(in, nin, name, &entry[i], &nbytes[i]);
        free(name);
        if (part[i] == NULL)
            return log_cause(cause, "%s: the matching %c_proj is missing", qname, "qkv"[i]);
    }
    const char *dtype = json_string_value(json_object_get(entry[0], "dtype"));
    json_t *shape = json_deep_copy(json_object_get(entry[0], "shape"));
    json_int_t rows = json_integer_value(json_array_get(shape, 0));
    if (nbytes[1] != nbytes[0] || nbytes[2] != nbytes[0]) {
        json_decref(shape);
        return log_cause(cause, "%s: q, k and v differ in size", qname);
    }
    json_array_set_new(shape, 0, json_integer(3 * rows));
    unsigned char *data = xmalloc(3 * nbytes[0] + 1);
    for (int i = 0; i < 3; i++)
        memcpy(data + i * nbytes[0], part[i], nbytes[0]);
    modelfile_st_add(out, old, dtype, shape, data, 3 * nbytes[0]);
    free(data);
    json_decref(shape);
    return 0;
}

/* config.json with the keys of the original remote-code Phi config instead of the transformers ones. */
static int
modelfile_old_config(const char *src, const char *dst, char **cause)
{
    json_t *cfg = modelfile_json_load(src, "config.json", cause);
    if (cfg == NULL)
        return -1;
    json_int_t hidden = json_integer_value(json_object_get(cfg, "hidden_size"));
    json_int_t heads = json_integer_value(json_object_get(cfg, "num_attention_heads"));
    json_int_t layers = json_integer_value(json_object_get(cfg, "num_hidden_layers"));
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    json_t *factor = json_object_get(cfg, "partial_rotary_factor");
    if (hidden <= 0 || heads <= 0 || layers <= 0) {
        json_decref(cfg);
        return log_cause(cause, "%s/config.json: not a new-layout config", src);
    }
    double f = json_is_number(factor) ? json_number_value(factor) : 0.4;
    json_object_set_new(cfg, "n_embd", json_integer(hidden));
    json_object_set_new(cfg, "n_head", json_integer(heads));
    json_object_set_new(cfg, "n_head_kv", json_null());
    json_object_set_new(cfg, "n_layer", json_integer(layers));
    json_object_set_new(cfg, "n_inner", json_null());
    json_object_set_new(cfg, "n_positions", json_integer(3072));
    json_object_set_new(cfg, "rotary_dim", json_integer((json_int_t)((double)(hidden / heads) * f)));
    json_object_set_new(cfg, "layer_norm_epsilon",
                        json_real(json_is_number(eps) ? json_number_value(eps) : 1e-5));
    json_object_set_new(cfg, "flash_attn", json_false());
    json_object_set_new(cfg, "flash_rotary", json_false());
    json_object_set_new(cfg, "fused_dense", json_false());
    /* the transformers-Phi keys the old config did not have (their defaults are Phi-2's values) */
    static const char *const gone[] = {
        "hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "layer_norm_eps",
        "partial_rotary_factor", "num_key_value_heads", "rope_theta", "max_position_embeddings",
        "qk_layernorm", "rope_scaling", "hidden_act",
    };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        json_object_del(cfg, gone[i]);
    int rc = modelfile_json_save(cfg, dst, "config.json", cause);
    json_decref(cfg);
    return rc;
}

int
modelfile_oldlayout(const char *src, const char *dst, char **cause)
{
    json_t *index;
    const char **files = modelfile_weight_files(src, &index, cause);
    if (files == NULL)
        return -1;
    size_t nfiles = 0;
    while (files[nfiles] != NULL)
        nfiles++;
    modelfile_st *in = xcalloc(nfiles, sizeof *in);
    modelfile_st *out = xcalloc(nfiles, sizeof *out);
    json_t *map = json_object();
    int rc = index != NULL ? 0 : log_cause(cause, "%s: no " MODELFILE_INDEX, src);
    size_t nread = 0;
    for (; rc == 0 && nread < nfiles; nread++) {
        char *path = xasprintf("%s/%s", src, files[nread]);
        rc = modelfile_st_read(&in[nread], path, cause);
        free(path);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = modelfile_copy_dir(src, dst, cause);
    /* Each old tensor goes to the shard its new counterpart (q_proj for Wqkv) was in. */
    for (size_t f = 0; rc == 0 && f < nfiles; f++) {
        modelfile_st_init(&out[f]);
        const char *key;
        json_t *e;
        json_object_foreach(in[f].header, key, e) {
            char *old;
            size_t nbytes;
            const unsigned char *data;
            if (strcmp(key, "__metadata__") == 0)
                continue;
            int how = modelfile_old_name(key, &old, cause);
            if (how == MODELFILE_OLD_SKIP)
                continue;
            if (how < 0) {
                rc = -1;
                break;
            }
            if (how == MODELFILE_OLD_FUSE) {
                rc = modelfile_add_fused(&out[f], in, nfiles, key, old, cause);
            } else if ((data = modelfile_st_tensor(&in[f], key, &nbytes)) == NULL) {
                rc = log_cause(cause, "%s/%s: bad offsets for %s", src, files[f], key);
            } else {
                modelfile_st_add(&out[f], old, json_string_value(json_object_get(e, "dtype")),
                                 json_object_get(e, "shape"), data, nbytes);
            }
            json_object_set_new(map, old, json_string(files[f]));
            free(old);
            if (rc != 0)
                break;
        }
    }
    size_t total = 0;
    for (size_t f = 0; rc == 0 && f < nfiles; f++) {
        char *path = xasprintf("%s/%s", dst, files[f]);
        rc = modelfile_st_write(&out[f], path, cause);
        total += out[f].size;
        free(path);
    }
    if (rc == 0) {
        json_t *idx = json_object();
        json_object_set_new(idx, "weight_map", json_incref(map));
        modelfile_index_total(idx, total);
        rc = modelfile_json_save(idx, dst, MODELFILE_INDEX, cause);
        json_decref(idx);
    }
    if (rc == 0)
        rc = modelfile_old_config(src, dst, cause);
    for (size_t f = 0; f < nfiles; f++) {
        modelfile_st_free(&in[f]);
        if (out[f].header != NULL)
            modelfile_st_free(&out[f]);
    }
    free(in);
    free(out);
    json_decref(map);
    free(files);
    json_decref(index);
    return rc;
}
