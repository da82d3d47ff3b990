/*
 * imp-bench: speed of the engine, one JSON line per measurement, each next to the floor it is
 * compared with (memory bandwidth and OpenBLAS sgemm measured in the same run).
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "backend.h"
#include "checkpoint.h"
#include "engine.h"
#include "image.h"
#include "log.h"
#include "model_config.h"
#include "numarg.h"
#include "phi2.h"
#include "projector.h"
#include "quant.h"
#include "siglip.h"
#include "synthetic.h"
#include "threadpool.h"
#include "weights.h"
#include "xmalloc.h"

typedef struct {
    int synthetic;
    const char *model_dir;
    int threads;
    backend_choice backend;
    quant_mode weights; /* QUANT_AUTO: the backend's default */
    int prompt_positions;
    int decode_positions[4];
    int ndecode;
    int decode_tokens;
    int skip_vision;
    int skip_prefill;
} bench_options;

/* The weight mode of the run, named in every line. */
static const char *bench_weights = "f16";

/* Start a measurement's JSON line: its name, the backend and the weight mode. */
static void
bench_head(const backend *be, const char *name)
{
    printf("{\"bench\":\"%s\",\"backend\":\"%s\",\"weights\":\"%s\"", name, be->ops->name,
           bench_weights);
}

static double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void
bench_fill(float *x, size_t n, uint64_t seed, float scale)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = scale * (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
}

typedef struct {
    const uint64_t *data;
    size_t n;
    uint64_t *sums;
} bench_read_job;

static void
bench_read_range(void *ctx, size_t begin, size_t end, int thread)
{
    bench_read_job *job = ctx;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = begin; i + 4 <= end; i += 4) {
        a += job->data[i];
        b ^= job->data[i + 1];
        c += job->data[i + 2];
        d ^= job->data[i + 3];
    }
    job->sums[thread] += a + b + c + d;
}

static int
bench_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double
bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A buffer far past the caches and threads to read it with: the host's read bandwidth. */
typedef struct {
    threadpool *pool;
    uint64_t *buf;
    size_t bytes;
} bench_reader;

static bench_reader
bench_reader_new(int threads, size_t bytes)
{
    bench_reader r = {threadpool_new(threads), xmalloc_aligned(bytes), bytes};
    memset(r.buf, 1, bytes);
    return r;
}

static void
bench_reader_free(bench_reader *r)
{
    threadpool_free(r->pool);
    free(r->buf);
}

/* Bytes per second reading the whole buffer with every thread, best of `passes`. */
static double
bench_reader_pass(bench_reader *r, int passes)
{
    uint64_t sums[1024] = {0};
    bench_read_job job = {r->buf, r->bytes / 8, sums};
    double best = 0;
    for (int rep = 0; rep < passes; rep++) {
        double t = bench_now();
        threadpool_run(r->pool, job.n, 1 << 20, bench_read_range, &job);
        t = bench_now() - t;
        if (r->bytes / t > best)
            best = r->bytes / t;
    }
    return best;
}

/* The process's peak resident memory, in bytes. */
static double
bench_peak_rss(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024.0;
}

/* What the engine's run held at most: in all, and without the benchmark's decode read buffer. */
typedef struct {
    double process;
    double engine;
} bench_memory;

/*
 * Resident memory in bytes: now (VmRSS) or the peak since bench_reset_hwm (VmHWM), from Linux's
 * /proc/self/status; the process's peak where that cannot be read.
 */
static double
bench_status_rss(const char *key)
{
    char line[256];
    double kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && kb < 0 && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            kb = atof(line + strlen(key));
    if (f != NULL)
        fclose(f);
    return kb >= 0 ? kb * 1024 : bench_peak_rss();
}

/*
 * Start VmHWM over from the memory held now (Linux 4.0 and later; nothing elsewhere), keeping the
 * peak it drops in *keep (NULL: dropped).
 */
