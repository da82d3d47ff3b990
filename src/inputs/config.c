#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "model_config.h"
#include "regfile.h"
#include "xmalloc.h"

/* Where a key lives, for messages: the file and, for nested keys, the parent object's name. */
typedef struct {
    const char *path;
    const char *parent; /* NULL at top level */
    char **cause;
} config_where;

static const char *
config_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* The key as users see it: "key" or "parent.key". */
static char *
config_key_name(const config_where *at, const char *key)
{
    return at->parent != NULL ? xasprintf("%s.%s", at->parent, key) : xstrdup(key);
}

/* A value present and not null; null counts as absent (as transformers treats it). */
static json_t *
config_lookup(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v != NULL && !json_is_null(v) ? v : NULL;
}

/* Read an integer key; *found is 0 when absent. -1 (with cause) on a wrong type or an int overflow. */
static int
config_int(const config_where *at, json_t *obj, const char *key, int *out, int *found)
{
    json_t *v = config_lookup(obj, key);
    *found = 0;
    if (v == NULL)
        return 0;
    char *k = config_key_name(at, key);
    int rc = 0;
    if (!json_is_integer(v))
        rc = log_cause(at->cause, "%s: key \"%s\" must be an integer, not %s", at->path, k,
                       config_type_name(v));
    else if (json_integer_value(v) < INT_MIN || json_integer_value(v) > INT_MAX)
        rc = log_cause(at->cause, "%s: key \"%s\" = %lld is out of range", at->path, k,
                       (long long)json_integer_value(v));
    else {
        *out = (int)json_integer_value(v);
        *found = 1;
    }
    free(k);
    return rc;
}

/* Read a number key (integer or real); *found is 0 when absent. */
static int
config_num(const config_where *at, json_t *obj, const char *key, double *out, int *found)
{
    json_t *v = config_lookup(obj, key);
    *found = 0;
    if (v == NULL)
        return 0;
    if (!json_is_number(v)) {
        char *k = config_key_name(at, key);
        log_cause(at->cause, "%s: key \"%s\" must be a number, not %s", at->path, k, config_type_name(v));
        free(k);
        return -1;
    }
    *out = json_number_value(v);
    *found = 1;
    return 0;
}

/* First of two integer keys present (the new name, then the old one; old may be NULL), else def. */
static int
config_int2(const config_where *at, json_t *obj, const char *key, const char *old, int def, int *out,
            int *found)
{
    if (config_int(at, obj, key, out, found) != 0)
        return -1;
    if (!*found && old != NULL && config_int(at, obj, old, out, found) != 0)
        return -1;
    if (!*found)
        *out = def;
    return 0;
}

/* A required integer under one of two names. */
static int
config_required(const config_where *at, json_t *obj, const char *key, const char *old, int *out)
{
    int found;
    if (config_int2(at, obj, key, old, 0, out, &found) != 0)
        return -1;
    if (found)
        return 0;
    char *k = config_key_name(at, key);
    if (old != NULL)
        log_cause(at->cause, "%s: missing key \"%s\" (or \"%s\")", at->path, k, old);
    else
        log_cause(at->cause, "%s: missing key \"%s\"", at->path, k);
    free(k);
    return -1;
}

/* A size that must be at least min. */
static int
config_check_min(const config_where *at, const char *key, int value, int min)
{
    if (value >= min)
        return 0;
    char *k = config_key_name(at, key);
    log_cause(at->cause, "%s: key \"%s\" = %d must be at least %d", at->path, k, value, min);
    free(k);
    return -1;
}

