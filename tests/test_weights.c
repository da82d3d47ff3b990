#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "f16.h"
#include "modelfile.h"
#include "testutil.h"
#include "weights.h"
#include "xmalloc.h"

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"
#define TINY_TENSORS 72

static char *tiny; /* the fixture model folder */
static const char *scratch;

/* A message for printing: NULL reads "(none)". */
static const char *
msg_or_none(const char *msg)
{
    return msg != NULL ? msg : "(none)";
}

static char *
scratch_path(const char *name)
{
    return xasprintf("%s/%s", scratch, name);
}

/*
 * Load weights, config and checkpoint of dir as the program does. NULL when everything loads,
 * else the first failure's message (new string).
 */
static char *
load_model(const char *dir)
{
    char *cause = NULL;
    weights *w = weights_open(dir, &cause);
    if (w == NULL)
        return cause != NULL ? cause : xstrdup("(no message)");
    imp_config cfg;
    checkpoint ck;
    if (config_load(&cfg, dir, &cause) == 0 && checkpoint_init(&ck, w, &cfg, &cause) == 0)
        checkpoint_free(&ck);
    weights_free(w);
    return cause;
}

/* Loading dir must fail with a message holding every needle (NULL-terminated list). */
static void
expect_fail_list(const char *label, const char *dir, const char *const *needles)
{
    char *msg = load_model(dir);
    if (!CHECK(msg != NULL, "%s: loaded although it should fail", label))
        return;
    if (getenv("VERBOSE") != NULL)
        printf("%s: %s\n", label, msg);
    for (size_t i = 0; needles[i] != NULL; i++)
        CHECK(strstr(msg, needles[i]) != NULL, "%s: message \"%s\" lacks \"%s\"", label, msg, needles[i]);
    free(msg);
}

#define EXPECT_FAIL(label, dir, ...) expect_fail_list(label, dir, (const char *const[]){ __VA_ARGS__, NULL })

/* Copy the fixture with one corruption into scratch/KIND; returns the new folder (new string). */
static char *
make_variant(const char *kind)
{
    char *dst = scratch_path(kind);
    char *what = NULL, *cause = NULL;
    if (!CHECK(modelfile_corrupt(kind, tiny, dst, &what, &cause) == 0, "tool kind %s: %s", kind,
               msg_or_none(cause)))
        free(cause);
    free(what);
    return dst;
}

static int
shape_is(const weights_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    return 1;
}

#define SHAPE_IS(t, ...)                                                                                     \
    shape_is((t), (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)), (int64_t[]){ __VA_ARGS__ })

/* Same dtype, shape and bytes. */
static int
same_tensor(const weights_tensor *a, const weights_tensor *b)
{
    return a->dtype == b->dtype && shape_is(a, b->ndim, b->shape) && a->nelem == b->nelem
        && memcmp(a->data, b->data, weights_tensor_bytes(a)) == 0;
}

static void
check_config_tiny(const imp_config *c, const char *label)
{
    CHECK(c->hidden == 80 && c->heads == 2 && c->head_dim == 40 && c->layers == 2 && c->inner == 320,
          "%s: LM sizes %d/%d/%d/%d/%d", label, c->hidden, c->heads, c->head_dim, c->layers, c->inner);
    CHECK(c->rotary_dim == 16, "%s: rotary %d", label, c->rotary_dim);
    CHECK(c->ln_eps == 1e-5f && c->rope_theta == 10000.0f, "%s: eps %g theta %g", label, c->ln_eps,
          c->rope_theta);
    CHECK(c->vocab == 51200 && c->eos_id == 50295 && c->image_token == 50296 && c->context == 3072,
          "%s: vocab %d eos %d image %d context %d", label, c->vocab, c->eos_id, c->image_token, c->context);
    CHECK(c->vis_hidden == 64 && c->vis_heads == 2 && c->vis_head_dim == 32 && c->vis_inner == 128,
          "%s: vision sizes %d/%d/%d/%d", label, c->vis_hidden, c->vis_heads, c->vis_head_dim, c->vis_inner);
    CHECK(c->vis_layers == 2, "%s: vision layers used %d", label, c->vis_layers);
    CHECK(c->vis_image == 384 && c->vis_patch == 14 && c->vis_grid == 27 && c->vis_patches == 729,
          "%s: image %d patch %d grid %d patches %d", label, c->vis_image, c->vis_patch, c->vis_grid,
          c->vis_patches);
    CHECK(c->vis_ln_eps == 1e-6f && c->mm_hidden == 64, "%s: vision eps %g mm %d", label, c->vis_ln_eps,
          c->mm_hidden);
}

