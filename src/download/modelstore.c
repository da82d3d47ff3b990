#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <jansson.h>

#include "log.h"
#include "datadir.h"
#include "modelstore.h"
#include "regfile.h"
#include "xmalloc.h"

/* The folder name of the default model in the store (the short name people expect). */
#define MODELSTORE_DEFAULT_NAME "imp-v1-3b"
/* Longest owner or name the hub accepts. */
#define MODELSTORE_MAX_NAME 96

const char *const modelstore_required_files[] = {
    "config.json", "vocab.json", "merges.txt", "added_tokens.json", "tokenizer_config.json", NULL,
};

const char *
modelstore_source_name(modelstore_source source)
{
    switch (source) {
    case MODELSTORE_OPTION:
        return "-m";
    case MODELSTORE_CONFIG:
        return "the config file's model setting";
    case MODELSTORE_ENV:
        return "IMP_CHAT_MODEL";
    case MODELSTORE_HF_CACHE:
        return "the Hugging Face cache";
    case MODELSTORE_STORE:
        return "imp-chat's store";
    case MODELSTORE_DEMO:
        return "the demo model";
    }
    return "?";
}

/* getenv, with an empty value read as unset. */
static const char *
modelstore_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* A hub id part: letters, digits, '.', '_', '-'; not starting with '.' or '-'; no ".." or "--". */
static int
modelstore_valid_part(const char *s, size_t len)
{
    if (len == 0 || len > MODELSTORE_MAX_NAME || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
        if (i > 0 && (c == '.' || c == '-') && s[i - 1] == c)
            return 0;
    }
    return 1;
}

/* A revision: a branch, tag or commit; '/' allowed (refs/pr/1), ".." and spaces are not. */
static int
modelstore_valid_rev(const char *s)
{
    if (*s == '\0' || *s == '/' || strstr(s, "..") != NULL || strlen(s) > 256)
        return 0;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != '/')
            return 0;
    }
    return 1;
}

int
modelstore_parse_id(const char *s, char **id, char **rev)
{
    const char *slash = strchr(s, '/');
    const char *at = strchr(s, '@');
    size_t idlen = at != NULL ? (size_t)(at - s) : strlen(s);
    if (slash == NULL || slash > s + idlen)
        return -1;
    if (!modelstore_valid_part(s, (size_t)(slash - s)) ||
        !modelstore_valid_part(slash + 1, idlen - (size_t)(slash - s) - 1))
        return -1;
    if (at != NULL && !modelstore_valid_rev(at + 1))
        return -1;
    *id = xstrndup(s, idlen);
    *rev = xstrdup(at != NULL ? at + 1 : MODELSTORE_DEFAULT_REV);
    return 0;
}

/* Append ", " and a formatted item to the string *s (allocated; NULL starts it). */
static void
modelstore_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
modelstore_append(char **s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *item = xvasprintf(fmt, ap);
    va_end(ap);
    if (*s == NULL) {
        *s = item;
        return;
    }
    char *joined = xasprintf("%s, %s", *s, item);
    free(*s);
    free(item);
    *s = joined;
}

/* Note in *problems when dir/name is missing or a link to nothing. */
static void
modelstore_need(const char *dir, const char *name, char **problems)
{
    struct stat st;
    char *path = xasprintf("%s/%s", dir, name);
    if (stat(path, &st) != 0) {
        if (lstat(path, &st) == 0)
            modelstore_append(problems, "%s is a broken link", name);
        else
            modelstore_append(problems, "%s missing", name);
    } else if (!S_ISREG(st.st_mode)) {
        modelstore_append(problems, "%s is not a file", name);
    }
    free(path);
}

/* Check the shards that model.safetensors.index.json names. */
static void
modelstore_need_shards(const char *dir, const char *index_path, char **problems)
{
    json_error_t err;
    FILE *f = regfile_fopen(index_path, NULL, NULL);
    if (f == NULL) {
        modelstore_append(problems, "model.safetensors.index.json is not a readable file");
        return;
    }
    json_t *root = json_loadf(f, 0, &err);
    fclose(f);
    json_t *map = root != NULL ? json_object_get(root, "weight_map") : NULL;
    if (root == NULL) {
        modelstore_append(problems, "model.safetensors.index.json: invalid JSON (line %d: %s)",
                          err.line, err.text);
        return;
    }
    if (!json_is_object(map) || json_object_size(map) == 0) {
        modelstore_append(problems, "model.safetensors.index.json: no weight_map");
        json_decref(root);
        return;
    }
    const char **seen = NULL;
    size_t nseen = 0;
    const char *key;
    json_t *value;
    json_object_foreach(map, key, value) {
        const char *name = json_string_value(value);
        size_t i;
        if (name == NULL)
            continue;
        for (i = 0; i < nseen && strcmp(seen[i], name) != 0; i++)
            ;
        if (i < nseen)
            continue;
        seen = xreallocarray(seen, nseen + 1, sizeof *seen);
        seen[nseen++] = name;
        modelstore_need(dir, name, problems);
    }
    free(seen);
    json_decref(root);
}