/* Everything about the Phi-2 part. */
static int
config_load_lm(imp_config *cfg, const config_where *at, json_t *root)
{
    int found;
    double d;
    if (config_required(at, root, "hidden_size", "n_embd", &cfg->hidden) != 0
        || config_required(at, root, "num_attention_heads", "n_head", &cfg->heads) != 0
        || config_required(at, root, "num_hidden_layers", "n_layer", &cfg->layers) != 0)
        return -1;
    if (config_check_min(at, "hidden_size", cfg->hidden, 1) != 0
        || config_check_min(at, "num_attention_heads", cfg->heads, 1) != 0
        || config_check_min(at, "num_hidden_layers", cfg->layers, 1) != 0)
        return -1;
    if (cfg->hidden % cfg->heads != 0)
        return log_cause(at->cause, "%s: hidden size %d is not a multiple of the %d attention heads",
                         at->path, cfg->hidden, cfg->heads);
    cfg->head_dim = cfg->hidden / cfg->heads;

    /* n_inner: null (or absent) means 4 x n_embd */
    if (config_int2(at, root, "intermediate_size", "n_inner", 0, &cfg->inner, &found) != 0)
        return -1;
    if (!found) {
        if (cfg->hidden > INT_MAX / 4)
            return log_cause(at->cause, "%s: hidden size %d is too large", at->path, cfg->hidden);
        cfg->inner = 4 * cfg->hidden;
    }
    if (config_check_min(at, "intermediate_size", cfg->inner, 1) != 0)
        return -1;

    cfg->ln_eps = 1e-5f;
    if (config_num(at, root, "layer_norm_eps", &d, &found) != 0)
        return -1;
    if (!found && config_num(at, root, "layer_norm_epsilon", &d, &found) != 0)
        return -1;
    if (found) {
        if (!(d > 0 && d < 1))
            return log_cause(at->cause, "%s: layer norm epsilon %g is out of range", at->path, d);
        cfg->ln_eps = (float)d;
    }

    cfg->rope_theta = 10000.0f;
    if (config_num(at, root, "rope_theta", &d, &found) != 0)
        return -1;
    if (found) {
        if (!(d > 1))
            return log_cause(at->cause, "%s: key \"rope_theta\" = %g must be above 1", at->path, d);
        cfg->rope_theta = (float)d;
    }

    /* rotary_dim wins; otherwise head_dim x partial_rotary_factor, truncated like int() in Python */
    if (config_int(at, root, "rotary_dim", &cfg->rotary_dim, &found) != 0)
        return -1;
    if (!found) {
        double factor = 0.4;
        if (config_num(at, root, "partial_rotary_factor", &d, &found) != 0)
            return -1;
        if (found) {
            if (!(d >= 0 && d <= 1))
                return log_cause(at->cause, "%s: key \"partial_rotary_factor\" = %g must be within [0, 1]",
                                 at->path, d);
            factor = d;
        }
        cfg->rotary_dim = (int)((double)cfg->head_dim * factor);
    }
    if (cfg->rotary_dim < 0 || cfg->rotary_dim > cfg->head_dim || cfg->rotary_dim % 2 != 0)
        return log_cause(at->cause, "%s: rotary dimensions %d must be even and within [0, head dim %d]",
                         at->path, cfg->rotary_dim, cfg->head_dim);

    if (config_int2(at, root, "vocab_size", NULL, 51200, &cfg->vocab, &found) != 0
        || config_check_min(at, "vocab_size", cfg->vocab, 1) != 0)
        return -1;
    if (config_int2(at, root, "eos_token_id", NULL, 50295, &cfg->eos_id, &found) != 0
        || config_int2(at, root, "image_token_index", NULL, 50296, &cfg->image_token, &found) != 0)
        return -1;
    if (cfg->eos_id < 0 || cfg->eos_id >= cfg->vocab)
        return log_cause(at->cause, "%s: eos_token_id %d is outside the vocabulary of %d", at->path,
                         cfg->eos_id, cfg->vocab);
    if (cfg->image_token < 0)
        return log_cause(at->cause, "%s: image_token_index %d is negative", at->path, cfg->image_token);

    if (config_int2(at, root, "tokenizer_model_max_length", "n_positions", 0, &cfg->context, &found) != 0)
        return -1;
    if (!found && config_int2(at, root, "max_position_embeddings", NULL, 3072, &cfg->context, &found) != 0)
        return -1;
    return config_check_min(at, "tokenizer_model_max_length", cfg->context, 1);
}