static void
bench_reset_hwm(double *keep)
{
    double peak = bench_status_rss("VmHWM:");
    if (keep != NULL && peak > *keep)
        *keep = peak;
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

/* The bandwidth floor for decode, over 1 GiB (far past any cache). */
static double
bench_memory_bandwidth(int threads)
{
    bench_reader r = bench_reader_new(threads, (size_t)1 << 30);
    double best = bench_reader_pass(&r, 5);
    printf("{\"bench\":\"memory_read_bandwidth\",\"threads\":%d,\"GB_per_s\":%.2f}\n",
           threadpool_size(r.pool), best / 1e9);
    fflush(stdout);
    bench_reader_free(&r);
    return best;
}

/* Our linear op against OpenBLAS sgemm on the prefill's shapes. */
static void
bench_matmul(backend *be, const checkpoint *ck, int rows)
{
    const weights_tensor *shapes[3] = {&ck->lm[0].q.w, &ck->lm[0].fc1.w, &ck->lm[0].fc2.w};
    for (int s = 0; s < 3; s++) {
        const weights_tensor *t = shapes[s];
        int out = (int)t->shape[0], in = (int)t->shape[1];
        float *x = xmalloc_aligned((size_t)rows * in * sizeof(float));
        float *y = be->ops->buf_new(be, (size_t)rows * out);
        float *xb = be->ops->buf_new(be, (size_t)rows * in);
        bench_fill(x, (size_t)rows * in, 7, 1.0f);
        be->ops->buf_upload(be, xb, x, (size_t)rows * in);
        backend_weight *w = be->ops->weight_new(be, t);
        double flop = 2.0 * rows * in * out;
        be->ops->linear(be, y, xb, rows, w, NULL); /* warm up */
        be->ops->sync(be);
        double best = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = bench_now();
            be->ops->linear(be, y, xb, rows, w, NULL);
            be->ops->sync(be);
            double dt = bench_now() - t0;
            if (dt < best)
                best = dt;
        }
        double ours = flop / best / 1e9;
        double ref = 0;
#ifdef HAVE_OPENBLAS
        float *wf = xmalloc_aligned((size_t)out * in * sizeof(float));
        float *yf = xmalloc_aligned((size_t)rows * out * sizeof(float));
        bench_fill(wf, (size_t)out * in, 9, 0.02f);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1, x, in, wf, in, 0, yf,
                    out);
        double bref = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = bench_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1, x, in, wf, in, 0,
                        yf, out);
            double dt = bench_now() - t0;
            if (dt < bref)
                bref = dt;
        }
        ref = flop / bref / 1e9;
        free(wf);
        free(yf);
#endif
        bench_head(be, "matmul");
        printf(",\"rows\":%d,\"in\":%d,\"out\":%d,\"ms\":%.2f,\"GFLOP_per_s\":%.1f,"
               "\"sgemm_fp32_GFLOP_per_s\":%.1f,\"fraction_of_sgemm\":%.2f}\n",
               rows, in, out, best * 1e3, ours, ref, ref > 0 ? ours / ref : 0);
        fflush(stdout);
        be->ops->weight_free(be, w);
        be->ops->buf_free(be, y);
        be->ops->buf_free(be, xb);
        free(x);
    }
}

static void
bench_vision(backend *be, const checkpoint *ck, const imp_config *cfg)
{
    siglip *vis = siglip_new(be, ck, cfg);
    projector *proj = projector_new(be, ck, cfg);
    size_t npix = (size_t)3 * cfg->vis_image * cfg->vis_image;
    float *pixels = xmalloc(npix * sizeof(float));
    bench_fill(pixels, npix, 3, 1.0f);
    float *feat = be->ops->buf_new(be, (size_t)cfg->vis_patches * cfg->vis_hidden);
    float *out = be->ops->buf_new(be, (size_t)cfg->vis_patches * cfg->hidden);
    double t0 = bench_now();
    siglip_encode(vis, feat, pixels);
    projector_apply(proj, out, feat, cfg->vis_patches);
    be->ops->sync(be);
    double dt = bench_now() - t0;
    double n = cfg->vis_patches;
    double flop = 2.0 * n * 3 * cfg->vis_patch * cfg->vis_patch * cfg->vis_hidden +
                  cfg->vis_layers * (2.0 * n * (4.0 * cfg->vis_hidden * cfg->vis_hidden +
                                                2.0 * cfg->vis_hidden * cfg->vis_inner) +
                                     4.0 * n * n * cfg->vis_hidden) +
                  2.0 * n * (cfg->mm_hidden * (double)cfg->hidden + (double)cfg->hidden * cfg->hidden);
    bench_head(be, "vision");
    printf(",\"ms\":%.1f,\"GFLOP_per_s\":%.1f}\n", dt * 1e3, flop / dt / 1e9);
    fflush(stdout);
    be->ops->buf_free(be, feat);
    be->ops->buf_free(be, out);
    free(pixels);
    projector_free(proj);
    siglip_free(vis);
}