static void
test_tiny(void)
{
    char *cause = NULL;
    weights *w = weights_open(tiny, &cause);
    if (!CHECK(w != NULL, "imp-tiny: %s", msg_or_none(cause)))
        exit(testutil_finish("test_weights"));
    CHECK(weights_count(w) == TINY_TENSORS, "tensor count %zu", weights_count(w));
    CHECK(weights_at(w, 0) != NULL && weights_at(w, TINY_TENSORS) == NULL, "weights_at bounds");
    CHECK(strcmp(weights_at(w, 0)->file, SHARD1) == 0, "first file is %s", weights_at(w, 0)->file);

    /* total_size of the index is every tensor's bytes */
    json_t *index = json_load_file(testutil_fixture_path("imp-tiny/model.safetensors.index.json"), 0, NULL);
    json_int_t total = json_integer_value(json_object_get(json_object_get(index, "metadata"), "total_size"));
    CHECK((size_t)total == weights_total_bytes(w), "total bytes %zu, index says %lld", weights_total_bytes(w),
          (long long)total);
    CHECK(json_object_size(json_object_get(index, "weight_map")) == TINY_TENSORS, "index size");
    json_decref(index);

    const weights_tensor *e = weights_find(w, "model.embed_tokens.weight");
    CHECK(e != NULL && e->dtype == WEIGHTS_F16 && SHAPE_IS(e, 51200, 80) && e->nelem == 51200 * 80
              && strcmp(e->file, SHARD1) == 0 && strcmp(e->name, "model.embed_tokens.weight") == 0,
          "embedding entry");
    CHECK(weights_find(w, "no.such.tensor") == NULL, "unknown name found");
    CHECK(weights_find(w, "__metadata__") == NULL, "__metadata__ is not a tensor");
    char buf[WEIGHTS_SHAPE_STRLEN];
    CHECK(strcmp(weights_format_shape(buf, sizeof buf, e->ndim, e->shape), "[51200, 80]") == 0, "format %s",
          buf);
    CHECK(weights_tensor_bytes(e) == 8192000, "bytes %zu", weights_tensor_bytes(e));
    CHECK(strcmp(weights_dtype_name(WEIGHTS_BF16), "BF16") == 0 && weights_dtype_size(WEIGHTS_F32) == 4,
          "dtype helpers");

    /* the mapped bytes are the file's bytes */
    modelfile_st st;
    char *path = xasprintf("%s/%s", tiny, SHARD1);
    size_t nbytes = 0;
    if (CHECK(modelfile_st_read(&st, path, &cause) == 0, "read shard: %s", msg_or_none(cause))) {
        const unsigned char *raw = modelfile_st_tensor(&st, "model.embed_tokens.weight", &nbytes);
        CHECK(raw != NULL && nbytes == 8192000 && memcmp(raw, e->data, nbytes) == 0, "embedding bytes");
        modelfile_st_free(&st);
    }
    free(path);

    imp_config cfg;
    if (CHECK(config_load(&cfg, tiny, &cause) == 0, "config: %s", msg_or_none(cause)))
        check_config_tiny(&cfg, "imp-tiny config");

    checkpoint ck;
    if (CHECK(checkpoint_init(&ck, w, &cfg, &cause) == 0, "checkpoint: %s", msg_or_none(cause))) {
        CHECK(!ck.old_layout, "layout detected as old");
        CHECK(ck.embed.data == e->data, "embedding resolved");
        CHECK(SHAPE_IS(&ck.patch_w, 64, 3, 14, 14) && SHAPE_IS(&ck.patch_b, 64)
                  && SHAPE_IS(&ck.pos_emb, 729, 64),
              "vision embeddings");
        CHECK(SHAPE_IS(&ck.vision[1].q.w, 64, 64) && SHAPE_IS(&ck.vision[1].fc1.w, 128, 64)
                  && SHAPE_IS(&ck.vision[1].fc2.w, 64, 128) && SHAPE_IS(&ck.vision[1].ln2.b, 64),
              "vision layer 1");
        const char *out_name = "model.vision_tower.vision_tower.vision_model.encoder.layers.1.self_attn"
                               ".out_proj.weight";
        CHECK(strcmp(ck.vision[1].out.w.name, out_name) == 0, "vision name %s", ck.vision[1].out.w.name);
        CHECK(SHAPE_IS(&ck.proj0.w, 80, 64) && SHAPE_IS(&ck.proj2.w, 80, 80) && SHAPE_IS(&ck.proj2.b, 80),
              "projector");
        CHECK(SHAPE_IS(&ck.lm[1].q.w, 80, 80) && SHAPE_IS(&ck.lm[1].dense.b, 80)
                  && SHAPE_IS(&ck.lm[1].fc1.w, 320, 80) && SHAPE_IS(&ck.lm[1].fc2.w, 80, 320)
                  && SHAPE_IS(&ck.lm[0].ln.w, 80),
              "LM layers");
        CHECK(ck.lm[0].k.w.data == weights_find(w, "model.layers.0.self_attn.k_proj.weight")->data, "k_proj");
        CHECK(SHAPE_IS(&ck.final_ln.w, 80) && SHAPE_IS(&ck.lm_head.w, 51200, 80)
                  && SHAPE_IS(&ck.lm_head.b, 51200),
              "head");
        checkpoint_free(&ck);
        CHECK(ck.lm == NULL && ck.vision == NULL, "checkpoint_free clears");
    }

    /* extra stored vision layers are ignored: select -3 of 3 uses 1 */
    imp_config one = cfg;
    one.vis_layers = 1;
    CHECK(checkpoint_init(&ck, w, &one, &cause) == 0, "one vision layer: %s", msg_or_none(cause));
    checkpoint_free(&ck);
    /* fewer stored than used is an error */
    one.vis_layers = 3;
    if (CHECK(checkpoint_init(&ck, w, &one, &cause) != 0, "3 vision layers resolved from 2")) {
        CHECK(strstr(cause, "encoder.layers.2.layer_norm1.weight is missing (expected shape [64])") != NULL,
              "missing vision layer: %s", msg_or_none(cause));
        free(cause);
    }
    /* a vocabulary size that disagrees with the file */
    one = cfg;
    one.vocab = 50000;
    if (CHECK(checkpoint_init(&ck, w, &one, &cause) != 0, "vocab 50000 resolved")) {
        const char *want = SHARD1 ": tensor model.embed_tokens.weight has shape [51200, 80] but [50000, 80] "
                                  "was expected";
        CHECK(strstr(cause, want) != NULL, "vocab message: %s", msg_or_none(cause));
        free(cause);
    }
    weights_free(w);
}

static void
test_default_config(void)
{
    imp_config c;
    config_init_default(&c);
    CHECK(c.hidden == 2560 && c.heads == 32 && c.head_dim == 80 && c.layers == 32 && c.inner == 10240
              && c.rotary_dim == 32 && c.ln_eps == 1e-5f && c.rope_theta == 10000.0f && c.vocab == 51200
              && c.eos_id == 50295 && c.image_token == 50296 && c.context == 3072,
          "default LM config");
    CHECK(c.vis_hidden == 1152 && c.vis_heads == 16 && c.vis_head_dim == 72 && c.vis_inner == 4304
              && c.vis_layers == 26 && c.vis_image == 384 && c.vis_patch == 14 && c.vis_grid == 27
              && c.vis_patches == 729 && c.vis_ln_eps == 1e-6f && c.mm_hidden == 1152,
          "default vision config");
}

