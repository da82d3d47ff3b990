#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "commands.h"
#include "gallery.h"
#include "input.h"
#include "keys.h"
#include "log.h"
#include "pathcomplete.h"
#include "sanitize.h"
#include "screen.h"
#include "termdetect.h"
#include "textview.h"
#include "theme.h"
#include "transcript.h"
#include "ui.h"
#include "worker.h"
#include "xmalloc.h"

/* Streaming text is drawn at most this often (about 30 frames a second). */
#define UI_FRAME_MS 33
/* The input grows with its text up to this many rows, then scrolls. */
#define UI_INPUT_MAX_ROWS 8
/* Rows of the tray when images are staged, and the preview's columns. */
#define UI_TRAY_ROWS 3
#define UI_TRAY_PREVIEW_COLS 6
/* Largest rendition of an image in the transcript. */
#define UI_IMAGE_MAX_COLS 64
#define UI_IMAGE_MAX_ROWS 16

/* A turn as the engine holds it: its transcript entries, so drops can be shown where they happen. */
typedef struct {
    int user_entry, reply_entry;
    int *image_entries; /* transcript entries of the turn's images */
    int *images;        /* their gallery numbers */
    int nimages;
    int images_dropped; /* the oldest images of the turn go first */
    int dropped;
} ui_turn;

typedef enum {
    UI_OVERLAY_NONE,
    UI_OVERLAY_HELP,
    UI_OVERLAY_IMAGE,
} ui_overlay;

typedef struct {
    const options *opt;
    engine *eng; /* borrowed by this thread only while the worker is idle */
    worker *work;
    theme *th;
    gallery *gal;
    transcript *tr;
    input *in;

    int *staged; /* gallery numbers for the next message */
    int nstaged;
    ui_turn *turns;
    int nturns;

    int busy;            /* a turn is running */
    int reply_entry;     /* the reply being streamed, -1 */
    int reply_started;   /* leading blanks of a reply are dropped */
    int send_first_entry; /* where the running send's entries begin (undone on error) */
    char *send_text;     /* the running send's text (back into the editor on error) */
    int send_had_plan;
    engine_room_plan send_plan;

    char *status;        /* a message for the status line, until the next key */
    int status_error;
    int status_until_done; /* the message lasts only until the turn ends ("stopping...") */
    engine_stats last;
    int have_last;
    int used, ctx;
    sampler_params sampling;
    int max_tokens;

    int confirming;      /* Enter again sends and drops what confirm_plan says */
    engine_room_plan confirm_plan;

    ui_overlay overlay;
    int overlay_image;
    int help_scroll;
    int pasting;
    int quit;
    int dirty;
    double last_draw;
    int *image_tops; /* sixel: screen rows of the images at the last frame */
    int nimage_tops;
} ui;

static int ui_signal_pipe[2] = {-1, -1};

static double
ui_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
ui_on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t unused = write(ui_signal_pipe[1], &b, 1);
    (void)unused;
    errno = saved;
}

