#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sessiondoc.h"
#include "xmalloc.h"

static const char *const sessiondoc_stop_names[] = {"end", "length", "stopped", "context"};

const char *
sessiondoc_stop_name(sessiondoc_stop stop)
{
    return sessiondoc_stop_names[stop];
}

void
sessiondoc_init(sessiondoc *d)
{
    memset(d, 0, sizeof *d);
    sampler_params_init(&d->sampling);
    d->max_tokens = -1;
}

void
sessiondoc_image_free(sessiondoc_image *im)
{
    free(im->name);
    im->name = NULL;
}

void
sessiondoc_image_copy(sessiondoc_image *dst, const sessiondoc_image *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name != NULL ? src->name : "");
}

static void
sessiondoc_turn_free(sessiondoc_turn *t)
{
    free(t->text);
    for (int i = 0; i < t->nimages; i++)
        sessiondoc_image_free(&t->images[i]);
    free(t->images);
    free(t->reply);
    free(t->ids);
}

void
sessiondoc_clear(sessiondoc *d)
{
    for (int i = 0; i < d->nturns; i++)
        sessiondoc_turn_free(&d->turns[i]);
    free(d->turns);
    d->turns = NULL;
    d->nturns = 0;
    for (int i = 0; i < d->nstaged; i++)
        sessiondoc_image_free(&d->staged[i]);
    free(d->staged);
    d->staged = NULL;
    d->nstaged = 0;
}

void
sessiondoc_free(sessiondoc *d)
{
    sessiondoc_clear(d);
    free(d->model.name);
    free(d->created);
    free(d->system);
    sessiondoc_init(d);
}

sessiondoc_turn *
sessiondoc_add_turn(sessiondoc *d, const char *text)
{
    d->turns = xreallocarray(d->turns, (size_t)d->nturns + 1, sizeof *d->turns);
    sessiondoc_turn *t = &d->turns[d->nturns++];
    memset(t, 0, sizeof *t);
    t->text = xstrdup(text);
    t->reply = xstrdup("");
    return t;
}

void
sessiondoc_drop_last_turn(sessiondoc *d)
{
    if (d->nturns > 0)
        sessiondoc_turn_free(&d->turns[--d->nturns]);
}

static sessiondoc_image *
sessiondoc_images_copy(const sessiondoc_image *src, int n)
{
    if (n == 0)
        return NULL;
    sessiondoc_image *dst = xreallocarray(NULL, (size_t)n, sizeof *dst);
    for (int i = 0; i < n; i++)
        sessiondoc_image_copy(&dst[i], &src[i]);
    return dst;
}

static char *
sessiondoc_strdup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

void
sessiondoc_copy(sessiondoc *dst, const sessiondoc *src)
{
    *dst = *src;
    dst->model.name = sessiondoc_strdup_or_null(src->model.name);
    dst->created = sessiondoc_strdup_or_null(src->created);
    dst->system = sessiondoc_strdup_or_null(src->system);
    dst->turns = src->nturns > 0 ? xreallocarray(NULL, (size_t)src->nturns, sizeof *dst->turns)
                                 : NULL;
    for (int i = 0; i < src->nturns; i++) {
        const sessiondoc_turn *s = &src->turns[i];
        sessiondoc_turn *t = &dst->turns[i];
        *t = *s;
        t->text = xstrdup(s->text);
        t->reply = xstrdup(s->reply);
        t->images = sessiondoc_images_copy(s->images, s->nimages);
        t->ids = s->nids > 0 ? xreallocarray(NULL, s->nids, sizeof *t->ids) : NULL;
        if (s->nids > 0)
            memcpy(t->ids, s->ids, s->nids * sizeof *t->ids);
    }
    dst->staged = sessiondoc_images_copy(src->staged, src->nstaged);
}

/* ------------------------------------------------------------------ reading */

/* Where a parse is, for messages: the file and the path into the document. */
typedef struct {
    const char *file;
    char **cause;
} sessiondoc_reader;

