/* SPDX-License-Identifier: MIT */
/*
 * config.c: table-driven settings (see config.h).
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/mem.h"

#define CONFIG_MAX_LINE 4096

int config_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

/* Parses "<number><suffix>" where the suffix is looked up in units. */
static int config_parse_scaled(const char *s, const char *const *names,
                               const uint64_t *mult, size_t nunits,
                               uint64_t def_mult, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t m = def_mult;
    size_t i;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end) {
        for (i = 0; i < nunits; i++) {
            if (strcasecmp(end, names[i]) == 0) {
                m = mult[i];
                break;
            }
        }
        if (i == nunits)
            return -EINVAL;
    }
    if (m && v > UINT64_MAX / m)
        return -ERANGE;
    *out = (uint64_t)v * m;
    return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
    static const char *const names[] = {"b",  "k",   "kb", "kib", "m",
                                        "mb", "mib", "g",  "gb",  "gib",
                                        "t",  "tb",  "tib"};
    static const uint64_t mult[] = {
        1,          1ull << 10, 1ull << 10, 1ull << 10, 1ull << 20,
        1ull << 20, 1ull << 20, 1ull << 30, 1ull << 30, 1ull << 30,
        1ull << 40, 1ull << 40, 1ull << 40};

    return config_parse_scaled(s, names, mult, sizeof(mult) / sizeof(mult[0]),
                               1, out);
}

int config_parse_duration(const char *s, uint64_t *out_ms)
{
    static const char *const names[] = {"ms", "s", "m", "min", "h"};
    static const uint64_t mult[] = {1, 1000, 60000, 60000, 3600000};

    return config_parse_scaled(s, names, mult, sizeof(mult) / sizeof(mult[0]),
                               1000, out_ms);
}

int config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

const struct config_entry *config_find(const struct config_entry *table,
                                       const char *name)
{
    for (; table->name; table++) {
        if (strcmp(table->name, name) == 0)
            return table;
    }
    return NULL;
}

static int config_check_range(const struct config_entry *e, uint64_t v)
{
    /* Compared unsigned: a size past INT64_MAX is not below the floor. */
    if (e->min > 0 && v < (uint64_t)e->min)
        return -ERANGE;
    if (e->max > 0 && v > (uint64_t)e->max)
        return -ERANGE;
    return 0;
}

static int config_store(const struct config_entry *e, void *conf,
                        const char *value)
{
    char *field = (char *)conf + e->offset;
    uint64_t u = 0;
    int64_t i;
    bool b;
    int rc;

    switch (e->type) {
    case CONFIG_BOOL:
        rc = config_parse_bool(value, &b);
        if (rc == 0)
            *(bool *)field = b;
        return rc;
    case CONFIG_INT:
        rc = config_parse_int(value, e->min, e->max ? e->max : INT64_MAX, &i);
        if (rc == 0)
            *(int64_t *)field = i;
        return rc;
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        rc = e->type == CONFIG_SIZE ? config_parse_size(value, &u)
                                    : config_parse_duration(value, &u);
        if (rc == 0)
            rc = config_check_range(e, u);
        if (rc == 0)
            *(uint64_t *)field = u;
        return rc;
    case CONFIG_STRING:
        free(*(char **)field);
        *(char **)field = value ? xstrdup(value) : NULL;
        return 0;
    }
    return -EINVAL;
}

void config_init(const struct config_entry *table, void *conf)
{
    for (; table->name; table++) {
        if (table->type == CONFIG_STRING) {
            *(char **)((char *)conf + table->offset) = NULL;
            if (!table->def)
                continue;
        }
        if (table->def && config_store(table, conf, table->def) != 0) {
            fprintf(stderr, "bad default for %s: %s\n", table->name,
                    table->def);
            abort();
        }
    }
}

void config_fini(const struct config_entry *table, void *conf)
{
    for (; table->name; table++) {
        if (table->type == CONFIG_STRING) {
            char **p = (char **)((char *)conf + table->offset);
            free(*p);
            *p = NULL;
        }
    }
}

static const char *config_type_hint(const struct config_entry *e)
{
    switch (e->type) {
    case CONFIG_BOOL:
        return "yes or no";
    case CONFIG_INT:
        return "a whole number";
    case CONFIG_SIZE:
        return "a size such as 4096, 64K, 8M or 2G";
    case CONFIG_DURATION:
        return "a duration such as 500ms, 30s, 5m or 1h";
    default:
        return "text";
    }
}