static void
ui_status(ui *u, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
ui_status(ui *u, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    free(u->status);
    u->status = text;
    u->status_error = error;
    u->status_until_done = 0;
    u->dirty = 1;
}

static void
ui_notice(ui *u, transcript_kind kind, const char *text)
{
    transcript_add(u->tr, kind, text, -1);
    transcript_scroll_to(u->tr, 0);
    u->dirty = 1;
}

/* ------------------------------------------------------------------ images in the transcript */

/* The box an image of the transcript is drawn in, for a transcript width. */
static int
ui_image_cols(int width)
{
    int cols = width - 2 < UI_IMAGE_MAX_COLS ? width - 2 : UI_IMAGE_MAX_COLS;
    return cols > 1 ? cols : 1;
}

static void
ui_draw_image_entry(void *ctx, int image, int width, cell_lines *out)
{
    ui *u = ctx;
    gallery_render(u->gal, image, ui_image_cols(width), UI_IMAGE_MAX_ROWS, out);
}

/* ------------------------------------------------------------------ sending and events */

static void
ui_turns_free(ui *u)
{
    for (int i = 0; i < u->nturns; i++) {
        free(u->turns[i].image_entries);
        free(u->turns[i].images);
    }
    free(u->turns);
    u->turns = NULL;
    u->nturns = 0;
}

/* Mark in the transcript what the engine dropped to make room, oldest images first, then turns. */
static void
ui_apply_plan(ui *u, const engine_room_plan *plan)
{
    int images = plan->images, turns = plan->turns;
    /* the running turn (the last) is never part of a plan */
    for (int i = 0; i < u->nturns - 1 && images > 0; i++) {
        ui_turn *t = &u->turns[i];
        while (!t->dropped && t->images_dropped < t->nimages && images > 0) {
            transcript_mark(u->tr, t->image_entries[t->images_dropped++], 0, 1, 0);
            images--;
        }
    }
    for (int i = 0; i < u->nturns - 1 && turns > 0; i++) {
        ui_turn *t = &u->turns[i];
        if (t->dropped)
            continue;
        t->dropped = 1;
        for (int k = t->images_dropped; k < t->nimages; k++)
            transcript_mark(u->tr, t->image_entries[k], 0, 1, 0);
        transcript_mark(u->tr, t->user_entry, 0, 1, 0);
        if (t->reply_entry >= 0)
            transcript_mark(u->tr, t->reply_entry, 0, 1, 0);
        turns--;
    }
    char *what = commands_room_text_new(plan);
    char *text = xasprintf("The context was full: dropped %s, and the cache was rebuilt from the "
                           "rest (images are not encoded again).", what);
    ui_notice(u, TRANSCRIPT_NOTICE, text);
    free(text);
    free(what);
}

static void
ui_send(ui *u, int confirmed)
{
    if (u->busy) {
        ui_status(u, 1, "a reply is on its way: wait for it, or Ctrl-C to stop it");
        return;
    }
    char *text = input_text_new(u->in);
    if (*text == '\0' && u->nstaged == 0) {
        free(text);
        return;
    }
    engine_room_plan plan;
    char *cause = NULL;
    int fit = engine_plan_room(u->eng, text, u->nstaged, &plan, &cause);
    if (fit < 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        free(text);
        return;
    }
    if (fit > 0 && !confirmed) {
        char *what = commands_room_text_new(&plan);
        u->confirming = 1;
        u->confirm_plan = plan;
        ui_status(u, 1, "context full: sending drops %s (Enter sends, Esc goes back)", what);
        free(what);
        free(text);
        return;
    }
    free(text);
    u->confirming = 0;

    text = input_take_new(u->in);
    worker_job job = {.kind = WORKER_SEND, .max_tokens = u->max_tokens};
    ui_turn turn = {.reply_entry = -1};
    u->send_first_entry = transcript_count(u->tr);
    job.paths = xreallocarray(NULL, (size_t)u->nstaged + 1, sizeof *job.paths);
    turn.image_entries = xreallocarray(NULL, (size_t)u->nstaged + 1, sizeof *turn.image_entries);
    turn.images = xreallocarray(NULL, (size_t)u->nstaged + 1, sizeof *turn.images);
    for (int i = 0; i < u->nstaged; i++) {
        job.paths[job.npaths++] = xstrdup(gallery_path(u->gal, u->staged[i]));
        turn.images[turn.nimages] = u->staged[i];
        turn.image_entries[turn.nimages++] =
            transcript_add(u->tr, TRANSCRIPT_IMAGE, "", u->staged[i]);
    }
    turn.user_entry = transcript_add(u->tr, TRANSCRIPT_USER, text, -1);
    turn.reply_entry = transcript_add(u->tr, TRANSCRIPT_ASSISTANT, "", -1);
    transcript_mark(u->tr, turn.reply_entry, 0, 0, 1);
    u->turns = xreallocarray(u->turns, (size_t)u->nturns + 1, sizeof *u->turns);
    u->turns[u->nturns++] = turn;
    if (fit > 0) {
        job.plan = plan;
        job.has_plan = 1;
        u->send_plan = plan;
    }
    u->send_had_plan = fit > 0;
    job.text = xstrdup(text);
    free(u->send_text);
    u->send_text = text;
    u->nstaged = 0;
    u->reply_entry = turn.reply_entry;
    u->reply_started = 0;
    u->busy = 1;
    worker_post(u->work, &job);
    transcript_scroll_to(u->tr, 0);
    u->dirty = 1;
}

/* A send that could not run: the transcript, the tray and the editor go back to how they were. */
static void
ui_undo_send(ui *u)
{
    ui_turn *t = &u->turns[u->nturns - 1];
    u->staged = xreallocarray(u->staged, (size_t)t->nimages + 1, sizeof *u->staged);
    for (int i = 0; i < t->nimages; i++)
        u->staged[i] = t->images[i];
    u->nstaged = t->nimages;
    free(t->image_entries);
    free(t->images);
    u->nturns--;
    transcript_truncate(u->tr, u->send_first_entry);
    if (u->send_text != NULL && input_length(u->in) == 0)
        input_set_text(u->in, u->send_text);
}

static void
ui_on_event(ui *u, worker_event *ev)
{
    switch (ev->kind) {
    case WORKER_EV_TEXT: {
        if (u->reply_entry < 0)
            break;
        const char *p = ev->text;
        size_t len = ev->len;
        /* the reference strips a reply's leading blanks */
        while (!u->reply_started && len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        if (len > 0) {
            u->reply_started = 1;
            transcript_append(u->tr, u->reply_entry, p, len);
        }
        u->dirty = 1;
        break;
    }
    case WORKER_EV_ROOM:
        ui_apply_plan(u, &u->send_plan);
        break;
    case WORKER_EV_DONE:
        u->used = ev->positions_used;
        u->ctx = ev->context;
        if (ev->turn) {
            u->busy = 0;
            u->last = ev->stats;
            u->have_last = 1;
            if (u->reply_entry >= 0)
                transcript_mark(u->tr, u->reply_entry, ev->stats.stop == ENGINE_STOP_CANCEL, 0, 0);
            if (ev->stats.stop == ENGINE_STOP_CONTEXT)
                ui_notice(u, TRANSCRIPT_NOTICE,
                          "The context is full, so the reply was cut short. The next message "
                          "drops the oldest images and turns (you will be asked first); /clear "
                          "starts over.");
            u->reply_entry = -1;
            if (u->status_until_done) {
                free(u->status);
                u->status = NULL;
            }
        }
        u->dirty = 1;
        break;
    case WORKER_EV_ERROR:
        if (u->busy) {
            u->busy = 0;
            /* a failed send is undone; a failed /regen leaves its turn as it was */
            if (u->nturns > 0 && u->send_first_entry <= u->turns[u->nturns - 1].user_entry)
                ui_undo_send(u);
            u->reply_entry = -1;
        }
        ui_status(u, 1, "%s", ev->text);
        break;
    }
}

/* ------------------------------------------------------------------ commands */

static void
ui_cmd_image(ui *u, const char *args)
{
    char *path = NULL, *cause = NULL;
    if (*args == '\0') {
        ui_status(u, 1, "usage: /image PATH (Tab completes)");
        return;
    }
    if (pathcomplete_parse(args, &path, &cause) != 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    int n = gallery_add(u->gal, path, &cause);
    free(path);
    if (n < 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    u->staged = xreallocarray(u->staged, (size_t)u->nstaged + 1, sizeof *u->staged);
    u->staged[u->nstaged++] = n;
    int w, h;
    gallery_size(u->gal, n, &w, &h);
    char *name = gallery_name_new(u->gal, n);
    ui_status(u, 0, "staged %s (%dx%d): it goes with your next message", name, w, h);
    free(name);
}

static void
ui_cmd_images(ui *u)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < gallery_count(u->gal); i++) {
        int w, h;
        gallery_size(u->gal, i, &w, &h);
        char *name = gallery_name_new(u->gal, i);
        int staged = 0;
        for (int k = 0; k < u->nstaged; k++)
            staged |= u->staged[k] == i;
        g_string_append_printf(s, "%s%d: %s, %dx%d%s", s->len ? "\n" : "", i + 1, name, w, h,
                               staged ? " (staged)" : "");
        free(name);
    }
    if (s->len == 0)
        g_string_append(s, "No images yet: /image PATH attaches one.");
    else
        g_string_prepend(s, "Images of this conversation (/show N shows one):\n");
    ui_notice(u, TRANSCRIPT_NOTICE, s->str);
    g_string_free(s, TRUE);
}

static void
ui_cmd_show(ui *u, const char *args)
{
    char *end;
    long n = strtol(args, &end, 10);
    if (*args == '\0' || *end != '\0' || n < 1 || n > gallery_count(u->gal)) {
        ui_status(u, 1, "usage: /show N, with N from 1 to %d (see /images)", gallery_count(u->gal));
        return;
    }
    u->overlay = UI_OVERLAY_IMAGE;
    u->overlay_image = (int)n - 1;
    u->dirty = 1;
}

/* OSC 52 sets the clipboard of the terminal the user sits at, through SSH and tmux. */
static void
ui_copy(ui *u, const char *args)
{
    const char *reply = NULL;
    for (int i = transcript_count(u->tr) - 1; i >= 0 && reply == NULL; i--)
        if (transcript_kind_of(u->tr, i) == TRANSCRIPT_ASSISTANT)
            reply = transcript_text(u->tr, i);
    if (reply == NULL || *reply == '\0') {
        ui_status(u, 1, "/copy: no reply to copy yet");
        return;
    }
    char *text;
    if (strcmp(args, "code") == 0) {
        text = textview_last_code_new(reply, strlen(reply));
        if (text == NULL) {
            ui_status(u, 1, "/copy code: the last reply has no code block");
            return;
        }
    } else if (*args == '\0') {
        text = xstrdup(reply);
    } else {
        ui_status(u, 1, "usage: /copy [code]");
        return;
    }
    gchar *b64 = g_base64_encode((const guchar *)text, strlen(text));
    char *seq = xasprintf("\033]52;c;%s\a", b64);
    screen_write_raw(seq, strlen(seq));
    ui_status(u, 0, "copied %zu bytes to the clipboard (OSC 52; in tmux: set -s set-clipboard on)",
              strlen(text));
    free(seq);
    g_free(b64);
    free(text);
}

static void
ui_cmd_stats(ui *u)
{
    if (!u->have_last) {
        ui_status(u, 1, "/stats: no turn yet");
        return;
    }
    const engine_stats *s = &u->last;
    double tps = s->generated > 1 && s->decode_ms > 0 ? (s->generated - 1) * 1e3 / s->decode_ms : 0;
    char *text = xasprintf("Last turn: reused %d positions from the cache, ran %d new ones; %d "
                           "image(s) encoded in %.0f ms; prefill %.0f ms; first token after %.0f "
                           "ms; %d tokens at %.2f tokens/s. Context: %d of %d positions used. "
                           "Backend: %s.",
                           s->reused, s->new_positions, s->images_encoded, s->encode_ms,
                           s->prefill_ms, s->first_token_ms, s->generated, tps, u->used, u->ctx,
                           engine_backend_name(u->eng));
    ui_notice(u, TRANSCRIPT_NOTICE, text);
    free(text);
}

static void
ui_cmd_theme(ui *u, const char *args)
{
    char *notices = NULL, *cause = NULL;
    if (*args == '\0') {
        char *list = theme_list_new();
        ui_status(u, 0, "theme %s; themes: %s", theme_name(u->th), list);
        free(list);
        return;
    }
    theme *t = theme_load_new(args, &notices, &cause);
    if (t == NULL) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    theme_free(u->th);
    u->th = t;
    screen_set_theme(t);
    clearok(curscr, TRUE);
    if (notices != NULL) {
        ui_notice(u, TRANSCRIPT_ERROR, notices);
        free(notices);
    }
    ui_status(u, 0, "theme %s", theme_name(t));
}

/* Jobs that change the conversation wait for the reply in progress. */
static int
ui_idle_or_say(ui *u, const char *what)
{
    if (!u->busy)
        return 1;
    ui_status(u, 1, "%s: wait for the reply, or Ctrl-C to stop it", what);
    return 0;
}

static void
ui_forget_conversation(ui *u)
{
    transcript_clear(u->tr);
    ui_turns_free(u);
    u->have_last = 0;
    u->used = 0;
}

static void
ui_command(ui *u, const char *line)
{
    size_t nlen = strcspn(line, " \t");
    const char *args = line + nlen + strspn(line + nlen, " \t");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(nlen < 31 ? nlen : 31), line);
    if (strcmp(name, "/image") == 0) {
        ui_cmd_image(u, args);
    } else if (strcmp(name, "/images") == 0) {
        ui_cmd_images(u);
    } else if (strcmp(name, "/show") == 0) {
        ui_cmd_show(u, args);
    } else if (strcmp(name, "/clear") == 0) {
        if (!ui_idle_or_say(u, "/clear"))
            return;
        worker_job job = {.kind = WORKER_CLEAR};
        worker_post(u->work, &job);
        ui_forget_conversation(u);
        u->nstaged = 0;
        ui_status(u, 0, "the conversation starts over");
    } else if (strcmp(name, "/regen") == 0) {
        if (!ui_idle_or_say(u, "/regen"))
            return;
        if (u->nturns == 0 || u->turns[u->nturns - 1].reply_entry < 0 ||
            u->turns[u->nturns - 1].dropped) {
            ui_status(u, 1, "/regen: no reply to generate again");
            return;
        }
        ui_turn *t = &u->turns[u->nturns - 1];
        transcript_set_text(u->tr, t->reply_entry, "");
        transcript_mark(u->tr, t->reply_entry, 0, 0, 1);
        worker_job job = {.kind = WORKER_REGEN, .max_tokens = u->max_tokens};
        u->send_first_entry = transcript_count(u->tr); /* an error undoes nothing */
        u->reply_entry = t->reply_entry;
        u->reply_started = 0;
        u->busy = 1;
        worker_post(u->work, &job);
        transcript_scroll_to(u->tr, 0);
    } else if (strcmp(name, "/system") == 0) {
        if (!ui_idle_or_say(u, "/system"))
            return;
        if (*args == '\0') {
            ui_status(u, 1, "usage: /system TEXT");
            return;
        }
        worker_job job = {.kind = WORKER_SYSTEM, .text = xstrdup(args)};
        worker_post(u->work, &job);
        ui_forget_conversation(u);
        ui_notice(u, TRANSCRIPT_NOTICE, "New system prompt; the conversation starts over.");
    } else if (strcmp(name, "/set") == 0) {
        char *cause = NULL;
        sampler_params p = u->sampling;
        int max_tokens = u->max_tokens;
        if (commands_parse_set(args, &p, &max_tokens, &cause) != 0) {
            ui_status(u, 1, "%s", cause);
            free(cause);
            return;
        }
        u->sampling = p;
        u->max_tokens = max_tokens;
        worker_job job = {.kind = WORKER_SAMPLING, .sampling = p};
        worker_post(u->work, &job);
        ui_status(u, 0, "set %s", args);
    } else if (strcmp(name, "/theme") == 0) {
        ui_cmd_theme(u, args);
    } else if (strcmp(name, "/copy") == 0) {
        ui_copy(u, args);
    } else if (strcmp(name, "/stats") == 0) {
        ui_cmd_stats(u);
    } else if (strcmp(name, "/help") == 0) {
        u->overlay = UI_OVERLAY_HELP;
        u->help_scroll = 0;
    } else if (strcmp(name, "/quit") == 0) {
        u->quit = 1;
    } else {
        ui_status(u, 1, "unknown command %s (F1 or /help lists them)", name);
    }
    u->dirty = 1;
}

/* Enter: a /command runs here, anything else is a message. */
static void
ui_enter(ui *u)
{
    char *text = input_text_new(u->in);
    if (text[0] == '/' && text[1] != '/') {
        free(input_take_new(u->in));
        ui_command(u, text);
    } else {
        if (text[0] == '/') /* "//" sends a message that starts with "/" */
            input_set_text(u->in, text + 1);
        ui_send(u, u->confirming);
    }
    free(text);
}

/* ------------------------------------------------------------------ Tab completion */

static void
ui_complete(ui *u)
{
    char *text = input_text_new(u->in);
    if (strncmp(text, "/image ", 7) == 0) {
        pathcomplete_result res;
        char *cause = NULL;
        if (pathcomplete_complete(text + 7, &res, &cause) != 0) {
            ui_status(u, 1, "%s", cause);
            free(cause);
            free(text);
            return;
        }
        if (res.insert != NULL && *res.insert != '\0')
            input_insert_text(u->in, res.insert, strlen(res.insert));
        if (res.n > 1) {
            GString *s = g_string_new(NULL);
            for (int i = 0; i < res.n && i < 40; i++)
                g_string_append_printf(s, "%s%s", i ? "  " : "", res.names[i]);
            if (res.n > 40)
                g_string_append_printf(s, "  (%d more)", res.n - 40);
            ui_status(u, 0, "%s", s->str);
            g_string_free(s, TRUE);
        } else if (res.n == 0) {
            ui_status(u, 1, "no file matches");
        }
        pathcomplete_result_free(&res);
    } else if (text[0] == '/' && strchr(text, ' ') == NULL) {
        static const char *const names[] = {
#define COMMANDS_NAME(name, args, help) name,
            COMMANDS(COMMANDS_NAME)
#undef COMMANDS_NAME
        };
        size_t typed = strlen(text), common = 0;
        const char *first = NULL;
        int count = 0;
        GString *list = g_string_new(NULL);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strncmp(names[i], text, typed) != 0)
                continue;
            if (first == NULL) {
                first = names[i];
                common = strlen(first);
            }
            while (common > 0 && strncmp(first, names[i], common) != 0)
                common--;
            g_string_append_printf(list, "%s%s", count++ ? "  " : "", names[i]);
        }
        if (count == 1) {
            char *full = xasprintf("%s ", first);
            input_set_text(u->in, full);
            free(full);
        } else if (count > 1) {
            if (common > typed) {
                char *prefix = xstrndup(first, common);
                input_set_text(u->in, prefix);
                free(prefix);
            }
            ui_status(u, 0, "%s", list->str);
        }
        g_string_free(list, TRUE);
    }
    free(text);
}

