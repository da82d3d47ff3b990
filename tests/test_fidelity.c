/*
 * Fidelity of quantized weights on the fixture model: the logits of every fixture turn with q8 and
 * q4 against fp16 (the reference path, itself checked against float64 in test_model), within
 * tolerances predicted from the quantization error of the fixture's own weights, and the greedy
 * ids of q8 equal to fp16 wherever the logits' margins say quantization cannot change them.
 *
 * The prediction. Block quantization changes each product y = W x by a relative error
 *   e = sqrt(eW^2 + ea^2)
 * where eW = |W - Q(W)| / |W| (Frobenius) is measured here on every quantized matrix of the
 * language model (the largest is taken), and ea is the same for 8-bit activation blocks, measured
 * on Gaussian rows (what LayerNorm hands q, k, v, fc1 and lm_head) and on their GELU (what fc2
 * reads), the larger taken. On the way to the logits a position passes through 2 products in
 * series in each branch of each layer (q, k, v then dense; fc1 then fc2) and lm_head last:
 * n = 2 * layers + 1 products, whose errors add at most linearly (they may align). The tolerance
 * on the logits' relative error (largest difference over the largest logit) is n * e.
 *
 * Independent errors (random weights) add in quadrature instead: a logit typically moves by
 * sqrt(n) * e times the largest logit. A greedy id is predicted to stay where the best logit
 * leads the second by more than twice that. The fixture cases' margins along their whole replies
 * are far smaller (about 0.01 on logits near 9), so their ids are not predicted past the first;
 * the first id of each fixture turn and of a set of further prompts is checked where its margin
 * allows.
 *
 * A later turn of a conversation reads the earlier replies, so its logits are compared only when
 * the mode gave the same ids as f16 in every earlier turn (the same history).
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "engine.h"
#include "f16.h"
#include "qdot.h"
#include "quant.h"
#include "testutil.h"
#include "weights.h"
#include "xmalloc.h"

static const char *model_dir;

/* Relative Frobenius error of quantizing t as dtype. */
static double
weight_error(const weights_tensor *t, weights_dtype dtype, threadpool *pool)
{
    quant_store *s = quant_store_new();
    weights_tensor q = *t;
    char *cause = NULL;
    if (!CHECK(quant_store_add(s, &q, dtype, pool, &cause) == 0, "quantize %s: %s", t->name,
               cause ? cause : "")) {
        quant_store_free(s);
        return INFINITY;
    }
    int64_t rows = t->shape[0], cols = t->shape[1];
    float *row = xmalloc((size_t)cols * sizeof(float));
    double err = 0, norm = 0;
    for (int64_t r = 0; r < rows; r++) {
        quant_dequantize_row(&q, r, row);
        for (int64_t c = 0; c < cols; c++) {
            uint16_t h;
            memcpy(&h, (const char *)t->data + 2 * (r * cols + c), 2);
            double w = f16_to_f32(h);
            err += (row[c] - w) * (row[c] - w);
            norm += w * w;
        }
    }
    free(row);
    quant_store_free(s);
    return sqrt(err / norm);
}

/* The largest eW over the language model's quantized matrices of the fixture. */
static double
largest_weight_error(weights_dtype dtype)
{
    imp_config cfg;
    checkpoint ck;
    char *cause = NULL;
    weights *w = NULL;
    if (config_load(&cfg, model_dir, &cause) != 0 ||
        (w = weights_open(model_dir, &cause)) == NULL ||
        checkpoint_init(&ck, w, &cfg, &cause) != 0) {
        fprintf(stderr, "cannot open %s: %s\n", model_dir, cause);
        exit(99);
    }
    threadpool *pool = threadpool_new(2);
    double worst = weight_error(&ck.lm_head.w, dtype, pool);
    for (int i = 0; i < cfg.layers; i++) {
        const checkpoint_lm_layer *l = &ck.lm[i];
        const weights_tensor *ts[] = {&l->q.w, &l->k.w, &l->v.w, &l->dense.w, &l->fc1.w, &l->fc2.w};
        for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++)
            worst = fmax(worst, weight_error(ts[j], dtype, pool));
    }
    threadpool_free(pool);
    checkpoint_free(&ck);
    weights_free(w);
    return worst;
}

/*
 * ea: the relative error of 8-bit activation blocks on Gaussian rows of the fixture's width, or
 * (gelu set) on their GELU.
 */
