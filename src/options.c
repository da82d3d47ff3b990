#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "modelstore.h"
#include "numarg.h"
#include "options.h"
#include "regfile.h"
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
    OPT_WEIGHTS,
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
    OPT_IMAGE_MODE,
    OPT_THEME,
    OPT_NO_MOUSE,
    OPT_CONFIG,
    OPT_NO_CONFIG,
    OPT_TEST_TOKEN_DELAY,
    OPT_DOWNLOAD,
    OPT_LIST_MODELS,
    OPT_YES,
    OPT_DEMO,
    OPT_RESUME,
    OPT_NO_AUTOSAVE,
    OPT_RAW,
};

typedef struct {
    const char *name;
    int has_arg;
    int val;
    const char *arg;
    const char *help;   /* NULL: not listed (test hooks) */
    int in_config;      /* may be set in the config file */
} options_entry;

static const options_entry options_table[] = {
    {"model", required_argument, 'm', "DIR", "model folder, or hub id OWNER/NAME[@REV] (default: look for it)", 1},
    {"prompt", required_argument, 'p', "TEXT", "one-shot: reply on stdout, then exit ('-': read stdin)", 0},
    {"image", required_argument, 'i', "FILE", "attach an image to the -p prompt (repeatable)", 0},
    {"max-tokens", required_argument, 'n', "N", "reply length limit (default 512)", 1},
    {"temp", required_argument, OPT_TEMP, "T", "sampling temperature (0: greedy, the default)", 1},
    {"top-p", required_argument, OPT_TOP_P, "P", "nucleus sampling threshold (default 1: off)", 1},
    {"top-k", required_argument, OPT_TOP_K, "K", "sample among the K best (default 0: off)", 1},
    {"repeat-penalty", required_argument, OPT_REPEAT_PENALTY, "R", "penalty for ids already seen (default 1: off)", 1},
    {"seed", required_argument, OPT_SEED, "S", "random seed (default: from the clock)", 1},
    {"system", required_argument, OPT_SYSTEM, "TEXT", "replace the system prompt", 1},
    {"backend", required_argument, OPT_BACKEND, "NAME", "auto, cpu or cuda (default auto)", 1},
    {"weights", required_argument, OPT_WEIGHTS, "MODE", "f16, q8 or q4 (default: q8 on the CPU, f16 on CUDA)", 1},
    {"threads", required_argument, OPT_THREADS, "N", "CPU threads (default: all cores)", 1},
    {"context", required_argument, OPT_CONTEXT, "N", "context positions (default: the model's, 3072)", 1},
    {"ctx", required_argument, OPT_CONTEXT, "N", "the same as --context", 0},
    {"script", required_argument, OPT_SCRIPT, "FILE", "run the lines of FILE as typed in the chat ('-': stdin)", 0},
    {"print-ids", no_argument, OPT_PRINT_IDS, NULL, "print each reply's token ids instead of its text", 0},
    {"raw", no_argument, OPT_RAW, NULL, "with -p or --script: write replies' bytes as generated (no escaping of controls)", 0},
    {"stats", no_argument, OPT_STATS, NULL, "print each turn's positions and timings on stderr", 0},
    {"tokenize", required_argument, OPT_TOKENIZE, "TEXT", "print the token ids of TEXT and exit", 0},
    {"dump-logits", required_argument, OPT_DUMP_LOGITS, "FILE", "with -p: write the last prompt position's logits", 0},
    {"preprocess", required_argument, OPT_PREPROCESS, "IMAGE", "write the 384x384 image the model sees to --out", 0},
    {"out", required_argument, OPT_OUT, "FILE.png", "output file of --preprocess", 0},
    {"image-mode", required_argument, OPT_IMAGE_MODE, "MODE", "images in the chat: auto, symbols, kitty, sixel or none", 1},
    {"theme", required_argument, OPT_THEME, "NAME", "color theme (default, light, mono, ...)", 1},
    {"no-mouse", no_argument, OPT_NO_MOUSE, NULL, "leave the mouse to the terminal (no wheel scrolling)", 1},
    {"config", required_argument, OPT_CONFIG, "FILE", "read settings from FILE instead of the default config", 0},
    {"no-config", no_argument, OPT_NO_CONFIG, NULL, "read no config file", 0},
    {"test-token-delay", required_argument, OPT_TEST_TOKEN_DELAY, "MS", NULL, 0},
    {"download", optional_argument, OPT_DOWNLOAD, "[ID[@REV]]", "download the model (default MILVLG/imp-v1-3b), then exit", 0},
    {"list-models", no_argument, OPT_LIST_MODELS, NULL, "show where models were found, then exit", 0},
    {"yes", no_argument, OPT_YES, NULL, "download the model without asking when it is not found", 0},
    {"demo", no_argument, OPT_DEMO, NULL, "chat with a tiny random-weight model (its replies are noise)", 0},
    {"resume", optional_argument, OPT_RESUME, "[NAME|PATH]", "continue the last saved conversation (or the one named)", 0},
    {"no-autosave", no_argument, OPT_NO_AUTOSAVE, NULL, "do not save the conversation after every reply", 1},
    {"help", no_argument, 'h', NULL, "show this help", 0},
    {"version", no_argument, OPT_VERSION, NULL, "show the version", 0},
};