/* ------------------------------------------------------------------ keys */

static void
ui_action(ui *u, action a)
{
    int page = LINES > 8 ? LINES - 6 : 1;
    int empty = input_length(u->in) == 0;
    switch (a) {
    case ACTION_SEND:
        ui_enter(u);
        break;
    case ACTION_NEWLINE:
        input_insert_newline(u->in);
        break;
    case ACTION_CANCEL:
        if (u->busy) {
            worker_cancel(u->work);
            ui_status(u, 0, "stopping...");
            u->status_until_done = 1;
        } else if (u->confirming) {
            u->confirming = 0;
            ui_status(u, 0, "not sent");
        } else if (!empty) {
            /* as in a shell: the line is dropped (Up brings back only sent messages) */
            input_set_text(u->in, "");
        } else {
            ui_status(u, 0, "Ctrl-D on an empty line or /quit leaves imp-chat");
        }
        break;
    case ACTION_QUIT:
        if (empty)
            u->quit = 1;
        else
            input_delete_forward(u->in);
        break;
    case ACTION_HELP:
        u->overlay = UI_OVERLAY_HELP;
        u->help_scroll = 0;
        break;
    case ACTION_SCROLL_UP:
        transcript_scroll(u->tr, -page);
        break;
    case ACTION_SCROLL_DOWN:
        transcript_scroll(u->tr, page);
        break;
    case ACTION_SCROLL_LINE_UP:
        transcript_scroll(u->tr, -1);
        break;
    case ACTION_SCROLL_LINE_DOWN:
        transcript_scroll(u->tr, 1);
        break;
    case ACTION_SCROLL_TOP:
        transcript_scroll_to(u->tr, 1);
        break;
    case ACTION_SCROLL_BOTTOM:
        transcript_scroll_to(u->tr, 0);
        break;
    case ACTION_LEFT:
        input_move_left(u->in);
        break;
    case ACTION_RIGHT:
        input_move_right(u->in);
        break;
    case ACTION_WORD_LEFT:
        input_move_word_left(u->in);
        break;
    case ACTION_WORD_RIGHT:
        input_move_word_right(u->in);
        break;
    case ACTION_LINE_START:
        if (empty)
            transcript_scroll_to(u->tr, 1);
        else
            input_move_line_start(u->in);
        break;
    case ACTION_LINE_END:
        if (empty)
            transcript_scroll_to(u->tr, 0);
        else
            input_move_line_end(u->in);
        break;
    case ACTION_DELETE_BACK:
        input_delete_backward(u->in);
        break;
    case ACTION_DELETE:
        input_delete_forward(u->in);
        break;
    case ACTION_KILL_END:
        input_kill_line_end(u->in);
        break;
    case ACTION_KILL_START:
        input_kill_line_start(u->in);
        break;
    case ACTION_KILL_WORD:
        input_kill_word_backward(u->in);
        break;
    case ACTION_YANK:
        input_yank(u->in);
        break;
    case ACTION_UP:
        input_up(u->in);
        break;
    case ACTION_DOWN:
        input_down(u->in);
        break;
    case ACTION_COMPLETE:
        ui_complete(u);
        break;
    case ACTION_REDRAW:
        clearok(curscr, TRUE);
        break;
    case ACTION_SUSPEND:
        screen_suspend();
        break;
    case ACTION_NONE:
    case ACTION_COUNT:
        break;
    }
    u->dirty = 1;
}

