/*
 * The whole model on the CPU backend against the fixtures' float64 reference: vision and projector
 * outputs within relative error 1e-4, every logits file within 1e-3, every greedy id identical, and
 * the multi-turn case reusing the cache (turn 2 runs only its new positions).
 * The model folder is $MODEL_DIR when set (the old-layout test points it at a converted copy).
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "testutil.h"
#include "xmalloc.h"

#define TOL_FEATURES 1e-4
/*
 * The KV cache stores keys and values in fp16, rounding each to a relative error of at most 2^-11
 * (4.9e-4); attention passes that on to its output, and the fixture's two layers each add theirs:
 * at most about 2 x 4.9e-4 = 1e-3 on the logits (3.2e-4 measured). Every op is checked more tightly
 * against its own reference in test_ops.
 */
#define TOL_LOGITS 1e-3
/* Two runs on the same path: the same fp16 cache contents, only the chunking of prefill differs */
#define TOL_SAME_RUN 1e-4

static const char *model_dir;

static engine *
open_engine(int context)
{
    return testutil_engine_new(model_dir, BACKEND_CPU, context);
}

static void
check_images(json_t *expected)
{
    engine *e = open_engine(0);
    const imp_config *c = engine_config(e);
    json_t *images = json_object_get(expected, "images");
    const char *name;
    json_t *v;
    json_object_foreach(images, name, v)
    {
        char path[256], base[128], bin[160];
        snprintf(path, sizeof path, "images/%s", name);
        snprintf(base, sizeof base, "%.*s", (int)(strcspn(name, ".")), name);
        char *cause = NULL;
        int slot = engine_image_add(e, testutil_fixture_path(path), &cause);
        if (!CHECK(slot >= 0, "%s: %s", name, cause))
            continue;
        size_t nv = (size_t)c->vis_patches * c->vis_hidden, np = (size_t)c->vis_patches * c->hidden;
        float *vis = xmalloc(nv * sizeof(float)), *proj = xmalloc(np * sizeof(float));
        engine_image_features(e, slot, vis, proj);
        snprintf(bin, sizeof bin, "%s.vision.bin", base);
        char what[200];
        snprintf(what, sizeof what, "%s vision features", name);
        /* JPEG decodes exactly as the reference's PIL decodes it: the same tolerance as PNG */
        double tol = TOL_FEATURES;
        testutil_close_expected(what, vis, bin, nv, tol);
        snprintf(bin, sizeof bin, "%s.proj.bin", base);
        snprintf(what, sizeof what, "%s projector output", name);
        testutil_close_expected(what, proj, bin, np, tol);
        free(vis);
        free(proj);
        /* the same content again is the same slot: encoded once per session */
        CHECK(engine_image_add(e, testutil_fixture_path(path), &cause) == slot,
              "%s: a second add reuses the slot", name);
    }
    engine_free(e);
}

static int
count_id(json_t *ids, int id)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) n += json_integer_value(v) == id;
    return n;
}

