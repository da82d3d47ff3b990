/*
 * The model lookup: hub id parsing, what makes a folder complete (and the reason when it is not),
 * the Hugging Face cache and store paths, the lookup order (config, IMP_CHAT_MODEL, cache snapshot
 * made of symbolic links, store), and the --list-models entries.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modelstore.h"
#include "testutil.h"
#include "xmalloc.h"

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"
#define COMMIT_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define COMMIT_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char *const model_files[] = {
    "added_tokens.json", "config.json", "merges.txt", SHARD1, SHARD2,
    "model.safetensors.index.json", "special_tokens_map.json", "tokenizer_config.json",
    "vocab.json", NULL,
};

static const char *scratch;

static const char *
or_none(const char *s)
{
    return s != NULL ? s : "(none)";
}

static void
mkdirs(const char *path)
{
    char *cmd = xasprintf("mkdir -p '%s'", path);
    if (system(cmd) != 0)
        exit(99);
    free(cmd);
}

static void
copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = testutil_read_file(from, &len);
    if (data == NULL || testutil_write_file(to, data, len) != 0) {
        fprintf(stderr, "cannot copy %s to %s\n", from, to);
        exit(99);
    }
    free(data);
}

/* A copy of the fixture model in scratch/name, without the file skip (may be NULL). */
static char *
copy_model(const char *name, const char *skip)
{
    char *dir = xasprintf("%s/%s", scratch, name);
    mkdirs(dir);
    for (int i = 0; model_files[i] != NULL; i++) {
        if (skip != NULL && strcmp(skip, model_files[i]) == 0)
            continue;
        char *from = xasprintf("%s/%s", testutil_fixture_path("imp-tiny"), model_files[i]);
        char *to = xasprintf("%s/%s", dir, model_files[i]);
        copy_file(from, to);
        free(from);
        free(to);
    }
    return dir;
}

/*
 * A Hugging Face cache snapshot as the hub library writes it: blobs/ holds the content,
 * snapshots/COMMIT/NAME are relative symbolic links to ../../blobs/BLOB. skip is left out.
 */
static char *
make_snapshot(const char *cache, const char *commit, const char *skip)
{
    char *repo = xasprintf("%s/models--MILVLG--imp-v1-3b", cache);
    char *blobs = xasprintf("%s/blobs", repo);
    char *snap = xasprintf("%s/snapshots/%s", repo, commit);
    mkdirs(blobs);
    mkdirs(snap);
    for (int i = 0; model_files[i] != NULL; i++) {
        if (skip != NULL && strcmp(skip, model_files[i]) == 0)
            continue;
        char *blob = xasprintf("%s/%s-%s", blobs, commit, model_files[i]);
        char *from = xasprintf("%s/%s", testutil_fixture_path("imp-tiny"), model_files[i]);
        char *target = xasprintf("../../blobs/%s-%s", commit, model_files[i]);
        char *link = xasprintf("%s/%s", snap, model_files[i]);
        copy_file(from, blob);
        if (symlink(target, link) != 0) {
            perror(link);
            exit(99);
        }
        free(blob);
        free(from);
        free(target);
        free(link);
    }
    free(repo);
    free(blobs);
    return snap;
}

static void
write_ref(const char *cache, const char *commit)
{
    char *refs = xasprintf("%s/models--MILVLG--imp-v1-3b/refs", cache);
    char *path = xasprintf("%s/main", refs);
    mkdirs(refs);
    testutil_write_file(path, commit, strlen(commit));
    free(refs);
    free(path);
}

static void
test_parse_id(void)
{
    static const struct {
        const char *s, *id, *rev;
    } good[] = {
        {"MILVLG/imp-v1-3b", "MILVLG/imp-v1-3b", "main"},
        {"MILVLG/imp-v1-3b@v1.0", "MILVLG/imp-v1-3b", "v1.0"},
        {"a_b/c.d@refs/pr/1", "a_b/c.d", "refs/pr/1"},
        {"o/n@0123456789abcdef0123456789abcdef01234567", "o/n",
         "0123456789abcdef0123456789abcdef01234567"},
    };
    static const char *const bad[] = {
        "", "imp-v1-3b", "/abs/path", "./a/b", "a/b/c", "a//b", "-a/b", ".a/b", "a/b@", "a/b@../x",
        "a b/c", "a/..", "a/b--c", "a/b@x y", "~/models", "models/imp-v1-3b/",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *id = NULL, *rev = NULL;
        int rc = modelstore_parse_id(good[i].s, &id, &rev);
        CHECK(rc == 0 && strcmp(id, good[i].id) == 0 && strcmp(rev, good[i].rev) == 0,
              "parse \"%s\": rc %d, id %s, rev %s (want %s @ %s)", good[i].s, rc, or_none(id),
              or_none(rev), good[i].id, good[i].rev);
        free(id);
        free(rev);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *id = NULL, *rev = NULL;
        CHECK(modelstore_parse_id(bad[i], &id, &rev) != 0, "\"%s\" is not a hub id", bad[i]);
    }
}

