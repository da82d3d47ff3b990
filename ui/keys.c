#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <limits.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keys.h"

/* Named keys; code 0 means "learned from terminfo by keys_init". */
typedef struct {
    const char *name;
    int key;
    const char *terminfo; /* extended capability for modified keys */
} keys_named;

static keys_named keys_table[] = {
    {"Enter", '\r', NULL},
    {"Tab", '\t', NULL},
    {"BTab", KEYS_CODE | KEY_BTAB, NULL},
    {"Esc", 27, NULL},
    {"Space", ' ', NULL},
    {"Backspace", KEYS_CODE | KEY_BACKSPACE, NULL},
    {"Delete", KEYS_CODE | KEY_DC, NULL},
    {"Insert", KEYS_CODE | KEY_IC, NULL},
    {"Home", KEYS_CODE | KEY_HOME, NULL},
    {"End", KEYS_CODE | KEY_END, NULL},
    {"PageUp", KEYS_CODE | KEY_PPAGE, NULL},
    {"PageDown", KEYS_CODE | KEY_NPAGE, NULL},
    {"Up", KEYS_CODE | KEY_UP, NULL},
    {"Down", KEYS_CODE | KEY_DOWN, NULL},
    {"Left", KEYS_CODE | KEY_LEFT, NULL},
    {"Right", KEYS_CODE | KEY_RIGHT, NULL},
    {"C-Left", 0, "kLFT5"},
    {"C-Right", 0, "kRIT5"},
    {"C-Up", 0, "kUP5"},
    {"C-Down", 0, "kDN5"},
    {"C-Home", 0, "kHOM5"},
    {"C-End", 0, "kEND5"},
    {"C-Delete", 0, "kDC5"},
    {"S-Up", KEYS_CODE | KEY_SR, NULL},
    {"S-Down", KEYS_CODE | KEY_SF, NULL},
};

#define KEYS_NAMED (sizeof keys_table / sizeof keys_table[0])

void
keys_init(void)
{
    for (size_t i = 0; i < KEYS_NAMED; i++) {
        if (keys_table[i].terminfo == NULL)
            continue;
        char *seq = tigetstr(keys_table[i].terminfo);
        int code = seq != NULL && seq != (char *)-1 ? key_defined(seq) : 0;
        keys_table[i].key = code > 0 ? KEYS_CODE | code : 0;
    }
}

int
keys_parse(const char *name, int *key)
{
    int meta = 0;
    if (strncmp(name, "M-", 2) == 0 && name[2] != '\0') {
        meta = KEYS_META;
        name += 2;
    }
    for (size_t i = 0; i < KEYS_NAMED; i++)
        if (strcasecmp(name, keys_table[i].name) == 0) {
            if (keys_table[i].key == 0)
                return -1;
            *key = keys_table[i].key | meta;
            return 0;
        }
    if ((name[0] == 'F' || name[0] == 'f') && name[1] >= '1' && name[1] <= '9') {
        char *end;
        long n = strtol(name + 1, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 24) {
            *key = (KEYS_CODE | KEY_F(n)) | meta;
            return 0;
        }
    }
    if (strncmp(name, "C-", 2) == 0 && name[2] != '\0' && name[3] == '\0') {
        int c = name[2];
        if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
        if (c >= '@' && c <= '_') {
            *key = (c - '@') | meta;
            return 0;
        }
        return -1;
    }
    /* one printable character, possibly several bytes of UTF-8 */
    wchar_t wc;
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t len = strlen(name);
    size_t r = mbrtowc(&wc, name, len, &ps);
    if (r == len && r > 0 && wc > ' ' && wc != 127) {
        *key = (int)wc | meta;
        return 0;
    }
    return -1;
}

char *
keys_name(int key, char *buf, size_t size)
{
    const char *meta = key & KEYS_META ? "M-" : "";
    int base = key & ~KEYS_META;
    for (size_t i = 0; i < KEYS_NAMED; i++)
        if (keys_table[i].key != 0 && keys_table[i].key == base) {
            snprintf(buf, size, "%s%s", meta, keys_table[i].name);
            return buf;
        }
    if (base & KEYS_CODE) {
        int code = base & ~KEYS_CODE;
        if (code >= KEY_F(1) && code <= KEY_F(24))
            snprintf(buf, size, "%sF%d", meta, code - KEY_F(0));
        else
            snprintf(buf, size, "%skey-%d", meta, code);
    } else if (base < 32) {
        snprintf(buf, size, "%sC-%c", meta, base + '`');
    } else if (base == 127) {
        snprintf(buf, size, "%sBackspace", meta);
    } else {
        char mb[MB_LEN_MAX + 1];
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t n = wcrtomb(mb, (wchar_t)base, &ps);
        mb[n == (size_t)-1 ? 0 : n] = '\0';
        snprintf(buf, size, "%s%s", meta, mb);
    }
    return buf;
}
