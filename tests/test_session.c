/*
 * The conversation layer without a front end: the session file's parser (valid documents round
 * trip, every bad one is refused with the place named), the command parser, the engine's turn
 * bookkeeping (undo cuts the cache back and runs nothing again, a restored conversation gives the
 * same greedy ids as the one that never left), the image cache's bound, and the session itself
 * (numbering, merging, unstaging after a refusal, the reply limit, save and load, atomic writes).
 * The fixture model: greedy ids are compared exactly (same code path, same arithmetic).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdtable.h"
#include "inputhist.h"
#include "session.h"
#include "sessiondoc.h"
#include "sessionstore.h"
#include "testutil.h"
#include "xmalloc.h"

static const char *model_dir;

/* ------------------------------------------------------------------ the session file */

static const char valid_doc[] =
    "{\"format\":\"imp-chat-session\",\"version\":1,"
    "\"model\":{\"name\":\"m\",\"hidden\":80,\"layers\":2,\"vocab\":51200,\"vision_hidden\":64,"
    "\"vision_layers\":2},"
    "\"system\":\"be brief\",\"settings\":{\"max_tokens\":7,\"temp\":0.5,\"seed\":42,"
    "\"rng_state\":\"00000000000000ff\"},"
    "\"messages\":[{\"role\":\"user\",\"text\":\"hi \\u001b[31m\",\"images\":[{\"sha256\":"
    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"name\":\"a.png\","
    "\"width\":3,\"height\":4,\"dropped\":true}]},"
    "{\"role\":\"assistant\",\"text\":\"yo\",\"ids\":[1,2,50295],\"stop\":\"end\"}],"
    "\"staged\":[]}";

/* Parse text and expect a refusal whose message holds want. */
static void
expect_refused(const char *what, const char *text, size_t len, const char *want)
{
    sessiondoc d;
    char *cause = NULL;
    int rc = sessiondoc_parse(&d, text, len, "s.json", &cause);
    CHECK(rc != 0 && cause != NULL && strstr(cause, want) != NULL &&
              strncmp(cause, "s.json: ", 8) == 0,
          "%s: refused naming the file and \"%s\" (got: %s)", what, want,
          rc != 0 ? cause : "accepted");
    if (rc == 0)
        sessiondoc_free(&d);
    free(cause);
}

/* valid_doc with one substring replaced. New string. */
static char *
doc_with(const char *from, const char *to)
{
    const char *at = strstr(valid_doc, from);
    if (at == NULL)
        return xstrdup(valid_doc);
    return xasprintf("%.*s%s%s", (int)(at - valid_doc), valid_doc, to, at + strlen(from));
}