/* check_dir(dir) fails with a reason containing want. */
static void
expect_incomplete(const char *dir, const char *want)
{
    char *reason = NULL;
    int rc = modelstore_check_dir(dir, &reason);
    CHECK(rc != 0 && reason != NULL && strstr(reason, want) != NULL,
          "%s: rc %d, reason \"%s\", expected it to mention \"%s\"", dir, rc, or_none(reason),
          want);
    free(reason);
}

static void
test_check_dir(void)
{
    char *reason = NULL;
    CHECK(modelstore_check_dir(testutil_fixture_path("imp-tiny"), &reason) == 0,
          "the fixture model is complete (%s)", or_none(reason));
    free(reason);

    char *no_shard = copy_model("no-shard", SHARD2);
    expect_incomplete(no_shard, SHARD2 " missing");
    char *no_vocab = copy_model("no-vocab", "vocab.json");
    expect_incomplete(no_vocab, "vocab.json missing");
    char *no_weights = copy_model("no-weights", "model.safetensors.index.json");
    expect_incomplete(no_weights, "no weights");

    char *bad_index = copy_model("bad-index", NULL);
    char *index = xasprintf("%s/model.safetensors.index.json", bad_index);
    testutil_write_file(index, "{\"weight_map\": ", 15);
    expect_incomplete(bad_index, "model.safetensors.index.json: invalid JSON");
    testutil_write_file(index, "{\"metadata\": {}}", 16);
    expect_incomplete(bad_index, "no weight_map");

    /* a link to a blob that is not there */
    char *broken = copy_model("broken-link", SHARD1);
    char *link = xasprintf("%s/%s", broken, SHARD1);
    CHECK(symlink("../blobs/nothing", link) == 0, "symlink %s", link);
    expect_incomplete(broken, SHARD1 " is a broken link");

    char *nowhere = xasprintf("%s/nowhere", scratch);
    expect_incomplete(nowhere, "No such file or directory");
    expect_incomplete(index, "not a folder");
    free(no_shard);
    free(no_vocab);
    free(no_weights);
    free(bad_index);
    free(index);
    free(broken);
    free(link);
    free(nowhere);
}

static void
test_paths(const char *data)
{
    char *dir = modelstore_store_dir("MILVLG/imp-v1-3b", "main");
    char *want = xasprintf("%s/imp-chat/models/imp-v1-3b", data);
    CHECK(strcmp(dir, want) == 0, "store folder of the default model: %s (want %s)", dir, want);
    free(dir);
    free(want);
    dir = modelstore_store_dir("someone/imp-fork", "refs/pr/2");
    want = xasprintf("%s/imp-chat/models/someone--imp-fork@refs--pr--2", data);
    CHECK(strcmp(dir, want) == 0, "store folder of another id and revision: %s (want %s)", dir,
          want);
    free(dir);
    free(want);

    setenv("HF_HUB_CACHE", "/x/hub-cache", 1);
    setenv("HF_HOME", "/x/hf-home", 1);
    dir = modelstore_hf_cache();
    CHECK(strcmp(dir, "/x/hub-cache") == 0, "HF_HUB_CACHE comes first: %s", dir);
    free(dir);
    unsetenv("HF_HUB_CACHE");
    dir = modelstore_hf_cache();
    CHECK(strcmp(dir, "/x/hf-home/hub") == 0, "then HF_HOME/hub: %s", dir);
    free(dir);
    unsetenv("HF_HOME");
    dir = modelstore_hf_cache();
    want = xasprintf("%s/cache/huggingface/hub", scratch);
    CHECK(strcmp(dir, want) == 0, "then $XDG_CACHE_HOME/huggingface/hub: %s (want %s)", dir, want);
    free(dir);
    free(want);
}

