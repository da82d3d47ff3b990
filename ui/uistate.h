/*
 * The chat's state, shared by its loop (ui.c), its commands (uicmd.c) and its drawing (uidraw.c).
 * Only the interface thread touches it.
 */
#ifndef IMP_UISTATE_H
#define IMP_UISTATE_H

#include "engine.h"
#include "gallery.h"
#include "input.h"
#include "options.h"
#include "theme.h"
#include "transcript.h"
#include "worker.h"

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
    engine_room_plan send_plan;

    char *status;        /* a message for the status line, until the next key */
    int status_error;
    int status_until_done; /* the message lasts only until the turn ends ("stopping...") */
    engine_stats last;
    int have_last;
    int used, ctx;
    sampler_params sampling;
    int max_tokens;

    int confirming;      /* the message does not fit: Enter again sends it and drops the oldest */

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

/* Show a message on the status line until the next key (error: in the error role). */
void ui_status(ui *u, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add a notice (or error) entry to the transcript and follow the end. */
void ui_notice(ui *u, transcript_kind kind, const char *text);
/* Send the editor's text with the staged images (confirmed: drop what the plan says). */
void ui_send(ui *u, int confirmed);
/* Milliseconds on a monotonic clock. */
double ui_now_ms(void);
/* Forget the turns the interface keeps. */
void ui_turns_free(ui *u);

#endif
