#include "config.h"

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo.h"
#include "engine.h"
#include "gpumsg.h"
#include "image.h"
#include "linefront.h"
#include "log.h"
#include "modelsetup.h"
#include "options.h"
#include "regfile.h"
#include "safetext.h"
#include "session.h"
#include "termdetect.h"
#include "tokenizer.h"
#include "ui.h"
#include "xmalloc.h"

static volatile int main_cancel;

static void
main_on_sigint(int sig)
{
    (void)sig;
    main_cancel = 1;
}

/* The model folder must exist before anything is read from it: say so plainly. */
static int
main_check_model_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        log_error("%s: %s (the model folder given with -m)", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        log_error("%s: not a folder (-m takes the model folder downloaded from the hub)", dir);
        return -1;
    }
    return 0;
}

static int
main_preprocess(const options *opt)
{
    image_rgb img, sized;
    char *cause = NULL;
    if (image_load(&img, opt->preprocess, &cause) != 0) {
        log_error("%s", cause);
        free(cause);
        return 1;
    }
    /* the SigLIP input size: 384 for every Imp-v1 model */
    image_resize_bicubic(&sized, &img, 384, 384);
    image_free(&img);
    int rc = image_write_png(&sized, opt->out, &cause);
    image_free(&sized);
    if (rc != 0) {
        log_error("%s", cause);
        free(cause);
        return 1;
    }
    return 0;
}