static void
check_sessiondoc(void)
{
    sessiondoc d, e;
    char *cause = NULL;
    int rc = sessiondoc_parse(&d, valid_doc, strlen(valid_doc), "s.json", &cause);
    if (!CHECK(rc == 0, "a valid document parses: %s", cause))
        return;
    CHECK(d.nturns == 1 && d.turns[0].nimages == 1 && d.turns[0].images[0].dropped &&
              d.turns[0].nids == 3 && d.turns[0].ids[2] == 50295 &&
              d.turns[0].stop == SESSIONDOC_STOP_EOS && d.max_tokens == 7 &&
              d.sampling.seed_set && d.sampling.seed == 42 && d.rng_state == 0xff &&
              strcmp(d.turns[0].text, "hi \033[31m") == 0,
          "the fields are read (control bytes come back as they were)");
    size_t len;
    char *dump = sessiondoc_dump_new(&d, &len);
    CHECK(strcasestr(dump, "\\u001b") != NULL && strchr(dump, '\033') == NULL,
          "a control byte is stored escaped: %s", dump);
    rc = sessiondoc_parse(&e, dump, len, "dump", &cause);
    CHECK(rc == 0 && e.nturns == 1 && strcmp(e.turns[0].reply, "yo") == 0 &&
              e.turns[0].images[0].width == 3 && e.sampling.temp == 0.5f &&
              strcmp(e.system, "be brief") == 0,
          "a dump parses to the same conversation");
    if (rc == 0)
        sessiondoc_free(&e);
    free(dump);
    sessiondoc_free(&d);

    expect_refused("truncated", valid_doc, strlen(valid_doc) / 2, "not valid JSON");
    char *t = doc_with("imp-chat-session", "something-else");
    expect_refused("wrong format", t, strlen(t), "not an imp-chat session");
    free(t);
    t = doc_with("\"version\":1", "\"version\":2");
    expect_refused("future version", t, strlen(t), "version 2 was written by a newer imp-chat");
    free(t);
    t = doc_with("\"role\":\"assistant\"", "\"role\":\"user\"");
    expect_refused("two user messages", t, strlen(t), "messages[1]");
    free(t);
    t = doc_with("[1,2,50295]", "[1,\"x\"]");
    expect_refused("a bad id", t, strlen(t), "\"ids\"[1] is not a token id");
    free(t);
    t = doc_with("0123456789abcdef0123", "0123456789ABCDEF0123");
    expect_refused("a bad hash", t, strlen(t), "sha256");
    free(t);
    t = doc_with("\"stop\":\"end\"", "\"stop\":\"sideways\"");
    expect_refused("an unknown stop", t, strlen(t), "\"stop\" is \"sideways\"");
    free(t);
    t = doc_with("\"system\":\"be brief\",", "");
    expect_refused("no system prompt", t, strlen(t), "\"system\" is missing");
    free(t);
    expect_refused("not an object", "[1,2]", 5, "not an imp-chat session");
    t = doc_with("\"temp\":0.5", "\"temp\":-1");
    expect_refused("a setting out of range", t, strlen(t), "settings: \"temp\" is -1");
    free(t);

    /* a string longer than a session file may hold one */
    size_t big = SESSIONDOC_MAX_STRING + 10;
    char *filler = xmalloc(big + 1);
    memset(filler, 'a', big);
    filler[big] = '\0';
    t = doc_with("be brief", filler);
    expect_refused("a 1 MB string", t, strlen(t), "\"system\" is 1.0 MB long");
    free(t);
    free(filler);
    expect_refused("a file past the limit", valid_doc, SESSIONDOC_MAX_BYTES + 1,
                   "more than a session file may be");
}

/* ------------------------------------------------------------------ the command parser */

static void
check_cmdtable(void)
{
    cmdtable_call c;
    char *cause = NULL;
    CHECK(cmdtable_parse("hello there", &c, &cause) == 0 && c.entry == NULL &&
              strcmp(c.args, "hello there") == 0,
          "a line without / is a message");
    CHECK(cmdtable_parse("//etc/passwd", &c, &cause) == 0 && c.entry == NULL &&
              strcmp(c.args, "/etc/passwd") == 0,
          "//text is the message /text");
    CHECK(cmdtable_parse("/image   my file.png", &c, &cause) == 0 && c.entry != NULL &&
              strcmp(c.entry->name, "/image") == 0 && strcmp(c.args, "my file.png") == 0,
          "a command and its arguments");
    CHECK(cmdtable_parse("/regen", &c, &cause) == 0 && c.entry != NULL &&
              strcmp(c.entry->name, "/retry") == 0,
          "/regen is /retry");
    CHECK(cmdtable_parse("/imagefoo x", &c, &cause) != 0 && strstr(cause, "\"/imagefoo\""),
          "an unknown command is named: %s", cause);
    free(cause);
    cause = NULL;
    CHECK(cmdtable_parse("/", &c, &cause) != 0, "a lone / is no command");
    free(cause);
    cause = NULL;
    /* every entry is found by its name, and none runs on a snapshot unless marked */
    int n;
    const cmdtable_entry *t = cmdtable_entries(&n);
    int found = 0;
    for (int i = 0; i < n; i++)
        found += cmdtable_find(t[i].name, strlen(t[i].name)) == &t[i];
    CHECK(found == n && n >= 19, "every one of the %d commands is found by name", n);
    /* arguments where none are taken */
    session_snapshot snap;
    memset(&snap, 0, sizeof snap);
    cmdtable_ctx ctx = {.snap = &snap};
    cmdtable_parse("/stats now", &c, &cause);
    CHECK(cmdtable_run(&c, &ctx, &cause) != 0 && strstr(cause, "/stats takes no arguments"),
          "a command without arguments refuses them: %s", cause);
    free(cause);
    cause = NULL;
    cmdtable_parse("/show 1", &c, &cause);
    CHECK(cmdtable_run(&c, &ctx, &cause) != 0 && strstr(cause, "there are no images yet"),
          "/show with no images says there are none: %s", cause);
    free(cause);
}