/* FLOP of the Phi-2 blocks for rows positions starting at pos0 (attention included). */
static double
bench_lm_flop(const imp_config *c, int rows, int pos0)
{
    double d = c->hidden;
    double per_pos = c->layers * (2.0 * (4 * d * d + 2 * d * c->inner));
    double attn = 0;
    for (int r = 0; r < rows; r++)
        attn += c->layers * 4.0 * d * (pos0 + r + 1);
    return rows * per_pos + attn + 2.0 * d * c->vocab;
}

/*
 * Prefill and a follow-up through the engine, the path the chat's turns take: a prompt of one image
 * (unless --skip-vision or too short) and random text ids, then 20 more ids with the cache kept.
 */
static void
bench_turn(backend *be, const checkpoint *ck, const imp_config *cfg, const bench_options *bo)
{
    int positions = bo->prompt_positions, follow = 20;
    int with_image = !bo->skip_vision && positions >= cfg->vis_patches + 21;
    size_t ntext = (size_t)(with_image ? positions - cfg->vis_patches + 1 : positions);
    engine *e = engine_new_parts(be, cfg, ck, NULL, positions + follow + 8, NULL);
    int32_t *ids = xmalloc((ntext + (size_t)follow) * sizeof *ids);
    uint64_t r = 17;
    for (size_t i = 0; i < ntext + (size_t)follow; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        ids[i] = (int32_t)(r % 50000); /* plain text ids, below the added tokens */
    }
    int slot = -1;
    if (with_image) {
        image_rgb img = {cfg->vis_image, cfg->vis_image, xmalloc((size_t)cfg->vis_image * cfg->vis_image * 3)};
        for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++)
            img.rgb[i] = (uint8_t)(i * 7 + i / 3);
        slot = engine_image_add_rgb(e, &img, "synthetic");
        image_free(&img);
        ids[ntext > 32 ? 32 : 0] = cfg->image_token;
    }
    engine_stats st, fu;
    char *cause = NULL;
    if (engine_send_ids(e, ids, ntext, &slot, with_image, 1, NULL, NULL, NULL, &st, &cause) != 0 ||
        engine_send_ids(e, ids + ntext, (size_t)follow, NULL, 0, 1, NULL, NULL, NULL, &fu, &cause) != 0)
        fatal("the benchmark's turn was refused: %s", cause);
    double flop = bench_lm_flop(cfg, st.new_positions, 0);
    bench_head(be, "prefill");
    printf(",\"positions\":%d,\"images\":%d,\"ms\":%.1f,\"tokens_per_s\":%.1f,"
           "\"GFLOP_per_s\":%.1f,\"image_encode_ms\":%.1f,\"first_token_ms\":%.1f}\n",
           st.new_positions, with_image, st.prefill_ms, st.new_positions / (st.prefill_ms / 1e3),
           flop / (st.prefill_ms / 1e3) / 1e9, st.encode_ms, st.first_token_ms);
    bench_head(be, "followup_first_token");
    printf(",\"history\":%d,\"new_positions\":%d,\"ms\":%.1f}\n", fu.reused, fu.new_positions,
           fu.first_token_ms);
    fflush(stdout);
    free(ids);
    engine_free(e);
}

/*
 * Prefill, follow-up and decode; mem gets the most memory held (bytes), and the engine's part of
 * it: the peak before each decode depth, or the memory during its steps less the read buffer
 * timing them (the peak is started over once the buffer is gone).
 */
