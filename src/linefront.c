#include "config.h"

#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdtable.h"
#include "linefront.h"
#include "log.h"
#include "textview.h"
#include "theme.h"
#include "xmalloc.h"

/* Progress of a rebuild is shown on a terminal once it has taken this long, or at once for this
 * many positions or more. */
#define LINEFRONT_PROGRESS_MS 300
#define LINEFRONT_PROGRESS_POSITIONS 512

typedef struct {
    session *s;
    const linefront_options *o;
    int quit;
    double progress_start; /* ms; 0: no rebuild under way */
    int progress_shown;
} linefront;

static double
linefront_now_ms(void)
{
    return g_get_monotonic_time() / 1e3;
}

static void
linefront_reply_text(void *ctx, const char *text, size_t len)
{
    linefront *f = ctx;
    if (f->o->print_ids)
        return;
    fwrite(text, 1, len, f->o->out);
    fflush(f->o->out);
}

static const char *
linefront_stop_name(engine_stop stop)
{
    switch (stop) {
    case ENGINE_STOP_EOS:
        return "end of reply";
    case ENGINE_STOP_LENGTH:
        return "length limit";
    case ENGINE_STOP_CANCEL:
        return "stopped";
    case ENGINE_STOP_CONTEXT:
        return "context full";
    case ENGINE_STOP_DEVICE:
        return "the GPU failed";
    }
    return "?";
}

static void
linefront_reply_end(void *ctx, const engine_stats *s, const int32_t *ids, size_t nids)
{
    linefront *f = ctx;
    if (f->o->print_ids)
        for (size_t i = 0; i < nids; i++)
            fprintf(f->o->out, "%s%d", i ? " " : "", ids[i]);
    fputc('\n', f->o->out);
    fflush(f->o->out);
    if (f->o->stats) {
        engine *e = session_engine(f->s);
        log_error("turn: reused %d positions, new %d positions, %d image(s) encoded in %.1f ms, "
                  "prefill %.1f ms, first token %.1f ms, %d tokens at %.2f tokens/s (%s), %d of "
                  "%d positions used",
                  s->reused, s->new_positions, s->images_encoded, s->encode_ms, s->prefill_ms,
                  s->first_token_ms, s->generated, engine_stats_tokens_per_s(s),
                  linefront_stop_name(s->stop), engine_positions_used(e), engine_context(e));
    }
}

/* Every line this front end writes but the reply's text and the numbers comes through here. */
static void
linefront_message(void *ctx, sink_level level, const char *text)
{
    linefront *f = ctx;
    if (level == SINK_OUTPUT) {
        fprintf(f->o->out, "%s\n", text);
        fflush(f->o->out);
    } else {
        log_error("%s", text);
    }
}

