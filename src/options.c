#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "modelstore.h"
#include "options.h"
#include "xmalloc.h"

/* Default reply length limit (the hub README uses 100; replies about images run longer). */
#define OPTIONS_DEFAULT_MAX_TOKENS 512

enum {
    OPT_TEMP = 256,
    OPT_TOP_P,
    OPT_TOP_K,
    OPT_REPEAT_PENALTY,
    OPT_SEED,
    OPT_SYSTEM,
    OPT_BACKEND,
    OPT_THREADS,
    OPT_CONTEXT,
    OPT_SCRIPT,
    OPT_PRINT_IDS,
    OPT_STATS,
    OPT_TOKENIZE,
    OPT_DUMP_LOGITS,
    OPT_PREPROCESS,
    OPT_OUT,
    OPT_VERSION,
    OPT_DOWNLOAD,
    OPT_LIST_MODELS,
    OPT_YES,
    OPT_DEMO,
};

typedef struct {
    const char *name;
    int has_arg;
    int val;
    const char *arg;
    const char *help;
} options_entry;

static const options_entry options_table[] = {
    {"model", required_argument, 'm', "DIR", "model folder, or hub id OWNER/NAME[@REV] (default: look for it)"},
    {"prompt", required_argument, 'p', "TEXT", "one-shot: reply on stdout, then exit ('-': read stdin)"},
    {"image", required_argument, 'i', "FILE", "attach an image to the -p prompt (repeatable)"},
    {"max-tokens", required_argument, 'n', "N", "reply length limit (default 512)"},
    {"temp", required_argument, OPT_TEMP, "T", "sampling temperature (0: greedy, the default)"},
    {"top-p", required_argument, OPT_TOP_P, "P", "nucleus sampling threshold (default 1: off)"},
    {"top-k", required_argument, OPT_TOP_K, "K", "sample among the K best (default 0: off)"},
    {"repeat-penalty", required_argument, OPT_REPEAT_PENALTY, "R", "penalty for ids already seen (default 1: off)"},
    {"seed", required_argument, OPT_SEED, "S", "random seed (default: from the clock)"},
    {"system", required_argument, OPT_SYSTEM, "TEXT", "replace the system prompt"},
    {"backend", required_argument, OPT_BACKEND, "NAME", "auto, cpu or cuda (default auto)"},
    {"threads", required_argument, OPT_THREADS, "N", "CPU threads (default: all cores)"},
    {"context", required_argument, OPT_CONTEXT, "N", "context positions (default: the model's, 3072)"},
    {"script", required_argument, OPT_SCRIPT, "FILE", "run the lines of FILE as typed in the chat ('-': stdin)"},
    {"print-ids", no_argument, OPT_PRINT_IDS, NULL, "print each reply's token ids instead of its text"},
    {"stats", no_argument, OPT_STATS, NULL, "print each turn's positions and timings on stderr"},
    {"tokenize", required_argument, OPT_TOKENIZE, "TEXT", "print the token ids of TEXT and exit"},
    {"dump-logits", required_argument, OPT_DUMP_LOGITS, "FILE", "with -p: write the last prompt position's logits"},
    {"preprocess", required_argument, OPT_PREPROCESS, "IMAGE", "write the 384x384 image the model sees to --out"},
    {"out", required_argument, OPT_OUT, "FILE.png", "output file of --preprocess"},
    {"download", optional_argument, OPT_DOWNLOAD, "[ID[@REV]]", "download the model (default MILVLG/imp-v1-3b), then exit"},
    {"list-models", no_argument, OPT_LIST_MODELS, NULL, "show where models were found, then exit"},
    {"yes", no_argument, OPT_YES, NULL, "download the model without asking when it is not found"},
    {"demo", no_argument, OPT_DEMO, NULL, "chat with a tiny random-weight model (its replies are noise)"},
    {"help", no_argument, 'h', NULL, "show this help"},
    {"version", no_argument, OPT_VERSION, NULL, "show the version"},
};

#define OPTIONS_COUNT (sizeof options_table / sizeof options_table[0])

void
options_usage(FILE *f)
{
    fprintf(f, "usage: imp-chat [-m DIR] [options]\n"
               "Chat about images with Imp-v1-3b in the terminal.\n\n");
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const options_entry *o = &options_table[i];
        char lhs[64];
        if (o->val < 256)
            snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", o->val, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(lhs, sizeof lhs, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(f, "  %-30s %s\n", lhs, o->help);
    }
}