/* The corruption kinds of tool_badmodel and what their messages must name. */
static void
test_bad_models(void)
{
    EXPECT_FAIL("no model dir", "/nonexistent/imp-model",
                "/nonexistent/imp-model: No such file or directory");

    char *empty = scratch_path("empty");
    mkdir(empty, 0777);
    EXPECT_FAIL("no weights", empty, empty, "no model weights", "model.safetensors.index.json",
                "model.safetensors ");
    free(empty);

    char *d;
    d = make_variant("missing-shard");
    EXPECT_FAIL("missing shard", d, d,
                "/" SHARD2 ": No such file or directory (named in model.safetensors.index.json)");
    free(d);
    d = make_variant("truncated-shard");
    EXPECT_FAIL("truncated shard", d,
                SHARD1 ": tensor lm_head.weight: data_offsets [102400, 8294400] end past "
                       "the data area of");
    free(d);
    d = make_variant("absurd-header");
    EXPECT_FAIL("absurd header", d,
                SHARD1 ": header length 1152921504606846976 exceeds the file size of "
                       "16486696 bytes");
    free(d);
    d = make_variant("bad-json-header");
    EXPECT_FAIL("bad JSON header", d, SHARD2 ": header is not valid JSON: ", "(line 1, column ");
    free(d);
    d = make_variant("offset-out-of-range");
    EXPECT_FAIL("offset out of range", d, SHARD2 ": tensor model.layers.1.mlp.fc2.weight: data_offsets [",
                "end past the data area of 636992 bytes");
    free(d);
    d = make_variant("offset-mismatch");
    EXPECT_FAIL("offset mismatch", d,
                SHARD1 ": tensor model.embed_tokens.weight: data_offsets [8294400, 8294500] "
                       "hold 100 bytes but F16 x [51200, 80] needs 8192000");
    free(d);
    d = make_variant("overlap");
    EXPECT_FAIL("overlap", d, SHARD2 ": tensors ", " and model.layers.0.mlp.fc1.weight [", "] overlap");
    free(d);
    d = make_variant("unknown-dtype");
    EXPECT_FAIL("unknown dtype", d,
                SHARD2 ": unknown dtype \"I8\" for tensor model.layers.0.self_attn.q_proj.weight");
    free(d);
    d = make_variant("wrong-shape");
    EXPECT_FAIL("wrong shape", d,
                SHARD2 ": tensor model.layers.0.mlp.fc1.weight has shape [80, 320] but [320, 80] "
                       "was expected");
    free(d);
    d = make_variant("missing-tensor");
    EXPECT_FAIL("missing tensor", d,
                "tensor model.layers.1.mlp.fc2.weight is missing (expected shape [80, 320])");
    free(d);
    d = make_variant("no-config");
    EXPECT_FAIL("no config", d, "/config.json: No such file or directory");
    free(d);
    d = make_variant("bad-config-json");
    EXPECT_FAIL("bad config JSON", d, "/config.json: not valid JSON: ", "(line ");
    free(d);
    d = make_variant("config-missing-key");
    EXPECT_FAIL("config missing key", d, "/config.json: missing key \"hidden_size\" (or \"n_embd\")");
    free(d);

    /* the tokenizer kinds leave the weights alone */
    static const char *const tok[][2] = {
        { "no-vocab", NULL }, { "bad-vocab", "vocab.json" }, { "no-merges", NULL },
        { "bad-merges", "merges.txt" },
    };
    for (size_t i = 0; i < sizeof tok / sizeof tok[0]; i++) {
        d = make_variant(tok[i][0]);
        char *msg = load_model(d);
        CHECK(msg == NULL, "%s: model does not load: %s", tok[i][0], msg_or_none(msg));
        free(msg);
        if (tok[i][1] != NULL) {
            char *a = xasprintf("%s/%s", d, tok[i][1]);
            char *b = xasprintf("%s/%s", tiny, tok[i][1]);
            size_t la, lb;
            char *ca = testutil_read_file(a, &la), *cb = testutil_read_file(b, &lb);
            CHECK(ca != NULL && cb != NULL && (la != lb || memcmp(ca, cb, la) != 0), "%s: file unchanged",
                  tok[i][0]);
            free(ca);
            free(cb);
            free(a);
            free(b);
        } else {
            char *a = xasprintf("%s/%s", d, strcmp(tok[i][0], "no-vocab") == 0 ? "vocab.json" : "merges.txt");
            CHECK(access(a, F_OK) != 0, "%s: file still there", tok[i][0]);
            free(a);
        }
        free(d);
    }
    char *what = NULL, *cause = NULL;
    d = scratch_path("unknown-kind");
    CHECK(modelfile_corrupt("no-such-kind", tiny, d, &what, &cause) != 0
              && strstr(cause, "no-such-kind") != NULL,
          "unknown kind accepted");
    free(cause);
    free(d);
}

/* Write a one-file model with the given tensors (all F16 zeros) and header patch, then load it. */
static char *
small_file_model(const char *name, const char *header_json)
{
    char *dir = scratch_path(name);
    mkdir(dir, 0777);
    char *path = xasprintf("%s/model.safetensors", dir);
    size_t hlen = strlen(header_json);
    size_t padded = (hlen + 7) & ~(size_t)7;
    size_t total = 8 + padded + 256;
    unsigned char *buf = xcalloc(total, 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header_json, hlen);
    memset(buf + 8 + hlen, ' ', padded - hlen);
    testutil_write_file(path, buf, total);
    free(buf);
    free(path);
    return dir;
}