static void
bench_lm(backend *be, const checkpoint *ck, const imp_config *cfg, const bench_options *bo,
         double bandwidth, bench_memory *mem)
{
    if (!bo->skip_prefill)
        bench_turn(be, ck, cfg, bo); /* first: its model is freed before the next one is made */
    phi2 *lm = phi2_new(be, ck, cfg);
    int ctx = cfg->context;
    backend_kv *kv = phi2_kv_new(lm, ctx);
    float *logits = xmalloc((size_t)cfg->vocab * sizeof(float));
    size_t d = (size_t)cfg->hidden;

    /* decode at several depths: the cache holds random K and V up to the position */
    float *row = xmalloc(d * sizeof(float));
    float *x1 = be->ops->buf_new(be, d);
    float *krows = xmalloc(64 * d * sizeof(float));
    bench_fill(krows, 64 * d, 11, 1.0f);
    int filled = 0;
    /* the weights one token streams: every layer's matrices and the output head, as stored */
    double matrix_bytes = (double)weights_tensor_bytes(&ck->lm_head.w);
    for (int l = 0; l < cfg->layers; l++) {
        const checkpoint_lm_layer *cl = &ck->lm[l];
        const weights_tensor *ts[] = {&cl->q.w, &cl->k.w, &cl->v.w, &cl->dense.w, &cl->fc1.w, &cl->fc2.w};
        for (int i = 0; i < 6; i++)
            matrix_bytes += (double)weights_tensor_bytes(ts[i]);
    }
    for (int p = 0; p < bo->ndecode; p++) {
        int pos = bo->decode_positions[p];
        if (pos + 1 + bo->decode_tokens >= ctx)
            continue;
        for (; filled < pos; filled += 64) {
            int n = pos - filled < 64 ? pos - filled : 64;
            for (int l = 0; l < cfg->layers; l++) {
                float *kb = be->ops->buf_new(be, (size_t)n * d);
                be->ops->buf_upload(be, kb, krows, (size_t)n * d);
                be->ops->kv_write(be, kv, l, filled, n, kb, kb);
                be->ops->buf_free(be, kb);
            }
            if (n < 64)
                filled = pos - 64;
        }
        filled = pos;
        bench_fill(row, d, 13, 0.05f);
        /* one untimed step first: it pays for first touches (cache pages, page tables) */
        be->ops->buf_upload(be, x1, row, d);
        phi2_forward(lm, kv, x1, 1, pos, logits);
        be->ops->sync(be);
        /* keys and values, fp16 on every backend, up to the middle step's position */
        double kv_bytes = 2.0 * cfg->layers * d * 2 * (pos + 1 + bo->decode_tokens / 2);
        double bytes = matrix_bytes + kv_bytes;
        /*
         * Each timed step is paired with a read of 256 MiB (far past the caches) just before it:
         * on a shared machine the bandwidth left to one process changes from second to second,
         * so a step is compared with what the memory gave at that moment. The best read seen in
         * the whole run is reported too, as the stricter floor.
         */
        if (bench_status_rss("VmHWM:") > mem->engine)
            mem->engine = bench_status_rss("VmHWM:");
        bench_reader reader = bench_reader_new(be->threads, (size_t)256 << 20);
        double *times = xmalloc((size_t)bo->decode_tokens * sizeof(double));
        double *reads = xmalloc((size_t)bo->decode_tokens * sizeof(double));
        double *ratios = xmalloc((size_t)bo->decode_tokens * sizeof(double));
        double total = 0;
        for (int t = 0; t < bo->decode_tokens; t++) {
            reads[t] = bench_reader_pass(&reader, 2);
            if (reads[t] > bandwidth)
                bandwidth = reads[t];
            double t0 = bench_now();
            be->ops->buf_upload(be, x1, row, d);
            phi2_forward(lm, kv, x1, 1, pos + 1 + t, logits);
            be->ops->sync(be);
            times[t] = bench_now() - t0;
            total += times[t];
            ratios[t] = bytes / times[t] / reads[t];
        }
        /* medians: a step slowed by another process on a shared machine does not count */
        double dt = bench_median(times, bo->decode_tokens);
        double read = bench_median(reads, bo->decode_tokens);
        double fraction = bench_median(ratios, bo->decode_tokens);
        double mean = total / bo->decode_tokens;
        /* the reader is all resident (written when made): what is left is the engine's */
        double rss = bench_status_rss("VmRSS:") - (double)reader.bytes;
        if (rss > mem->engine)
            mem->engine = rss;
        bench_reader_free(&reader);
        bench_reset_hwm(&mem->process);
        free(times);
        free(reads);
        free(ratios);
        bench_head(be, "decode");
        printf(",\"position\":%d,\"tokens_per_s\":%.2f,\"ms_per_token\":%.1f,"
               "\"mean_ms_per_token\":%.1f,\"weight_bytes_per_token\":%.0f,"
               "\"bytes_per_token\":%.0f,\"GB_per_s\":%.2f,\"bandwidth_GB_per_s\":%.2f,"
               "\"fraction_of_bandwidth\":%.2f,\"best_bandwidth_GB_per_s\":%.2f,"
               "\"fraction_of_best_bandwidth\":%.2f}\n",
               pos, 1.0 / dt, dt * 1e3, mean * 1e3, matrix_bytes, bytes, bytes / dt / 1e9,
               read / 1e9, fraction, bandwidth / 1e9, bytes / dt / bandwidth);
        fflush(stdout);
    }
    free(row);
    free(krows);
    be->ops->buf_free(be, x1);
    free(logits);
    be->ops->kv_free(be, kv);
    phi2_free(lm);
}

