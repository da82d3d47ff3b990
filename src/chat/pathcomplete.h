/*
 * Paths typed as command arguments (/image PATH): parsing with quotes, escapes and ~, and Tab
 * completion against the files of the machine imp-chat runs on.
 *
 * The argument syntax, a small part of the shell's:
 * - whitespace around the argument is ignored; whitespace inside it belongs to the path, so a
 *   path with spaces may be typed as it is, quoted or with escaped spaces;
 * - '...' takes everything literally up to the next '; "..." likewise, except that \" and \\
 *   stand for " and \; outside quotes a backslash takes the next character literally; quoted
 *   and unquoted parts join ("my dir"/'a b'.png);
 * - an unquoted, unescaped ~ at the start followed by / or the end is $HOME (when unset or empty:
 *   the home folder from the password database); ~NAME is the home folder of user NAME.
 */
#ifndef IMP_PATHCOMPLETE_H
#define IMP_PATHCOMPLETE_H

/* Parse an argument into a path (new string in *path), or -1 with *cause. */
int pathcomplete_parse(const char *arg, char **path, char **cause);

/* What Tab completion found. */
typedef struct {
    char *insert; /* text to append to the argument as typed ("" when there is nothing to add) */
    char **names; /* the matching entries' names, a directory with a '/' after it, sorted by name */
    int n;
} pathcomplete_result;

/*
 * Complete the argument typed so far (the cursor at its end): the entries of its folder (the
 * working directory for a bare name) whose names start with what was typed of the last part,
 * hidden ones only when that starts with '.', never "." and "..". res->insert extends the
 * argument by the matches' longest common part, written the way the argument is being written:
 * inside an open quote it stays inside (a ' in a name inside '...' as '\'' ), outside quotes
 * spaces, quotes and backslashes get a backslash. A single match also gets a '/' when it is a
 * directory or, inside an open quote, the closing quote. A typed "~" or "~NAME" of a known user
 * gets a '/'. A folder that does not exist is no match; one that cannot be read is -1 with *cause.
 */
int pathcomplete_complete(const char *typed, pathcomplete_result *res, char **cause);
/* Free what a completion returned. */
void pathcomplete_result_free(pathcomplete_result *res);

#endif