/* Hand-made headers for the checks no tool kind covers (data area: 256 bytes). */
static void
test_headers(void)
{
    static const struct {
        const char *name, *header, *needle;
    } bad[] = {
        { "five-dims", "{\"t\":{\"dtype\":\"F16\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,2]}}",
          "tensor t: shape has 5 dimensions, at most 4" },
        { "negative-dim", "{\"t\":{\"dtype\":\"F16\",\"shape\":[-1],\"data_offsets\":[0,2]}}",
          "tensor t: shape entry 0 is not a non-negative integer" },
        { "reversed", "{\"t\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,2]}}",
          "tensor t: data_offsets [4, 2] have begin after end" },
        { "huge-shape",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}",
          "tensor t: shape [4294967296, 4294967296, 16] is too large" },
        { "mul-overflow",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
          "is too large" },
        { "no-dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,2]}}", "tensor t: \"dtype\" is missing" },
        { "no-offsets", "{\"t\":{\"dtype\":\"F16\",\"shape\":[1]}}", "tensor t: \"data_offsets\" must be" },
        { "not-object", "[1, 2]", "header is not a JSON object" },
        { "dup-key",
          "{\"t\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
          "\"t\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[2,4]}}",
          "duplicate object key" },
        { "same-span",
          "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
          "overlap" },
        { "no-embedding",
          "{\"__metadata__\":{\"format\":\"pt\"},"
          "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
          "neither model.embed_tokens.weight (current layout) nor transformer.embd.wte.weight (old layout)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *dir = small_file_model(bad[i].name, bad[i].header);
        if (strcmp(bad[i].name, "no-embedding") == 0) {
            /* weights load; the checkpoint refuses */
            char *cfg_from = xasprintf("%s/config.json", tiny);
            char *cfg_to = xasprintf("%s/config.json", dir);
            size_t len;
            char *text = testutil_read_file(cfg_from, &len);
            testutil_write_file(cfg_to, text, len);
            free(text);
            free(cfg_from);
            free(cfg_to);
        }
        EXPECT_FAIL(bad[i].name, dir, bad[i].needle);
        free(dir);
    }

    /* __metadata__, empty tensors and gaps are fine */
    char *dir = small_file_model("fine",
                                 "{\"__metadata__\":{\"format\":\"pt\"},"
                                 "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                                 "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[100,102]}}");
    char *cause = NULL;
    weights *w = weights_open(dir, &cause);
    if (CHECK(w != NULL, "fine header: %s", msg_or_none(cause))) {
        CHECK(weights_count(w) == 3, "fine count %zu", weights_count(w));
        const weights_tensor *s = weights_find(w, "s");
        CHECK(s != NULL && s->ndim == 0 && s->nelem == 1 && s->dtype == WEIGHTS_BF16, "scalar");
        CHECK(weights_find(w, "e") != NULL && weights_find(w, "e")->nelem == 0, "empty tensor");
        CHECK(weights_total_bytes(w) == 18, "fine total %zu", weights_total_bytes(w));
        weights_free(w);
    }
    free(dir);

    /* a file shorter than the length field */
    dir = scratch_path("short");
    mkdir(dir, 0777);
    char *path = xasprintf("%s/model.safetensors", dir);
    testutil_write_file(path, "abc", 3);
    EXPECT_FAIL("short file", dir, "model.safetensors: file is 3 bytes, too short");
    free(path);
    free(dir);

    /* not a directory */
    path = xasprintf("%s/config.json", tiny);
    EXPECT_FAIL("not a directory", path, "not a directory");
    free(path);
}

/* Index problems: tensors in the wrong shard, missing from their shard, in two shards. */
static void
test_index(void)
{
    static const struct {
        const char *name, *from, *to, *needle;
    } edits[] = {
        /* weight_map names a tensor the shard lacks */
        { "index-extra", NULL, "model.nothing.weight",
          "/" SHARD2 ": tensor model.nothing.weight is missing "
          "(named in model.safetensors.index.json)" },
        /* weight_map points a tensor to the other shard */
        { "index-wrong-shard", "lm_head.bias", SHARD2,
          "tensor lm_head.bias is mapped to " SHARD2 " but is stored in " SHARD1 },
        /* a shard outside the folder */
        { "index-escape", "lm_head.bias", "../x.safetensors", "not a file in the model folder" },
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *dir = scratch_path(edits[i].name);
        char *cause = NULL;
        if (!CHECK(modelfile_copy_dir(tiny, dir, &cause) == 0, "copy: %s", msg_or_none(cause)))
            return;
        char *ipath = xasprintf("%s/model.safetensors.index.json", dir);
        json_t *index = json_load_file(ipath, 0, NULL);
        json_t *map = json_object_get(index, "weight_map");
        if (edits[i].from == NULL)
            json_object_set_new(map, edits[i].to, json_string(SHARD2));
        else
            json_object_set_new(map, edits[i].from, json_string(edits[i].to));
        json_dump_file(index, ipath, JSON_INDENT(2));
        json_decref(index);
        EXPECT_FAIL(edits[i].name, dir, edits[i].needle);
        free(ipath);
        free(dir);
    }

    /* a tensor stored in both shards */
    char *dir = scratch_path("dup-across");
    char *cause = NULL;
    if (CHECK(modelfile_copy_dir(tiny, dir, &cause) == 0, "copy: %s", msg_or_none(cause))) {
        char *path = xasprintf("%s/%s", dir, SHARD2);
        modelfile_st st;
        if (CHECK(modelfile_st_read(&st, path, &cause) == 0, "read: %s", msg_or_none(cause))) {
            static const uint16_t zeros[51200];
            json_t *shape = json_pack("[i]", 51200);
            modelfile_st_add(&st, "lm_head.bias", "F16", shape, zeros, sizeof zeros);
            json_decref(shape);
            modelfile_st_write(&st, path, &cause);
            modelfile_st_free(&st);
            EXPECT_FAIL("duplicate across shards", dir,
                        "tensor lm_head.bias is stored twice: in " SHARD1 " and in " SHARD2);
        }
        free(path);
    }
    free(dir);

    /* broken index JSON */
    dir = scratch_path("bad-index");
    if (CHECK(modelfile_copy_dir(tiny, dir, &cause) == 0, "copy: %s", msg_or_none(cause))) {
        char *ipath = xasprintf("%s/model.safetensors.index.json", dir);
        testutil_write_file(ipath, "{\"weight_map\": {\n\"a\": }", 24);
        EXPECT_FAIL("bad index JSON", dir,
                    "model.safetensors.index.json: not valid JSON: ", "(line 2, column");
        free(ipath);
    }
    free(dir);
}