/* ------------------------------------------------------------------ the engine's turns */

static void
send(engine *e, const char *text, const int *slots, int n, int max, testutil_ids *c)
{
    char *cause = NULL;
    c->n = 0;
    if (engine_send(e, text, slots, n, max, testutil_collect_ids, c, NULL, NULL, &cause) != 0) {
        CHECK(0, "turn \"%s\" refused: %s", text, cause);
        free(cause);
    }
}

static int
same_ids(const testutil_ids *a, const testutil_ids *b)
{
    if (a->n != b->n || a->n == 0)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->ids[i] != b->ids[i])
            return 0;
    return 1;
}

static void
check_undo_and_restore(void)
{
    testutil_ids a, b, c, d, x;
    char *cause = NULL;
    engine *e = testutil_engine_new(model_dir, BACKEND_CPU, 0);
    int slot = engine_image_add(e, testutil_fixture_path("images/chelsea.png"), &cause);
    send(e, "Describe the image.", &slot, 1, 8, &a);
    int used_a = engine_positions_used(e);
    send(e, "What color is it?", NULL, 0, 8, &b);
    int used_b = engine_positions_used(e);
    send(e, "And the background?", NULL, 0, 8, &c);
    long run = engine_positions_run(e);
    CHECK(engine_undo(e, &cause) == 0 && engine_turns(e) == 2, "undo takes the last turn back");
    CHECK(engine_positions_used(e) == used_b && engine_positions_run(e) == run,
          "undo cuts the cache back to %d positions (got %d) and runs nothing (%ld more)", used_b,
          engine_positions_used(e), engine_positions_run(e) - run);
    send(e, "And the background?", NULL, 0, 8, &x);
    CHECK(same_ids(&x, &c), "after the undo the same message gets the same reply");
    engine_undo(e, NULL);
    engine_undo(e, NULL);
    CHECK(engine_positions_used(e) == used_a, "two undos: back to the first turn (%d, got %d)",
          used_a, engine_positions_used(e));
    /* the first turn's reply again: its logits went with the undone turns, one position runs */
    engine_stats st;
    run = engine_positions_run(e);
    d.n = 0;
    CHECK(engine_regen(e, 8, testutil_collect_ids, &d, NULL, &st, &cause) == 0,
          "regen after undo: %s", cause);
    CHECK(same_ids(&d, &a) && engine_positions_used(e) == used_a,
          "regen after undo gives the first reply again and fills the same positions");
    CHECK(engine_positions_run(e) - run == 1 + (a.n - 1), "regen after undo ran %ld positions",
          engine_positions_run(e) - run);
    CHECK(engine_undo(e, NULL) == 0 && engine_undo(e, &cause) != 0 &&
              strstr(cause, "nothing to undo"),
          "an undo with no turn is refused");
    free(cause);
    cause = NULL;
    engine_free(e);

    /* a conversation put back from its ids gives the same next reply as the one that ran */
    e = testutil_engine_new(model_dir, BACKEND_CPU, 0);
    slot = engine_image_add(e, testutil_fixture_path("images/chelsea.png"), &cause);
    engine_turn_in turns[2] = {
        {"Describe the image.", &slot, 1, a.ids, (size_t)a.n},
        {"What color is it?", NULL, 0, b.ids, (size_t)b.n},
    };
    engine_set_turns(e, turns, 2);
    engine_image_release(e, slot);
    CHECK(engine_stale(e) && engine_positions_used(e) == used_b,
          "a restored conversation fills %d positions before it runs (got %d)", used_b,
          engine_positions_used(e));
    CHECK(engine_make_room(e, NULL, &st) == 0 && !engine_stale(e) &&
              st.new_positions == used_b - (b.ids[b.n - 1] == 50295 ? 1 : 2),
          "the rebuild ran the conversation (%d positions)", st.new_positions);
    send(e, "And the background?", NULL, 0, 8, &x);
    CHECK(same_ids(&x, &c), "after a restore the next greedy reply is the same, id for id");
    engine_free(e);
}