static int
sessiondoc_fail(sessiondoc_reader *r, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
sessiondoc_fail(sessiondoc_reader *r, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = xvasprintf(fmt, ap);
    va_end(ap);
    log_cause(r->cause, "%s: %s%s%s", r->file, where, *where ? ": " : "", what);
    free(what);
    return -1;
}

/* A string member of obj (required unless optional; NULL when absent), at most the limit. */
static int
sessiondoc_get_string(sessiondoc_reader *r, json_t *obj, const char *key, const char *where,
                      int optional, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (optional)
            return 0;
        return sessiondoc_fail(r, where, "\"%s\" is missing", key);
    }
    if (!json_is_string(v))
        return sessiondoc_fail(r, where, "\"%s\" must be a string", key);
    size_t len = json_string_length(v);
    if (len > SESSIONDOC_MAX_STRING)
        return sessiondoc_fail(r, where,
                               "\"%s\" is %.1f MB long, more than the %zu MB a string may hold",
                               key, len / 1048576.0, SESSIONDOC_MAX_STRING >> 20);
    if (memchr(json_string_value(v), '\0', len) != NULL)
        return sessiondoc_fail(r, where, "\"%s\" holds a NUL character", key);
    *out = xstrndup(json_string_value(v), len);
    return 0;
}

/* An integer member in [lo, hi]; absent: *out stays unless required. */
static int
sessiondoc_get_int(sessiondoc_reader *r, json_t *obj, const char *key, const char *where,
                   int required, long long lo, long long hi, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return required ? sessiondoc_fail(r, where, "\"%s\" is missing", key) : 0;
    if (!json_is_integer(v))
        return sessiondoc_fail(r, where, "\"%s\" must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return sessiondoc_fail(r, where, "\"%s\" is %lld, outside %lld to %lld", key, x, lo, hi);
    *out = x;
    return 0;
}