/* Write a config.json variant of the fixture: dels are keys to remove ("a.b" for nested). */
static char *
config_variant(const char *name, const char *const *dels, json_t *sets)
{
    char *dir = scratch_path(name);
    mkdir(dir, 0777);
    json_t *cfg = json_load_file(testutil_fixture_path("imp-tiny/config.json"), 0, NULL);
    for (size_t i = 0; dels != NULL && dels[i] != NULL; i++) {
        const char *dot = strchr(dels[i], '.');
        if (dot != NULL) {
            char *parent = xstrndup(dels[i], (size_t)(dot - dels[i]));
            json_object_del(json_object_get(cfg, parent), dot + 1);
            free(parent);
        } else {
            json_object_del(cfg, dels[i]);
        }
    }
    if (sets != NULL) {
        json_object_update(cfg, sets);
        json_decref(sets);
    }
    char *path = xasprintf("%s/config.json", dir);
    json_dump_file(cfg, path, JSON_INDENT(2));
    json_decref(cfg);
    free(path);
    return dir;
}

static void
test_config(void)
{
    imp_config c;
    char *cause = NULL;
    static const char *const new_keys[] = {
        "hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "layer_norm_eps",
        "partial_rotary_factor", "tokenizer_model_max_length", "max_position_embeddings", NULL,
    };
    /* old keys only, n_inner null, context from n_positions */
    char *dir = config_variant("cfg-old", new_keys,
                               json_pack("{s:i, s:i, s:i, s:n, s:f, s:i, s:i}", "n_embd", 80, "n_head", 2,
                                         "n_layer", 2, "n_inner", "layer_norm_epsilon", 1e-5, "rotary_dim",
                                         20, "n_positions", 2048));
    if (CHECK(config_load(&c, dir, &cause) == 0, "old keys: %s", msg_or_none(cause)))
        CHECK(c.hidden == 80 && c.heads == 2 && c.layers == 2 && c.inner == 320 && c.rotary_dim == 20
                  && c.context == 2048 && c.ln_eps == 1e-5f,
              "old keys: %d %d %d %d %d %d", c.hidden, c.heads, c.layers, c.inner, c.rotary_dim, c.context);
    free(dir);

    /* no rotary key at all: 0.4; partial factor 0.5: 20; context default 3072 */
    static const char *const no_rot[] = {
        "partial_rotary_factor", "tokenizer_model_max_length", "max_position_embeddings", "rope_theta",
        "layer_norm_eps", NULL,
    };
    dir = config_variant("cfg-defaults", no_rot, NULL);
    if (CHECK(config_load(&c, dir, &cause) == 0, "defaults: %s", msg_or_none(cause)))
        CHECK(c.rotary_dim == 16 && c.context == 3072 && c.rope_theta == 10000.0f && c.ln_eps == 1e-5f,
              "defaults: rotary %d context %d", c.rotary_dim, c.context);
    free(dir);
    dir = config_variant("cfg-partial", NULL, json_pack("{s:f}", "partial_rotary_factor", 0.5));
    if (CHECK(config_load(&c, dir, &cause) == 0, "partial 0.5: %s", msg_or_none(cause)))
        CHECK(c.rotary_dim == 20, "partial 0.5: rotary %d", c.rotary_dim);
    free(dir);
    /* the real model: 27 layers, select -2 -> 26; a non-negative select n uses n layers */
    dir = config_variant("cfg-select", NULL,
                         json_pack("{s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:i}", "vision_tower_config",
                                   "hidden_size", 64, "num_attention_heads", 2, "intermediate_size", 128,
                                   "num_hidden_layers", 27, "image_size", 384, "patch_size", 14,
                                   "mm_vision_select_layer", 5));
    if (CHECK(config_load(&c, dir, &cause) == 0, "select 5: %s", msg_or_none(cause)))
        CHECK(c.vis_layers == 5 && c.vis_ln_eps == 1e-6f, "select 5: %d layers", c.vis_layers);
    free(dir);

    static const struct {
        const char *name;
        const char *del;
        const char *set; /* JSON merged into the config */
        const char *needle;
    } bad[] = {
        { "cfg-type", NULL, "{\"hidden_size\": \"80\"}",
          "key \"hidden_size\" must be an integer, not a string" },
        { "cfg-divide", NULL, "{\"hidden_size\": 81}",
          "hidden size 81 is not a multiple of the 2 attention heads" },
        { "cfg-rotary", NULL, "{\"rotary_dim\": 15}", "rotary dimensions 15 must be even" },
        { "cfg-rotary-big", NULL, "{\"rotary_dim\": 42}",
          "rotary dimensions 42 must be even and within [0, head dim 40]" },
        { "cfg-projector", NULL, "{\"mm_projector_type\": \"linear\"}",
          "mm_projector_type \"linear\" is not supported" },
        { "cfg-mm", NULL, "{\"mm_hidden_size\": 65}",
          "mm_hidden_size 65 differs from vision_tower_config.hidden_size 64" },
        { "cfg-select-bad", NULL, "{\"mm_vision_select_layer\": -5}",
          "mm_vision_select_layer -5 selects no encoder layer" },
        { "cfg-heads", "num_attention_heads", NULL, "missing key \"num_attention_heads\" (or \"n_head\")" },
        { "cfg-layers", "num_hidden_layers", NULL, "missing key \"num_hidden_layers\" (or \"n_layer\")" },
        { "cfg-vision", "vision_tower_config", NULL, "missing key \"vision_tower_config\"" },
        { "cfg-patch", "vision_tower_config.patch_size", NULL,
          "missing key \"vision_tower_config.patch_size\"" },
        { "cfg-vis-type", NULL, "{\"vision_tower_config\": [1]}",
          "\"vision_tower_config\" must be an object, not an array" },
        { "cfg-eps", NULL, "{\"layer_norm_eps\": \"small\"}",
          "key \"layer_norm_eps\" must be a number, not a string" },
        { "cfg-zero", NULL, "{\"num_hidden_layers\": 0}",
          "key \"num_hidden_layers\" = 0 must be at least 1" },
        { "cfg-range", NULL, "{\"vocab_size\": 99999999999}",
          "key \"vocab_size\" = 99999999999 is out of range" },
        { "cfg-eos", NULL, "{\"eos_token_id\": 60000}",
          "eos_token_id 60000 is outside the vocabulary of 51200" },
        { "cfg-array", NULL, "[]", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *dels[] = { bad[i].del, NULL };
        json_t *set = bad[i].set != NULL ? json_loads(bad[i].set, 0, NULL) : NULL;
        if (set != NULL && !json_is_object(set)) {
            /* a config that is not an object at all */
            dir = scratch_path(bad[i].name);
            mkdir(dir, 0777);
            char *path = xasprintf("%s/config.json", dir);
            testutil_write_file(path, bad[i].set, strlen(bad[i].set));
            free(path);
            json_decref(set);
            cause = NULL;
            CHECK(config_load(&c, dir, &cause) != 0
                      && strstr(cause, "config.json: not a JSON object") != NULL,
                  "%s: %s", bad[i].name, msg_or_none(cause));
            free(cause);
            free(dir);
            continue;
        }
        dir = config_variant(bad[i].name, dels, set);
        cause = NULL;
        if (CHECK(config_load(&c, dir, &cause) != 0, "%s: accepted", bad[i].name)) {
            CHECK(strstr(cause, bad[i].needle) != NULL && strstr(cause, "/config.json: ") != NULL,
                  "%s: message \"%s\" lacks \"%s\"", bad[i].name, cause, bad[i].needle);
            free(cause);
        }
        free(dir);
    }
}

/* The old layout built from imp-tiny resolves to the same bytes through Wqkv row views. */
static void
test_old_layout(void)
{
    char *old = scratch_path("old-layout");
    char *cause = NULL;
    if (!CHECK(modelfile_oldlayout(tiny, old, &cause) == 0, "old layout: %s", msg_or_none(cause))) {
        free(cause);
        free(old);
        return;
    }
    weights *wn = weights_open(tiny, &cause);
    weights *wo = weights_open(old, &cause);
    imp_config cn, co;
    checkpoint kn, ko;
    if (!CHECK(wn != NULL && wo != NULL, "open: %s", msg_or_none(cause))
        || !CHECK(config_load(&cn, tiny, &cause) == 0 && config_load(&co, old, &cause) == 0, "config: %s",
                  msg_or_none(cause))
        || !CHECK(checkpoint_init(&kn, wn, &cn, &cause) == 0, "new checkpoint: %s", msg_or_none(cause))) {
        weights_free(wn);
        weights_free(wo);
        free(old);
        return;
    }
    check_config_tiny(&co, "old config");
    CHECK(memcmp(&cn, &co, sizeof cn) == 0, "old and new configs differ");
    CHECK(weights_count(wo) == TINY_TENSORS - 8, "old tensor count %zu", weights_count(wo));
    CHECK(weights_find(wo, "model.embed_tokens.weight") == NULL, "new names left in the old layout");
    if (CHECK(checkpoint_init(&ko, wo, &co, &cause) == 0, "old checkpoint: %s", msg_or_none(cause))) {
        CHECK(ko.old_layout == 1, "old layout not detected");
        const weights_tensor *fused = weights_find(wo, "transformer.h.1.mixer.Wqkv.weight");
        CHECK(fused != NULL && SHAPE_IS(fused, 240, 80), "Wqkv shape");
        CHECK(strcmp(ko.lm[1].v.w.name, "transformer.h.1.mixer.Wqkv.weight") == 0
                  && strcmp(ko.lm[1].v.b.name, "transformer.h.1.mixer.Wqkv.bias") == 0,
              "view names %s", ko.lm[1].v.w.name);
        CHECK(fused != NULL && ko.lm[1].k.w.data == (const char *)fused->data + 80 * 80 * 2, "k view offset");
        for (int i = 0; i < cn.layers; i++) {
            CHECK(same_tensor(&ko.lm[i].q.w, &kn.lm[i].q.w) && same_tensor(&ko.lm[i].q.b, &kn.lm[i].q.b),
                  "layer %d q", i);
            CHECK(same_tensor(&ko.lm[i].k.w, &kn.lm[i].k.w) && same_tensor(&ko.lm[i].k.b, &kn.lm[i].k.b),
                  "layer %d k", i);
            CHECK(same_tensor(&ko.lm[i].v.w, &kn.lm[i].v.w) && same_tensor(&ko.lm[i].v.b, &kn.lm[i].v.b),
                  "layer %d v", i);
            CHECK(same_tensor(&ko.lm[i].dense.w, &kn.lm[i].dense.w)
                      && same_tensor(&ko.lm[i].ln.w, &kn.lm[i].ln.w)
                      && same_tensor(&ko.lm[i].fc1.w, &kn.lm[i].fc1.w)
                      && same_tensor(&ko.lm[i].fc2.b, &kn.lm[i].fc2.b),
                  "layer %d rest", i);
        }
        CHECK(same_tensor(&ko.embed, &kn.embed) && same_tensor(&ko.final_ln.b, &kn.final_ln.b)
                  && same_tensor(&ko.lm_head.w, &kn.lm_head.w) && same_tensor(&ko.lm_head.b, &kn.lm_head.b),
              "embedding and head");
        CHECK(same_tensor(&ko.patch_w, &kn.patch_w) && same_tensor(&ko.pos_emb, &kn.pos_emb)
                  && same_tensor(&ko.vision[1].fc2.w, &kn.vision[1].fc2.w)
                  && same_tensor(&ko.proj2.w, &kn.proj2.w),
              "vision and projector");
        CHECK(strncmp(ko.vision[0].q.w.name, "transformer.vision_tower.", 25) == 0, "vision name %s",
              ko.vision[0].q.w.name);
        checkpoint_free(&ko);
    }
    checkpoint_free(&kn);
    weights_free(wn);
    weights_free(wo);

    /* the old layout has its own messages: a Wqkv of the wrong height */
    char *bad = scratch_path("old-bad");
    if (CHECK(modelfile_copy_dir(old, bad, &cause) == 0, "copy: %s", msg_or_none(cause))) {
        char *path = xasprintf("%s/%s", bad, SHARD2);
        modelfile_st st;
        if (CHECK(modelfile_st_read(&st, path, &cause) == 0, "read: %s", msg_or_none(cause))) {
            json_t *e = json_object_get(st.header, "transformer.h.0.mixer.Wqkv.weight");
            json_object_set_new(e, "shape", json_pack("[i, i]", 80, 240));
            modelfile_st_write(&st, path, &cause);
            modelfile_st_free(&st);
            EXPECT_FAIL("old Wqkv shape", bad,
                        SHARD2 ": tensor transformer.h.0.mixer.Wqkv.weight has shape [80, 240] but [240, 80] "
                               "was expected");
        }
        free(path);
    }
    free(bad);
    free(old);
}

/* Every F16 value of a converted model compares with the fixture's as the conversion allows. */
static void
test_dtype_variant(const char *kind, weights_dtype dtype)
{
    char *dir = make_variant(kind);
    char *cause = NULL;
    weights *wn = weights_open(tiny, &cause);
    weights *wv = weights_open(dir, &cause);
    if (!CHECK(wn != NULL && wv != NULL, "%s: %s", kind, msg_or_none(cause))) {
        weights_free(wn);
        free(dir);
        return;
    }
    char *msg = load_model(dir);
    CHECK(msg == NULL, "%s: %s", kind, msg_or_none(msg));
    free(msg);
    CHECK(weights_count(wv) == TINY_TENSORS, "%s: count %zu", kind, weights_count(wv));
    CHECK(weights_total_bytes(wv) == weights_total_bytes(wn) / 2 * weights_dtype_size(dtype),
          "%s: total bytes", kind);
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < weights_count(wn); i++) {
        const weights_tensor *a = weights_at(wn, i);
        const weights_tensor *b = weights_find(wv, a->name);
        if (!CHECK(b != NULL && b->dtype == dtype && shape_is(b, a->ndim, a->shape), "%s: tensor %s", kind,
                   a->name))
            continue;
        for (int64_t j = 0; j < a->nelem; j++) {
            uint16_t h;
            memcpy(&h, (const char *)a->data + 2 * j, 2);
            float want = f16_to_f32(h), got;
            if (dtype == WEIGHTS_F32) {
                memcpy(&got, (const char *)b->data + 4 * j, 4);
                bad += got != want;
            } else {
                memcpy(&h, (const char *)b->data + 2 * j, 2);
                got = bf16_to_f32(h);
                double err = fabs((double)got - want) / (fabs(want) > 1e-30 ? fabs(want) : 1.0);
                if (err > worst)
                    worst = err;
                bad += err > 1.0 / 256;
            }
        }
    }
    CHECK(bad == 0, "%s: %zu values off (worst relative error %g)", kind, bad, worst);
    weights_free(wn);
    weights_free(wv);
    free(dir);
}

