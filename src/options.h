/* The command-line options: one table that drives parsing and --help. */
#ifndef IMP_OPTIONS_H
#define IMP_OPTIONS_H

#include <stdio.h>

#include "backend.h"
#include "sampler.h"

typedef struct {
    const char *model_dir;
    const char *prompt;
    const char **images;
    int nimages;
    int max_tokens;
    sampler_params sampling;
    const char *system;
    backend_choice backend;
    int threads;
    int context;
    const char *script;
    int print_ids;
    int stats;
    const char *tokenize;
    const char *dump_logits;
    const char *preprocess;
    const char *out;
    int help;
    int version;
    /* finding and downloading the model (modelsetup.c) */
    int download;            /* --download */
    const char *download_id; /* its ID[@REV]; NULL: the default model */
    int list_models;
    int yes;
    int demo;
} options;

/*
 * Parse argv into opt. Returns 0, or -1 after printing a usage error naming the option (exit
 * status 2 is the caller's).
 */
int options_parse(options *opt, int argc, char **argv);
/* Print the option list generated from the table. */
void options_usage(FILE *f);
/* Free what options_parse allocated. */
void options_free(options *opt);

#endif