#define OPTIONS_COUNT (sizeof options_table / sizeof options_table[0])
_Static_assert(OPTIONS_COUNT <= sizeof(((options *)0)->given), "options.given is too small");

void
options_usage(FILE *f)
{
    fprintf(f, "usage: imp-chat [-m DIR] [options]\n"
               "Chat about images with Imp-v1-3b in the terminal.\n\n");
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const options_entry *o = &options_table[i];
        char lhs[64];
        if (o->help == NULL)
            continue;
        if (o->val < 256)
            snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", o->val, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(lhs, sizeof lhs, "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(f, "  %-30s %s\n", lhs, o->help);
    }
}

/* Apply option c with its argument (which must outlive opt). -1 with *cause for a bad value. */
static int
options_apply(options *opt, int c, const char *arg, char **cause)
{
    double d;
    long long ll;
    switch (c) {
    case 'm':
        opt->model_dir = arg;
        break;
    case 'p':
        opt->prompt = arg;
        break;
    case 'i':
        opt->images = xreallocarray(opt->images, (size_t)opt->nimages + 1, sizeof *opt->images);
        opt->images[opt->nimages++] = arg;
        break;
    case 'n':
        if (numarg_integer("max-tokens", arg, 0, INT_MAX, &ll, cause) != 0)
            return -1;
        opt->max_tokens = (int)ll;
        break;
    case OPT_TEMP:
        if (numarg_number("temp", arg, 0, 100, &d, cause) != 0)
            return -1;
        opt->sampling.temp = (float)d;
        break;
    case OPT_TOP_P:
        if (numarg_number("top-p", arg, 0, 1, &d, cause) != 0)
            return -1;
        opt->sampling.top_p = (float)d;
        break;
    case OPT_TOP_K:
        if (numarg_integer("top-k", arg, 0, INT_MAX, &ll, cause) != 0)
            return -1;
        opt->sampling.top_k = (int)ll;
        break;
    case OPT_REPEAT_PENALTY:
        if (numarg_number("repeat-penalty", arg, 0.01, 100, &d, cause) != 0)
            return -1;
        opt->sampling.repeat_penalty = (float)d;
        break;
    case OPT_SEED:
        if (numarg_integer("seed", arg, 0, LLONG_MAX, &ll, cause) != 0)
            return -1;
        opt->sampling.seed = (uint64_t)ll;
        opt->sampling.seed_set = 1;
        break;
    case OPT_SYSTEM:
        opt->system = arg;
        break;
    case OPT_BACKEND:
        if (backend_parse_choice(arg, &opt->backend) != 0)
            return log_cause(cause, "backend: unknown backend \"%s\" (expected auto, cpu or cuda)",
                             arg);
        break;
    case OPT_WEIGHTS:
        if (quant_parse_mode(arg, &opt->weights) != 0)
            return log_cause(cause, "weights: unknown mode \"%s\" (expected f16, q8 or q4)", arg);
        break;
    case OPT_THREADS:
        if (numarg_integer("threads", arg, 1, 1024, &ll, cause) != 0)
            return -1;
        opt->threads = (int)ll;
        break;
    case OPT_CONTEXT:
        if (numarg_integer("context", arg, 16, 1 << 20, &ll, cause) != 0)
            return -1;
        opt->context = (int)ll;
        break;
    case OPT_SCRIPT:
        opt->script = arg;
        break;
    case OPT_PRINT_IDS:
        opt->print_ids = 1;
        break;
    case OPT_STATS:
        opt->stats = 1;
        break;
    case OPT_TOKENIZE:
        opt->tokenize = arg;
        break;
    case OPT_DUMP_LOGITS:
        opt->dump_logits = arg;
        break;
    case OPT_PREPROCESS:
        opt->preprocess = arg;
        break;
    case OPT_OUT:
        opt->out = arg;
        break;
    case 'h':
        opt->help = 1;
        break;
    case OPT_VERSION:
        opt->version = 1;
        break;
    case OPT_IMAGE_MODE:
        if (strcmp(arg, "auto") != 0 && strcmp(arg, "symbols") != 0 && strcmp(arg, "kitty") != 0 &&
            strcmp(arg, "sixel") != 0 && strcmp(arg, "none") != 0)
            return log_cause(cause, "image-mode: unknown mode \"%s\" (expected auto, symbols, kitty, "
                                    "sixel or none)", arg);
        opt->image_mode = arg;
        break;
    case OPT_THEME:
        opt->theme = arg;
        break;
    case OPT_NO_MOUSE:
        opt->no_mouse = 1;
        break;
    case OPT_CONFIG:
        opt->config = arg;
        break;
    case OPT_NO_CONFIG:
        opt->no_config = 1;
        break;
    case OPT_DOWNLOAD:
        opt->download = 1;
        opt->download_id = arg;
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
    case OPT_RESUME:
        opt->resume = 1;
        opt->resume_name = arg;
        break;
    case OPT_NO_AUTOSAVE:
        opt->no_autosave = 1;
        break;
    case OPT_RAW:
        opt->raw = 1;
        break;
    case OPT_TEST_TOKEN_DELAY:
        if (numarg_integer("test-token-delay", arg, 0, 60000, &ll, cause) != 0)
            return -1;
        opt->test_token_delay = (int)ll;
        break;
    default:
        return log_cause(cause, "not a setting");
    }
    return 0;
}