static void
test_single_file(void)
{
    char *dir = make_variant("single-file");
    char *path = xasprintf("%s/model.safetensors.index.json", dir);
    CHECK(access(path, F_OK) != 0, "single-file: index still there");
    free(path);
    char *cause = NULL;
    weights *w = weights_open(dir, &cause);
    if (CHECK(w != NULL, "single-file: %s", msg_or_none(cause))) {
        CHECK(weights_count(w) == TINY_TENSORS, "single-file count %zu", weights_count(w));
        CHECK(strcmp(weights_find(w, "model.final_layernorm.bias")->file, "model.safetensors") == 0,
              "file name");
        weights_free(w);
    }
    char *msg = load_model(dir);
    CHECK(msg == NULL, "single-file: %s", msg_or_none(msg));
    free(msg);
    free(dir);
}

/* The command-line tools, when the build put them in $TOOLDIR. */
static void
test_tools(void)
{
    const char *tooldir = getenv("TOOLDIR");
    if (tooldir == NULL || *tooldir == '\0') {
        printf("test_weights: TOOLDIR not set, tool command lines not run\n");
        return;
    }
    char *bad = xasprintf("%s/tool_badmodel", tooldir);
    char *old = xasprintf("%s/tool_oldlayout", tooldir);
    if (access(bad, X_OK) != 0 || access(old, X_OK) != 0) {
        printf("test_weights: tools not built in %s, command lines not run\n", tooldir);
        free(bad);
        free(old);
        return;
    }
    char *dst = scratch_path("tool-overlap");
    char *cmd = xasprintf("'%s' overlap '%s' '%s' >/dev/null", bad, tiny, dst);
    CHECK(system(cmd) == 0, "%s", cmd);
    EXPECT_FAIL("tool overlap", dst, "overlap");
    free(cmd);
    cmd = xasprintf("'%s' no-such-kind '%s' '%s' 2>/dev/null", bad, tiny, dst);
    CHECK(system(cmd) != 0, "%s succeeded", cmd);
    free(cmd);
    free(dst);
    dst = scratch_path("tool-old");
    cmd = xasprintf("'%s' '%s' '%s' >/dev/null", old, tiny, dst);
    CHECK(system(cmd) == 0, "%s", cmd);
    char *msg = load_model(dst);
    CHECK(msg == NULL, "tool_oldlayout output: %s", msg_or_none(msg));
    free(msg);
    free(cmd);
    free(dst);
    free(bad);
    free(old);
}