/* modelstore_find(config) gives dir (NULL: nothing found) from source. */
static void
expect_find(const char *what, const char *config, const char *dir, modelstore_source source)
{
    modelstore_result res;
    char *cause = NULL;
    int rc = modelstore_find(config, &res, &cause);
    CHECK(rc == 0, "%s: lookup failed: %s", what, or_none(cause));
    if (rc != 0) {
        free(cause);
        return;
    }
    if (dir == NULL)
        CHECK(res.dir == NULL && res.id != NULL && strcmp(res.id, MODELSTORE_DEFAULT_ID) == 0,
              "%s: nothing found, download %s (got %s, %s)", what, MODELSTORE_DEFAULT_ID,
              or_none(res.dir), or_none(res.id));
    else
        CHECK(res.dir != NULL && strcmp(res.dir, dir) == 0 && res.source == source,
              "%s: found %s from %s (want %s from %s)", what, or_none(res.dir),
              modelstore_source_name(res.source), dir, modelstore_source_name(source));
    modelstore_result_free(&res);
}

static void
test_lookup(const char *data)
{
    char *cache = xasprintf("%s/hub", scratch);
    setenv("HF_HUB_CACHE", cache, 1);
    unsetenv("IMP_CHAT_MODEL");
    expect_find("empty machine", NULL, NULL, MODELSTORE_STORE);

    /* a partial download in the store does not count */
    char *store = modelstore_store_dir(MODELSTORE_DEFAULT_ID, MODELSTORE_DEFAULT_REV);
    char *models = xasprintf("%s/imp-chat/models", data);
    mkdirs(models);
    char *partial = copy_model("imp-chat-partial", SHARD1);
    CHECK(rename(partial, store) == 0, "rename %s to %s", partial, store);
    expect_find("incomplete store folder", NULL, NULL, MODELSTORE_STORE);
    char *from = xasprintf("%s/%s", testutil_fixture_path("imp-tiny"), SHARD1);
    char *to = xasprintf("%s/%s", store, SHARD1);
    copy_file(from, to);
    expect_find("complete store folder", NULL, store, MODELSTORE_STORE);

    /* a cache snapshot comes before the store; refs/main names an incomplete one */
    char *snap_a = make_snapshot(cache, COMMIT_A, NULL);
    char *snap_b = make_snapshot(cache, COMMIT_B, SHARD2);
    write_ref(cache, COMMIT_B);
    expect_find("refs/main names an incomplete snapshot", NULL, snap_a, MODELSTORE_HF_CACHE);
    write_ref(cache, COMMIT_A);
    expect_find("refs/main names a complete snapshot", NULL, snap_a, MODELSTORE_HF_CACHE);

    /* an explicit revision finds only its own snapshot */
    modelstore_source src;
    char *dir = modelstore_find_id(MODELSTORE_DEFAULT_ID, COMMIT_B, &src);
    CHECK(dir == NULL, "the incomplete snapshot %s is not used for its commit", or_none(dir));
    free(dir);
    dir = modelstore_find_id(MODELSTORE_DEFAULT_ID, COMMIT_A, &src);
    CHECK(dir != NULL && strcmp(dir, snap_a) == 0, "commit A finds %s", or_none(dir));
    free(dir);

    /* IMP_CHAT_MODEL before the cache, the config setting before both */
    char *other = copy_model("other", NULL);
    setenv("IMP_CHAT_MODEL", other, 1);
    expect_find("IMP_CHAT_MODEL", NULL, other, MODELSTORE_ENV);
    expect_find("config setting", testutil_fixture_path("imp-tiny"),
                testutil_fixture_path("imp-tiny"), MODELSTORE_CONFIG);

    /* a hub id as a setting is looked up */
    setenv("IMP_CHAT_MODEL", "MILVLG/imp-v1-3b@" COMMIT_A, 1);
    expect_find("IMP_CHAT_MODEL as a hub id", NULL, snap_a, MODELSTORE_HF_CACHE);
    modelstore_result res;
    char *cause = NULL;
    setenv("IMP_CHAT_MODEL", "someone/not-here", 1);
    int rc = modelstore_find(NULL, &res, &cause);
    CHECK(rc == 0 && res.dir == NULL && strcmp(res.id, "someone/not-here") == 0 &&
              res.source == MODELSTORE_ENV,
          "IMP_CHAT_MODEL naming a missing hub id: download it (rc %d, %s)", rc, or_none(cause));
    if (rc == 0)
        modelstore_result_free(&res);

    /* a setting that is neither a folder nor a hub id is an error naming it */
    setenv("IMP_CHAT_MODEL", "/no/such/folder", 1);
    rc = modelstore_find(NULL, &res, &cause);
    CHECK(rc != 0 && cause != NULL && strstr(cause, "/no/such/folder: No such file") != NULL &&
              strstr(cause, "IMP_CHAT_MODEL") != NULL,
          "IMP_CHAT_MODEL pointing nowhere: %s", or_none(cause));
    free(cause);
    cause = NULL;
    rc = modelstore_find("/no/config/folder", &res, &cause);
    CHECK(rc != 0 && cause != NULL && strstr(cause, "config file's model setting") != NULL,
          "config setting pointing nowhere: %s", or_none(cause));
    free(cause);
    cause = NULL;
    rc = modelstore_resolve("/no/option", MODELSTORE_OPTION, &res, &cause);
    CHECK(rc != 0 && cause != NULL &&
              strstr(cause, "/no/option: No such file or directory (the model folder given with "
                            "-m)") != NULL,
          "-m pointing nowhere: %s", or_none(cause));
    free(cause);
    unsetenv("IMP_CHAT_MODEL");

    /* --list-models: every snapshot with its state, the store folder, the settings */
    size_t n;
    modelstore_entry *e = modelstore_list(NULL, NULL, &n);
    int saw_a = 0, saw_b = 0, saw_store = 0, saw_env = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].source == MODELSTORE_HF_CACHE && strcmp(e[i].place, snap_a) == 0)
            saw_a = strstr(e[i].status, "complete (MILVLG/imp-v1-3b@main)") == e[i].status &&
                    e[i].dir != NULL;
        if (e[i].source == MODELSTORE_HF_CACHE && strcmp(e[i].place, snap_b) == 0)
            saw_b = strcmp(e[i].status, "incomplete: " SHARD2 " missing") == 0 && e[i].dir == NULL;
        if (e[i].source == MODELSTORE_STORE && strcmp(e[i].place, store) == 0)
            saw_store = strcmp(e[i].status, "complete") == 0;
        if (e[i].source == MODELSTORE_ENV)
            saw_env = strcmp(e[i].status, "not set") == 0;
    }
    CHECK(saw_a, "list: snapshot A complete and marked as main");
    CHECK(saw_b, "list: snapshot B incomplete, saying which shard is missing");
    CHECK(saw_store, "list: the store folder");
    CHECK(saw_env, "list: IMP_CHAT_MODEL not set");
    if (!(saw_a && saw_b && saw_store && saw_env))
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s %s: %s\n", modelstore_source_name(e[i].source),
                    or_none(e[i].place), e[i].status);
    modelstore_list_free(e, n);

    free(cache);
    free(store);
    free(models);
    free(partial);
    free(from);
    free(to);
    free(snap_a);
    free(snap_b);
    free(other);
}