static void
bench_usage(FILE *f)
{
    fprintf(f, "usage: imp-bench (--synthetic | -m DIR) [options]\n"
               "  --synthetic            random weights at imp-v1-3b's real size\n"
               "  -m, --model DIR        a model folder instead\n"
               "  --backend NAME         auto, cpu or cuda (default auto)\n"
               "  --weights MODE         f16, q8 or q4 (default: q8 on the CPU, f16 on CUDA)\n"
               "  --threads N            CPU threads (default: all cores)\n"
               "  --prompt-positions N   prefill length (default 777: one image and a question)\n"
               "  --decode-positions L   comma-separated cache depths for decode (default 100,1500)\n"
               "  --decode-tokens N      tokens timed at each depth, after one untimed, each paired with a\n"
               "                         read of the memory just before it; medians count (default 8)\n"
               "  --skip-vision, --skip-prefill\n");
}

/* A bad option value: say so and exit with the usage status. */
static int
bench_bad_option(char *cause)
{
    log_error("%s", cause);
    free(cause);
    return 2;
}

int
main(int argc, char **argv)
{
    bench_options bo = {.prompt_positions = 777, .decode_positions = {100, 1500}, .ndecode = 2,
                        .decode_tokens = 8, .weights = QUANT_AUTO};
    static const struct option longopts[] = {
        {"synthetic", no_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"backend", required_argument, NULL, 'b'},
        {"weights", required_argument, NULL, 'w'},
        {"threads", required_argument, NULL, 't'},
        {"prompt-positions", required_argument, NULL, 'P'},
        {"decode-positions", required_argument, NULL, 'D'},
        {"decode-tokens", required_argument, NULL, 'T'},
        {"skip-vision", no_argument, NULL, 'V'},
        {"skip-prefill", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long long ll;
    char *cause = NULL;
    log_set_program("imp-bench");
    while ((c = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            bo.synthetic = 1;
            break;
        case 'm':
            bo.model_dir = optarg;
            break;
        case 'b':
            if (backend_parse_choice(optarg, &bo.backend) != 0) {
                log_error("--backend: unknown backend \"%s\"", optarg);
                return 2;
            }
            break;
        case 'w':
            if (quant_parse_mode(optarg, &bo.weights) != 0) {
                log_error("weights: unknown mode \"%s\" (expected f16, q8 or q4)", optarg);
                return 2;
            }
            break;
        case 't':
            if (numarg_integer("threads", optarg, 1, 1024, &ll, &cause) != 0)
                return bench_bad_option(cause);
            bo.threads = (int)ll;
            break;
        case 'P':
            if (numarg_integer("prompt-positions", optarg, 21, 1 << 20, &ll, &cause) != 0)
                return bench_bad_option(cause);
            bo.prompt_positions = (int)ll;
            break;
        case 'D': {
            /* up to four comma-separated depths */
            bo.ndecode = 0;
            char *list = xstrdup(optarg), *save = NULL;
            for (char *item = strtok_r(list, ",", &save); item != NULL;
                 item = strtok_r(NULL, ",", &save)) {
                if (bo.ndecode == 4) {
                    free(list);
                    return bench_bad_option(xstrdup("decode-positions: at most four depths"));
                }
                if (numarg_integer("decode-positions", item, 1, 1 << 20, &ll, &cause) != 0) {
                    free(list);
                    return bench_bad_option(cause);
                }
                bo.decode_positions[bo.ndecode++] = (int)ll;
            }
            free(list);
            break;
        }
        case 'T':
            if (numarg_integer("decode-tokens", optarg, 1, 100000, &ll, &cause) != 0)
                return bench_bad_option(cause);
            bo.decode_tokens = (int)ll;
            break;
        case 'V':
            bo.skip_vision = 1;
            break;
        case 'F':
            bo.skip_prefill = 1;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (!bo.synthetic && bo.model_dir == NULL) {
        bench_usage(stderr);
        return 2;
    }

    char *note = NULL;
    imp_config cfg;
    checkpoint ck;
    synthetic *syn = NULL;
    weights *files = NULL;
    quant_store *quant = NULL;
    /* first, while its GiB does not add to the model's memory */
    double bandwidth = bench_memory_bandwidth(bo.threads);
    bench_reset_hwm(NULL);
    double t0 = bench_now();
    if (bo.synthetic) {
        config_init_default(&cfg);
    } else if (config_load(&cfg, bo.model_dir, &cause) != 0 ||
               (files = weights_open(bo.model_dir, &cause)) == NULL ||
               checkpoint_init(&ck, files, &cfg, &cause) != 0) {
        log_error("%s", cause);
        return 1;
    }
    backend *be =
        backend_new_for(bo.backend, bo.threads,
                        backend_model_bytes(&cfg, cfg.context, bo.prompt_positions, bo.weights),
                        bo.weights, &note, &cause);
    if (be == NULL) {
        log_error("%s", cause);
        return 1;
    }
    if (note != NULL)
        log_error("%s", note);
    quant_mode mode = backend_weights(be, bo.weights);
    bench_weights = quant_mode_name(mode);
    if (bo.synthetic) {
        syn = synthetic_new_weights(&cfg, 1, bo.threads, mode);
        ck = *synthetic_checkpoint_borrow(syn);
    } else if (quant_checkpoint(&ck, &cfg, files, mode, be->threads, &quant, &cause) != 0) {
        log_error("%s", cause);
        return 1;
    }
    double quantize = quant_store_seconds(syn != NULL ? synthetic_quant_borrow(syn) : quant);
    bench_head(be, "load");
    printf(",\"synthetic\":%s,\"ms\":%.1f,\"quantize_ms\":%.1f,\"threads\":%d}\n",
           bo.synthetic ? "true" : "false", (bench_now() - t0) * 1e3, quantize * 1e3, be->threads);
    fflush(stdout);

    bench_matmul(be, &ck, bo.prompt_positions);
    if (!bo.skip_vision)
        bench_vision(be, &ck, &cfg);
    bench_memory mem = {0, 0};
    bench_lm(be, &ck, &cfg, &bo, bandwidth, &mem);
    /* since the last decode buffer went (or since loading): the engine's alone */
    double tail = bench_status_rss("VmHWM:");
    mem.process = fmax(mem.process, tail);
    mem.engine = fmax(mem.engine, tail);

    bench_head(be, "peak_rss");
    printf(",\"MB\":%.0f,\"engine_MB\":%.0f}\n", mem.process / (1 << 20), mem.engine / (1 << 20));
    backend_free(be);
    if (syn != NULL)
        synthetic_free(syn);
    else {
        checkpoint_free(&ck);
        quant_store_free(quant);
        weights_free(files);
    }
    return 0;
}