/* A one-row F32 tensor over vals, named name. */
static weights_tensor
f32_tensor(const char *name, const float *vals, int n)
{
    weights_tensor t = {.name = name, .file = "test", .dtype = WEIGHTS_F32, .ndim = 2,
                        .shape = {1, n}, .nelem = n, .data = vals};
    return t;
}

/* Values fp16 cannot hold are counted at conversion, and the check names the tensor. */
static void
test_f16_range(void)
{
    /* 65504 is fp16's largest; 65519 rounds down to it; 65520 is the halfway point and rounds to inf */
    float ok_vals[] = {0.0f, -1.5f, 65504.0f, -65504.0f, 65519.0f, 1e-8f};
    uint16_t h[8];
    weights_f16_loss loss;
    weights_tensor t = f32_tensor("ok.weight", ok_vals, 6);
    weights_tensor_to_f16(&t, h, &loss);
    char *cause = NULL;
    CHECK(loss.overflow == 0 && loss.nonfinite == 0 && loss.largest == 0.0f,
          "in-range values counted as loss: %lld overflow, %lld non-finite", (long long)loss.overflow,
          (long long)loss.nonfinite);
    CHECK(weights_f16_loss_check(&t, &loss, &cause) == 0 && cause == NULL, "in range refused");
    CHECK(h[2] == 0x7bff && h[3] == 0xfbff && h[4] == 0x7bff, "65504 converted to %04x %04x %04x",
          h[2], h[3], h[4]);

    float big[] = {1.0f, 65520.0f, -70000.0f, 3e38f, 2.0f};
    t = f32_tensor("model.layers.3.mlp.fc2.weight", big, 5);
    weights_tensor_to_f16(&t, h, &loss);
    CHECK(loss.overflow == 3 && loss.nonfinite == 0, "overflow counted %lld, want 3",
          (long long)loss.overflow);
    CHECK(loss.largest == 3e38f, "largest %g, want 3e38", (double)loss.largest);
    CHECK(h[1] == 0x7c00 && h[2] == 0xfc00, "65520 -> %04x, -70000 -> %04x (want inf)", h[1], h[2]);
    CHECK(weights_f16_loss_check(&t, &loss, &cause) == -1 && cause != NULL, "overflow accepted");
    if (cause != NULL) {
        CHECK(strstr(cause, "model.layers.3.mlp.fc2.weight") != NULL && strstr(cause, "F32") &&
                  strstr(cause, "3 values beyond fp16's range") && strstr(cause, "3e+38") &&
                  strstr(cause, "65504"),
              "overflow message: %s", cause);
        free(cause);
        cause = NULL;
    }

    /* inf and NaN already in the file are reported apart, in a BF16 tensor with a hostile name */
    uint16_t bf[] = {0x3f80 /* 1 */, 0x7f80 /* inf */, 0x7fc0 /* NaN */, 0x4780 /* 65536 */};
    weights_tensor b = {.name = "evil\033[2J.weight", .file = "test", .dtype = WEIGHTS_BF16,
                        .ndim = 2, .shape = {2, 2}, .nelem = 4, .data = bf};
    weights_tensor_to_f16(&b, NULL, &loss);
    CHECK(loss.overflow == 1 && loss.nonfinite == 2 && loss.largest == 65536.0f,
          "bf16: %lld overflow, %lld non-finite, largest %g", (long long)loss.overflow,
          (long long)loss.nonfinite, (double)loss.largest);
    CHECK(weights_f16_loss_check(&b, &loss, &cause) == -1 && cause != NULL, "bf16 inf accepted");
    if (cause != NULL) {
        CHECK(strstr(cause, "BF16") && strstr(cause, "1 value beyond") &&
                  strstr(cause, "2 inf or NaN values already in the file") &&
                  strchr(cause, '\033') == NULL,
              "bf16 message: %s", cause);
        free(cause);
    }
}

