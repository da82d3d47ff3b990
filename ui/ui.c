#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ncurses.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "gallery.h"
#include "input.h"
#include "keys.h"
#include "log.h"
#include "screen.h"
#include "termdetect.h"
#include "theme.h"
#include "transcript.h"
#include "ui.h"
#include "uicmd.h"
#include "uidraw.h"
#include "uistate.h"
#include "worker.h"
#include "xmalloc.h"

/* Streaming text is drawn at most this often (about 30 frames a second). */
#define UI_FRAME_MS 33

static int ui_signal_pipe[2] = {-1, -1};

double
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

void
ui_status(ui *u, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    free(u->status);
    u->status = text;
    u->statuses++;
    u->status_error = error;
    u->status_until_done = 0;
    u->dirty = 1;
}

void
ui_notice(ui *u, transcript_kind kind, const char *text)
{
    transcript_add(u->tr, kind, text, -1);
    transcript_scroll_to(u->tr, 0);
    u->dirty = 1;
}


/* ------------------------------------------------------------------ jobs */

int
ui_busy(const ui *u)
{
    return worker_busy(u->work);
}

void
ui_post(ui *u, const char *line, const char *text, int confirmed, int message)
{
    worker_job job = {.kind = WORKER_LINE, .text = xstrdup(line), .confirmed = confirmed};
    u->posted = xreallocarray(u->posted, (size_t)u->nposted + 1, sizeof *u->posted);
    ui_posted *p = &u->posted[u->nposted++];
    p->text = message ? xstrdup(text != NULL ? text : line) : NULL;
    p->line = message ? NULL : xstrdup(line);
    p->status_at = u->statuses;
    if (u->nposted == 1)
        u->job_start = ui_now_ms();
    worker_post(u->work, &job);
    transcript_scroll_to(u->tr, 0);
    u->dirty = 1;
}

/* ------------------------------------------------------------------ keys */

static void
ui_action(ui *u, action a)
{
    int page = LINES > 8 ? LINES - 6 : 1;
    int empty = input_length(u->in) == 0;
    switch (a) {
    case ACTION_SEND:
        uicmd_enter(u);
        break;
    case ACTION_NEWLINE:
        input_insert_newline(u->in);
        break;
    case ACTION_CANCEL:
        if (ui_busy(u)) {
            worker_cancel(u->work);
            ui_status(u, 0, "stopping...");
            u->status_until_done = 1;
        } else if (u->confirming) {
            u->confirming = 0;
            ui_status(u, 0, "not sent");
        } else if (u->editing) {
            u->editing = 0;
            input_set_text(u->in, "");
            ui_status(u, 0, "not edited");
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
        uicmd_complete(u);
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
    } else if (u->editing && key == 27) {
        /* Esc leaves the last exchange as it is */
        u->editing = 0;
        input_set_text(u->in, "");
        ui_status(u, 0, "not edited");
        return;
    } else if (u->status != NULL && !ui_busy(u) && a != ACTION_COMPLETE) {
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
ui_welcome(ui *u, const char *note, const char *hist_notice)
{
    const session_snapshot *snap = u->snap;
    char *text = xasprintf("imp-chat %s: %s on the %s backend, %d positions of context. Type a "
                           "message and press Enter; /image PATH attaches a picture (Tab "
                           "completes); F1 lists commands and keys; Ctrl-D leaves.",
                           PACKAGE_VERSION, u->opt->model_dir ? u->opt->model_dir : "model",
                           snap->backend, snap->ctx);
    ui_notice(u, TRANSCRIPT_NOTICE, text);
    free(text);
    if (u->opt->demo)
        ui_notice(u, TRANSCRIPT_ERROR,
                  "Demo mode: a tiny model with random weights, so its replies are noise. It "
                  "shows how imp-chat works; run imp-chat without --demo for the real model.");
    if (note != NULL)
        ui_notice(u, TRANSCRIPT_NOTICE, note);
    if (hist_notice != NULL)
        ui_notice(u, TRANSCRIPT_ERROR, hist_notice);
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
ui_run(const options *opt, session *s, const char *note)
{
    ui u;
    memset(&u, 0, sizeof u);
    u.opt = opt;
    u.reply_entry = -1;
    u.snap = session_snapshot_new(s);

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
    /* SIGCONT comes at any moment (a stop from outside): no call should fail for it */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCONT, &sa, NULL);

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
                        term.cell_size_known ? term.cell_height : 0, u.snap->image_positions);
    u.tr = transcript_new(uidraw_image_entry, &u);
    u.in = input_new();
    char *hist_notice = NULL;
    u.hist = inputhist_open(u.in, NULL, &hist_notice);
    u.work = worker_new(s, opt->test_token_delay);
    ui_welcome(&u, note, hist_notice);
    free(hist_notice);
    if (opt->resume) {
        worker_job job = {.kind = WORKER_RESUME,
                          .text = opt->resume_name != NULL ? xstrdup(opt->resume_name) : NULL};
        u.job_start = ui_now_ms();
        u.posted = xcalloc(1, sizeof *u.posted); /* its DONE pops this record */
        u.posted[0].line = xstrdup("--resume");
        u.nposted = 1;
        worker_post(u.work, &job);
    }
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
                uidraw_frame(&u);
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
                } else if (sig == SIGCONT) {
                    /* back from a stop, maybe one sent from outside: raw mode and a full redraw */
                    screen_resume();
                    u.dirty = 1;
                } else {
                    /* SIGTERM, SIGHUP (the SSH link dropped): leave cleanly, say why in the status */
                    u.quit = 1;
                    exit_signal = sig;
                }
            }
        }
        worker_event ev;
        while (worker_take(u.work, &ev)) {
            uievents_apply(&u, &ev);
            worker_event_free(&ev);
        }
        /* keys, and KEY_RESIZE after a SIGWINCH interrupted poll */
        ui_read_keys(&u);
        if (fds[0].revents & (POLLHUP | POLLERR))
            u.quit = 1;
    }

    worker_free(u.work); /* a reply in progress stops, and is saved as stopped */
    gallery_free(u.gal);
    screen_stop();
    transcript_free(u.tr);
    inputhist_free(u.hist);
    input_free(u.in);
    theme_free(u.th);
    uievents_turns_free(&u);
    free(u.pictures);
    session_snapshot_free(u.snap);
    free(u.status);
    for (int i = 0; i < u.nposted; i++) {
        free(u.posted[i].text);
        free(u.posted[i].line);
    }
    free(u.posted);
    free(u.image_tops);
    close(ui_signal_pipe[0]);
    close(ui_signal_pipe[1]);
    return exit_signal ? 128 + exit_signal : 0;
}