static void
linefront_say(linefront *f, sink_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
linefront_say(linefront *f, sink_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    linefront_message(f, level, text);
    free(text);
}

static int
linefront_progress(void *ctx, int done, int total)
{
    linefront *f = ctx;
    double now = linefront_now_ms();
    if (f->progress_start == 0)
        f->progress_start = now;
    /* on a terminal only, and only when it takes more than a moment */
    if (isatty(STDERR_FILENO) && done < total &&
        (now - f->progress_start > LINEFRONT_PROGRESS_MS || total >= LINEFRONT_PROGRESS_POSITIONS)) {
        fprintf(stderr, "\rimp-chat: putting the conversation back in the cache: %d of %d "
                        "positions",
                done, total);
        f->progress_shown = 1;
    }
    int stop = f->o->cancel != NULL && *f->o->cancel;
    if (done >= total || stop) {
        if (f->progress_shown)
            fputc('\n', stderr);
        f->progress_start = 0;
        f->progress_shown = 0;
    }
    return stop;
}

static int
linefront_front(void *ctx, sink_request req, const char *arg, int number, char **cause)
{
    linefront *f = ctx;
    switch (req) {
    case SINK_HELP: {
        char *help = cmdtable_help_new();
        linefront_message(f, SINK_OUTPUT, help);
        free(help);
        break;
    }
    case SINK_THEME: {
        /* no colors here: the theme is checked, so a script can test a theme file */
        char *notices = NULL;
        if (*arg == '\0') {
            char *list = theme_list_new();
            linefront_say(f, SINK_OUTPUT, "themes: %s", list);
            free(list);
            break;
        }
        theme *t = theme_load_new(arg, &notices, cause);
        if (t == NULL)
            return -1;
        if (notices != NULL)
            linefront_message(f, SINK_WARNING, notices);
        linefront_say(f, SINK_NOTICE, "theme %s loads (themes apply in the chat)", theme_name(t));
        free(notices);
        theme_free(t);
        break;
    }
    case SINK_COPY: {
        /* no clipboard here: the text goes to standard output */
        char *text = number ? textview_last_code_new(arg, strlen(arg)) : xstrdup(arg);
        if (text == NULL)
            return log_cause(cause, "/copy code: the last reply has no code block");
        linefront_message(f, SINK_OUTPUT, text);
        free(text);
        break;
    }
    case SINK_SHOW:
        linefront_say(f, SINK_OUTPUT, "image %d: %s", number, arg);
        break;
    case SINK_EDIT:
        return log_cause(cause, "usage: /edit TEXT (in a script the new message follows /edit)");
    case SINK_QUIT:
        f->quit = 1;
        break;
    }
    return 0;
}

static sink
linefront_sink(linefront *f)
{
    sink out = {
        .ctx = f,
        .reply_text = linefront_reply_text,
        .reply_end = linefront_reply_end,
        .message = linefront_message,
        .progress = linefront_progress,
        .front = linefront_front,
    };
    return out;
}

int
linefront_script(session *s, FILE *in, const char *name, const linefront_options *o)
{
    linefront f = {.s = s, .o = o};
    sink out = linefront_sink(&f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int failed = 0;
    for (;;) {
        if (f.quit)
            break;
        if (o->prompt != NULL) {
            fputs(o->prompt, o->out);
            fflush(o->out);
        }
        if ((len = getline(&line, &cap, in)) < 0) {
            if (o->prompt != NULL)
                fputc('\n', o->out); /* Ctrl-D leaves the prompt's line */
            break;
        }
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *cause = NULL;
        if (o->cancel != NULL)
            *o->cancel = 0; /* a Ctrl-C stops the line it came in, not the ones after */
        if (cmdtable_run_line(s, &out, line, 1, &cause) != 0) {
            linefront_say(&f, SINK_ERROR, "%s:%ld: %s", name, lineno, cause);
            free(cause);
            failed = 1;
        }
    }
    free(line);
    return failed ? 1 : 0;
}

int
linefront_oneshot(session *s, const char *prompt, const char *const *images, int nimages,
                  const linefront_options *o)
{
    linefront f = {.s = s, .o = o};
    sink out = linefront_sink(&f);
    char *cause = NULL;
    int rc = 0;
    for (int i = 0; i < nimages && rc == 0; i++)
        rc = session_stage(s, images[i], &out, &cause);
    if (rc == 0)
        rc = session_send(s, prompt, 1, &out, &cause);
    if (rc != 0) {
        linefront_message(&f, SINK_ERROR, cause);
        free(cause);
        return 1;
    }
    return 0;
}

int
linefront_resume(session *s, const char *name, const linefront_options *o)
{
    linefront f = {.s = s, .o = o};
    sink out = linefront_sink(&f);
    char *cause = NULL;
    int rc = name != NULL ? session_load(s, name, &out, &cause)
                          : session_resume_last(s, &out, &cause);
    if (rc != 0) {
        linefront_say(&f, SINK_ERROR, "%s (--resume)", cause);
        free(cause);
        return 1;
    }
    return 0;
}