static void
check_cases(json_t *expected, json_t *cases)
{
    json_t *exp_cases = json_object_get(expected, "cases");
    size_t ci;
    json_t *ec;
    json_array_foreach(exp_cases, ci, ec)
    {
        const char *name = json_string_value(json_object_get(ec, "name"));
        json_t *in_turns = json_object_get(json_array_get(json_object_get(cases, "cases"), ci), "turns");
        json_t *turns = json_object_get(ec, "turns");
        engine *e = open_engine(0);
        const imp_config *cfg = engine_config(e);
        int pending = 0;
        size_t ti;
        json_t *et;
        json_array_foreach(turns, ti, et)
        {
            json_t *it = json_array_get(in_turns, ti);
            const char *user = json_string_value(json_object_get(it, "user"));
            int max_new = (int)json_integer_value(json_object_get(it, "max_new"));
            json_t *imgs = json_object_get(it, "images");
            int slots[8], nslots = 0;
            size_t ii;
            json_t *iv;
            json_array_foreach(imgs, ii, iv)
            {
                char path[256];
                char *cause = NULL;
                snprintf(path, sizeof path, "images/%s", json_string_value(iv));
                slots[nslots++] = engine_image_add(e, testutil_fixture_path(path), &cause);
            }
            testutil_ids got = {.n = 0};
            engine_stats st;
            char *cause = NULL;
            int used_before = engine_positions_used(e) - pending;
            long run_before = engine_positions_run(e);
            int rc = engine_send(e, user, slots, nslots, max_new, testutil_collect_ids, &got, NULL,
                                 &st, &cause);
            if (!CHECK(rc == 0, "%s turn %zu: %s", name, ti, cause))
                continue;

            json_t *want_ids = json_object_get(et, "generated_ids");
            int same = got.n == (int)json_array_size(want_ids);
            for (int k = 0; same && k < got.n; k++)
                same = got.ids[k] == json_integer_value(json_array_get(want_ids, (size_t)k));
            if (!CHECK(same, "%s turn %zu: greedy ids differ from expected", name, ti)) {
                for (int k = 0; k < got.n; k++) {
                    int w = k < (int)json_array_size(want_ids)
                                ? (int)json_integer_value(json_array_get(want_ids, (size_t)k))
                                : -1;
                    if (got.ids[k] != w) {
                        fprintf(stderr, "  first difference at %d: got %d want %d\n", k, got.ids[k], w);
                        break;
                    }
                }
            }

            /* positions: the prompt's ids with each marker replaced by the image's rows */
            json_t *prompt_ids = json_object_get(et, "prompt_ids");
            int markers = count_id(prompt_ids, cfg->image_token);
            int prompt_positions = (int)json_array_size(prompt_ids) - markers + markers * cfg->vis_patches;
            CHECK(st.reused == used_before, "%s turn %zu: reused %d positions, expected %d", name,
                  ti, st.reused, used_before);
            CHECK(st.new_positions == pending + prompt_positions,
                  "%s turn %zu: ran %d new positions, expected %d (%d pending + %d prompt)", name,
                  ti, st.new_positions, pending + prompt_positions, pending, prompt_positions);
            /* prefill ran exactly the new positions; every generated id but the last was run */
            long run = engine_positions_run(e) - run_before;
            long want_run = pending + prompt_positions + (got.n > 0 ? got.n - 1 : 0);
            CHECK(run == want_run, "%s turn %zu: %ld positions went through the model, expected %ld",
                  name, ti, run, want_run);

            const char *lf = json_string_value(json_object_get(et, "logits_file"));
            float *want = testutil_read_expected(lf, (size_t)cfg->vocab);
            if (want != NULL) {
                char what[128];
                snprintf(what, sizeof what, "%s turn %zu logits (%s)", name, ti, lf);
                testutil_close(what, engine_prompt_logits_borrow(e), want, (size_t)cfg->vocab,
                               TOL_LOGITS);
            }
            free(want);
            pending = 1 + (got.n == 0 || got.ids[got.n - 1] != cfg->eos_id);
            if (got.n == 0)
                pending = 1;
        }
        engine_free(e);
    }
}