static void
ui_key(ui *u, int key)
{
    if (u->pasting) {
        /* a paste is text, whatever keys it looks like */
        if (key == KEYS_PASTE_END)
            u->pasting = 0;
        else if (!(key & KEYS_CODE))
            input_insert_char(u->in, (wchar_t)(key & ~KEYS_META));
        u->dirty = 1;
        return;
    }
    if (key == KEYS_PASTE_BEGIN) {
        u->pasting = 1;
        return;
    }
    if (key == (KEYS_CODE | KEY_RESIZE)) {
        u->dirty = 1;
        return;
    }
    if (u->overlay != UI_OVERLAY_NONE) {
        if (u->overlay == UI_OVERLAY_HELP && (key == (KEYS_CODE | KEY_NPAGE) || key == (KEYS_CODE | KEY_DOWN)))
            u->help_scroll += key == (KEYS_CODE | KEY_DOWN) ? 1 : LINES - 2;
        else if (u->overlay == UI_OVERLAY_HELP && (key == (KEYS_CODE | KEY_PPAGE) || key == (KEYS_CODE | KEY_UP)))
            u->help_scroll -= key == (KEYS_CODE | KEY_UP) ? 1 : LINES - 2;
        else
            u->overlay = UI_OVERLAY_NONE;
        if (u->help_scroll < 0)
            u->help_scroll = 0;
        clearok(curscr, TRUE);
        u->dirty = 1;
        return;
    }
    if (key == (KEYS_CODE | KEY_MOUSE)) {
        MEVENT me;
        if (getmouse(&me) == OK) {
            if (me.bstate & BUTTON4_PRESSED)
                transcript_scroll(u->tr, -3);
            else if (me.bstate & BUTTON5_PRESSED)
                transcript_scroll(u->tr, 3);
        }
        u->dirty = 1;
        return;
    }
    /* a status message lasts until the next key; a pending question is answered by Enter */
    action a = actions_lookup(key);
    if (u->confirming && a != ACTION_SEND) {
        u->confirming = 0;
        free(u->status);
        u->status = NULL;
        if (key == 27)
            return;
    } else if (u->status != NULL && !u->busy && a != ACTION_COMPLETE) {
        free(u->status);
        u->status = NULL;
    }
    if (a != ACTION_NONE) {
        ui_action(u, a);
        return;
    }
    if (!(key & (KEYS_CODE | KEYS_META)) && key >= 32 && key != 127)
        input_insert_char(u->in, (wchar_t)key);
    u->dirty = 1;
}