static void
test_demo_dir(void)
{
    char *cause = NULL;
    char *dir = modelstore_demo_dir(&cause);
    /* the test program is not next to tests/fixtures: only an installed copy would be found */
    if (dir != NULL)
        CHECK(modelstore_check_dir(dir, NULL) == 0, "demo model %s is complete", dir);
    else
        CHECK(cause != NULL && strstr(cause, IMP_DATADIR "/demo/imp-tiny") != NULL,
              "the message names where the demo model was looked for: %s", or_none(cause));
    free(dir);
    free(cause);
}

int
main(void)
{
    scratch = testutil_tmpdir("test_modelstore");
    /* before anything reads them: GLib keeps the first value it sees */
    char *data = xasprintf("%s/data", scratch);
    char *xcache = xasprintf("%s/cache", scratch);
    setenv("XDG_DATA_HOME", data, 1);
    setenv("XDG_CACHE_HOME", xcache, 1);

    test_parse_id();
    test_check_dir();
    test_paths(data);
    test_lookup(data);
    test_demo_dir();
    free(data);
    free(xcache);
    int rc = testutil_finish("test_modelstore");
    if (rc == 0) {
        /* the scratch folder is kept only when something failed */
        char *cmd = xasprintf("rm -rf '%s'", scratch);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", scratch);
        free(cmd);
    }
    return rc;
}