static void
check_sampling_and_limits(void)
{
    engine *e = open_engine(0);
    sampler_params p;
    sampler_params_init(&p);
    p.temp = 0.9f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.repeat_penalty = 1.1f;
    p.seed = 7;
    p.seed_set = 1;
    testutil_ids a = {.n = 0}, b = {.n = 0};
    char *cause = NULL;
    engine_set_sampling(e, &p);
    CHECK(engine_send(e, "Tell me a story.", NULL, 0, 10, testutil_collect_ids, &a, NULL, NULL,
                      &cause) == 0,
          "sampled turn: %s", cause);
    engine_clear(e);
    engine_set_sampling(e, &p); /* the same settings again do not restart the stream... */
    engine_reseed(e, p.seed);   /* ...a seed does */
    CHECK(engine_send(e, "Tell me a story.", NULL, 0, 10, testutil_collect_ids, &b, NULL, NULL,
                      &cause) == 0,
          "sampled turn again: %s", cause);
    int same = a.n == b.n;
    for (int i = 0; same && i < a.n; i++)
        same = a.ids[i] == b.ids[i];
    CHECK(same && a.n > 0, "the same seed gives the same ids (%d and %d ids)", a.n, b.n);

    /* a stop asked by the caller: the cache holds exactly what was reported */
    engine_clear(e);
    sampler_params_init(&p);
    engine_set_sampling(e, &p);
    testutil_ids c = {.n = 0, .stop_after = 3};
    engine_stats st;
    CHECK(engine_send(e, "Hello", NULL, 0, 50, testutil_collect_ids, &c, NULL, &st, &cause) == 0,
          "stopped turn");
    CHECK(st.stop == ENGINE_STOP_CANCEL && c.n == 3, "stopping after 3 ids: stop %d, %d ids",
          (int)st.stop, c.n);
    CHECK(engine_positions_used(e) == st.new_positions + 3 + 1,
          "after a stop the conversation holds prompt + 3 ids + </s> (%d positions)",
          engine_positions_used(e));
    engine_free(e);

    /* a full context is refused before anything runs */
    e = open_engine(700);
    int slot = engine_image_add(e, testutil_fixture_path("images/grid384.png"), &cause);
    CHECK(slot >= 0, "grid384.png loads");
    int rc = engine_send(e, "What is this?", &slot, 1, 5, NULL, NULL, NULL, NULL, &cause);
    CHECK(rc != 0 && cause != NULL && strstr(cause, "positions") != NULL,
          "an image in a 700-position context is refused: %s", rc ? cause : "(accepted)");
    CHECK(engine_positions_used(e) == 0, "nothing ran after the refusal");
    free(cause);
    engine_free(e);
}

/* Greedy ids of one turn (at most max ids) into c; fails the test when the turn is refused. */
static void
send_turn(engine *e, const char *text, const int *slots, int nslots, int max, testutil_ids *c)
{
    char *cause = NULL;
    c->n = 0;
    if (engine_send(e, text, slots, nslots, max, testutil_collect_ids, c, NULL, NULL, &cause) !=
        0) {
        CHECK(0, "turn \"%s\" refused: %s", text, cause);
        free(cause);
    }
}

/* Same ids and prompt logits within tol after the same last turn on two engines. */
static void
check_same_turn(engine *a, engine *b, const char *what, testutil_ids *ca, testutil_ids *cb)
{
    int vocab = engine_config(a)->vocab;
    testutil_close(what, engine_prompt_logits_borrow(a), engine_prompt_logits_borrow(b),
                   (size_t)vocab, TOL_SAME_RUN);
    int same = ca->n == cb->n && ca->n > 0;
    for (int i = 0; same && i < ca->n; i++)
        same = ca->ids[i] == cb->ids[i];
    CHECK(same, "%s: the same greedy ids (%d and %d ids)", what, ca->n, cb->n);
}

/*
 * /regen and the context policy. Replies of max 0 ids make a turn's content depend only on its text,
 * so a conversation rebuilt after dropping can be compared with one that never had what was dropped.
 */