/*
 * Drop the rest of an escape sequence ncurses did not know: a terminal's late answer to the
 * start-up queries (device attributes, kitty's graphics reply) must not turn into typed text.
 * CSI ends at a final byte; DCS, OSC and APC at ST or BEL.
 */
static void
ui_skip_sequence(wint_t intro)
{
    wint_t c;
    int prev = 0;
    while (get_wch(&c) == OK) {
        if (intro == '[' && c >= 0x40 && c <= 0x7e)
            return;
        if (intro != '[' && (c == 7 || (prev == 27 && c == '\\')))
            return;
        prev = (int)c;
    }
}

/* Read every key waiting; an Esc followed at once by a key is Alt with that key. */
static void
ui_read_keys(ui *u)
{
    wint_t wc;
    int r;
    while ((r = get_wch(&wc)) != ERR) {
        int key = r == KEY_CODE_YES ? (int)(KEYS_CODE | wc) : (int)wc;
        if (key == 27 && !u->pasting) {
            wint_t next;
            int r2 = get_wch(&next);
            if (r2 == OK && (next == '[' || next == 'P' || next == ']' || next == '_')) {
                ui_skip_sequence(next);
                continue;
            }
            if (r2 != ERR)
                key = KEYS_META | (r2 == KEY_CODE_YES ? (int)(KEYS_CODE | next) : (int)next);
        }
        ui_key(u, key);
        if (u->quit)
            return;
    }
}