int config_set(const struct config_entry *table, void *conf, const char *name,
               const char *value, struct config_error *err)
{
    const struct config_entry *e = config_find(table, name);
    int rc;

    if (!e) {
        snprintf(err->text, sizeof(err->text), "unknown setting '%s'", name);
        return -ENOENT;
    }
    if (!value) {
        if (e->type != CONFIG_BOOL) {
            snprintf(err->text, sizeof(err->text), "'%s' needs a value (%s)",
                     name, config_type_hint(e));
            return -EINVAL;
        }
        value = "yes";
    }
    rc = config_store(e, conf, value);
    if (rc == -ERANGE) {
        snprintf(err->text, sizeof(err->text),
                 "'%s = %s': out of range [%" PRId64 ", %" PRId64 "]", name,
                 value, e->min, e->max);
        return -EINVAL;
    }
    if (rc) {
        snprintf(err->text, sizeof(err->text), "'%s = %s': expected %s", name,
                 value, config_type_hint(e));
        return -EINVAL;
    }
    return 0;
}

char *config_trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Splits one line into name and value in place; 0, 1 (blank) or -EINVAL. */
static int config_split_line(char *line, char **name, char **value)
{
    char *eq, *v;
    size_t n;

    if (line[0] == '#' || line[0] == ';' || line[0] == '\0')
        return 1;
    eq = strchr(line, '=');
    /* Refused before the line is cut, so the message shows all of it. */
    if (!eq || eq == line)
        return -EINVAL;
    *eq = '\0';
    *name = config_trim(line);
    v = config_trim(eq + 1);
    n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    }
    *value = v;
    return 0;
}

int config_load_file(const struct config_entry *table, void *conf,
                     const char *path, bool ignore_unknown,
                     struct config_error *err)
{
    char line[CONFIG_MAX_LINE];
    FILE *f = fopen(path, "re");
    unsigned lineno = 0;
    int rc = 0;

    if (!f) {
        rc = -errno;
        snprintf(err->text, sizeof(err->text), "%s: %s", path, strerror(-rc));
        return rc;
    }
    while (fgets(line, sizeof(line), f)) {
        struct config_error e1;
        char *name, *value;
        int r;

        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err->text, sizeof(err->text), "%s:%u: line too long", path,
                     lineno);
            rc = -EINVAL;
            goto out;
        }
        r = config_split_line(config_trim(line), &name, &value);
        if (r == 1)
            continue;
        if (r < 0) {
            snprintf(err->text, sizeof(err->text),
                     "%s:%u: expected 'name = value', got '%.200s'", path,
                     lineno, line);
            rc = -EINVAL;
            goto out;
        }
        r = config_set(table, conf, name, value, &e1);
        if (r == -ENOENT && ignore_unknown)
            continue;
        if (r) {
            snprintf(err->text, sizeof(err->text), "%.200s:%u: %.280s", path,
                     lineno, e1.text);
            rc = r;
            goto out;
        }
    }
out:
    fclose(f);
    return rc;
}

static bool config_skipped(const char *name, const char *const *skip)
{
    for (; skip && *skip; skip++) {
        if (strcmp(*skip, name) == 0)
            return true;
    }
    return false;
}

int config_parse_opts(const struct config_entry *table, void *conf,
                      const char *opts, bool ignore_unknown,
                      const char *const *skip, struct config_error *err)
{
    char *copy = xstrdup(opts), *save = NULL, *tok;
    int rc = 0;

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');

        if (eq)
            *eq = '\0';
        if (config_skipped(tok, skip))
            continue;
        rc = config_set(table, conf, tok, eq ? eq + 1 : NULL, err);
        if (rc == -ENOENT && ignore_unknown) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
    }
    free(copy);
    return rc;
}

void config_print_help(const struct config_entry *table, FILE *out)
{
    for (; table->name; table++) {
        fprintf(out, "    %-22s %s", table->name,
                table->help ? table->help : "");
        if (table->def)
            fprintf(out, " (default: %s)", table->def);
        fputc('\n', out);
    }
}
