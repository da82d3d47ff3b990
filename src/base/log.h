/* Messages to stderr and the fatal-error path that restores the terminal first. */
#ifndef IMP_LOG_H
#define IMP_LOG_H

/* Print "PROGRAM: MESSAGE" on stderr, run the terminal-restore hook, exit with status 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "PROGRAM: MESSAGE" on stderr. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "PROGRAM: MESSAGE" on stderr unless quiet mode is on. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Name the program in messages ("imp-chat" unless set; name must outlive the program). */
void log_set_program(const char *name);
/* Silence log_info (for one-shot modes whose stdout/stderr are parsed). */
void log_set_quiet(int quiet);
/* Register the function that restores the terminal before a fatal exit. */
void log_set_restore_hook(void (*hook)(void));
/* Set *cause (when cause is not NULL) to a new formatted string; returns -1 for convenient error returns. */
int log_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