/* ------------------------------------------------------------------ drawing */

static void
ui_draw_status(ui *u, int y)
{
    int used = u->used, ctx = u->ctx;
    int images = 0;
    for (int t = 0; t < u->nturns; t++)
        if (!u->turns[t].dropped)
            images += u->turns[t].nimages - u->turns[t].images_dropped;
    char right[256];
    int off = snprintf(right, sizeof right, " ctx %d/%d", used, ctx);
    if (images > 0)
        off += snprintf(right + off, sizeof right - off, " (%d image%s)", images,
                        images == 1 ? "" : "s");
    if (u->nstaged > 0)
        off += snprintf(right + off, sizeof right - off, " +%d staged", u->nstaged * 729);
    if (u->have_last) {
        const engine_stats *s = &u->last;
        double tps = s->generated > 1 && s->decode_ms > 0 ? (s->generated - 1) * 1e3 / s->decode_ms : 0;
        off += snprintf(right + off, sizeof right - off, " | reused %d new %d", s->reused,
                        s->new_positions);
        if (s->images_encoded > 0)
            off += snprintf(right + off, sizeof right - off, " enc %.1fs", s->encode_ms / 1e3);
        snprintf(right + off, sizeof right - off, " first %.2fs %.1f tok/s ", s->first_token_ms / 1e3,
                 tps);
    } else {
        snprintf(right + off, sizeof right - off, " | %s ", engine_backend_name(u->eng));
    }
    int warn = ctx > 0 && used * 10 > ctx * 9;
    role r = warn ? ROLE_STATUS_WARN : ROLE_STATUS;
    const char *left = u->status != NULL ? u->status : u->busy ? "replying... (Ctrl-C stops)"
                                                                 : "F1 help";
    /* a message wins over the numbers: they give up their columns first */
    int lw = sanitize_width(left, strlen(left), 0);
    int rw = sanitize_width(right, strlen(right), 0);
    if (rw > COLS - lw - 2)
        rw = COLS - lw - 2 > 0 ? COLS - lw - 2 : 0;
    screen_fill(y, 0, COLS, r);
    screen_draw_text(y, 1, left, COLS - rw - 1, u->status_error && u->status ? ROLE_ERROR : r, 0);
    if (rw > 0)
        screen_draw_text(y, COLS - rw, right, rw, r, 0);
}

static void
ui_draw_tray(ui *u, int y)
{
    int x = 0;
    for (int i = 0; i < UI_TRAY_ROWS; i++)
        screen_fill(y + i, 0, COLS, ROLE_TRAY);
    for (int k = 0; k < u->nstaged && x < COLS; k++) {
        cell_lines preview;
        cell_lines_init(&preview);
        gallery_render_bare(u->gal, u->staged[k], UI_TRAY_PREVIEW_COLS, UI_TRAY_ROWS, &preview);
        int pw = UI_TRAY_PREVIEW_COLS < COLS - x ? UI_TRAY_PREVIEW_COLS : COLS - x;
        for (int r = 0; r < UI_TRAY_ROWS && r < preview.n; r++)
            screen_draw_line(y + r, x, &preview.lines[r], pw, ROLE_TRAY);
        cell_lines_free(&preview);
        x += pw + 1;
        int w, h;
        gallery_size(u->gal, u->staged[k], &w, &h);
        char *name = gallery_name_new(u->gal, u->staged[k]);
        char size[64], cost[64];
        snprintf(size, sizeof size, "%dx%d px", w, h);
        snprintf(cost, sizeof cost, "729 positions");
        int tw = 24 < COLS - x ? 24 : COLS - x;
        if (tw > 0) {
            screen_draw_text(y, x, name, tw, ROLE_TRAY, CELL_BOLD);
            screen_draw_text(y + 1, x, size, tw, ROLE_TRAY, 0);
            screen_draw_text(y + 2, x, cost, tw, ROLE_TRAY, 0);
        }
        free(name);
        x += tw + 2;
    }
}

static void
ui_draw_help(ui *u)
{
    cell_lines lines;
    cell_lines_init(&lines);
    textview_style title = {.width = COLS, .role = ROLE_NORMAL, .attr = CELL_BOLD};
    static const char heading[] =
        "imp-chat: commands and keys (Up, Down, PageUp, PageDown scroll; any other key closes)";
    textview_render(&lines, heading, sizeof heading - 1, &title);
    cell_lines_add(&lines);
#define HELP_COMMAND(name, args, help)                                                             \
    {                                                                                              \
        cell_line *l = cell_lines_add(&lines);                                                     \
        char lhs[64];                                                                              \
        snprintf(lhs, sizeof lhs, "  %s %s", name, args);                                          \
        int w = sanitize_line_append(l, lhs, ROLE_HELP_KEY, 0);                                    \
        for (; w < 26; w++)                                                                        \
            sanitize_line_append(l, " ", ROLE_NORMAL, 0);                                          \
        sanitize_line_append(l, help, ROLE_NORMAL, 0);                                             \
    }
    COMMANDS(HELP_COMMAND)
#undef HELP_COMMAND
    cell_lines_add(&lines);
    for (int a = 0; a < ACTION_COUNT; a++) {
        char keys[128];
        actions_keys((action)a, keys, sizeof keys);
        cell_line *l = cell_lines_add(&lines);
        char lhs[160];
        snprintf(lhs, sizeof lhs, "  %s", keys[0] ? keys : "(unbound)");
        int w = sanitize_line_append(l, lhs, ROLE_HELP_KEY, 0);
        for (; w < 26; w++)
            sanitize_line_append(l, " ", ROLE_NORMAL, 0);
        char rhs[200];
        snprintf(rhs, sizeof rhs, "%s (%s)", actions_help((action)a), actions_name((action)a));
        sanitize_line_append(l, rhs, ROLE_NORMAL, 0);
    }
    if (u->help_scroll > lines.n - LINES)
        u->help_scroll = lines.n - LINES > 0 ? lines.n - LINES : 0;
    for (int y = 0; y < LINES; y++) {
        int i = y + u->help_scroll;
        screen_draw_line(y, 0, i < lines.n ? &lines.lines[i] : NULL, COLS, ROLE_NORMAL);
    }
    cell_lines_free(&lines);
}

