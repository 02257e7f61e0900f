/* SPDX-License-Identifier: MIT */
/*
 * check_pmsd_config.c: unit tests for pmsd/config.c: defaults from the
 * one table, a config file under command-line overrides, and errors that
 * name the file and line, the text and the reason.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmsd/config.h"

static char path[256];

static void file_setup(void)
{
    const char *base = getenv("TMPDIR");
    int fd;

    snprintf(path, sizeof(path), "%s/check_pmsd_config.XXXXXX",
             base && *base ? base : "/tmp");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void file_teardown(void)
{
    unlink(path);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Parses a NULL-terminated argument list. */
static int parse(struct pmsd_config *c, struct config_error *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;

    argv[argc++] = "pmsd";
    va_start(ap, err);
    while ((argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    return pmsd_config_parse(c, argc, argv, err);
}

START_TEST(test_defaults)
{
    struct pmsd_config c;
    struct config_error err = {{0}};

    pmsd_config_init(&c);
    ck_assert_int_eq(parse(&c, &err, NULL), 0);
    ck_assert_str_eq(c.listen, "127.0.0.1:7070");
    ck_assert_str_eq(c.store, "file");
    ck_assert_uint_eq(c.heartbeat_interval_ms, 5000);
    ck_assert_uint_eq(c.heartbeat_expiry_ms, 15000);
    ck_assert_uint_eq(c.token_ttl_ms, 3600000);
    ck_assert_uint_eq(c.max_body_size, 1 << 20);
    ck_assert_ptr_null(c.tls_cert);
    ck_assert(!c.init_admin);
    pmsd_config_fini(&c);
}
END_TEST

START_TEST(test_file_then_command_line)
{
    struct pmsd_config c;
    struct config_error err = {{0}};

    write_file("# pmsd\nlisten = 127.0.0.1:9999\nheartbeat_expiry = 30s\n"
               "token_ttl = 10m\nstate_dir = \"/tmp/x y\"\n");
    pmsd_config_init(&c);
    ck_assert_int_eq(
        parse(&c, &err, "--config", path, "--listen", "127.0.0.1:1234", "-o",
              "heartbeat_interval=2s,tick=50ms", "--init-admin", NULL),
        0);
    ck_assert_str_eq(c.listen, "127.0.0.1:1234"); /* the CLI wins */
    ck_assert_uint_eq(c.heartbeat_expiry_ms, 30000);
    ck_assert_uint_eq(c.heartbeat_interval_ms, 2000);
    ck_assert_uint_eq(c.token_ttl_ms, 600000);
    ck_assert_uint_eq(c.tick_ms, 50);
    ck_assert_str_eq(c.state_dir, "/tmp/x y");
    ck_assert(c.init_admin);
    pmsd_config_fini(&c);
}
END_TEST

START_TEST(test_errors)
{
    struct pmsd_config c;
    struct config_error err = {{0}};

    write_file("listen = 127.0.0.1:1\n\nheartbeat_expiry = soon\n");
    pmsd_config_init(&c);
    ck_assert_int_eq(parse(&c, &err, "--config", path, NULL), -EINVAL);
    ck_assert_msg(strstr(err.text, ":3:") && strstr(err.text, "soon"), "%s",
                  err.text);
    pmsd_config_fini(&c);

    pmsd_config_init(&c);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(parse(&c, &err, "-o", "colour=blue", NULL), -EINVAL);
    ck_assert_msg(strstr(err.text, "colour") != NULL, "%s", err.text);
    pmsd_config_fini(&c);

    pmsd_config_init(&c);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(parse(&c, &err, "-o",
                           "heartbeat_interval=10s,heartbeat_expiry=5s", NULL),
                     -EINVAL);
    ck_assert_msg(strstr(err.text, "heartbeat_expiry") != NULL, "%s", err.text);
    pmsd_config_fini(&c);

    pmsd_config_init(&c);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(parse(&c, &err, "--bogus", NULL), -EINVAL);
    pmsd_config_fini(&c);

    pmsd_config_init(&c);
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(parse(&c, &err, "stray", NULL), -EINVAL);
    ck_assert_msg(strstr(err.text, "stray") != NULL, "%s", err.text);
    pmsd_config_fini(&c);
}
END_TEST

static Suite *pmsd_config_suite(void)
{
    Suite *s = suite_create("pmsd_config");
    TCase *tc = tcase_create("parse");

    tcase_add_checked_fixture(tc, file_setup, file_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_then_command_line);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pmsd_config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