static void
check_image_cache(void)
{
    char *cause = NULL;
    engine *e = testutil_engine_new(model_dir, BACKEND_CPU, 0);
    const imp_config *cfg = engine_config(e);
    size_t pixels = (size_t)3 * cfg->vis_image * cfg->vis_image * sizeof(float);
    size_t features = (size_t)cfg->vis_patches * cfg->hidden * sizeof(float);
    /* room for two encoded pictures, not for those and a third one's pixels */
    engine_set_image_cache_limit(e, 2 * features + pixels - 1);
    const char *names[3] = {"images/chelsea.png", "images/logo.png", "images/camera.png"};
    float *proj = xmalloc(features);
    int slots[3];
    for (int i = 0; i < 3; i++) {
        slots[i] = engine_image_add(e, testutil_fixture_path(names[i]), &cause);
        engine_image_features(e, slots[i], NULL, proj); /* encoded */
        engine_image_release(e, slots[i]);
    }
    imagecache_stats st;
    engine_image_cache(e, &st);
    CHECK(st.bytes <= st.limit && st.images == 2 && st.evicted == 1 && st.in_use == 0,
          "the cache stays within its limit: %zu of %zu bytes, %d images, %d freed", st.bytes,
          st.limit, st.images, st.evicted);
    /* the least recently used went: the newest two are still encoded */
    testutil_ids c;
    engine_stats es;
    int s2 = engine_image_add(e, testutil_fixture_path(names[2]), &cause);
    c.n = 0;
    CHECK(engine_send(e, "hi", &s2, 1, 1, testutil_collect_ids, &c, NULL, &es, &cause) == 0 &&
              es.images_encoded == 0,
          "a recently used picture is not encoded again");
    engine_image_release(e, s2);
    engine_clear(e);
    int s0 = engine_image_add(e, testutil_fixture_path(names[0]), &cause);
    c.n = 0;
    CHECK(engine_send(e, "hi", &s0, 1, 1, testutil_collect_ids, &c, NULL, &es, &cause) == 0 &&
              es.images_encoded == 1,
          "the least recently used picture was freed and is encoded again");
    engine_image_cache(e, &st);
    CHECK(st.in_use == 1, "a turn's picture is in use (%d)", st.in_use);
    engine_image_release(e, s0);
    free(proj);
    engine_free(e);
}

/* ------------------------------------------------------------------ the session */

/* A sink that remembers what it was told. */
typedef struct {
    char notices[4096];
    char output[4096];
    int turns, undone, resets;
    int32_t ids[512];
    size_t nids;
} recorder;

static void
rec_message(void *ctx, sink_level level, const char *text)
{
    recorder *r = ctx;
    char *buf = level == SINK_OUTPUT ? r->output : r->notices;
    size_t n = strlen(buf);
    snprintf(buf + n, 4096 - n, "%s\n", text);
}

static void
rec_turn(void *ctx, int index, const char *text, const int *images, int nimages)
{
    ((recorder *)ctx)->turns++;
}

static void
rec_reply_end(void *ctx, const engine_stats *st, const int32_t *ids, size_t nids)
{
    recorder *r = ctx;
    r->nids = nids < 512 ? nids : 512;
    memcpy(r->ids, ids, r->nids * sizeof *ids);
}

static void
rec_changed(void *ctx, sink_change what)
{
    recorder *r = ctx;
    r->undone += what == SINK_UNDONE;
    r->resets += what == SINK_RESET;
}

static sink
rec_sink(recorder *r)
{
    memset(r, 0, sizeof *r);
    sink s = {.ctx = r, .message = rec_message, .turn = rec_turn, .reply_end = rec_reply_end,
              .changed = rec_changed};
    return s;
}

static int
run(session *s, const sink *out, const char *line, char **cause)
{
    free(*cause);
    *cause = NULL;
    return cmdtable_run_line(s, out, line, 1, cause);
}

