/*
 * Keys as numbers and names: a character is its code point, an ncurses key code carries
 * KEYS_CODE, Alt (an Esc prefix) adds KEYS_META. Names are what the config file's bind lines and
 * /help use: "C-a", "M-x", "M-Enter", "Enter", "Tab", "PageUp", "C-Left", "F1", ...
 */
#ifndef IMP_KEYS_H
#define IMP_KEYS_H

#include <stddef.h>

#define KEYS_CODE 0x01000000
#define KEYS_META 0x02000000

/* The keys of bracketed paste, defined with define_key (above ncurses' own codes). */
#define KEYS_PASTE_BEGIN (KEYS_CODE | 0x1f00)
#define KEYS_PASTE_END (KEYS_CODE | 0x1f01)

/* Learn the terminal's codes for modified cursor keys (after ncurses has started). */
void keys_init(void);
/* Parse a key name; -1 when it is unknown (or the terminal has no such key). */
int keys_parse(const char *name, int *key);
/* The name of key into buf. Returns buf. */
char *keys_name(int key, char *buf, size_t size);

#endif