static int
main_tokenize(const options *opt)
{
    char *cause = NULL;
    if (main_check_model_dir(opt->model_dir) != 0)
        return 1;
    tokenizer *tok = tokenizer_new(opt->model_dir, &cause);
    if (tok == NULL) {
        log_error("%s", cause);
        free(cause);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    tokenizer_encode(tok, opt->tokenize, strlen(opt->tokenize), &ids, &n);
    for (size_t i = 0; i < n; i++)
        printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    free(ids);
    tokenizer_free(tok);
    return 0;
}

/* Read all of stdin for "-p -". */
static char *
main_read_stdin(void)
{
    size_t cap = 4096, len = 0, got;
    char *buf = xmalloc(cap);
    while ((got = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    buf[len] = '\0';
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

/* Load the model; the backend's note is printed, or handed to the caller when note_out is set. */
static engine *
main_engine_new(const options *opt, char **note_out)
{
    engine_options eo = {
        .model_dir = opt->model_dir, .backend = opt->backend, .threads = opt->threads,
        .context = opt->context, .system = opt->system, .weights = opt->weights,
    };
    char *note = NULL, *cause = NULL;
    if (main_check_model_dir(opt->model_dir) != 0)
        return NULL;
    engine *e = engine_new(&eo, &note, &cause);
    if (note != NULL && note_out != NULL && e != NULL) {
        *note_out = note;
        note = NULL;
    }
    if (note != NULL) {
        log_error("%s", note);
        free(note);
    }
    if (e == NULL) {
        log_error("%s", cause);
        free(cause);
        return NULL;
    }
    if (opt->stats)
        fprintf(stderr, "imp-chat: the %s backend runs %s weights\n", engine_backend_name(e),
                quant_mode_name(engine_weights(e)));
    engine_set_sampling(e, &opt->sampling);
    if (opt->demo) {
        /* random weights say random things: only plain words, so the noise is harmless */
        size_t n;
        const char *const *words = demo_words(&n);
        engine_set_words(e, words, n);
    }
    return e;
}

static int
main_write_logits(const engine *e, const char *path)
{
    FILE *f = fopen(path, "wb");
    size_t n = (size_t)engine_config(e)->vocab;
    if (f == NULL) {
        log_error("%s: %s (--dump-logits)", path, strerror(errno));
        return -1;
    }
    /* little-endian float32 on every supported host */
    size_t wrote = fwrite(engine_prompt_logits_borrow(e), sizeof(float), n, f);
    if (fclose(f) != 0 || wrote != n) {
        log_error("%s: write failed (--dump-logits)", path);
        return -1;
    }
    return 0;
}

/* The conversation for a front end; autosave where the options ask for it. */
static session *
main_session_new(const options *opt, engine *e, int chat, int autosave)
{
    session_options so = {
        .max_tokens = opt->max_tokens,
        .system = opt->system,
        .autosave = autosave && !opt->no_autosave,
        .ask_before_dropping = chat,
        .keep_staged = chat,
        .cancel = &main_cancel,
    };
    return session_new(e, &so);
}

/*
 * Where replies go: standard output through the sanitizer (a reply is outside data, escaped on its
 * way out), or standard output itself when --raw asks for the bytes.
 */
static FILE *
main_reply_stream(const options *opt)
{
    if (opt->raw)
        return stdout;
    FILE *out = safetext_fopen(stdout, SAFETEXT_KEEP_NEWLINE | SAFETEXT_KEEP_TAB);
    if (out == NULL)
        fatal("cannot set up the output stream: %s", strerror(errno));
    return out;
}

static int
main_oneshot(const options *opt)
{
    engine *e = main_engine_new(opt, NULL);
    if (e == NULL)
        return 1;
    /* a one-shot question is saved only when it continues a saved conversation */
    session *s = main_session_new(opt, e, 0, opt->resume);
    char *prompt = strcmp(opt->prompt, "-") == 0 ? main_read_stdin() : xstrdup(opt->prompt);
    FILE *out = main_reply_stream(opt);
    linefront_options lo = {.out = out, .print_ids = opt->print_ids, .stats = opt->stats,
                            .cancel = &main_cancel};
    int rc = opt->resume ? linefront_resume(s, opt->resume_name, &lo) : 0;
    if (rc == 0)
        rc = linefront_oneshot(s, prompt, opt->images, opt->nimages, &lo);
    if (rc == 0 && opt->dump_logits != NULL && main_write_logits(e, opt->dump_logits) != 0)
        rc = 1;
    free(prompt);
    session_free(s);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = 1;
    engine_free(e);
    return rc;
}

/* Run lines from in as typed in a chat; errors are reported and the session goes on. */
static int
main_lines(const options *opt, FILE *in, const char *name, const char *prompt)
{
    engine *e = main_engine_new(opt, NULL);
    if (e == NULL)
        return 1;
    session *s = main_session_new(opt, e, 0, 1);
    /* replies and what commands show are outside data, as with -p */
    FILE *out = main_reply_stream(opt);
    linefront_options lo = {.out = out, .print_ids = opt->print_ids, .stats = opt->stats,
                            .cancel = &main_cancel, .prompt = prompt};
    int rc = opt->resume ? linefront_resume(s, opt->resume_name, &lo) : 0;
    if (rc == 0)
        rc = linefront_script(s, in, name, &lo);
    session_free(s);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = 1;
    engine_free(e);
    return rc;
}

/*
 * The files a run will read besides the model: there, and regular files, before the model is
 * looked for or loaded (a typo in -i should not cost a model load, or a download question).
 */
static int
main_check_inputs(const options *opt)
{
    char *cause = NULL;
    for (int i = 0; i < opt->nimages; i++)
        if (regfile_check(opt->images[i], "the image given with -i", &cause) != 0)
            break;
    if (cause == NULL && opt->script != NULL && strcmp(opt->script, "-") != 0)
        regfile_check(opt->script, "the script given with --script", &cause);
    if (cause == NULL)
        return 0;
    log_error("%s", cause);
    free(cause);
    return 1;
}

/* ---------------------------------------------------------------- finding the model */

/* imp-chat --download [ID[@REV]]. */
static int
main_download(const options *opt)
{
    char *cause = NULL;
    if (modelsetup_download(opt->download_id, &main_cancel, &cause) == 0)
        return 0;
    log_error("%s", cause);
    free(cause);
    return main_cancel ? MODELSETUP_EXIT_INTERRUPTED : 1;
}

/*
 * Set opt->model_dir for the modes that load the model: the demo model, or -m, or the lookup
 * (which may download). config_model is the config file's model setting (NULL when unset).
 * Returns 0 (*owned: the string to free), or the exit status after printing why.
 */
static int
main_find_model(options *opt, const char *config_model, char **owned)
{
    char *cause = NULL;
    modelstore_source source = MODELSTORE_DEMO;
    char *dir;
    if (opt->demo) {
        dir = modelstore_demo_dir(&cause);
    } else {
        modelsetup_options mo = {
            .model = opt->model_dir, .config_model = config_model, .yes = opt->yes,
            .cancel = &main_cancel,
        };
        dir = modelsetup_model_dir(&mo, &source, &cause);
    }
    if (dir == NULL) {
        log_error("%s", cause);
        free(cause);
        return main_cancel ? MODELSETUP_EXIT_INTERRUPTED : 1;
    }
    if (opt->demo)
        log_error("demo mode: a tiny model with random weights, so its replies are noise; it only "
                  "shows how imp-chat works (run imp-chat without --demo for the real model)");
    else if (source != MODELSTORE_OPTION && isatty(STDERR_FILENO))
        log_info("using the model in %s (%s)", dir, modelstore_source_name(source));
    opt->model_dir = dir;
    *owned = dir;
    return 0;
}

/* The full-screen chat. */
static int
main_chat(const options *opt)
{
    char *note = NULL;
    if (opt->model_dir != NULL)
        log_error("loading %s ...", opt->model_dir);
    engine *e = main_engine_new(opt, &note);
    if (e == NULL)
        return 1;
    session *s = main_session_new(opt, e, 1, 1);
    int rc = ui_run(opt, s, note);
    free(note);
    session_free(s);
    engine_free(e);
    return rc;
}

/* The version, and the CUDA architectures compiled in (a card outside them runs on the CPU). */
static void
main_print_version(void)
{
    printf("imp-chat %s\n", PACKAGE_VERSION);
#ifdef HAVE_CUDA
    char *archs = gpumsg_archs_text(IMP_CUDA_SASS, IMP_CUDA_PTX);
    printf("CUDA: %s\n", archs);
    free(archs);
#else
    printf("CUDA: not built\n");
#endif
}

int
main(int argc, char **argv)
{
    options opt;
    char *model_dir = NULL;
    int rc;
    /* wide characters for the chat, but numbers are always written with a '.' */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    if (options_parse(&opt, argc, argv) != 0) {
        options_free(&opt);
        return 2;
    }
    /* the chat shows config problems in its transcript; every other mode says them here */
    int chat = opt.prompt == NULL && opt.script == NULL && opt.tokenize == NULL &&
               opt.preprocess == NULL && !opt.download && !opt.list_models && !opt.help &&
               !opt.version && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    /* TERM=dumb, unset or unknown here: the chat in lines, with a word on how to get the screen */
    char *term_hint = NULL;
    int line_mode = chat && !termdetect_screen_usable(getenv("TERM"), &term_hint);
    if (line_mode) {
        chat = 0;
        log_error("%s", term_hint);
        free(term_hint);
    }
    if (!chat)
        for (int i = 0; i < opt.nnotices; i++)
            log_error("%s", opt.notices[i]);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, main_on_sigint);
    if (opt.help) {
        options_usage(stdout);
        rc = 0;
    } else if (opt.version) {
        main_print_version();
        rc = 0;
    } else if (opt.preprocess != NULL) {
        rc = main_preprocess(&opt);
    } else if (opt.download) {
        rc = main_download(&opt);
    } else if (opt.list_models) {
        modelsetup_list(stdout, opt.model_dir, opt.config_model);
        rc = 0;
    } else if ((rc = main_check_inputs(&opt)) != 0) {
        /* reported: a missing or unreadable -i image or --script file */
    } else if ((rc = main_find_model(&opt, opt.config_model, &model_dir)) != 0) {
        /* reported: no model, not downloaded, or interrupted */
    } else if (opt.tokenize != NULL) {
        rc = main_tokenize(&opt);
    } else if (opt.prompt != NULL) {
        rc = main_oneshot(&opt);
    } else if (opt.script != NULL) {
        FILE *in = strcmp(opt.script, "-") == 0 ? stdin : fopen(opt.script, "r");
        if (in == NULL) {
            log_error("%s: %s (--script)", opt.script, strerror(errno));
            rc = 1;
        } else {
            rc = main_lines(&opt, in, opt.script, NULL);
            if (in != stdin)
                fclose(in);
        }
    } else if (chat) {
        rc = main_chat(&opt);
    } else if (line_mode) {
        /* a terminal the chat cannot draw on: a prompt, the terminal's own echo, streamed replies */
        log_error("line mode: type a message, /help for the commands, /quit or Ctrl-D to leave");
        rc = main_lines(&opt, stdin, "stdin", "> ");
    } else {
        /* no terminal to draw on: lines in, replies out, as in --script */
        rc = main_lines(&opt, stdin, "stdin", NULL);
    }
    free(model_dir);
    options_free(&opt);
    return rc;
}