static void
ui_draw_image_overlay(ui *u)
{
    cell_lines lines;
    cell_lines_init(&lines);
    gallery_render(u->gal, u->overlay_image, COLS, LINES - 2, &lines);
    for (int y = 0; y < LINES - 1; y++)
        screen_draw_line(y, 0, y < lines.n ? &lines.lines[y] : NULL, COLS, ROLE_NORMAL);
    screen_fill(LINES - 1, 0, COLS, ROLE_STATUS);
    screen_draw_text(LINES - 1, 1, "any key goes back to the chat", COLS - 1, ROLE_STATUS, 0);
    cell_lines_free(&lines);
}

static void
ui_draw(ui *u)
{
    screen_begin_frame();
    if (LINES < 6 || COLS < 20) {
        erase();
        screen_draw_text(0, 0, "terminal too small", COLS, ROLE_ERROR, 0);
        refresh();
        return;
    }
    u->last_draw = ui_now_ms();
    u->dirty = 0;
    if (u->overlay != UI_OVERLAY_NONE) {
        curs_set(0);
        if (u->overlay == UI_OVERLAY_HELP)
            ui_draw_help(u);
        else
            ui_draw_image_overlay(u);
        refresh();
        return;
    }
    /* bottom up: status, input, tray, separator; the transcript takes what is left */
    int status_y = LINES - 1;
    cell_lines in_lines;
    cell_lines_init(&in_lines);
    int crow = 0, ccol = 0;
    int max_rows = UI_INPUT_MAX_ROWS < LINES / 3 ? UI_INPUT_MAX_ROWS : LINES / 3;
    input_layout(u->in, COLS - 2, max_rows > 0 ? max_rows : 1, &in_lines, &crow, &ccol);
    int input_rows = in_lines.n > 0 ? in_lines.n : 1;
    int input_y = status_y - input_rows;
    int tray_rows = u->nstaged > 0 ? UI_TRAY_ROWS : 0;
    int tray_y = input_y - tray_rows;
    int sep_y = tray_y - 1;
    int height = sep_y;

    transcript_layout(u->tr, COLS, height);
    int nimages = gallery_count(u->gal);
    int *tops = xreallocarray(NULL, (size_t)nimages + 1, sizeof *tops);
    for (int i = 0; i < nimages; i++)
        tops[i] = -1;
    for (int y = 0; y < height; y++) {
        const cell_line *line = transcript_view_line(u->tr, y);
        screen_draw_line(y, 0, line, COLS, ROLE_NORMAL);
        if (line != NULL && line->n > 0 && (line->cells[0].attr & CELL_IMAGE_MARK) &&
            line->cells[0].fg >= 0 && line->cells[0].fg < nimages)
            tops[line->cells[0].fg] = y;
    }

    cell_line sep = {NULL, 0};
    int below = transcript_lines_below(u->tr);
    for (int x = 0; x < COLS; x++)
        sanitize_line_append(&sep, "─", ROLE_BORDER, 0);
    screen_draw_line(sep_y, 0, &sep, COLS, ROLE_BORDER);
    free(sep.cells);
    if (below > 0) {
        char more[64];
        snprintf(more, sizeof more, " %d more lines below (End) ", below);
        int w = (int)strlen(more);
        screen_draw_text(sep_y, COLS - w - 1, more, w, ROLE_BORDER, 0);
    }
    if (tray_rows > 0)
        ui_draw_tray(u, tray_y);
    for (int r = 0; r < input_rows; r++) {
        screen_draw_text(input_y + r, 0, r == 0 ? (u->busy ? "· " : "> ") : "  ", 2, ROLE_PROMPT, 0);
        screen_draw_line(input_y + r, 2, r < in_lines.n ? &in_lines.lines[r] : NULL, COLS - 2,
                         ROLE_INPUT);
    }
    cell_lines_free(&in_lines);
    ui_draw_status(u, status_y);
    move(input_y + crow, 2 + ccol);
    curs_set(1);
    /* sixel pixels are erased only by repainting: repaint all when the images moved */
    int moved = u->image_tops == NULL || u->nimage_tops != nimages ||
                memcmp(u->image_tops, tops, (size_t)nimages * sizeof *tops) != 0;
    if (moved && gallery_mode_of(u->gal) == GALLERY_SIXEL)
        clearok(curscr, TRUE);
    refresh();
    if (moved)
        gallery_overlay(u->gal, tops, nimages, 0, ui_image_cols(COLS), UI_IMAGE_MAX_ROWS, height);
    free(u->image_tops);
    u->image_tops = tops;
    u->nimage_tops = nimages;
}

/* ------------------------------------------------------------------ start and loop */

/* Decide how images are drawn, before ncurses owns the terminal (the queries need it raw). */
static gallery_mode
ui_pick_image_mode(const options *opt, char **notice, termdetect_result *r)
{
    termdetect_mode want = TERMDETECT_AUTO;
    char *cause = NULL;
    if (opt->image_mode != NULL && termdetect_mode_parse(opt->image_mode, &want, &cause) != 0) {
        *notice = cause; /* options.c checked the name already; kept for safety */
        want = TERMDETECT_AUTO;
    }
    termdetect_run(r, want, STDIN_FILENO, STDOUT_FILENO, NULL, 0);
    if (r->notice != NULL && *notice == NULL)
        *notice = xstrdup(r->notice);
    switch (r->mode) {
    case TERMDETECT_KITTY:
        return GALLERY_KITTY;
    case TERMDETECT_SIXEL:
        return GALLERY_SIXEL;
    case TERMDETECT_NONE:
        return GALLERY_NONE;
    default:
        return GALLERY_SYMBOLS;
    }
}

