/* SPDX-License-Identifier: MIT */
/*
 * check_config.c: unit tests for common/config.c.
 *
 * One test table describes a config struct with every type, ranged and
 * unranged, with and without defaults. The checked number parsers, the
 * table-driven setter, files and -o option strings are each run through
 * tables of cases. Config files are written to a private mkdtemp directory
 * that the test case removes at the end.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct tconf {
    bool verbose;
    bool fast;
    int64_t workers;
    int64_t count;
    uint64_t cache;
    uint64_t any_size;
    uint64_t floor_size;
    uint64_t timeout;
    uint64_t any_dur;
    char *name;
    char *path;
};

static const struct config_entry ttable[] = {
    {"verbose", CONFIG_BOOL, offsetof(struct tconf, verbose), "no", 0, 0,
     "log more"},
    {"fast", CONFIG_BOOL, offsetof(struct tconf, fast), NULL, 0, 0, "go fast"},
    {"workers", CONFIG_INT, offsetof(struct tconf, workers), "4", -10, 100,
     "worker threads"},
    {"count", CONFIG_INT, offsetof(struct tconf, count), NULL, 0, 0, "a count"},
    {"cache", CONFIG_SIZE, offsetof(struct tconf, cache), "64M", 4096,
     1ll << 40, "cache size"},
    {"any_size", CONFIG_SIZE, offsetof(struct tconf, any_size), "0", 0, 0,
     "any size"},
    {"floor_size", CONFIG_SIZE, offsetof(struct tconf, floor_size), "1", 1, 0,
     "a size of at least one byte"},
    {"timeout", CONFIG_DURATION, offsetof(struct tconf, timeout), "30s", 10,
     3600000, "request timeout"},
    {"any_dur", CONFIG_DURATION, offsetof(struct tconf, any_dur), "500ms", 0, 0,
     "any duration"},
    {"name", CONFIG_STRING, offsetof(struct tconf, name), "pcache", 0, 0,
     "instance name"},
    {"path", CONFIG_STRING, offsetof(struct tconf, path), NULL, 0, 0,
     "cache directory"},
    {NULL, 0, 0, NULL, 0, 0, NULL},
};

/* ---- fixture: a private directory for config files ------------------ */

static char tmpdir[256];

/* Unchecked: once per test case, in the runner's process. */
static void tmpdir_setup(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/check_config.XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        abort();
}

static int tmpdir_rm(const char *path, const struct stat *st, int flag,
                     struct FTW *ftw)
{
    return remove(path);
}