static double
activation_error(int hidden, int gelu)
{
    int rows = 64;
    float *x = xmalloc((size_t)rows * hidden * sizeof(float));
    for (int i = 0; i < rows * hidden; i++) {
        /* Box-Muller from the test's deterministic generator */
        double u = (testutil_random() + 1.0) / 4294967297.0, v = testutil_random() / 4294967296.0;
        double g = sqrt(-2 * log(u)) * cos(2 * M_PI * v);
        x[i] = (float)(gelu ? 0.5 * g * (1 + erf(g / sqrt(2))) : g);
    }
    qdot_act a;
    qdot_act_init(&a);
    qdot_act_quantize(&a, x, rows, hidden, NULL);
    double err = 0, norm = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < hidden; c++) {
            size_t k = (size_t)r * (size_t)a.blocks + (size_t)(c / QUANT_BLOCK);
            double q = a.d[k] * a.q[(size_t)r * (size_t)a.blocks * QUANT_BLOCK + (size_t)c];
            double xv = x[(size_t)r * hidden + c];
            err += (q - xv) * (q - xv);
            norm += xv * xv;
        }
    qdot_act_free(&a);
    free(x);
    return sqrt(err / norm);
}

static engine *
open_engine(quant_mode mode)
{
    return testutil_engine_new_weights(model_dir, BACKEND_CPU, 0, mode);
}

/* The images of a fixture turn as slots of e. */
static int
add_images(engine *e, json_t *turn, int *slots)
{
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(turn, "images"), i, v)
    {
        char path[256];
        char *cause = NULL;
        snprintf(path, sizeof path, "images/%s", json_string_value(v));
        slots[n++] = engine_image_add(e, testutil_fixture_path(path), &cause);
    }
    return n;
}

/* The gap between the best and the second-best logit. */
static double
top_margin(const float *l, int n)
{
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (l[i] > a) {
            b = a;
            a = l[i];
        } else if (l[i] > b) {
            b = l[i];
        }
    }
    return a - b;
}

static double
max_abs(const float *l, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(l[i]));
    return m;
}

/* The relative errors predicted for each mode: worst case (the tolerance) and typical. */
typedef struct {
    double tol[3];
    double typical[3];
} prediction;

/*
 * Check that q8's ids (got, n of them) equal f16's (want) as far as the prediction says: all of
 * them when the whole path's margin is large enough, else the first when its margin is.
 */
static void
check_ids(const char *what, const testutil_ids *want, const testutil_ids *got, double path_margin,
          double first_margin, double move)
{
    int same = 0;
    while (same < want->n && same < got->n && want->ids[same] == got->ids[same])
        same++;
    if (path_margin > 2 * move)
        CHECK(same == want->n && got->n == want->n,
              "%s: q8 ids equal f16's for %d of %d (margin %.3g > 2 x %.3g)", what, same, want->n,
              path_margin, move);
    else if (first_margin > 2 * move)
        CHECK(same >= 1, "%s: q8's first id equals f16's (margin %.3g > 2 x %.3g)", what,
              first_margin, move);
    printf("%s: q8 ids equal f16's for %d of %d; margins: path %.3g, first %.3g, a logit typically "
           "moves %.3g: %s\n",
           what, same, want->n, path_margin, first_margin, move,
           path_margin > 2 * move    ? "all checked"
           : first_margin > 2 * move ? "first checked"
                                     : "none predicted");
}

/*
 * Every fixture case with fp16, q8 and q4 side by side: the logits of each turn within the mode's
 * tolerance of fp16 (while the history is the same), and the q8 ids as check_ids says.
 */