static int
options_number(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        log_error("--%s: invalid value \"%s\" (expected a number from %g to %g)", name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int
options_integer(const char *name, const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        log_error("--%s: invalid value \"%s\" (expected an integer from %lld to %lld)", name, s,
                  lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int
options_parse(options *opt, int argc, char **argv)
{
    struct option longopts[OPTIONS_COUNT + 1];
    char shortopts[64];
    size_t ns = 0;
    memset(opt, 0, sizeof *opt);
    sampler_params_init(&opt->sampling);
    opt->max_tokens = OPTIONS_DEFAULT_MAX_TOKENS;
    opt->backend = BACKEND_AUTO;
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        longopts[i] = (struct option){options_table[i].name, options_table[i].has_arg, NULL,
                                      options_table[i].val};
        if (options_table[i].val < 256) {
            shortopts[ns++] = (char)options_table[i].val;
            if (options_table[i].has_arg)
                shortopts[ns++] = ':';
        }
    }
    memset(&longopts[OPTIONS_COUNT], 0, sizeof longopts[0]);
    shortopts[ns] = '\0';

    opterr = 0;
    int c;
    double d;
    long long ll;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            opt->model_dir = optarg;
            break;
        case 'p':
            opt->prompt = optarg;
            break;
        case 'i':
            opt->images = xreallocarray(opt->images, (size_t)opt->nimages + 1, sizeof *opt->images);
            opt->images[opt->nimages++] = optarg;
            break;
        case 'n':
            if (options_integer("max-tokens", optarg, 0, INT_MAX, &ll) != 0)
                return -1;
            opt->max_tokens = (int)ll;
            break;
        case OPT_TEMP:
            if (options_number("temp", optarg, 0, 100, &d) != 0)
                return -1;
            opt->sampling.temp = (float)d;
            break;
        case OPT_TOP_P:
            if (options_number("top-p", optarg, 0, 1, &d) != 0)
                return -1;
            opt->sampling.top_p = (float)d;
            break;
        case OPT_TOP_K:
            if (options_integer("top-k", optarg, 0, INT_MAX, &ll) != 0)
                return -1;
            opt->sampling.top_k = (int)ll;
            break;
        case OPT_REPEAT_PENALTY:
            if (options_number("repeat-penalty", optarg, 0.01, 100, &d) != 0)
                return -1;
            opt->sampling.repeat_penalty = (float)d;
            break;
        case OPT_SEED:
            if (options_integer("seed", optarg, 0, LLONG_MAX, &ll) != 0)
                return -1;
            opt->sampling.seed = (uint64_t)ll;
            opt->sampling.seed_set = 1;
            break;
        case OPT_SYSTEM:
            opt->system = optarg;
            break;
        case OPT_BACKEND:
            if (backend_parse_choice(optarg, &opt->backend) != 0) {
                log_error("--backend: unknown backend \"%s\" (expected auto, cpu or cuda)", optarg);
                return -1;
            }
            break;
        case OPT_THREADS:
            if (options_integer("threads", optarg, 1, 1024, &ll) != 0)
                return -1;
            opt->threads = (int)ll;
            break;
        case OPT_CONTEXT:
            if (options_integer("context", optarg, 16, 1 << 20, &ll) != 0)
                return -1;
            opt->context = (int)ll;
            break;
        case OPT_SCRIPT:
            opt->script = optarg;
            break;
        case OPT_PRINT_IDS:
            opt->print_ids = 1;
            break;
        case OPT_STATS:
            opt->stats = 1;
            break;
        case OPT_TOKENIZE:
            opt->tokenize = optarg;
            break;
        case OPT_DUMP_LOGITS:
            opt->dump_logits = optarg;
            break;
        case OPT_PREPROCESS:
            opt->preprocess = optarg;
            break;
        case OPT_OUT:
            opt->out = optarg;
            break;
        case 'h':
            opt->help = 1;
            break;
        case OPT_VERSION:
            opt->version = 1;
            break;
        case OPT_DOWNLOAD:
            opt->download = 1;
            opt->download_id = optarg;
            break;
        case OPT_LIST_MODELS:
            opt->list_models = 1;
            break;
        case OPT_YES:
            opt->yes = 1;
            break;
        case OPT_DEMO:
            opt->demo = 1;
            break;
        case ':':
            log_error("option %s needs a value", argv[optind - 1]);
            return -1;
        default:
            log_error("unknown option %s (see imp-chat --help)", argv[optind - 1]);
            return -1;
        }
    }
    /* --download ID with a space: the id arrives as the one argument left */
    if (opt->download && opt->download_id == NULL && optind == argc - 1)
        opt->download_id = argv[optind++];
    if (opt->download_id != NULL) {
        char *id, *rev;
        if (modelstore_parse_id(opt->download_id, &id, &rev) != 0) {
            log_error("--download: \"%s\" is not a hub id (OWNER/NAME[@REVISION])",
                      opt->download_id);
            return -1;
        }
        free(id);
        free(rev);
    }
    if (opt->demo && (opt->model_dir != NULL || opt->download)) {
        log_error("--demo cannot be combined with %s", opt->download ? "--download" : "-m");
        return -1;
    }
    if (optind < argc) {
        log_error("unexpected argument \"%s\" (quote a prompt and pass it with -p)", argv[optind]);
        return -1;
    }
    if (opt->preprocess != NULL && opt->out == NULL) {
        log_error("--preprocess needs --out FILE.png");
        return -1;
    }
    if (opt->nimages > 0 && opt->prompt == NULL) {
        log_error("-i/--image attaches to a -p prompt (in a chat or --script use /image PATH)");
        return -1;
    }
    if (opt->dump_logits != NULL && opt->prompt == NULL) {
        log_error("--dump-logits needs -p");
        return -1;
    }
    if (opt->prompt != NULL && opt->script != NULL) {
        log_error("-p and --script cannot be combined");
        return -1;
    }
    return 0;
}

void
options_free(options *opt)
{
    free(opt->images);
    opt->images = NULL;
}