static void tmpdir_teardown(void)
{
    nftw(tmpdir, tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to tmpdir/name; returns the path (static storage). */
static const char *write_conf(const char *name, const char *text)
{
    static char path[512];
    FILE *f;

    ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", tmpdir, name),
                     sizeof(path));
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static void tconf_init(struct tconf *c)
{
    memset(c, 0, sizeof(*c));
    config_init(ttable, c);
}

/* ---- number parsers ------------------------------------------------- */

static const struct {
    const char *s;
    int64_t min, max;
    int rc;
    int64_t v;
} int_cases[] = {
    {"0", -10, 10, 0, 0},
    {"10", -10, 10, 0, 10},
    {"-10", -10, 10, 0, -10},
    {"11", -10, 10, -ERANGE, 0},
    {"-11", -10, 10, -ERANGE, 0},
    {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
    {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
    {"9223372036854775808", INT64_MIN, INT64_MAX, -ERANGE, 0},
    {"-9223372036854775809", INT64_MIN, INT64_MAX, -ERANGE, 0},
    {"", 0, 10, -EINVAL, 0},
    {" 5", 0, 10, -EINVAL, 0},
    {"5 ", 0, 10, -EINVAL, 0},
    {"5x", 0, 10, -EINVAL, 0},
    {"0x10", 0, 100, -EINVAL, 0},
    {"1.5", 0, 10, -EINVAL, 0},
    {"-", 0, 10, -EINVAL, 0},
    {"1K", 0, 10000, -EINVAL, 0},
};

START_TEST(test_parse_int)
{
    int64_t v = 12345;

    ck_assert_int_eq(config_parse_int(int_cases[_i].s, int_cases[_i].min,
                                      int_cases[_i].max, &v),
                     int_cases[_i].rc);
    ck_assert_int_eq(v, int_cases[_i].rc == 0 ? int_cases[_i].v : 12345);
}
END_TEST

START_TEST(test_parse_int_null)
{
    int64_t v = 1;

    ck_assert_int_eq(config_parse_int(NULL, 0, 10, &v), -EINVAL);
    ck_assert_int_eq(v, 1);
}
END_TEST

static const struct {
    const char *s;
    int rc;
    uint64_t v;
} size_cases[] = {
    {"0", 0, 0},
    {"4096", 0, 4096},
    {"1b", 0, 1},
    {"1K", 0, 1024},
    {"1k", 0, 1024},
    {"3kb", 0, 3072},
    {"64KiB", 0, 64 << 10},
    {"8M", 0, 8 << 20},
    {"8MB", 0, 8 << 20},
    {"8mib", 0, 8 << 20},
    {"2G", 0, 2ull << 30},
    {"2gb", 0, 2ull << 30},
    {"2GiB", 0, 2ull << 30},
    {"1T", 0, 1ull << 40},
    {"5tb", 0, 5ull << 40},
    {"1TiB", 0, 1ull << 40},
    {"16777215T", 0, 16777215ull << 40},
    {"18446744073709551615", 0, UINT64_MAX},
    {"16777216T", -ERANGE, 0},
    {"18446744073709551616", -ERANGE, 0},
    {"17179869184G", -ERANGE, 0},
    {"", -EINVAL, 0},
    {"K", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"-1K", -EINVAL, 0},
    {" 1K", -EINVAL, 0},
    {"1 K", -EINVAL, 0},
    {"1K ", -EINVAL, 0},
    {"1KX", -EINVAL, 0},
    {"1P", -EINVAL, 0},
    {"1.5G", -EINVAL, 0},
    {"1s", -EINVAL, 0},
};

START_TEST(test_parse_size)
{
    uint64_t v = 12345;

    ck_assert_int_eq(config_parse_size(size_cases[_i].s, &v),
                     size_cases[_i].rc);
    ck_assert_uint_eq(v, size_cases[_i].rc == 0 ? size_cases[_i].v : 12345);
}
END_TEST

static const struct {
    const char *s;
    int rc;
    uint64_t ms;
} dur_cases[] = {
    {"0", 0, 0},
    {"30", 0, 30000}, /* a bare number is seconds */
    {"500ms", 0, 500},
    {"500MS", 0, 500},
    {"0ms", 0, 0},
    {"30s", 0, 30000},
    {"5m", 0, 300000},
    {"5min", 0, 300000},
    {"2h", 0, 7200000},
    {"1H", 0, 3600000},
    {"18446744073709551615ms", 0, UINT64_MAX},
    {"5000000000000h", 0, 5000000000000ull * 3600000},
    {"18446744073709551615", -ERANGE, 0},
    {"6000000000000h", -ERANGE, 0},
    {"", -EINVAL, 0},
    {"s", -EINVAL, 0},
    {"-1s", -EINVAL, 0},
    {"1.5s", -EINVAL, 0},
    {"1d", -EINVAL, 0},
    {"1 s", -EINVAL, 0},
    {"10sec", -EINVAL, 0},
    {"1K", -EINVAL, 0},
};

START_TEST(test_parse_duration)
{
    uint64_t v = 12345;

    ck_assert_int_eq(config_parse_duration(dur_cases[_i].s, &v),
                     dur_cases[_i].rc);
    ck_assert_uint_eq(v, dur_cases[_i].rc == 0 ? dur_cases[_i].ms : 12345);
}
END_TEST

static const struct {
    const char *s;
    int rc;
    bool v;
} bool_cases[] = {
    {"1", 0, true},       {"yes", 0, true},      {"true", 0, true},
    {"on", 0, true},      {"YES", 0, true},      {"On", 0, true},
    {"0", 0, false},      {"no", 0, false},      {"false", 0, false},
    {"off", 0, false},    {"FALSE", 0, false},   {"", -EINVAL, false},
    {"2", -EINVAL, 0},    {"y", -EINVAL, 0},     {"yess", -EINVAL, 0},
    {" yes", -EINVAL, 0}, {"maybe", -EINVAL, 0},
};

START_TEST(test_parse_bool)
{
    bool v = true, w = false;

    ck_assert_int_eq(config_parse_bool(bool_cases[_i].s, &v),
                     bool_cases[_i].rc);
    ck_assert_int_eq(config_parse_bool(bool_cases[_i].s, &w),
                     bool_cases[_i].rc);
    if (bool_cases[_i].rc == 0) {
        ck_assert_int_eq(v, bool_cases[_i].v);
        ck_assert_int_eq(w, bool_cases[_i].v);
    } else {
        ck_assert_int_eq(v, true); /* untouched */
        ck_assert_int_eq(w, false);
    }
}
END_TEST

/* ---- config_set: every type through the table ----------------------- */

/* True when field e holds the same value in a and b. */
static bool field_equal(const struct config_entry *e, const struct tconf *a,
                        const struct tconf *b)
{
    const char *pa = (const char *)a + e->offset;
    const char *pb = (const char *)b + e->offset;

    switch (e->type) {
    case CONFIG_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case CONFIG_INT:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case CONFIG_STRING: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
        return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
    }
    }
    return false;
}

static const struct {
    const char *name;
    const char *value; /* NULL: a bare name */
    int rc;
    int64_t i;       /* expected bool/int value */
    uint64_t u;      /* expected size/duration */
    const char *s;   /* expected string */
    const char *err; /* substring of the error text */
} set_cases[] = {
    {"verbose", "yes", 0, 1, 0, NULL, NULL},
    {"verbose", "off", 0, 0, 0, NULL, NULL},
    {"verbose", NULL, 0, 1, 0, NULL, NULL},
    {"verbose", "maybe", -EINVAL, 0, 0, NULL, "expected yes or no"},
    {"verbose", "", -EINVAL, 0, 0, NULL, "'verbose = '"},
    {"fast", "true", 0, 1, 0, NULL, NULL},
    {"workers", "100", 0, 100, 0, NULL, NULL},
    {"workers", "-10", 0, -10, 0, NULL, NULL},
    {"workers", "101", -EINVAL, 0, 0, NULL, "out of range [-10, 100]"},
    {"workers", "-11", -EINVAL, 0, 0, NULL, "out of range"},
    {"workers", "ten", -EINVAL, 0, 0, NULL,
     "'workers = ten': expected a whole"},
    {"workers", "99999999999999999999", -EINVAL, 0, 0, NULL, "out of range"},
    {"workers", NULL, -EINVAL, 0, 0, NULL, "'workers' needs a value"},
    /* min 0, max 0: an int keeps min 0 as its floor */
    {"count", "9223372036854775807", 0, INT64_MAX, 0, NULL, NULL},
    {"count", "-1", -EINVAL, 0, 0, NULL, "out of range"},
    {"cache", "4K", 0, 0, 4096, NULL, NULL},
    {"cache", "1T", 0, 0, 1ull << 40, NULL, NULL},
    {"cache", "4095", -EINVAL, 0, 0, NULL, "out of range"},
    {"cache", "1025G", -EINVAL, 0, 0, NULL, "out of range"},
    {"cache", "lots", -EINVAL, 0, 0, NULL, "expected a size such as"},
    {"cache", NULL, -EINVAL, 0, 0, NULL, "needs a value"},
    {"any_size", "16777215T", 0, 0, 16777215ull << 40, NULL, NULL},
    {"any_size", "16777216T", -EINVAL, 0, 0, NULL, "out of range"},
    /* a floor and no ceiling: sizes past INT64_MAX are still in range */
    {"floor_size", "9000000T", 0, 0, 9000000ull << 40, NULL, NULL},
    {"floor_size", "0", -EINVAL, 0, 0, NULL, "out of range"},
    {"timeout", "10ms", 0, 0, 10, NULL, NULL},
    {"timeout", "1h", 0, 0, 3600000, NULL, NULL},
    {"timeout", "90", 0, 0, 90000, NULL, NULL},
    {"timeout", "9ms", -EINVAL, 0, 0, NULL, "out of range"},
    {"timeout", "61m", -EINVAL, 0, 0, NULL, "out of range"},
    {"timeout", "1d", -EINVAL, 0, 0, NULL, "expected a duration such as"},
    {"any_dur", "0", 0, 0, 0, NULL, NULL},
    {"any_dur", "100000h", 0, 0, 360000000000ull, NULL, NULL},
    {"name", "", 0, 0, 0, "", NULL},
    {"name", "two words = 1, #x", 0, 0, 0, "two words = 1, #x", NULL},
    {"name", NULL, -EINVAL, 0, 0, NULL, "'name' needs a value (text)"},
    {"path", "/var/cache", 0, 0, 0, "/var/cache", NULL},
    {"nosuch", "1", -ENOENT, 0, 0, NULL, "unknown setting 'nosuch'"},
    {"", "1", -ENOENT, 0, 0, NULL, "unknown setting ''"},
    {"Verbose", "1", -ENOENT, 0, 0, NULL, "unknown setting"},
};

START_TEST(test_set)
{
    const struct config_entry *e = config_find(ttable, set_cases[_i].name);
    struct config_error err = {{0}};
    struct tconf c, def;
    char *field;
    int i;

    tconf_init(&c);
    tconf_init(&def);
    ck_assert_int_eq(
        config_set(ttable, &c, set_cases[_i].name, set_cases[_i].value, &err),
        set_cases[_i].rc);
    if (set_cases[_i].rc) {
        ck_assert_ptr_nonnull(strstr(err.text, set_cases[_i].err));
        /* a failed set changes nothing */
        for (i = 0; ttable[i].name; i++)
            ck_assert(field_equal(&ttable[i], &c, &def));
        goto out;
    }
    ck_assert_ptr_nonnull(e);
    field = (char *)&c + e->offset;
    switch (e->type) {
    case CONFIG_BOOL:
        ck_assert_int_eq(*(bool *)field, set_cases[_i].i);
        break;
    case CONFIG_INT:
        ck_assert_int_eq(*(int64_t *)field, set_cases[_i].i);
        break;
    case CONFIG_SIZE:
    case CONFIG_DURATION:
        ck_assert_uint_eq(*(uint64_t *)field, set_cases[_i].u);
        break;
    case CONFIG_STRING:
        ck_assert_str_eq(*(char **)field, set_cases[_i].s);
        ck_assert_ptr_ne(*(char **)field, set_cases[_i].value); /* a copy */
        break;
    }
    /* every other field keeps its default */
    for (i = 0; ttable[i].name; i++) {
        if (&ttable[i] != e)
            ck_assert(field_equal(&ttable[i], &c, &def));
    }
out:
    config_fini(ttable, &c);
    config_fini(ttable, &def);
}
END_TEST

START_TEST(test_find)
{
    ck_assert_ptr_eq(config_find(ttable, "verbose"), &ttable[0]);
    ck_assert_ptr_eq(config_find(ttable, "path"), &ttable[10]);
    ck_assert_ptr_null(config_find(ttable, "pat"));
    ck_assert_ptr_null(config_find(ttable, "paths"));
}
END_TEST

/* ---- defaults and string ownership ---------------------------------- */

START_TEST(test_init_defaults)
{
    struct tconf c;

    tconf_init(&c);
    ck_assert_int_eq(c.verbose, false);
    ck_assert_int_eq(c.fast, false); /* no default: left as it was */
    ck_assert_int_eq(c.workers, 4);
    ck_assert_int_eq(c.count, 0);
    ck_assert_uint_eq(c.cache, 64ull << 20);
    ck_assert_uint_eq(c.any_size, 0);
    ck_assert_uint_eq(c.floor_size, 1);
    ck_assert_uint_eq(c.timeout, 30000);
    ck_assert_uint_eq(c.any_dur, 500);
    ck_assert_str_eq(c.name, "pcache");
    ck_assert_ptr_ne(c.name, ttable[9].def); /* owned copy */
    ck_assert_ptr_null(c.path);
    config_fini(ttable, &c);
}
END_TEST

START_TEST(test_strings_owned)
{
    struct config_error err;
    struct tconf c;
    char value[] = "first";

    tconf_init(&c);
    /* each set frees the previous string (LeakSanitizer checks) */
    ck_assert_int_eq(config_set(ttable, &c, "name", value, &err), 0);
    ck_assert_int_eq(config_set(ttable, &c, "path", value, &err), 0);
    value[0] = 'F'; /* the config holds copies */
    ck_assert_str_eq(c.name, "first");
    ck_assert_str_eq(c.path, "first");
    ck_assert_int_eq(config_set(ttable, &c, "name", "second", &err), 0);
    ck_assert_str_eq(c.name, "second");
    config_fini(ttable, &c);
    ck_assert_ptr_null(c.name);
    ck_assert_ptr_null(c.path);
    config_fini(ttable, &c); /* twice is harmless */
    ck_assert_ptr_null(c.name);
}
END_TEST

START_TEST(test_init_drops_garbage_strings)
{
    struct tconf c;

    /* config_init must not free whatever string pointers it finds */
    memset(&c, 0xa5, sizeof(c));
    config_init(ttable, &c);
    ck_assert_str_eq(c.name, "pcache");
    ck_assert_ptr_null(c.path);
    config_fini(ttable, &c);
}
END_TEST

/* ---- config files --------------------------------------------------- */

START_TEST(test_file_good)
{
    static const char text[] = "# pcache test configuration\n"
                               "; another comment style\n"
                               "\n"
                               "   \t\n"
                               "  # an indented comment\n"
                               "verbose = yes\n"
                               "   workers=12   \n"
                               "cache = \"256M\"\n"
                               "name = \"hello world\"\n"
                               "path = /var/cache/a#b\n"
                               "timeout = 90\r\n"
                               "fast\t=\ton\n"
                               "workers = 13\n"
                               "any_size = 2K";
    struct config_error err = {{0}};
    struct tconf c;

    tconf_init(&c);
    ck_assert_int_eq(config_load_file(ttable, &c, write_conf("good.conf", text),
                                      false, &err),
                     0);
    ck_assert_int_eq(c.verbose, true);
    ck_assert_int_eq(c.fast, true);
    ck_assert_int_eq(c.workers, 13); /* the last line wins */
    ck_assert_uint_eq(c.cache, 256ull << 20);
    ck_assert_str_eq(c.name, "hello world");
    ck_assert_str_eq(c.path, "/var/cache/a#b"); /* '#' only starts a line */
    ck_assert_uint_eq(c.timeout, 90000);        /* CRLF is fine */
    ck_assert_uint_eq(c.any_size, 2048);        /* no final newline */
    ck_assert_uint_eq(c.any_dur, 500);          /* not in the file */
    config_fini(ttable, &c);
}
END_TEST

static const struct {
    const char *value; /* right of "name = " */
    const char *want;
} quote_cases[] = {
    {"\"x\"", "x"},
    {"\"\"", ""},
    {"\"  padded  \"", "  padded  "},
    {"\"say \"hi\"\"", "say \"hi\""},
    {"\"unbalanced", "\"unbalanced"},
    {"unbalanced\"", "unbalanced\""},
    {"\"", "\""},
    {"a = b", "a = b"},
    {"'single'", "'single'"},
};

START_TEST(test_file_quotes)
{
    struct config_error err;
    struct tconf c;
    char text[256];

    snprintf(text, sizeof(text), "name = %s\n", quote_cases[_i].value);
    tconf_init(&c);
    ck_assert_int_eq(
        config_load_file(ttable, &c, write_conf("q.conf", text), false, &err),
        0);
    ck_assert_str_eq(c.name, quote_cases[_i].want);
    config_fini(ttable, &c);
}
END_TEST

static const struct {
    const char *text;
    int rc;
    int line;
    const char *err; /* after "path:line: " */
} bad_files[] = {
    {"verbose = yes\nworkers = lots\n", -EINVAL, 2,
     "'workers = lots': expected a whole number"},
    {"verbose = yes\n\njust text\n", -EINVAL, 3,
     "expected 'name = value', got 'just text'"},
    {"= 5\n", -EINVAL, 1, "expected 'name = value', got '= 5'"},
    {"  = 5\n", -EINVAL, 1, "= 5'"},
    {"any_dur = \"\"\n", -EINVAL, 1, "expected a duration"},
    {"verbose\n", -EINVAL, 1, "expected 'name = value', got 'verbose'"},
    {"# ok\nnosuch = 1\n", -ENOENT, 2, "unknown setting 'nosuch'"},
    {"workers = 1000\n", -EINVAL, 1, "out of range"},
    {"verbose = maybe\n", -EINVAL, 1, "expected yes or no"},
    {"cache = \"1X\"\n", -EINVAL, 1, "'cache = 1X'"},
    {"workers = 1\nworkers = 2\ntimeout = 5d\n", -EINVAL, 3, "timeout"},
};

START_TEST(test_file_bad)
{
    struct config_error err = {{0}};
    const char *path = write_conf("bad.conf", bad_files[_i].text);
    char prefix[600];
    struct tconf c;

    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, bad_files[_i].line);
    tconf_init(&c);
    ck_assert_int_eq(config_load_file(ttable, &c, path, false, &err),
                     bad_files[_i].rc);
    ck_assert_msg(strncmp(err.text, prefix, strlen(prefix)) == 0,
                  "'%s' does not start with '%s'", err.text, prefix);
    ck_assert_msg(strstr(err.text, bad_files[_i].err), "'%s' lacks '%s'",
                  err.text, bad_files[_i].err);
    config_fini(ttable, &c);
}
END_TEST

START_TEST(test_file_stops_at_error)
{
    struct config_error err;
    struct tconf c;

    tconf_init(&c);
    ck_assert_int_eq(
        config_load_file(ttable, &c,
                         write_conf("stop.conf", "workers = 7\n"
                                                 "workers = x\n"
                                                 "verbose = yes\n"),
                         false, &err),
        -EINVAL);
    ck_assert_int_eq(c.workers, 7);     /* lines before the error applied */
    ck_assert_int_eq(c.verbose, false); /* lines after it not read */
    config_fini(ttable, &c);
}
END_TEST

START_TEST(test_file_unknown)
{
    static const char text[] = "nosuch = 1\nworkers = 3\nother=\"x\"\n";
    struct config_error err = {{0}};
    struct tconf c;
    const char *path = write_conf("unknown.conf", text);

    tconf_init(&c);
    ck_assert_int_eq(config_load_file(ttable, &c, path, false, &err), -ENOENT);
    ck_assert_int_eq(c.workers, 4);
    config_fini(ttable, &c);

    tconf_init(&c);
    ck_assert_int_eq(config_load_file(ttable, &c, path, true, &err), 0);
    ck_assert_int_eq(c.workers, 3);
    config_fini(ttable, &c);

    /* ignore_unknown does not excuse a bad value of a known name */
    tconf_init(&c);
    path = write_conf("unknown2.conf", "nosuch = 1\nworkers = many\n");
    ck_assert_int_eq(config_load_file(ttable, &c, path, true, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "unknown2.conf:2: "));
    config_fini(ttable, &c);
}
END_TEST

START_TEST(test_file_missing_and_long)
{
    struct config_error err = {{0}};
    char path[512], *line;
    struct tconf c;
    size_t n = 5000;

    snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
    tconf_init(&c);
    ck_assert_int_eq(config_load_file(ttable, &c, path, false, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.text, path));

    line = malloc(n + 32);
    ck_assert_ptr_nonnull(line);
    memcpy(line, "workers = 1\nname = ", 19);
    memset(line + 19, 'x', n);
    strcpy(line + 19 + n, "\n");
    ck_assert_int_eq(config_load_file(ttable, &c, write_conf("long.conf", line),
                                      false, &err),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "long.conf:2: line too long"));
    free(line);
    config_fini(ttable, &c);
}
END_TEST

/* ---- -o option strings ---------------------------------------------- */

static const char *const skip_list[] = {"allow_other", "ro", "_netdev", NULL};

static const struct {
    const char *opts;
    bool ignore_unknown;
    bool use_skip;
    int rc;
    bool verbose, fast;
    int64_t workers;
    const char *name;
    const char *err;
} opt_cases[] = {
    {"verbose,workers=5,name=abc", false, false, 0, true, false, 5, "abc",
     NULL},
    {"verbose=no,fast", false, false, 0, false, true, 4, "pcache", NULL},
    {"fast=off,verbose=on", false, false, 0, true, false, 4, "pcache", NULL},
    {"", false, false, 0, false, false, 4, "pcache", NULL},
    {",,workers=3,,", false, false, 0, false, false, 3, "pcache", NULL},
    {"workers=3,workers=4", false, false, 0, false, false, 4, "pcache", NULL},
    {"name=a=b", false, false, 0, false, false, 4, "a=b", NULL},
    {"name=", false, false, 0, false, false, 4, "", NULL},
    {"workers", false, false, -EINVAL, false, false, 4, "pcache",
     "'workers' needs a value"},
    {"name", false, false, -EINVAL, false, false, 4, "pcache", "needs a value"},
    {"workers=-50", false, false, -EINVAL, false, false, 4, "pcache",
     "out of range"},
    {"nosuch=1", false, false, -ENOENT, false, false, 4, "pcache",
     "unknown setting 'nosuch'"},
    {"nosuch=1,fast", true, false, 0, false, true, 4, "pcache", NULL},
    {"allow_other,ro,workers=3", false, true, 0, false, false, 3, "pcache",
     NULL},
    {"ro=1,_netdev,fast", false, true, 0, false, true, 4, "pcache", NULL},
    {"allow_other,workers=3", false, false, -ENOENT, false, false, 4, "pcache",
     "unknown setting 'allow_other'"},
    /* parsing stops at the first error; what came before is applied */
    {"workers=3,bogus,workers=9", false, false, -ENOENT, false, false, 3,
     "pcache", "'bogus'"},
    {"workers=3,verbose=2,workers=9", false, false, -EINVAL, false, false, 3,
     "pcache", "'verbose = 2'"},
};

START_TEST(test_opts)
{
    struct config_error err = {{0}};
    struct tconf c;

    tconf_init(&c);
    ck_assert_int_eq(
        config_parse_opts(ttable, &c, opt_cases[_i].opts,
                          opt_cases[_i].ignore_unknown,
                          opt_cases[_i].use_skip ? skip_list : NULL, &err),
        opt_cases[_i].rc);
    ck_assert_int_eq(c.verbose, opt_cases[_i].verbose);
    ck_assert_int_eq(c.fast, opt_cases[_i].fast);
    ck_assert_int_eq(c.workers, opt_cases[_i].workers);
    ck_assert_str_eq(c.name, opt_cases[_i].name);
    if (opt_cases[_i].err)
        ck_assert_msg(strstr(err.text, opt_cases[_i].err), "'%s' lacks '%s'",
                      err.text, opt_cases[_i].err);
    config_fini(ttable, &c);
}
END_TEST

START_TEST(test_opts_override_file)
{
    struct config_error err;
    struct tconf c;

    /* the order binaries use: defaults, then the file, then -o */
    tconf_init(&c);
    ck_assert_int_eq(
        config_load_file(ttable, &c,
                         write_conf("base.conf", "workers = 8\nname = file\n"),
                         false, &err),
        0);
    ck_assert_int_eq(
        config_parse_opts(ttable, &c, "name=cli", false, NULL, &err), 0);
    ck_assert_int_eq(c.workers, 8);
    ck_assert_str_eq(c.name, "cli");
    config_fini(ttable, &c);
}
END_TEST

/* ---- help ----------------------------------------------------------- */

START_TEST(test_help)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    int i, lines = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(f);
    config_print_help(ttable, f);
    ck_assert_int_eq(fclose(f), 0);
    for (line = strtok_r(text, "\n", &save), i = 0; line;
         line = strtok_r(NULL, "\n", &save), i++) {
        ck_assert_ptr_nonnull(ttable[i].name);
        ck_assert_msg(strstr(line, ttable[i].name), "line %d: %s", i, line);
        ck_assert_msg(strstr(line, ttable[i].help), "line %d: %s", i, line);
        if (ttable[i].def) {
            char want[64];

            snprintf(want, sizeof(want), "(default: %s)", ttable[i].def);
            ck_assert_msg(strstr(line, want), "line %d: %s", i, line);
        } else {
            ck_assert_ptr_null(strstr(line, "default"));
        }
        lines++;
    }
    ck_assert_int_eq(lines, NELEM(ttable) - 1);
    free(text);
}
END_TEST