static void
check_session(void)
{
    const char *dir = testutil_tmpdir("test_session");
    char *sessions = xasprintf("%s/sessions", dir);
    char *cause = NULL, *line;
    recorder r;
    sink out = rec_sink(&r);
    engine *e = testutil_engine_new(model_dir, BACKEND_CPU, 1000);
    session_options so = {.max_tokens = 6, .dir = sessions, .autosave = 1};
    session *s = session_new(e, &so);
    char *chelsea = xstrdup(testutil_fixture_path("images/chelsea.png"));

    line = xasprintf("/image %s", chelsea);
    CHECK(run(s, &out, line, &cause) == 0 && run(s, &out, line, &cause) == 0,
          "staging twice: %s", cause);
    session_snapshot *snap = session_snapshot_new(s);
    CHECK(snap->doc.nstaged == 1 && strstr(r.notices, "already staged as image 1"),
          "the same file staged twice is one image, said once (%d staged)", snap->doc.nstaged);
    session_snapshot_free(snap);
    CHECK(run(s, &out, "Describe the image.", &cause) == 0 && r.turns == 1 && r.nids > 0,
          "a message with its image: %s", cause);
    int32_t first[512];
    size_t nfirst = r.nids;
    memcpy(first, r.ids, r.nids * sizeof *first);
    snap = session_snapshot_new(s);
    CHECK(snap->file != NULL && access(snap->file, F_OK) == 0, "autosaved after the reply");
    session_snapshot_free(snap);
    /* a copy elsewhere: autosave goes on in the session's own file */
    char *saved = xasprintf("%s/first.json", dir);
    free(line);
    line = xasprintf("/save %s", saved);
    CHECK(run(s, &out, line, &cause) == 0 && strstr(r.notices, "saved a copy to"),
          "/save PATH writes a copy: %s", cause);
    free(line);
    line = xasprintf("/image %s", chelsea);

    /* /undo then /retry-free resend: the same reply; the file follows */
    CHECK(run(s, &out, "/undo", &cause) == 0 && r.undone == 1, "/undo: %s", cause);
    snap = session_snapshot_new(s);
    CHECK(snap->doc.nturns == 0 && snap->nimages == 0 && snap->used == 0,
          "after /undo nothing is left (%d turns, %d images, %d positions)", snap->doc.nturns,
          snap->nimages, snap->used);
    session_snapshot_free(snap);

    /* /images after /clear numbers from 1 */
    CHECK(run(s, &out, line, &cause) == 0 && run(s, &out, "Look.", &cause) == 0 &&
              run(s, &out, "/clear", &cause) == 0,
          "send then clear: %s", cause);
    free(line);
    line = xasprintf("/image %s", testutil_fixture_path("images/logo.png"));
    r.output[0] = '\0';
    CHECK(run(s, &out, line, &cause) == 0 && run(s, &out, "/images", &cause) == 0 &&
              strstr(r.output, "1: logo.png") != NULL && strstr(r.output, "chelsea") == NULL,
          "/images after /clear lists only the new conversation from 1: %s", r.output);
    CHECK(run(s, &out, "/drop 2", &cause) != 0 && strstr(cause, "no staged image 2"),
          "/drop of a number that is not staged: %s", cause);
    CHECK(run(s, &out, "/drop 1", &cause) == 0, "/drop 1: %s", cause);
    snap = session_snapshot_new(s);
    CHECK(snap->doc.nstaged == 0, "/drop unstages");
    session_snapshot_free(snap);

    /* the reply is limited to the room left, and that is said */
    CHECK(run(s, &out, "/set max-tokens 2000", &cause) == 0, "/set: %s", cause);
    r.notices[0] = '\0';
    CHECK(run(s, &out, "Hello", &cause) == 0 && strstr(r.notices, "the reply was limited to"),
          "max-tokens past the room left is clipped and said: %s", r.notices);
    snap = session_snapshot_new(s);
    CHECK(snap->used <= snap->ctx, "%d of %d positions used", snap->used, snap->ctx);
    session_snapshot_free(snap);

    /* a refused message leaves no images staged in a script */
    CHECK(run(s, &out, "/clear", &cause) == 0 && run(s, &out, line, &cause) == 0 &&
              run(s, &out, line, &cause) == 0,
          "stage: %s", cause);
    free(line);
    line = xasprintf("/image %s", chelsea);
    CHECK(run(s, &out, line, &cause) == 0, "staging a second picture: %s", cause);
    CHECK(strstr(r.notices, "cannot be sent") != NULL,
          "staging past the room left warns before sending: %s", r.notices);
    CHECK(run(s, &out, "hi", &cause) != 0 && strstr(cause, "unstaged"),
          "a message that cannot fit is refused and its images unstaged: %s", cause);
    snap = session_snapshot_new(s);
    CHECK(snap->doc.nstaged == 0, "nothing is staged after the refusal (%d)", snap->doc.nstaged);
    session_snapshot_free(snap);

    /* load the first save: the same conversation, and the same next reply as before the undo */
    CHECK(session_load(s, saved, &out, &cause) == 0 && r.resets > 0, "/load: %s", cause);
    snap = session_snapshot_new(s);
    CHECK(snap->doc.nturns == 1 && snap->nimages == 1 && snap->doc.turns[0].nids == nfirst &&
              memcmp(snap->doc.turns[0].ids, first, nfirst * sizeof *first) == 0,
          "the loaded conversation holds the first exchange with its ids");
    session_snapshot_free(snap);
    CHECK(run(s, &out, "/retry", &cause) == 0 && r.nids == nfirst &&
              memcmp(r.ids, first, nfirst * sizeof *first) == 0,
          "/retry after /load gives the greedy reply again: %s", cause);

    /* a failed save leaves the file as it was and nothing behind */
    size_t before_len, after_len;
    char *before = testutil_read_file(saved, &before_len);
    char *missing = xasprintf("%s/no/such/folder/x.json", dir);
    free(line);
    line = xasprintf("/save %s", missing);
    CHECK(run(s, &out, line, &cause) != 0 && strstr(cause, missing) != NULL,
          "/save into a missing folder names the file: %s", cause);
    char *after = testutil_read_file(saved, &after_len);
    CHECK(before != NULL && after != NULL && before_len == after_len &&
              memcmp(before, after, before_len) == 0,
          "the session's own file is untouched");
    free(before);
    free(after);
    free(missing);
    free(line);
    line = xasprintf("/save %s", dir);
    CHECK(run(s, &out, line, &cause) != 0 && strstr(cause, "not a regular file"),
          "/save onto a folder is refused: %s", cause);
    free(line);
    free(cause);
    free(saved);
    free(chelsea);
    session_free(s);
    engine_free(e);
    free(sessions);
}

