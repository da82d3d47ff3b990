/*
 * The transcript: hostile bytes in replies never reach the screen as controls, replies stream,
 * and the scroll position survives re-wrapping at another width.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "testutil.h"
#include "transcript.h"

/* Every visible line of t as text, one per line (for failure messages). */
static char *
screen_text_new(transcript *t, int height)
{
    size_t cap = 1, len = 0;
    char *all = calloc(1, 1);
    for (int r = 0; r < height; r++) {
        const cell_line *line = transcript_view_line(t, r);
        char *text = line != NULL ? cell_line_text_new(line) : strdup("");
        size_t n = strlen(text);
        all = realloc(all, cap += n + 1);
        memcpy(all + len, text, n);
        len += n;
        all[len++] = '\n';
        all[len] = '\0';
        free(text);
    }
    return all;
}

/* 1 when no cell of the view holds a C0 or C1 control, DEL or a bidi override. */
static int
view_is_clean(transcript *t, int height)
{
    for (int r = 0; r < height; r++) {
        const cell_line *line = transcript_view_line(t, r);
        for (int i = 0; line != NULL && i < line->n; i++)
            for (int k = 0; k < CELL_CHARS && line->cells[i].ch[k] != 0; k++) {
                wchar_t c = line->cells[i].ch[k];
                if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) ||
                    (c >= 0x2066 && c <= 0x2069))
                    return 0;
            }
    }
    return 1;
}

static void
check_hostile_reply(void)
{
    transcript *t = transcript_new(NULL, NULL);
    int e = transcript_add(t, TRANSCRIPT_ASSISTANT, "", -1);
    transcript_mark(t, e, 0, 0, 1);
    /* a reply that tries colors, a title, a clipboard write, a bell, C1 CSI and a bidi override */
    static const char *const pieces[] = {
        "Sure: \033[31mred\033[0m ", "\033]0;owned\007", "\033]52;c;ZWNobyBoaQ==\007",
        "\xc2\x9b" "2J", "\x9b" "1J", "bell\007 ", "\342\200\256reversed", "\033P+q\033\\", " end",
    };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
        transcript_append(t, e, pieces[i], strlen(pieces[i]));
    transcript_mark(t, e, 0, 0, 0);
    transcript_layout(t, 40, 20);
    char *text = screen_text_new(t, 20);
    CHECK(view_is_clean(t, 20), "no control character reaches the screen:\n%s", text);
    CHECK(strstr(text, "^[[31mred") != NULL, "ESC shows as ^[:\n%s", text);
    CHECK(strstr(text, "^G") != NULL, "BEL shows as ^G:\n%s", text);
    CHECK(strstr(text, "<U+009B>2J") != NULL, "the C1 CSI shows as <U+009B>:\n%s", text);
    CHECK(strstr(text, "\xef\xbf\xbd" "1J") != NULL, "a raw 0x9b byte shows as U+FFFD:\n%s", text);
    CHECK(strstr(text, "<U+202E>") != NULL, "the bidi override shows as <U+202E>:\n%s", text);
    CHECK(strstr(text, "end") != NULL, "the text after them is kept:\n%s", text);
    free(text);
    transcript_free(t);
}

static void
check_streaming_and_scroll(void)
{
    transcript *t = transcript_new(NULL, NULL);
    char buf[128];
    for (int i = 0; i < 40; i++) {
        snprintf(buf, sizeof buf, "message %d with enough words to wrap at a narrow width", i);
        transcript_add(t, i % 2 ? TRANSCRIPT_ASSISTANT : TRANSCRIPT_USER, buf, -1);
    }
    transcript_layout(t, 80, 10);
    char *text = screen_text_new(t, 10);
    CHECK(strstr(text, "message 39") != NULL, "the view follows the end:\n%s", text);
    free(text);

    /* scrolled up, a re-wrap keeps the same message at the top */
    transcript_scroll(t, -40);
    transcript_layout(t, 80, 10);
    text = screen_text_new(t, 10);
    const char *first = strstr(text, "message ");
    int before = first != NULL ? atoi(first + 8) : -1;
    free(text);
    transcript_layout(t, 30, 10);
    text = screen_text_new(t, 10);
    first = strstr(text, "message ");
    int after = first != NULL ? atoi(first + 8) : -1;
    CHECK(before >= 0 && (after == before || after == before + 1 || after == before - 1),
          "the same message stays in view after a re-wrap (%d, then %d):\n%s", before, after,
          text);
    free(text);
    CHECK(transcript_lines_below(t) > 0, "the view is still scrolled up");

    /* new text at the end does not move a reader who scrolled up */
    text = screen_text_new(t, 10);
    int e = transcript_add(t, TRANSCRIPT_ASSISTANT, "", -1);
    transcript_mark(t, e, 0, 0, 1);
    transcript_append(t, e, "streamed words arrive here", 26);
    transcript_layout(t, 30, 10);
    char *again = screen_text_new(t, 10);
    CHECK(strcmp(text, again) == 0, "streaming text does not move the view:\n%s\nthen\n%s", text,
          again);
    free(text);
    free(again);
    transcript_scroll_to(t, 0);
    transcript_layout(t, 30, 10);
    text = screen_text_new(t, 10);
    CHECK(strstr(text, "arrive here") != NULL, "End shows the streamed text:\n%s", text);
    free(text);

    /* a stopped reply is marked; a dropped entry says so */
    transcript_mark(t, e, 1, 0, 0);
    transcript_mark(t, 0, 0, 1, 0);
    transcript_layout(t, 30, 10);
    text = screen_text_new(t, 10);
    CHECK(strstr(text, "imp  stopped") != NULL, "a stopped reply is marked:\n%s", text);
    free(text);
    transcript_scroll_to(t, 1);
    transcript_layout(t, 30, 10);
    text = screen_text_new(t, 10);
    CHECK(strstr(text, "(dropped from the context)") != NULL, "a dropped entry is marked:\n%s",
          text);
    free(text);
    transcript_free(t);
}

int
main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale: skipped\n");
        return TEST_SKIP;
    }
    check_hostile_reply();
    check_streaming_and_scroll();
    return testutil_finish("test_transcript");
}