/* The SigLIP tower, the layer selection and the projector. */
static int
config_load_vision(imp_config *cfg, const config_where *top, json_t *root)
{
    json_t *vt = json_object_get(root, "vision_tower_config");
    if (vt == NULL || json_is_null(vt))
        return log_cause(top->cause, "%s: missing key \"vision_tower_config\"", top->path);
    if (!json_is_object(vt))
        return log_cause(top->cause, "%s: key \"vision_tower_config\" must be an object, not %s", top->path,
                         config_type_name(vt));
    config_where at = { top->path, "vision_tower_config", top->cause };
    int nlayers, found;
    if (config_required(&at, vt, "hidden_size", NULL, &cfg->vis_hidden) != 0
        || config_required(&at, vt, "num_attention_heads", NULL, &cfg->vis_heads) != 0
        || config_required(&at, vt, "intermediate_size", NULL, &cfg->vis_inner) != 0
        || config_required(&at, vt, "num_hidden_layers", NULL, &nlayers) != 0
        || config_required(&at, vt, "image_size", NULL, &cfg->vis_image) != 0
        || config_required(&at, vt, "patch_size", NULL, &cfg->vis_patch) != 0)
        return -1;
    if (config_check_min(&at, "hidden_size", cfg->vis_hidden, 1) != 0
        || config_check_min(&at, "num_attention_heads", cfg->vis_heads, 1) != 0
        || config_check_min(&at, "intermediate_size", cfg->vis_inner, 1) != 0
        || config_check_min(&at, "num_hidden_layers", nlayers, 1) != 0
        || config_check_min(&at, "patch_size", cfg->vis_patch, 1) != 0
        || config_check_min(&at, "image_size", cfg->vis_image, cfg->vis_patch) != 0)
        return -1;
    if (cfg->vis_hidden % cfg->vis_heads != 0)
        return log_cause(at.cause, "%s: vision hidden size %d is not a multiple of the %d attention heads",
                         at.path, cfg->vis_hidden, cfg->vis_heads);
    cfg->vis_head_dim = cfg->vis_hidden / cfg->vis_heads;
    /* the convolution drops the pixels past grid x patch (384 = 27 x 14 + 6) */
    cfg->vis_grid = cfg->vis_image / cfg->vis_patch;
    if (cfg->vis_grid > 46340) /* grid^2 must fit an int */
        return log_cause(at.cause, "%s: vision image size %d is too large", at.path, cfg->vis_image);
    cfg->vis_patches = cfg->vis_grid * cfg->vis_grid;

    double d;
    cfg->vis_ln_eps = 1e-6f;
    if (config_num(&at, vt, "layer_norm_eps", &d, &found) != 0)
        return -1;
    if (found) {
        if (!(d > 0 && d < 1))
            return log_cause(at.cause, "%s: key \"vision_tower_config.layer_norm_eps\" = %g is out of range",
                             at.path, d);
        cfg->vis_ln_eps = (float)d;
    }

    /*
     * The features are hidden_states[select] of the tower: index 0 is the embedding output and index
     * n the output of layer n, so a negative select counts from num_hidden_layers + 1.
     */
    int select;
    if (config_int2(top, root, "mm_vision_select_layer", NULL, -2, &select, &found) != 0)
        return -1;
    cfg->vis_layers = select < 0 ? nlayers + select + 1 : select;
    if (cfg->vis_layers < 1 || cfg->vis_layers > nlayers)
        return log_cause(top->cause, "%s: mm_vision_select_layer %d selects no encoder layer of the %d "
                         "in vision_tower_config", top->path, select, nlayers);

    if (config_int2(top, root, "mm_hidden_size", NULL, cfg->vis_hidden, &cfg->mm_hidden, &found) != 0)
        return -1;
    if (cfg->mm_hidden != cfg->vis_hidden)
        return log_cause(top->cause, "%s: mm_hidden_size %d differs from vision_tower_config.hidden_size %d",
                         top->path, cfg->mm_hidden, cfg->vis_hidden);
    json_t *pt = config_lookup(root, "mm_projector_type");
    if (pt != NULL && !json_is_string(pt))
        return log_cause(top->cause, "%s: key \"mm_projector_type\" must be a string, not %s", top->path,
                         config_type_name(pt));
    if (pt != NULL && strcmp(json_string_value(pt), "mlp2x_gelu") != 0)
        return log_cause(top->cause, "%s: mm_projector_type \"%s\" is not supported (only \"mlp2x_gelu\")",
                         top->path, json_string_value(pt));
    return 0;
}

int
config_load(imp_config *cfg, const char *dir, char **cause)
{
    char *path = xasprintf("%s/config.json", dir);
    FILE *fp = regfile_fopen(path, NULL, cause);
    if (fp == NULL) {
        free(path);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    int rc;
    if (root == NULL) {
        rc = log_cause(cause, "%s: not valid JSON: %s (line %d, column %d)", path, jerr.text, jerr.line,
                       jerr.column);
    } else if (!json_is_object(root)) {
        rc = log_cause(cause, "%s: not a JSON object", path);
    } else {
        imp_config c;
        memset(&c, 0, sizeof c);
        config_where at = { path, NULL, cause };
        rc = config_load_lm(&c, &at, root);
        if (rc == 0)
            rc = config_load_vision(&c, &at, root);
        /* the name the model was published under tells saved sessions apart; absent: none */
        json_t *name = json_object_get(root, "_name_or_path");
        if (json_is_string(name))
            snprintf(c.name, sizeof c.name, "%s", json_string_value(name));
        if (rc == 0)
            *cfg = c;
    }
    json_decref(root);
    free(path);
    return rc;
}

void
config_init_default(imp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "MILVLG/Imp-v1-3b (synthetic)");
    cfg->hidden = 2560;
    cfg->heads = 32;
    cfg->head_dim = 80;
    cfg->layers = 32;
    cfg->inner = 10240;
    cfg->rotary_dim = 32;
    cfg->ln_eps = 1e-5f;
    cfg->rope_theta = 10000.0f;
    cfg->vocab = 51200;
    cfg->eos_id = 50295;
    cfg->image_token = 50296;
    cfg->context = 3072;
    cfg->vis_hidden = 1152;
    cfg->vis_heads = 16;
    cfg->vis_head_dim = 72;
    cfg->vis_inner = 4304;
    cfg->vis_layers = 26;
    cfg->vis_image = 384;
    cfg->vis_patch = 14;
    cfg->vis_grid = 27;
    cfg->vis_patches = 729;
    cfg->vis_ln_eps = 1e-6f;
    cfg->mm_hidden = 1152;
}