static void
ui_welcome(ui *u, const char *note)
{
    const imp_config *c = engine_config(u->eng);
    char *text = xasprintf("imp-chat %s: %s on the %s backend, %d positions of context. Type a "
                           "message and press Enter; /image PATH attaches a picture (Tab "
                           "completes); F1 lists commands and keys; Ctrl-D leaves.",
                           PACKAGE_VERSION, u->opt->model_dir ? u->opt->model_dir : "model",
                           engine_backend_name(u->eng), engine_context(u->eng));
    (void)c;
    ui_notice(u, TRANSCRIPT_NOTICE, text);
    free(text);
    if (u->opt->demo)
        ui_notice(u, TRANSCRIPT_ERROR,
                  "Demo mode: a tiny model with random weights, so its replies are noise. It "
                  "shows how imp-chat works; run imp-chat without --demo for the real model.");
    if (note != NULL)
        ui_notice(u, TRANSCRIPT_NOTICE, note);
    for (int i = 0; i < u->opt->nnotices; i++)
        ui_notice(u, TRANSCRIPT_ERROR, u->opt->notices[i]);
    for (int i = 0; i < u->opt->nbindings; i++) {
        char *cause = NULL;
        if (actions_bind(u->opt->bindings[i].spec, &cause) != 0) {
            char *line = xasprintf("%s: %s", u->opt->bindings[i].where, cause);
            ui_notice(u, TRANSCRIPT_ERROR, line);
            free(line);
            free(cause);
        }
    }
}

int
ui_run(const options *opt, engine *e, const char *note)
{
    ui u;
    memset(&u, 0, sizeof u);
    u.opt = opt;
    u.eng = e;
    u.reply_entry = -1;
    u.sampling = *engine_sampling_borrow(e);
    u.max_tokens = opt->max_tokens;
    u.used = engine_positions_used(e);
    u.ctx = engine_context(e);

    char *notices = NULL, *cause = NULL, *term_notice = NULL;
    u.th = theme_load_new(opt->theme != NULL ? opt->theme : "default", &notices, &cause);
    if (u.th == NULL) {
        u.th = theme_default_new();
        notices = cause;
        cause = NULL;
    }
    termdetect_result term;
    gallery_mode mode = ui_pick_image_mode(opt, &term_notice, &term);

    if (pipe(ui_signal_pipe) != 0)
        fatal("pipe: %s", strerror(errno));
    fcntl(ui_signal_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(ui_signal_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ui_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    screen_set_theme(u.th);
    char *start_notice = NULL;
    if (screen_start(!opt->no_mouse, &start_notice, &cause) != 0) {
        log_error("%s", cause);
        free(cause);
        theme_free(u.th);
        return 1;
    }
    actions_init();
    u.gal = gallery_new(mode, screen_colors(), term.passthrough,
                        term.cell_size_known ? term.cell_width : 0,
                        term.cell_size_known ? term.cell_height : 0);
    u.tr = transcript_new(ui_draw_image_entry, &u);
    u.in = input_new();
    u.work = worker_new(e, opt->test_token_delay);
    ui_welcome(&u, note);
    if (start_notice != NULL)
        ui_notice(&u, TRANSCRIPT_NOTICE, start_notice);
    if (term_notice != NULL)
        ui_notice(&u, TRANSCRIPT_NOTICE, term_notice);
    if (notices != NULL)
        ui_notice(&u, TRANSCRIPT_ERROR, notices);
    free(start_notice);
    free(term_notice);
    free(notices);

    u.dirty = 1;
    int exit_signal = 0;
    while (!u.quit) {
        double now = ui_now_ms();
        int timeout = -1;
        if (u.dirty) {
            double wait = u.last_draw + UI_FRAME_MS - now;
            if (wait <= 0)
                ui_draw(&u);
            else
                timeout = (int)wait + 1;
        }
        struct pollfd fds[3] = {
            {STDIN_FILENO, POLLIN, 0},
            {worker_fd(u.work), POLLIN, 0},
            {ui_signal_pipe[0], POLLIN, 0},
        };
        int n = poll(fds, 3, u.dirty ? (timeout < 0 ? 0 : timeout) : -1);
        if (n < 0 && errno != EINTR)
            break;
        if (fds[2].revents & POLLIN) {
            unsigned char sig;
            while (read(ui_signal_pipe[0], &sig, 1) == 1) {
                if (sig == SIGINT) {
                    ui_action(&u, ACTION_CANCEL);
                } else {
                    /* SIGTERM, SIGHUP (the SSH link dropped): leave cleanly, say why in the status */
                    u.quit = 1;
                    exit_signal = sig;
                }
            }
        }
        worker_event ev;
        while (worker_take(u.work, &ev)) {
            ui_on_event(&u, &ev);
            worker_event_free(&ev);
        }
        /* keys, and KEY_RESIZE after a SIGWINCH interrupted poll */
        ui_read_keys(&u);
        if (fds[0].revents & (POLLHUP | POLLERR))
            u.quit = 1;
    }

    worker_free(u.work); /* cancels a reply in progress */
    gallery_free(u.gal);
    screen_stop();
    transcript_free(u.tr);
    input_free(u.in);
    theme_free(u.th);
    free(u.staged);
    ui_turns_free(&u);
    free(u.status);
    free(u.send_text);
    free(u.image_tops);
    close(ui_signal_pipe[0]);
    close(ui_signal_pipe[1]);
    return exit_signal ? 128 + exit_signal : 0;
}
