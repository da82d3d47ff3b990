/* The command-line options: one table that drives parsing and --help. */
#ifndef IMP_OPTIONS_H
#define IMP_OPTIONS_H

#include <stdio.h>

#include "backend.h"
#include "sampler.h"

/* A "bind KEY ACTION" line of the config file, checked by the interface that knows the actions. */
typedef struct {
    char *spec;  /* "KEY ACTION" */
    char *where; /* "FILE:LINE" */
} options_binding;

typedef struct {
    const char *model_dir;
    const char *prompt;
    const char **images;
    int nimages;
    int max_tokens;
    sampler_params sampling;
    const char *system;
    backend_choice backend;
    quant_mode weights; /* QUANT_AUTO unless --weights */
    int threads;
    int context;
    const char *script;
    int print_ids;
    int raw;                /* replies written as generated, control characters and all */
    int stats;
    const char *tokenize;
    const char *dump_logits;
    const char *preprocess;
    const char *out;
    int help;
    int version;
    const char *image_mode; /* NULL: auto */
    const char *theme;      /* NULL: default */
    int no_mouse;
    const char *config;     /* --config FILE */
    int no_config;
    int test_token_delay;   /* ms between tokens, for interface tests */

    const char *config_path; /* the config file read, or NULL */
    const char *config_model; /* the config file's model setting (-m not given), or NULL */
    char **notices;          /* problems in the config file, one line each */
    int nnotices;
    options_binding *bindings;
    int nbindings;
    unsigned char given[64]; /* table entries given on the command line */
    char **owned;
    int nowned;
    /* finding and downloading the model (modelsetup.c) */
    int download;            /* --download */
    const char *download_id; /* its ID[@REV]; NULL: the default model */
    int list_models;
    int yes;
    int demo;
    /* saved conversations */
    int resume;              /* --resume */
    const char *resume_name; /* its NAME or PATH; NULL: the last conversation */
    int no_autosave;
} options;

/*
 * Parse argv into opt, then read the config file for what the command line left unset. Returns 0, or -1 after printing a usage error naming the option (exit
 * status 2 is the caller's).
 */
int options_parse(options *opt, int argc, char **argv);
/* Print the option list generated from the table. */
void options_usage(FILE *f);
/* Free what options_parse allocated. */
void options_free(options *opt);

#endif