static void
check_cases(json_t *expected, json_t *cases, const prediction *pr)
{
    size_t ci;
    json_t *ec;
    json_array_foreach(json_object_get(expected, "cases"), ci, ec)
    {
        const char *name = json_string_value(json_object_get(ec, "name"));
        json_t *in_turns =
            json_object_get(json_array_get(json_object_get(cases, "cases"), ci), "turns");
        engine *e[3];
        for (int m = 0; m < 3; m++)
            e[m] = open_engine((quant_mode)m);
        int vocab = engine_config(e[0])->vocab;
        int history[3] = {1, 1, 1}; /* the mode's replies equal f16's so far */
        size_t ti;
        json_t *et;
        json_array_foreach(json_object_get(ec, "turns"), ti, et)
        {
            json_t *it = json_array_get(in_turns, ti);
            const char *user = json_string_value(json_object_get(it, "user"));
            int max_new = (int)json_integer_value(json_object_get(it, "max_new"));
            testutil_ids ids[3];
            for (int m = 0; m < 3; m++) {
                int slots[8];
                int nslots = add_images(e[m], it, slots);
                char *cause = NULL;
                ids[m].n = 0;
                ids[m].stop_after = 0;
                if (!CHECK(engine_send(e[m], user, slots, nslots, max_new, testutil_collect_ids,
                                       &ids[m], NULL, NULL, &cause) == 0,
                           "%s turn %zu (%s): %s", name, ti, quant_mode_name((quant_mode)m),
                           cause ? cause : ""))
                    return;
            }
            const float *ref = engine_prompt_logits_borrow(e[0]);
            double scale = max_abs(ref, vocab);
            char what[160];
            snprintf(what, sizeof what, "%s turn %zu", name, ti);
            if (history[1])
                check_ids(what, &ids[0], &ids[1],
                          json_real_value(json_object_get(et, "min_margin")),
                          top_margin(ref, vocab), pr->typical[1] * scale);
            for (int m = 1; m < 3; m++) {
                const float *got = engine_prompt_logits_borrow(e[m]);
                snprintf(what, sizeof what, "%s turn %zu: %s logits against f16", name, ti,
                         quant_mode_name((quant_mode)m));
                if (history[m]) {
                    testutil_close(what, got, ref, (size_t)vocab, pr->tol[m]);
                    printf("%s: relative error %.3g (tolerance %.3g)\n", what,
                           testutil_rel_error(got, ref, (size_t)vocab), pr->tol[m]);
                } else {
                    printf("%s: not compared (an earlier reply differed)\n", what);
                }
                int same = ids[m].n == ids[0].n;
                for (int k = 0; same && k < ids[0].n; k++)
                    same = ids[m].ids[k] == ids[0].ids[k];
                history[m] = history[m] && same;
            }
        }
        for (int m = 0; m < 3; m++)
            engine_free(e[m]);
    }
}

/* The first reply id of each tokenizer string of the fixtures sent as a message, f16 against q8. */
static void
check_first_ids(json_t *cases, const prediction *pr)
{
    engine *f16 = open_engine(QUANT_F16), *q8 = open_engine(QUANT_Q8);
    int vocab = engine_config(f16)->vocab, checked = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cases, "tokenize"), i, v)
    {
        const char *text = json_string_value(v);
        testutil_ids a = {.n = 0}, b = {.n = 0};
        char *cause = NULL, what[64];
        engine_clear(f16);
        engine_clear(q8);
        if (!CHECK(engine_send(f16, text, NULL, 0, 1, testutil_collect_ids, &a, NULL, NULL,
                               &cause) == 0 &&
                       engine_send(q8, text, NULL, 0, 1, testutil_collect_ids, &b, NULL, NULL,
                                   &cause) == 0,
                   "prompt %zu: %s", i, cause ? cause : ""))
            continue;
        const float *ref = engine_prompt_logits_borrow(f16);
        double move = pr->typical[1] * max_abs(ref, vocab), first = top_margin(ref, vocab);
        snprintf(what, sizeof what, "prompt %zu", i);
        check_ids(what, &a, &b, 0, first, move);
        checked += first > 2 * move;
    }
    printf("%d prompts' first ids were predicted to stay and checked\n", checked);
    engine_free(f16);
    engine_free(q8);
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
    imp_config cfg;
    char *cause = NULL;
    if (config_load(&cfg, model_dir, &cause) != 0) {
        fprintf(stderr, "%s\n", cause);
        return 99;
    }
    double ea = fmax(activation_error(cfg.hidden, 0), activation_error(cfg.inner, 1));
    int products = 2 * cfg.layers + 1;
    prediction pr = {{0}, {0}};
    weights_dtype dts[3] = {WEIGHTS_F16, WEIGHTS_Q8, WEIGHTS_Q4};
    for (int m = 1; m < 3; m++) {
        double ew = largest_weight_error(dts[m]);
        double e = sqrt(ew * ew + ea * ea);
        pr.tol[m] = products * e;
        pr.typical[m] = sqrt((double)products) * e;
        printf("%s: weights %.4f, activations %.4f, per product %.4f; %d products: tolerance %.4f, "
               "typical %.4f\n",
               quant_mode_name((quant_mode)m), ew, ea, e, products, pr.tol[m], pr.typical[m]);
    }
    check_cases(expected, cases, &pr);
    check_first_ids(cases, &pr);
    json_decref(expected);
    json_decref(cases);
    return testutil_finish("test_fidelity");
}