/*
 * The f32-overflow fixture: the model loads (the CPU keeps F32 as is), and the fp16 check finds
 * exactly the one value tool_badmodel put beyond fp16's range, in the tensor it names.
 */
static void
test_f16_overflow_variant(void)
{
    char *dir = make_variant("f32-overflow");
    char *cause = NULL;
    weights *w = weights_open(dir, &cause);
    if (!CHECK(w != NULL, "f32-overflow: %s", msg_or_none(cause))) {
        free(cause);
        free(dir);
        return;
    }
    char *msg = load_model(dir);
    CHECK(msg == NULL, "f32-overflow does not load: %s", msg_or_none(msg));
    free(msg);
    int refused = 0;
    for (size_t i = 0; i < weights_count(w); i++) {
        const weights_tensor *t = weights_at(w, i);
        weights_f16_loss loss;
        weights_tensor_to_f16(t, NULL, &loss);
        if (weights_f16_loss_check(t, &loss, &cause) == 0)
            continue;
        refused++;
        CHECK(strcmp(t->name, "model.layers.0.mlp.fc2.weight") == 0 && loss.overflow == 1 &&
                  loss.nonfinite == 0 && loss.largest == 100000.0f,
              "f32-overflow: %s refused: %s", t->name, cause);
        CHECK(strstr(cause, "model.layers.0.mlp.fc2.weight (F32,") != NULL &&
                  strstr(cause, "1 value beyond fp16's range (largest magnitude 100000)") != NULL,
              "f32-overflow message: %s", cause);
        free(cause);
        cause = NULL;
    }
    CHECK(refused == 1, "f32-overflow: %d tensors refused, want 1", refused);
    weights_free(w);
    free(dir);
}

int
main(void)
{
    tiny = xstrdup(testutil_fixture_path("imp-tiny"));
    if (access(tiny, F_OK) != 0) {
        fprintf(stderr, "test_weights: no fixture model at %s\n", tiny);
        return TEST_SKIP;
    }
    scratch = testutil_tmpdir("test_weights");
    test_f16_range();
    test_default_config();
    test_tiny();
    test_bad_models();
    test_headers();
    test_index();
    test_config();
    test_old_layout();
    test_dtype_variant("bf16", WEIGHTS_BF16);
    test_dtype_variant("f32", WEIGHTS_F32);
    test_f16_overflow_variant();
    test_single_file();
    test_tools();
    int rc = testutil_finish("test_weights");
    if (rc == 0) {
        char *cmd = xasprintf("rm -rf '%s'", scratch);
        if (system(cmd) != 0)
            fprintf(stderr, "test_weights: could not remove %s\n", scratch);
        free(cmd);
    }
    free(tiny);
    return rc;
}