/* ---- suite ---------------------------------------------------------- */

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("numbers");
    tcase_add_loop_test(tc, test_parse_int, 0, NELEM(int_cases));
    tcase_add_test(tc, test_parse_int_null);
    tcase_add_loop_test(tc, test_parse_size, 0, NELEM(size_cases));
    tcase_add_loop_test(tc, test_parse_duration, 0, NELEM(dur_cases));
    tcase_add_loop_test(tc, test_parse_bool, 0, NELEM(bool_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("set");
    tcase_add_loop_test(tc, test_set, 0, NELEM(set_cases));
    tcase_add_test(tc, test_find);
    suite_add_tcase(s, tc);

    tc = tcase_create("defaults");
    tcase_add_test(tc, test_init_defaults);
    tcase_add_test(tc, test_strings_owned);
    tcase_add_test(tc, test_init_drops_garbage_strings);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_test(tc, test_file_good);
    tcase_add_loop_test(tc, test_file_quotes, 0, NELEM(quote_cases));
    tcase_add_loop_test(tc, test_file_bad, 0, NELEM(bad_files));
    tcase_add_test(tc, test_file_stops_at_error);
    tcase_add_test(tc, test_file_unknown);
    tcase_add_test(tc, test_file_missing_and_long);
    tcase_add_test(tc, test_opts_override_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("opts");
    tcase_add_loop_test(tc, test_opts, 0, NELEM(opt_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("help");
    tcase_add_test(tc, test_help);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