/* A number member in [lo, hi]; absent: *out stays. */
static int
sessiondoc_get_number(sessiondoc_reader *r, json_t *obj, const char *key, const char *where,
                      double lo, double hi, float *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return sessiondoc_fail(r, where, "\"%s\" must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi)
        return sessiondoc_fail(r, where, "\"%s\" is %g, outside %g to %g", key, x, lo, hi);
    *out = (float)x;
    return 0;
}

static int
sessiondoc_get_bool(sessiondoc_reader *r, json_t *obj, const char *key, const char *where, int *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return sessiondoc_fail(r, where, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int
sessiondoc_is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int
sessiondoc_read_image(sessiondoc_reader *r, json_t *v, const char *where, sessiondoc_image *im)
{
    long long w = 0, h = 0;
    char *sha = NULL;
    memset(im, 0, sizeof *im);
    if (!json_is_object(v))
        return sessiondoc_fail(r, where, "an image must be an object");
    if (sessiondoc_get_string(r, v, "sha256", where, 0, &sha) != 0)
        return -1;
    if (!sessiondoc_is_hex64(sha)) {
        free(sha);
        return sessiondoc_fail(r, where, "\"sha256\" must be 64 lower-case hex digits");
    }
    memcpy(im->sha256, sha, 65);
    free(sha);
    if (sessiondoc_get_string(r, v, "name", where, 0, &im->name) != 0 ||
        sessiondoc_get_int(r, v, "width", where, 0, 0, 1 << 20, &w) != 0 ||
        sessiondoc_get_int(r, v, "height", where, 0, 0, 1 << 20, &h) != 0 ||
        sessiondoc_get_bool(r, v, "dropped", where, &im->dropped) != 0) {
        sessiondoc_image_free(im);
        return -1;
    }
    im->width = (int)w;
    im->height = (int)h;
    return 0;
}

/* An array member of images into *out (absent: none). */
static int
sessiondoc_read_images(sessiondoc_reader *r, json_t *obj, const char *key, const char *where,
                       sessiondoc_image **out, int *n)
{
    json_t *arr = json_object_get(obj, key);
    *out = NULL;
    *n = 0;
    if (arr == NULL)
        return 0;
    if (!json_is_array(arr))
        return sessiondoc_fail(r, where, "\"%s\" must be an array", key);
    if (json_array_size(arr) > SESSIONDOC_MAX_IMAGES)
        return sessiondoc_fail(r, where, "\"%s\" holds %zu images, more than %d", key,
                               json_array_size(arr), SESSIONDOC_MAX_IMAGES);
    *out = xcalloc(json_array_size(arr) + 1, sizeof **out);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char at[96];
        snprintf(at, sizeof at, "%s%s%s[%zu]", where, *where ? "." : "", key, i);
        if (sessiondoc_read_image(r, v, at, &(*out)[i]) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

static int
sessiondoc_read_ids(sessiondoc_reader *r, json_t *msg, const char *where, sessiondoc_turn *t)
{
    json_t *arr = json_object_get(msg, "ids");
    if (arr == NULL)
        return sessiondoc_fail(r, where, "\"ids\" is missing (the reply's token ids)");
    if (!json_is_array(arr))
        return sessiondoc_fail(r, where, "\"ids\" must be an array");
    if (json_array_size(arr) > SESSIONDOC_MAX_IDS)
        return sessiondoc_fail(r, where, "\"ids\" holds %zu ids, more than %d",
                               json_array_size(arr), SESSIONDOC_MAX_IDS);
    t->ids = xreallocarray(NULL, json_array_size(arr) + 1, sizeof *t->ids);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= SESSIONDOC_MAX_ID)
            return sessiondoc_fail(r, where, "\"ids\"[%zu] is not a token id", i);
        t->ids[t->nids++] = (int32_t)json_integer_value(v);
    }
    return 0;
}

/* The role of message i must be want. */
static int
sessiondoc_check_role(sessiondoc_reader *r, json_t *msg, const char *where, const char *want)
{
    if (!json_is_object(msg))
        return sessiondoc_fail(r, where, "a message must be an object");
    json_t *role = json_object_get(msg, "role");
    if (!json_is_string(role))
        return sessiondoc_fail(r, where, "\"role\" must be \"user\" or \"assistant\"");
    if (strcmp(json_string_value(role), want) != 0)
        return sessiondoc_fail(r, where, "expected a message with role \"%s\" here, not \"%.40s\"",
                               want, json_string_value(role));
    return 0;
}

static int
sessiondoc_read_messages(sessiondoc_reader *r, json_t *root, sessiondoc *d)
{
    json_t *arr = json_object_get(root, "messages");
    if (arr == NULL)
        return sessiondoc_fail(r, "", "\"messages\" is missing");
    if (!json_is_array(arr))
        return sessiondoc_fail(r, "", "\"messages\" must be an array");
    size_t n = json_array_size(arr);
    if (n > SESSIONDOC_MAX_MESSAGES)
        return sessiondoc_fail(r, "", "%zu messages, more than %d", n, SESSIONDOC_MAX_MESSAGES);
    if (n % 2 != 0)
        return sessiondoc_fail(r, "", "%zu messages: each message needs its reply", n);
    for (size_t i = 0; i < n; i += 2) {
        char at[48], at2[48];
        snprintf(at, sizeof at, "messages[%zu]", i);
        snprintf(at2, sizeof at2, "messages[%zu]", i + 1);
        json_t *user = json_array_get(arr, i), *reply = json_array_get(arr, i + 1);
        if (sessiondoc_check_role(r, user, at, "user") != 0 ||
            sessiondoc_check_role(r, reply, at2, "assistant") != 0)
            return -1;
        sessiondoc_turn *t = sessiondoc_add_turn(d, "");
        free(t->text);
        free(t->reply);
        t->text = t->reply = NULL;
        char *stop = NULL;
        if (sessiondoc_get_string(r, user, "text", at, 0, &t->text) != 0 ||
            sessiondoc_read_images(r, user, "images", at, &t->images, &t->nimages) != 0 ||
            sessiondoc_get_bool(r, user, "dropped", at, &t->dropped) != 0 ||
            sessiondoc_get_string(r, reply, "text", at2, 0, &t->reply) != 0 ||
            sessiondoc_read_ids(r, reply, at2, t) != 0 ||
            sessiondoc_get_string(r, reply, "stop", at2, 0, &stop) != 0)
            return -1;
        int known = 0;
        for (int k = 0; k < 4; k++)
            if (strcmp(stop, sessiondoc_stop_names[k]) == 0) {
                t->stop = (sessiondoc_stop)k;
                known = 1;
            }
        if (!known) {
            sessiondoc_fail(r, at2, "\"stop\" is \"%.40s\" (expected end, length, stopped or "
                                    "context)", stop);
            free(stop);
            return -1;
        }
        free(stop);
    }
    return 0;
}

static int
sessiondoc_read_model(sessiondoc_reader *r, json_t *root, sessiondoc_model *m)
{
    json_t *obj = json_object_get(root, "model");
    long long v[5];
    static const char *const keys[5] = {"hidden", "layers", "vocab", "vision_hidden",
                                        "vision_layers"};
    if (!json_is_object(obj))
        return sessiondoc_fail(r, "", "\"model\" must be an object naming the model");
    if (sessiondoc_get_string(r, obj, "name", "model", 0, &m->name) != 0)
        return -1;
    for (int i = 0; i < 5; i++)
        if (sessiondoc_get_int(r, obj, keys[i], "model", 1, 1, 1 << 24, &v[i]) != 0)
            return -1;
    m->hidden = (int)v[0];
    m->layers = (int)v[1];
    m->vocab = (int)v[2];
    m->vision_hidden = (int)v[3];
    m->vision_layers = (int)v[4];
    return 0;
}

static int
sessiondoc_read_settings(sessiondoc_reader *r, json_t *root, sessiondoc *d)
{
    json_t *s = json_object_get(root, "settings");
    long long x;
    sampler_params *p = &d->sampling;
    if (s == NULL)
        return 0;
    if (!json_is_object(s))
        return sessiondoc_fail(r, "", "\"settings\" must be an object");
    x = d->max_tokens;
    if (sessiondoc_get_int(r, s, "max_tokens", "settings", 0, -1, 1 << 30, &x) != 0)
        return -1;
    d->max_tokens = (int)x;
    if (sessiondoc_get_number(r, s, "temp", "settings", 0, 100, &p->temp) != 0 ||
        sessiondoc_get_number(r, s, "top_p", "settings", 0, 1, &p->top_p) != 0 ||
        sessiondoc_get_number(r, s, "repeat_penalty", "settings", 0.01, 100,
                              &p->repeat_penalty) != 0)
        return -1;
    x = p->top_k;
    if (sessiondoc_get_int(r, s, "top_k", "settings", 0, 0, 1 << 30, &x) != 0)
        return -1;
    p->top_k = (int)x;
    json_t *seed = json_object_get(s, "seed");
    if (seed != NULL && !json_is_null(seed)) {
        if (sessiondoc_get_int(r, s, "seed", "settings", 1, 0, INT64_MAX, &x) != 0)
            return -1;
        p->seed = (uint64_t)x;
        p->seed_set = 1;
    }
    char *rng = NULL;
    if (sessiondoc_get_string(r, s, "rng_state", "settings", 1, &rng) != 0)
        return -1;
    if (rng != NULL) {
        char *end;
        d->rng_state = strtoull(rng, &end, 16);
        int bad = *rng == '\0' || *end != '\0' || strlen(rng) > 16;
        free(rng);
        if (bad)
            return sessiondoc_fail(r, "settings", "\"rng_state\" must be up to 16 hex digits");
    }
    return 0;
}

int
sessiondoc_parse(sessiondoc *d, const char *buf, size_t len, const char *name, char **cause)
{
    sessiondoc_reader r = {name, cause};
    sessiondoc_init(d);
    if (len > SESSIONDOC_MAX_BYTES)
        return sessiondoc_fail(&r, "", "%.1f MB, more than a session file may be (%zu MB)",
                               len / 1048576.0, SESSIONDOC_MAX_BYTES >> 20);
    json_error_t err;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return sessiondoc_fail(&r, "", "not valid JSON (line %d, column %d: %s)", err.line,
                               err.column, err.text);
    int rc = -1;
    long long version = 0;
    json_t *format = json_object_get(root, "format");
    if (!json_is_object(root)) {
        sessiondoc_fail(&r, "", "not an imp-chat session (the document is not an object)");
    } else if (!json_is_string(format) || strcmp(json_string_value(format), SESSIONDOC_FORMAT) != 0) {
        sessiondoc_fail(&r, "", "not an imp-chat session (format %s%.40s%s, expected \"%s\")",
                        json_is_string(format) ? "\"" : "",
                        json_is_string(format) ? json_string_value(format) : "missing",
                        json_is_string(format) ? "\"" : "", SESSIONDOC_FORMAT);
    } else if (sessiondoc_get_int(&r, root, "version", "", 1, 1, INT32_MAX, &version) != 0) {
        /* said */
    } else if (version > SESSIONDOC_VERSION) {
        sessiondoc_fail(&r, "",
                        "version %lld was written by a newer imp-chat (this one reads version %d)",
                        version, SESSIONDOC_VERSION);
    } else if (sessiondoc_read_model(&r, root, &d->model) == 0 &&
               sessiondoc_get_string(&r, root, "system", "", 0, &d->system) == 0 &&
               sessiondoc_get_string(&r, root, "created", "", 1, &d->created) == 0 &&
               sessiondoc_read_settings(&r, root, d) == 0 &&
               sessiondoc_read_messages(&r, root, d) == 0 &&
               sessiondoc_read_images(&r, root, "staged", "", &d->staged, &d->nstaged) == 0) {
        rc = 0;
    }
    json_decref(root);
    if (rc != 0)
        sessiondoc_free(d);
    return rc;
}

/* ------------------------------------------------------------------ writing */

/* A JSON string of s (valid UTF-8 by construction: the session makes typed text valid). */
static json_t *
sessiondoc_json_string(const char *s)
{
    json_t *v = json_string(s != NULL ? s : "");
    /* anything jansson refuses is not UTF-8: keep the place with an empty string */
    return v != NULL ? v : json_string("");
}

static json_t *
sessiondoc_json_images(const sessiondoc_image *images, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "sha256", json_string(images[i].sha256));
        json_object_set_new(o, "name", sessiondoc_json_string(images[i].name));
        json_object_set_new(o, "width", json_integer(images[i].width));
        json_object_set_new(o, "height", json_integer(images[i].height));
        if (images[i].dropped)
            json_object_set_new(o, "dropped", json_true());
        json_array_append_new(arr, o);
    }
    return arr;
}

char *
sessiondoc_dump_new(const sessiondoc *d, size_t *len)
{
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string(SESSIONDOC_FORMAT));
    json_object_set_new(root, "version", json_integer(SESSIONDOC_VERSION));
    json_t *model = json_object();
    json_object_set_new(model, "name", sessiondoc_json_string(d->model.name));
    json_object_set_new(model, "hidden", json_integer(d->model.hidden));
    json_object_set_new(model, "layers", json_integer(d->model.layers));
    json_object_set_new(model, "vocab", json_integer(d->model.vocab));
    json_object_set_new(model, "vision_hidden", json_integer(d->model.vision_hidden));
    json_object_set_new(model, "vision_layers", json_integer(d->model.vision_layers));
    json_object_set_new(root, "model", model);
    if (d->created != NULL)
        json_object_set_new(root, "created", sessiondoc_json_string(d->created));
    json_object_set_new(root, "system", sessiondoc_json_string(d->system));

    json_t *set = json_object();
    const sampler_params *p = &d->sampling;
    json_object_set_new(set, "max_tokens", json_integer(d->max_tokens));
    json_object_set_new(set, "temp", json_real(p->temp));
    json_object_set_new(set, "top_p", json_real(p->top_p));
    json_object_set_new(set, "top_k", json_integer(p->top_k));
    json_object_set_new(set, "repeat_penalty", json_real(p->repeat_penalty));
    json_object_set_new(set, "seed", p->seed_set ? json_integer((json_int_t)p->seed) : json_null());
    char rng[24];
    snprintf(rng, sizeof rng, "%016" PRIx64, d->rng_state);
    json_object_set_new(set, "rng_state", json_string(rng));
    json_object_set_new(root, "settings", set);

    json_t *msgs = json_array();
    for (int i = 0; i < d->nturns; i++) {
        const sessiondoc_turn *t = &d->turns[i];
        json_t *u = json_object(), *a = json_object(), *ids = json_array();
        json_object_set_new(u, "role", json_string("user"));
        json_object_set_new(u, "text", sessiondoc_json_string(t->text));
        if (t->nimages > 0)
            json_object_set_new(u, "images", sessiondoc_json_images(t->images, t->nimages));
        if (t->dropped)
            json_object_set_new(u, "dropped", json_true());
        json_object_set_new(a, "role", json_string("assistant"));
        json_object_set_new(a, "text", sessiondoc_json_string(t->reply));
        for (size_t k = 0; k < t->nids; k++)
            json_array_append_new(ids, json_integer(t->ids[k]));
        json_object_set_new(a, "ids", ids);
        json_object_set_new(a, "stop", json_string(sessiondoc_stop_name(t->stop)));
        json_array_append_new(msgs, u);
        json_array_append_new(msgs, a);
    }
    json_object_set_new(root, "messages", msgs);
    json_object_set_new(root, "staged", sessiondoc_json_images(d->staged, d->nstaged));

    /* compact: an indented dump would put every id of every reply on a line of its own */
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        fatal("cannot serialise the session: out of memory");
    char *out = xasprintf("%s\n", text);
    free(text);
    *len = strlen(out);
    return out;
}