static void
check_regen_and_room(void)
{
    char *cause = NULL;
    testutil_ids a = {.n = 0}, b = {.n = 0};
    engine_stats st;

    /* greedy regeneration gives the same reply and runs nothing but the reply */
    engine *e = open_engine(0);
    send_turn(e, "Hello there", NULL, 0, 8, &a);
    int used = engine_positions_used(e);
    CHECK(engine_regen(e, 8, testutil_collect_ids, &b, NULL, &st, &cause) == 0, "regen: %s", cause);
    int same = a.n == b.n && a.n > 0;
    for (int i = 0; same && i < a.n; i++)
        same = a.ids[i] == b.ids[i];
    CHECK(same, "greedy /regen gives the same %d ids (got %d)", a.n, b.n);
    CHECK(st.new_positions == 0 && engine_positions_used(e) == used,
          "regen ran no prompt positions (%d) and fills the same %d positions (%d)",
          st.new_positions, used, engine_positions_used(e));
    engine_clear(e);
    CHECK(engine_regen(e, 8, NULL, NULL, NULL, NULL, &cause) != 0 && strstr(cause, "regenerate"),
          "regen with no reply is refused: %s", cause);
    free(cause);
    cause = NULL;
    engine_free(e);

    /* an image dropped to make room: the same as a conversation that never had it */
    engine *x = open_engine(900), *y = open_engine(900);
    int slot = engine_image_add(x, testutil_fixture_path("images/grid384.png"), &cause);
    CHECK(slot >= 0, "grid384.png loads");
    send_turn(x, "Look at this.", &slot, 1, 0, &a);
    send_turn(x, "And now?", NULL, 0, 0, &a);
    engine_room_plan plan;
    const char *long_text = "Describe everything you saw so far in great detail, please, with "
                            "colours, shapes, positions and anything else that stands out.";
    int fit = engine_plan_room(x, long_text, 1, &plan, &cause);
    CHECK(fit == 1 && plan.images == 1 && plan.turns == 0,
          "a second image needs the first one dropped (fit %d, %d images, %d turns)", fit,
          plan.images, plan.turns);
    engine_make_room(x, &plan, &st);
    CHECK(st.images_encoded == 0, "the rebuild encoded no image (%d)", st.images_encoded);
    int slot2 = engine_image_add(x, testutil_fixture_path("images/logo.png"), &cause);
    send_turn(x, long_text, &slot2, 1, 6, &a);
    int yslot = engine_image_add(y, testutil_fixture_path("images/logo.png"), &cause);
    send_turn(y, "Look at this.", NULL, 0, 0, &b);
    send_turn(y, "And now?", NULL, 0, 0, &b);
    send_turn(y, long_text, &yslot, 1, 6, &b);
    check_same_turn(x, y, "after dropping an image", &a, &b);
    CHECK(engine_positions_used(x) == engine_positions_used(y), "same positions used (%d and %d)",
          engine_positions_used(x), engine_positions_used(y));
    engine_free(y);

    engine_free(x);

    /* then whole turns, the oldest first: the same as a conversation that began later */
    const char *turns[3] = {"First question, a long one with many words in it.", "Second one.",
                            "Third."};
    x = open_engine(90);
    for (int i = 0; i < 3; i++)
        send_turn(x, turns[i], NULL, 0, 0, &a);
    fit = engine_plan_room(x, long_text, 0, &plan, &cause);
    CHECK(fit == 1 && plan.images == 0 && plan.turns >= 1 && plan.turns < 3 &&
              plan.positions_after <= 90,
          "a long message drops old turns (fit %d, %d images, %d turns, %d positions)", fit,
          plan.images, plan.turns, plan.positions_after);
    if (fit == 1) {
        engine_make_room(x, &plan, NULL);
        send_turn(x, long_text, NULL, 0, 4, &a);
        y = open_engine(90);
        for (int i = plan.turns; i < 3; i++)
            send_turn(y, turns[i], NULL, 0, 0, &b);
        send_turn(y, long_text, NULL, 0, 4, &b);
        check_same_turn(x, y, "after dropping turns", &a, &b);
        engine_free(y);
    }
    engine_free(x);

    /* a message that cannot fit even alone is refused */
    x = open_engine(100);
    slot = engine_image_add(x, testutil_fixture_path("images/grid384.png"), &cause);
    fit = engine_plan_room(x, "hi", 1, &plan, &cause);
    CHECK(fit < 0 && cause != NULL && strstr(cause, "context holds 100"),
          "an image in a 100-position context cannot fit: %s", fit < 0 ? cause : "(fits)");
    free(cause);
    engine_free(x);
}

int
main(void)
{
    json_error_t err;
    model_dir = getenv("MODEL_DIR");
    if (model_dir == NULL || *model_dir == '\0')
        model_dir = xstrdup(testutil_fixture_path("imp-tiny"));
    json_t *expected = json_load_file(testutil_fixture_path("expected/expected.json"), 0, &err);
    json_t *cases = json_load_file(testutil_fixture_path("cases.json"), 0, &err);
    if (expected == NULL || cases == NULL) {
        fprintf(stderr, "cannot read the fixtures: %s\n", err.text);
        return 99;
    }
    printf("model: %s\n", model_dir);
    check_images(expected);
    check_cases(expected, cases);
    check_sampling_and_limits();
    check_regen_and_room();
    json_decref(expected);
    json_decref(cases);
    return testutil_finish("test_model");
}
