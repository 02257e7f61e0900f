/* SPDX-License-Identifier: MIT */
/*
 * config.h: table-driven settings shared by every binary.
 *
 * Each binary describes its one config struct with a table of
 * {name, type, offset, default, min, max, help}. The same table sets the
 * defaults, reads "name = value" files, takes "-o name=value,..." option
 * strings and command-line overrides, and prints --help text, so a default
 * lives in exactly one place. Errors name the file and line (or the
 * option), the offending text and the reason.
 *
 * Values: bool (yes/no/true/false/on/off/1/0), int (checked, in range),
 * size (bytes with K/M/G/T suffixes, powers of 1024), duration (ms, with
 * ms/s/m/h suffixes; a bare number is seconds), string (owned, freed by
 * config_fini).
 */
#ifndef PCACHE_CONFIG_H
#define PCACHE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
    CONFIG_BOOL,     /* bool */
    CONFIG_INT,      /* int64_t */
    CONFIG_SIZE,     /* uint64_t bytes */
    CONFIG_DURATION, /* uint64_t milliseconds */
    CONFIG_STRING,   /* char *, owned */
};

struct config_entry {
    const char *name;
    enum config_type type;
    size_t offset;   /* offsetof() into the config struct */
    const char *def; /* default, as text; NULL for none (string NULL) */
    int64_t min;     /* range for int, size and duration (max 0 = none) */
    int64_t max;
    const char *help;
};

/* Where a bad value came from, for the message. */
struct config_error {
    char text[512];
};

/* Sets every entry to its default. Aborts on a bad default (a bug). */
void config_init(const struct config_entry *table, void *conf);
/* Frees the owned strings. */
void config_fini(const struct config_entry *table, void *conf);

/*
 * Sets one value. Returns 0, -ENOENT (unknown name) or -EINVAL (bad value,
 * out of range); err says which and why.
 */
int config_set(const struct config_entry *table, void *conf, const char *name,
               const char *value, struct config_error *err);

/*
 * Reads a file of "name = value" lines ('#' starts a comment, blank lines
 * ignored, values may be quoted with "..."). Unknown names fail unless
 * ignore_unknown. Returns 0, -errno from open, or the config_set error with
 * "path:line: " in err.
 */
int config_load_file(const struct config_entry *table, void *conf,
                     const char *path, bool ignore_unknown,
                     struct config_error *err);

/*
 * Parses "a=1,b,c=x" (a bare name sets a bool to true). Names listed in
 * skip (NULL-terminated, may be NULL) are passed over; unknown names fail
 * unless ignore_unknown.
 */
int config_parse_opts(const struct config_entry *table, void *conf,
                      const char *opts, bool ignore_unknown,
                      const char *const *skip, struct config_error *err);

const struct config_entry *config_find(const struct config_entry *table,
                                       const char *name);
/* Prints "  name=VALUE  help (default: x)" lines. */
void config_print_help(const struct config_entry *table, FILE *out);

/* Strips leading and trailing white space in place; returns the start. */
char *config_trim(char *s);

/* Checked number parsers: whole string, in range; 0 or -EINVAL/-ERANGE. */
int config_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ms);
int config_parse_bool(const char *s, bool *out);

#endif