/* Remember that option c came from the command line, so the config file leaves it alone. */
static void
options_mark_given(options *opt, int c)
{
    for (size_t i = 0; i < OPTIONS_COUNT; i++)
        if (options_table[i].val == c)
            opt->given[i] = 1;
}

/* Whether option c came from the command line. */
static int
options_given(const options *opt, int c)
{
    for (size_t i = 0; i < OPTIONS_COUNT; i++)
        if (options_table[i].val == c && opt->given[i])
            return 1;
    return 0;
}

/* Keep a string for as long as opt lives. */
static const char *
options_keep(options *opt, const char *s)
{
    opt->owned = xreallocarray(opt->owned, (size_t)opt->nowned + 1, sizeof *opt->owned);
    opt->owned[opt->nowned] = xstrdup(s);
    return opt->owned[opt->nowned++];
}

static void
options_notice(options *opt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
options_notice(options *opt, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    opt->notices = xreallocarray(opt->notices, (size_t)opt->nnotices + 1, sizeof *opt->notices);
    opt->notices[opt->nnotices++] = text;
}

/* A yes/no value of the config file; -1 when it is neither. */
static int
options_boolean(const char *s)
{
    static const char *const yes[] = {"yes", "on", "true", "1"}, *const no[] = {"no", "off", "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* One "name = value" or "bind KEY ACTION" line of the config file. */
static void
options_config_line(options *opt, const char *path, int lineno, char *line)
{
    char *p = line + strspn(line, " \t");
    size_t len = strlen(p);
    while (len > 0 && strchr(" \t\r\n", p[len - 1]) != NULL)
        p[--len] = '\0';
    if (*p == '\0' || *p == '#')
        return;
    size_t nlen = strcspn(p, " \t=");
    char *value = p + nlen;
    value += strspn(value, " \t");
    if (*value == '=')
        value += 1 + strspn(value + 1, " \t");
    p[nlen] = '\0';
    /* quotes around a value are for readability only */
    len = strlen(value);
    if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
        value[len - 1] = '\0';
        value++;
    }
    if (strcmp(p, "bind") == 0) {
        opt->bindings = xreallocarray(opt->bindings, (size_t)opt->nbindings + 1, sizeof *opt->bindings);
        options_binding *b = &opt->bindings[opt->nbindings++];
        b->spec = xstrdup(value);
        b->where = xasprintf("%s:%d", path, lineno);
        return;
    }
    for (size_t i = 0; i < OPTIONS_COUNT; i++) {
        const options_entry *o = &options_table[i];
        if (strcmp(o->name, p) != 0)
            continue;
        if (!o->in_config) {
            options_notice(opt, "%s:%d: \"%s\" cannot be set in the config file", path, lineno, p);
            return;
        }
        if (opt->given[i])
            return; /* the command line wins */
        char *cause = NULL;
        if (o->has_arg == no_argument) {
            int on = options_boolean(value);
            if (on < 0) {
                options_notice(opt, "%s:%d: %s: expected yes or no, not \"%s\"", path, lineno, p,
                               value);
                return;
            }
            if (on)
                options_apply(opt, o->val, NULL, &cause);
            return;
        }
        if (*value == '\0') {
            options_notice(opt, "%s:%d: %s needs a value", path, lineno, p);
            return;
        }
        if (options_apply(opt, o->val, options_keep(opt, value), &cause) != 0) {
            options_notice(opt, "%s:%d: %s (the default is kept)", path, lineno, cause);
            free(cause);
        }
        return;
    }
    options_notice(opt, "%s:%d: unknown setting \"%s\"", path, lineno, p);
}

/* The config file's path: --config, else $XDG_CONFIG_HOME/imp-chat/config. New string or NULL. */
static char *
options_config_path_new(const options *opt)
{
    if (opt->config != NULL)
        return xstrdup(opt->config);
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg != NULL && *xdg == '/')
        return xasprintf("%s/imp-chat/config", xdg);
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return NULL;
    return xasprintf("%s/.config/imp-chat/config", home);
}

/* Read the config file; its problems become notices and the defaults stay. -1: --config unreadable. */
static int
options_load_config(options *opt)
{
    char *path = options_config_path_new(opt);
    if (path == NULL)
        return 0;
    char *cause = NULL;
    FILE *f = regfile_fopen(path, "config file", &cause);
    if (f == NULL) {
        int missing_default = opt->config == NULL && errno == ENOENT;
        if (!missing_default)
            log_error("%s", cause);
        free(cause);
        free(path);
        return missing_default ? 0 : -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0)
        options_config_line(opt, path, ++lineno, line);
    free(line);
    fclose(f);
    opt->config_path = options_keep(opt, path);
    free(path);
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
    opt->weights = QUANT_AUTO;
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
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        char *cause = NULL;
        if (c == ':') {
            log_error("option %s needs a value", argv[optind - 1]);
            return -1;
        }
        if (c == '?' || options_apply(opt, c, optarg, &cause) != 0) {
            if (cause != NULL)
                log_error("--%s", cause);
            else
                log_error("unknown option %s (see imp-chat --help)", argv[optind - 1]);
            free(cause);
            return -1;
        }
        options_mark_given(opt, c);
    }
    if (!opt->no_config && options_load_config(opt) != 0)
        return -1;
    /* weights: --weights, then the config file, then $IMP_CHAT_WEIGHTS, then the backend's default */
    const char *env_weights = getenv("IMP_CHAT_WEIGHTS");
    if (opt->weights == QUANT_AUTO && env_weights != NULL && *env_weights != '\0' &&
        quant_parse_mode(env_weights, &opt->weights) != 0) {
        log_error("IMP_CHAT_WEIGHTS: unknown mode \"%s\" (expected f16, q8 or q4)", env_weights);
        return -1;
    }
    /* the config file's model is one place the lookup tries, not an order like -m */
    if (!options_given(opt, 'm') && opt->model_dir != NULL) {
        opt->config_model = opt->model_dir;
        opt->model_dir = NULL;
    }
    /* --download ID with a space: the id arrives as the one argument left */
    if (opt->download && opt->download_id == NULL && optind == argc - 1)
        opt->download_id = argv[optind++];
    /* --resume NAME with a space: the name arrives as the one argument left */
    if (opt->resume && opt->resume_name == NULL && optind == argc - 1)
        opt->resume_name = argv[optind++];
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
    for (int i = 0; i < opt->nowned; i++)
        free(opt->owned[i]);
    free(opt->owned);
    for (int i = 0; i < opt->nnotices; i++)
        free(opt->notices[i]);
    free(opt->notices);
    for (int i = 0; i < opt->nbindings; i++) {
        free(opt->bindings[i].spec);
        free(opt->bindings[i].where);
    }
    free(opt->bindings);
}