static void
check_inputhist(void)
{
    char *entries[3] = {"plain", "two\nlines", "back\\slash"};
    size_t len;
    char *text = inputhist_format_new(entries, 3, &len);
    int n;
    char **back = inputhist_parse(text, len, &n);
    CHECK(n == 3 && strcmp(back[1], "two\nlines") == 0 && strcmp(back[2], "back\\slash") == 0,
          "history entries round trip (%d)", n);
    for (int i = 0; i < n; i++)
        free(back[i]);
    free(back);
    free(text);
    /* bounded: the oldest go first */
    char **many = xcalloc(1200, sizeof *many);
    for (int i = 0; i < 1200; i++)
        many[i] = xasprintf("entry %d %0400d", i, 0);
    text = inputhist_format_new(many, 1200, &len);
    back = inputhist_parse(text, len, &n);
    CHECK(len <= INPUTHIST_MAX_BYTES && n > 0 && n <= INPUT_HISTORY_MAX &&
              strncmp(back[n - 1], "entry 1199 ", 11) == 0,
          "the history file is bounded (%zu bytes, %d entries, newest kept)", len, n);
    for (int i = 0; i < n; i++)
        free(back[i]);
    free(back);
    for (int i = 0; i < 1200; i++)
        free(many[i]);
    free(many);
    free(text);
}

int
main(void)
{
    model_dir = getenv("MODEL_DIR");
    if (model_dir == NULL || *model_dir == '\0')
        model_dir = xstrdup(testutil_fixture_path("imp-tiny"));
    check_sessiondoc();
    check_cmdtable();
    check_undo_and_restore();
    check_image_cache();
    check_session();
    check_inputhist();
    return testutil_finish("test_session");
}
