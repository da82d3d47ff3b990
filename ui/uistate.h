/*
 * The chat's state, shared by its loop (ui.c), its commands (uicmd.c), the engine thread's events
 * (uievents.c) and its drawing (uidraw.c). Only the interface thread touches it; what it knows of
 * the conversation comes from the engine thread's snapshots.
 */
#ifndef IMP_UISTATE_H
#define IMP_UISTATE_H

#include "gallery.h"
#include "input.h"
#include "inputhist.h"
#include "options.h"
#include "session.h"
#include "theme.h"
#include "transcript.h"
#include "worker.h"

/* The input grows with its text up to this many rows, then scrolls. */
#define UI_INPUT_MAX_ROWS 8
/* Rows of the tray when images are staged, and the preview's columns. */
#define UI_TRAY_ROWS 3
#define UI_TRAY_PREVIEW_COLS 6
/* An image in the transcript is drawn in the transcript's width and about two thirds of the
 * terminal's height, never fewer rows than this. */
#define UI_IMAGE_MIN_ROWS 3
#define UI_IMAGE_FEW_PAIRS_ROWS 16
/* A rebuild of the cache shows its progress once it has taken this long, or at once when it is
 * this many positions or more (a chunk of the real model takes seconds on a CPU). */
#define UI_PROGRESS_MS 300
#define UI_PROGRESS_POSITIONS 512

/* An exchange as the transcript shows it. */
typedef struct {
    int first_entry;    /* where its entries begin: an undo cuts the transcript there */
    int user_entry, reply_entry;
    int *image_entries; /* transcript entries of its images */
    int nimages;
    int stopped;        /* the reply was stopped */
} ui_turn;

/* A line on its way to the engine thread (they run in order; each ends with a DONE event). */
typedef struct {
    char *text; /* a message: back into the editor when it is refused */
    char *line; /* a command: for the status line when it is done */
    unsigned status_at; /* ui.statuses when it was posted */
} ui_posted;

/* A picture decoded for display, by content. */
typedef struct {
    char sha256[65];
    int index; /* in the gallery; -1: it could not be decoded */
} ui_picture;

typedef enum {
    UI_OVERLAY_NONE,
    UI_OVERLAY_HELP,
    UI_OVERLAY_IMAGE,
} ui_overlay;

typedef struct {
    const options *opt;
    worker *work;
    session_snapshot *snap; /* the conversation as of the last event that carried one */
    theme *th;
    gallery *gal;
    transcript *tr;
    input *in;
    inputhist *hist;

    ui_picture *pictures;
    int npictures;
    ui_turn *turns;
    int nturns;

    int reply_entry;     /* the reply being streamed, -1 */
    int image_rows;      /* the rows transcript images were rendered for */
    int reply_pieces;    /* pieces (about one a token) of the reply being streamed */
    double reply_first_ms; /* when its first piece came */
    ui_posted *posted;   /* lines posted and not yet done, oldest first */
    int nposted;
    int editing;         /* /edit: Enter replaces the last exchange with the editor's text */
    int confirming;      /* the message does not fit: Enter again sends it and drops the oldest */
    double job_start;

    char *status;        /* a message for the status line, until the next key */
    unsigned statuses;   /* messages shown so far: a later one is not replaced by an earlier job's */
    int status_error;
    int status_until_done; /* the message lasts only until the job ends ("stopping...") */

    ui_overlay overlay;
    int overlay_image;   /* gallery index */
    int overlay_number;  /* the image's number */
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
/* Milliseconds on a monotonic clock. */
double ui_now_ms(void);
/* Whether a job of the engine thread is under way. */
int ui_busy(const ui *u);
/*
 * Post a line to the engine thread; it runs after those posted before. A message's text (text,
 * or line when NULL) goes back to the editor when it is refused.
 */
void ui_post(ui *u, const char *line, const char *text, int confirmed, int message);
/* Apply an event of the engine thread. */
void uievents_apply(ui *u, worker_event *ev);
/* The gallery index of image number (from 1) of the snapshot, decoding it once; -1 if none. */
int uievents_picture(ui *u, int number);
/* Forget the exchanges the transcript shows. */
void uievents_turns_free(ui *u);

#endif