int
modelstore_check_dir(const char *dir, char **reason)
{
    struct stat st;
    char *problems = NULL;
    if (stat(dir, &st) != 0)
        return log_cause(reason, "%s", strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return log_cause(reason, "not a folder");
    for (size_t i = 0; modelstore_required_files[i] != NULL; i++)
        modelstore_need(dir, modelstore_required_files[i], &problems);
    char *index = xasprintf("%s/model.safetensors.index.json", dir);
    char *single = xasprintf("%s/model.safetensors", dir);
    if (stat(index, &st) == 0)
        modelstore_need_shards(dir, index, &problems);
    else if (stat(single, &st) != 0)
        modelstore_append(&problems,
                          "no weights (model.safetensors.index.json or model.safetensors)");
    free(index);
    free(single);
    if (problems == NULL)
        return 0;
    if (reason != NULL)
        *reason = problems;
    else
        free(problems);
    return -1;
}

char *
modelstore_hf_cache(void)
{
    const char *v;
    if ((v = modelstore_env("HF_HUB_CACHE")) != NULL)
        return xstrdup(v);
    if ((v = modelstore_env("HF_HOME")) != NULL)
        return xasprintf("%s/hub", v);
    /* the hub library's default: $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface */
    return xasprintf("%s/huggingface/hub", g_get_user_cache_dir());
}

/* s with every '/' replaced by "--" (the hub cache's and the store's folder names). */
static char *
modelstore_flatten(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p != '\0'; p++)
        n += *p == '/' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '/') {
            *o++ = '-';
            *o++ = '-';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* The store's root: $XDG_DATA_HOME/imp-chat/models (XDG default ~/.local/share). */
static char *
modelstore_store_root(void)
{
    return xasprintf("%s/imp-chat/models", g_get_user_data_dir());
}

char *
modelstore_store_dir(const char *id, const char *rev)
{
    char *root = modelstore_store_root();
    char *name = strcmp(id, MODELSTORE_DEFAULT_ID) == 0 ? xstrdup(MODELSTORE_DEFAULT_NAME)
                                                         : modelstore_flatten(id);
    char *dir;
    if (strcmp(rev, MODELSTORE_DEFAULT_REV) == 0) {
        dir = xasprintf("%s/%s", root, name);
    } else {
        char *flat = modelstore_flatten(rev);
        dir = xasprintf("%s/%s@%s", root, name, flat);
        free(flat);
    }
    free(root);
    free(name);
    return dir;
}

/* The cache folder of a hub id: HUB/models--OWNER--NAME. */
static char *
modelstore_hf_repo(const char *id)
{
    char *cache = modelstore_hf_cache();
    char *flat = modelstore_flatten(id);
    char *repo = xasprintf("%s/models--%s", cache, flat);
    free(cache);
    free(flat);
    return repo;
}

/* A full commit hash: 40 lowercase hex digits. */
static int
modelstore_is_commit(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!isdigit((unsigned char)s[n]) && (s[n] < 'a' || s[n] > 'f'))
            return 0;
    return n == 40;
}

/* The commit the cache's refs/REV names, or NULL. */
static char *
modelstore_hf_ref(const char *repo, const char *rev)
{
    char *path = xasprintf("%s/refs/%s", repo, rev);
    FILE *f = regfile_fopen(path, NULL, NULL);
    char buf[64] = "";
    free(path);
    if (f == NULL)
        return NULL;
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, " \r\n")] = '\0';
    return modelstore_is_commit(buf) ? xstrdup(buf) : NULL;
}

typedef struct {
    char *name;
    time_t mtime;
} modelstore_snapshot;

static int
modelstore_newest_first(const void *a, const void *b)
{
    const modelstore_snapshot *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime > y->mtime ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The snapshot folders of a cached repo, newest first; *n entries. */
static modelstore_snapshot *
modelstore_hf_snapshots(const char *repo, size_t *n)
{
    char *dir = xasprintf("%s/snapshots", repo);
    DIR *d = opendir(dir);
    modelstore_snapshot *snaps = NULL;
    struct dirent *de;
    *n = 0;
    while (d != NULL && (de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snaps = xreallocarray(snaps, *n + 1, sizeof *snaps);
            snaps[*n].name = xstrdup(de->d_name);
            snaps[*n].mtime = st.st_mtime;
            (*n)++;
        }
        free(path);
    }
    if (d != NULL)
        closedir(d);
    free(dir);
    if (*n > 1)
        qsort(snaps, *n, sizeof *snaps, modelstore_newest_first);
    return snaps;
}

static void
modelstore_snapshots_free(modelstore_snapshot *snaps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(snaps[i].name);
    free(snaps);
}

/*
 * A complete cache snapshot of id@rev: the one the revision names; for the default revision, when
 * that one is incomplete, the newest complete snapshot (an older download still works).
 */
static char *
modelstore_hf_find(const char *id, const char *rev)
{
    char *repo = modelstore_hf_repo(id);
    char *commit = modelstore_is_commit(rev) ? xstrdup(rev) : modelstore_hf_ref(repo, rev);
    char *found = NULL;
    if (commit != NULL) {
        char *snap = xasprintf("%s/snapshots/%s", repo, commit);
        if (modelstore_check_dir(snap, NULL) == 0)
            found = snap;
        else
            free(snap);
    }
    if (found == NULL && strcmp(rev, MODELSTORE_DEFAULT_REV) == 0) {
        size_t n;
        modelstore_snapshot *snaps = modelstore_hf_snapshots(repo, &n);
        for (size_t i = 0; i < n && found == NULL; i++) {
            char *snap = xasprintf("%s/snapshots/%s", repo, snaps[i].name);
            if (modelstore_check_dir(snap, NULL) == 0)
                found = snap;
            else
                free(snap);
        }
        modelstore_snapshots_free(snaps, n);
    }
    free(commit);
    free(repo);
    return found;
}

char *
modelstore_find_id(const char *id, const char *rev, modelstore_source *source)
{
    char *dir = modelstore_hf_find(id, rev);
    if (dir != NULL) {
        *source = MODELSTORE_HF_CACHE;
        return dir;
    }
    dir = modelstore_store_dir(id, rev);
    if (modelstore_check_dir(dir, NULL) == 0) {
        *source = MODELSTORE_STORE;
        return dir;
    }
    free(dir);
    return NULL;
}

int
modelstore_resolve(const char *value, modelstore_source source, modelstore_result *res,
                   char **cause)
{
    struct stat st;
    memset(res, 0, sizeof *res);
    if (stat(value, &st) == 0) {
        res->dir = xstrdup(value);
        res->source = source;
        return 0;
    }
    int err = errno;
    if (modelstore_parse_id(value, &res->id, &res->rev) == 0) {
        res->dir = modelstore_find_id(res->id, res->rev, &res->source);
        if (res->dir == NULL)
            res->source = source;
        return 0;
    }
    if (source == MODELSTORE_OPTION)
        return log_cause(cause, "%s: %s (the model folder given with -m)", value, strerror(err));
    return log_cause(cause, "%s: %s (%s: a model folder or a hub id OWNER/NAME[@REVISION])", value,
                     strerror(err), modelstore_source_name(source));
}

int
modelstore_find(const char *config_model, modelstore_result *res, char **cause)
{
    const char *env;
    if (config_model != NULL)
        return modelstore_resolve(config_model, MODELSTORE_CONFIG, res, cause);
    if ((env = modelstore_env("IMP_CHAT_MODEL")) != NULL)
        return modelstore_resolve(env, MODELSTORE_ENV, res, cause);
    memset(res, 0, sizeof *res);
    res->id = xstrdup(MODELSTORE_DEFAULT_ID);
    res->rev = xstrdup(MODELSTORE_DEFAULT_REV);
    res->dir = modelstore_find_id(res->id, res->rev, &res->source);
    if (res->dir == NULL)
        res->source = MODELSTORE_STORE;
    return 0;
}

void
modelstore_result_free(modelstore_result *res)
{
    free(res->dir);
    free(res->id);
    free(res->rev);
    memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------------ --list-models */

typedef struct {
    modelstore_entry *v;
    size_t n;
} modelstore_entries;

/* Add an entry; place and status are taken (owned), dir copied when not NULL. */
static void
modelstore_add(modelstore_entries *l, modelstore_source source, char *place, char *status,
               const char *dir)
{
    l->v = xreallocarray(l->v, l->n + 1, sizeof *l->v);
    l->v[l->n++] = (modelstore_entry){source, place, status, dir != NULL ? xstrdup(dir) : NULL};
}

/* "complete" or "incomplete: why" for a folder; sets *ok. */
static char *
modelstore_status(const char *dir, int *ok)
{
    char *reason = NULL;
    *ok = modelstore_check_dir(dir, &reason) == 0;
    if (*ok)
        return xstrdup("complete");
    char *s = xasprintf("incomplete: %s", reason);
    free(reason);
    return s;
}

/* An entry for a setting's value (-m, config, IMP_CHAT_MODEL). */
static void
modelstore_list_value(modelstore_entries *l, modelstore_source source, const char *value)
{
    struct stat st;
    char *id, *rev;
    int ok, err = 0;
    if (value != NULL && stat(value, &st) != 0)
        err = errno;
    if (value == NULL) {
        modelstore_add(l, source, NULL, xstrdup("not set"), NULL);
    } else if (err == 0) {
        char *status = modelstore_status(value, &ok);
        modelstore_add(l, source, xstrdup(value), status, ok ? value : NULL);
    } else if (modelstore_parse_id(value, &id, &rev) == 0) {
        modelstore_source where;
        char *dir = modelstore_find_id(id, rev, &where);
        char *status = dir != NULL ? xasprintf("hub id, found in %s: %s",
                                               modelstore_source_name(where), dir)
                                   : xstrdup("hub id, not downloaded");
        modelstore_add(l, source, xstrdup(value), status, dir);
        free(dir);
        free(id);
        free(rev);
    } else {
        modelstore_add(l, source, xstrdup(value), xstrdup(strerror(err)), NULL);
    }
}

/* One entry per snapshot of id in the cache (or one saying there is none). */
static void
modelstore_list_hf(modelstore_entries *l, const char *id)
{
    char *repo = modelstore_hf_repo(id);
    char *main_commit = modelstore_hf_ref(repo, MODELSTORE_DEFAULT_REV);
    size_t n;
    modelstore_snapshot *snaps = modelstore_hf_snapshots(repo, &n);
    if (n == 0)
        modelstore_add(l, MODELSTORE_HF_CACHE, xstrdup(repo), xasprintf("no snapshot of %s", id),
                       NULL);
    for (size_t i = 0; i < n; i++) {
        int ok;
        char *snap = xasprintf("%s/snapshots/%s", repo, snaps[i].name);
        char *status = modelstore_status(snap, &ok);
        if (main_commit != NULL && strcmp(main_commit, snaps[i].name) == 0) {
            char *s = xasprintf("%s (%s@main)", status, id);
            free(status);
            status = s;
        }
        modelstore_add(l, MODELSTORE_HF_CACHE, snap, status, ok ? snap : NULL);
    }
    modelstore_snapshots_free(snaps, n);
    free(main_commit);
    free(repo);
}

/* One entry per folder of the store, by name. */
static void
modelstore_list_store(modelstore_entries *l)
{
    char *root = modelstore_store_root();
    struct dirent **names = NULL;
    int count = scandir(root, &names, NULL, alphasort);
    size_t before = l->n;
    for (int i = 0; i < count; i++) {
        struct stat st;
        int ok;
        char *dir = xasprintf("%s/%s", root, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            char *status = modelstore_status(dir, &ok);
            modelstore_add(l, MODELSTORE_STORE, dir, status, ok ? dir : NULL);
        } else {
            free(dir);
        }
        free(names[i]);
    }
    free(names);
    if (l->n == before)
        modelstore_add(l, MODELSTORE_STORE, root, xstrdup("nothing there"), NULL);
    else
        free(root);
}

modelstore_entry *
modelstore_list(const char *option, const char *config_model, size_t *n)
{
    modelstore_entries l = {NULL, 0};
    const char *values[3] = {option, config_model, modelstore_env("IMP_CHAT_MODEL")};
    const char *ids[4] = {MODELSTORE_DEFAULT_ID};
    size_t nids = 1;
    if (option != NULL)
        modelstore_list_value(&l, MODELSTORE_OPTION, option);
    modelstore_list_value(&l, MODELSTORE_CONFIG, config_model);
    modelstore_list_value(&l, MODELSTORE_ENV, values[2]);
    /* the cache is listed for the default model and for any hub id the settings name */
    char *owned[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        char *id, *rev;
        struct stat st;
        if (values[i] == NULL || stat(values[i], &st) == 0 ||
            modelstore_parse_id(values[i], &id, &rev) != 0)
            continue;
        free(rev);
        size_t j;
        for (j = 0; j < nids && strcmp(ids[j], id) != 0; j++)
            ;
        if (j < nids) {
            free(id);
            continue;
        }
        owned[i] = id;
        ids[nids++] = id;
    }
    for (size_t i = 0; i < nids; i++)
        modelstore_list_hf(&l, ids[i]);
    for (int i = 0; i < 3; i++)
        free(owned[i]);
    modelstore_list_store(&l);
    *n = l.n;
    return l.v;
}

void
modelstore_list_free(modelstore_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(entries[i].place);
        free(entries[i].status);
        free(entries[i].dir);
    }
    free(entries);
}

/* ------------------------------------------------------------------ demo model */

char *
modelstore_demo_dir(char **cause)
{
    char *dir = datadir_path_new("demo/imp-tiny", "tests/fixtures/imp-tiny");
    if (modelstore_check_dir(dir, NULL) == 0)
        return dir;
    log_cause(cause, "the demo model is not installed (looked in %s)", dir);
    free(dir);
    return NULL;
}
