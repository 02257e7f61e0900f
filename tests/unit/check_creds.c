/* SPDX-License-Identifier: MIT */
/*
 * check_creds.c: unit tests for common/creds.c.
 *
 * Credentials files are written to a private mkdtemp directory that each
 * test case removes at the end. Every test starts from an environment with
 * no AWS_* variables and HOME pointing into that directory, so the
 * developer's own ~/.aws/credentials never takes part. Reload tests wait
 * for creds_get()'s once-a-second check with a poll loop and a deadline.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/creds.h"
#include "common/monotime.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Long enough for several once-a-second checks on a loaded machine. */
#define RELOAD_DEADLINE_MS 10000

/* ---- fixtures ------------------------------------------------------- */

static char tmpdir[256];

/* Unchecked: once per test case, in the runner's process. */
static void tmpdir_setup(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/check_creds.XXXXXX",
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

/* Checked: runs in each test's own process (CK_FORK) before the test. */
static void env_setup(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    setenv("HOME", tmpdir, 1);
}

/* tmpdir/name; the caller frees. */
static char *tmp_path(const char *name)
{
    char *p = NULL;

    ck_assert_int_ge(asprintf(&p, "%s/%s", tmpdir, name), 0);
    return p;
}

static void write_fd(int fd, const char *text, mode_t mode)
{
    size_t len = strlen(text);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, mode), 0); /* whatever the umask */
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

/* Rewrites path in place (same inode), with the given mode. */
static void write_file(const char *path, const char *text, mode_t mode)
{
    write_fd(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), text,
             mode);
}

/* Replaces path atomically (new inode), as credential helpers do. */
static void replace_file(const char *path, const char *text)
{
    char tmp[512];

    snprintf(tmp, sizeof(tmp), "%s.new", path);
    write_file(tmp, text, 0600);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* ---- parsing one file ----------------------------------------------- */

static const char aws_file[] = "# AWS shared credentials\n"
                               "[default]\n"
                               "aws_access_key_id = AKIDDEFAULT\n"
                               "aws_secret_access_key = secretdefault\n"
                               "\n"
                               "[profile work]\n"
                               "aws_access_key_id=AKIDWORK\n"
                               "aws_secret_access_key=secret/work+1\n"
                               "aws_session_token = tokenwork==\n"
                               "; a comment inside a profile\n"
                               "\n"
                               "[ spaced ]\n"
                               "  aws_access_key_id = AKIDSPACED  \n"
                               "\taws_secret_access_key\t=\tsecretspaced\n"
                               "region = eu-west-1\n"
                               "\n"
                               "[nosecret]\n"
                               "aws_access_key_id = AKIDNOSECRET\n"
                               "[nokey]\n"
                               "aws_secret_access_key = secretnokey\n"
                               "[last]\r\n"
                               "aws_access_key_id = AKIDLAST\r\n"
                               "aws_secret_access_key = secretlast\r\n";

static const struct {
    const char *profile;
    int rc;
    const char *key, *secret, *token;
    const char *err; /* substring of the message */
} aws_cases[] = {
    {NULL, 0, "AKIDDEFAULT", "secretdefault", "", NULL},
    {"default", 0, "AKIDDEFAULT", "secretdefault", "", NULL},
    {"work", 0, "AKIDWORK", "secret/work+1", "tokenwork==", NULL},
    {"spaced", 0, "AKIDSPACED", "secretspaced", "", NULL},
    {"last", 0, "AKIDLAST", "secretlast", "", NULL},
    {"nosecret", -EINVAL, NULL, NULL, NULL,
     "profile [nosecret] lacks aws_access_key_id or aws_secret_access_key"},
    {"nokey", -EINVAL, NULL, NULL, NULL, "lacks"},
    {"missing", -EINVAL, NULL, NULL, NULL, "no profile [missing]"},
    {"profile work", -EINVAL, NULL, NULL, NULL, "no profile"},
    {"WORK", -EINVAL, NULL, NULL, NULL, "no profile [WORK]"},
};

START_TEST(test_aws_file)
{
    char *path = tmp_path("aws");
    char err[512] = "";
    struct creds c;

    write_file(path, aws_file, 0600);
    ck_assert_int_eq(
        creds_load_file(path, aws_cases[_i].profile, &c, err, sizeof(err)),
        aws_cases[_i].rc);
    if (aws_cases[_i].rc == 0) {
        ck_assert_str_eq(c.access_key, aws_cases[_i].key);
        ck_assert_str_eq(c.secret_key, aws_cases[_i].secret);
        ck_assert_str_eq(c.session_token, aws_cases[_i].token);
    } else {
        ck_assert_msg(strstr(err, aws_cases[_i].err), "'%s' lacks '%s'", err,
                      aws_cases[_i].err);
        ck_assert_msg(strstr(err, path), "'%s' lacks the path", err);
    }
    free(path);
}
END_TEST

static const struct {
    const char *text;
    int rc;
    const char *key, *secret;
} s3fs_cases[] = {
    {"AKIDS3FS:secrets3fs\n", 0, "AKIDS3FS", "secrets3fs"},
    {"AKIDS3FS:secrets3fs", 0, "AKIDS3FS", "secrets3fs"},
    {"# s3fs passwd file\n\n  AKIDS3FS:secret/x+y  \n", 0, "AKIDS3FS",
     "secret/x+y"},
    {"AKIDONE:secretone\nAKIDTWO:secrettwo\n", 0, "AKIDONE", "secretone"},
    {"AKIDS3FS:\n", -EINVAL, NULL, NULL},
    {":secrets3fs\n", -EINVAL, NULL, NULL},
    {"just some words\n", -EINVAL, NULL, NULL},
    {"", -EINVAL, NULL, NULL},
};

START_TEST(test_s3fs_file)
{
    char *path = tmp_path("passwd-s3fs");
    char err[512] = "";
    struct creds c;

    write_file(path, s3fs_cases[_i].text, 0600);
    /* the profile does not matter for an s3fs file */
    ck_assert_int_eq(creds_load_file(path, "work", &c, err, sizeof(err)),
                     s3fs_cases[_i].rc);
    if (s3fs_cases[_i].rc == 0) {
        ck_assert_str_eq(c.access_key, s3fs_cases[_i].key);
        ck_assert_str_eq(c.secret_key, s3fs_cases[_i].secret);
        ck_assert_str_eq(c.session_token, "");
    } else {
        ck_assert_str_ne(err, "");
    }
    free(path);
}
END_TEST

static const struct {
    mode_t mode;
    int rc;
} mode_cases[] = {
    {0600, 0},       {0400, 0},       {0700, 0},       {0644, -EACCES},
    {0640, -EACCES}, {0604, -EACCES}, {0660, -EACCES}, {0602, -EACCES},
    {0610, -EACCES}, {0601, -EACCES}, {0666, -EACCES},
};

START_TEST(test_file_mode)
{
    char *path = tmp_path("mode");
    char err[512] = "";
    struct creds c;

    write_file(path, "AKIDMODE:secretmode\n", mode_cases[_i].mode);
    ck_assert_int_eq(creds_load_file(path, NULL, &c, err, sizeof(err)),
                     mode_cases[_i].rc);
    if (mode_cases[_i].rc) {
        ck_assert_msg(strstr(err, "chmod 600"), "'%s' lacks chmod", err);
        ck_assert_msg(strstr(err, path), "'%s' lacks the path", err);
        ck_assert_msg(strstr(err, "group or others"), "'%s'", err);
    }
    free(path);
}
END_TEST

START_TEST(test_file_missing_and_big)
{
    char *path = tmp_path("absent");
    char err[512] = "", *big;
    struct creds c;
    size_t n = 70 * 1024;

    ck_assert_int_eq(creds_load_file(path, NULL, &c, err, sizeof(err)),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, path));
    free(path);

    /* a file past the cap is refused before it is read */
    path = tmp_path("big");
    big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', n);
    big[n] = '\0';
    memcpy(big, "AKIDBIG:secretbig\n", 18);
    write_file(path, big, 0600);
    ck_assert_int_eq(creds_load_file(path, NULL, &c, err, sizeof(err)),
                     -EMSGSIZE);
    free(big);
    free(path);
}
END_TEST

/* ---- choosing the source -------------------------------------------- */

START_TEST(test_explicit_keys_win)
{
    char *path = tmp_path("explicit");
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
    write_file(path, "AKIDFILE:secretfile\n", 0600);
    ck_assert_int_eq(creds_source_init(&s, "AKIDOPT", "secretopt", "tokenopt",
                                       path, "default", err, sizeof(err)),
                     0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDOPT");
    ck_assert_str_eq(c.secret_key, "secretopt");
    ck_assert_str_eq(c.session_token, "tokenopt");
    creds_source_fini(&s);

    /* without a token: none, not the environment's */
    ck_assert_int_eq(creds_source_init(&s, "AKIDOPT", "secretopt", NULL, NULL,
                                       NULL, err, sizeof(err)),
                     0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDOPT");
    ck_assert_str_eq(c.session_token, "");
    creds_source_fini(&s);
    free(path);
}
END_TEST

START_TEST(test_env_keys)
{
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDENV");
    ck_assert_str_eq(c.secret_key, "secretenv");
    ck_assert_str_eq(c.session_token, "tokenenv");
    creds_source_fini(&s);

    /* no token variable: no token */
    unsetenv("AWS_SESSION_TOKEN");
    ck_assert_int_eq(
        creds_source_init(&s, "", "", NULL, "", "", err, sizeof(err)), 0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDENV");
    ck_assert_str_eq(c.session_token, "");
    creds_source_fini(&s);
}
END_TEST

START_TEST(test_env_key_without_secret)
{
    struct creds_source s;
    char err[512] = "";

    /* half a key pair in the environment is not a source */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -ENOENT);
    ck_assert_str_ne(err, "");
    /* a failed init leaves nothing to free (LeakSanitizer checks) */
}
END_TEST

START_TEST(test_file_beats_env)
{
    char *path = tmp_path("beats-env");
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    write_file(path, aws_file, 0600);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, path, "work", err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDWORK");
    ck_assert_str_eq(c.session_token, "tokenwork==");
    creds_source_fini(&s);
    free(path);
}
END_TEST

START_TEST(test_shared_file_env)
{
    char *path = tmp_path("shared");
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    write_file(path, aws_file, 0600);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "spaced", 1);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDSPACED");
    creds_source_fini(&s);

    /* an explicit profile beats AWS_PROFILE */
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, "work", err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDWORK");
    creds_source_fini(&s);

    /* AWS_PROFILE naming no profile in the file */
    setenv("AWS_PROFILE", "gone", 1);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no profile [gone]"));
    free(path);
}
END_TEST

START_TEST(test_home_file)
{
    char *dir = tmp_path(".aws"), *path = tmp_path(".aws/credentials");
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    ck_assert_int_eq(mkdir(dir, 0700) == 0 || errno == EEXIST, 1);
    write_file(path, aws_file, 0600);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDDEFAULT");
    creds_source_fini(&s);
    unlink(path);
    free(path);
    free(dir);
}
END_TEST

START_TEST(test_nothing_found)
{
    struct creds_source s;
    char err[512] = "";

    /* HOME points at an empty directory */
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -ENOENT);
    ck_assert_str_ne(err, "");

    unsetenv("HOME");
    err[0] = '\0';
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "no credentials"));
}
END_TEST

START_TEST(test_source_refuses_open_file)
{
    char *path = tmp_path("open-mode");
    struct creds_source s;
    char err[512] = "";

    write_file(path, aws_file, 0644);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, path, NULL, err, sizeof(err)),
        -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "chmod"));
    creds_source_fini(&s); /* allowed after a failed init, not needed */
    free(path);
}
END_TEST

/* ---- reloading ------------------------------------------------------ */

/* Polls creds_get until the access key is want; fails at the deadline. */
static void wait_for_key(struct creds_source *s, const char *want)
{
    uint64_t deadline = monotime_ms() + RELOAD_DEADLINE_MS;
    struct creds c;

    for (;;) {
        ck_assert_int_eq(creds_get(s, &c), 0);
        if (strcmp(c.access_key, want) == 0)
            return;
        ck_assert_msg(monotime_ms() < deadline, "still '%s', not '%s'",
                      c.access_key, want);
        usleep(20 * 1000);
    }
}

/* As if the once-a-second interval had passed: the next get stats. */
static void force_recheck(struct creds_source *s)
{
    s->checked_ms = monotime_ms() - 1000;
}

/* Sends fd 2 (where log.c writes) to path. */
static void capture_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

static int count_in_file(const char *path, const char *needle)
{
    char text[16384], *p = text;
    int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
    ssize_t len;

    ck_assert_int_ge(fd, 0);
    len = read(fd, text, sizeof(text) - 1);
    ck_assert_int_ge(len, 0);
    text[len] = '\0';
    close(fd);
    while ((p = strstr(p, needle))) {
        n++;
        p += strlen(needle);
    }
    return n;
}

START_TEST(test_reload_on_change)
{
    char *path = tmp_path("rotate");
    struct creds_source s;
    char err[512] = "";
    uint64_t checked;
    struct creds c;

    write_file(path, "AKIDONE:secretone\n", 0600);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, path, NULL, err, sizeof(err)),
        0);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDONE");

    /* replaced by rename: a new inode */
    replace_file(path, "[default]\naws_access_key_id = AKIDTWO\n"
                       "aws_secret_access_key = secrettwo\n"
                       "aws_session_token = tokentwo\n");
    checked = s.checked_ms;
    ck_assert_int_eq(creds_get(&s, &c), 0);
    if (monotime_ms() - checked < 1000) /* no stat() within the second */
        ck_assert_str_eq(c.access_key, "AKIDONE");
    wait_for_key(&s, "AKIDTWO");
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.secret_key, "secrettwo");
    ck_assert_str_eq(c.session_token, "tokentwo");

    /* rewritten in place: same inode, another size */
    write_file(path, "AKIDTHREE:secretthree-longer\n", 0600);
    wait_for_key(&s, "AKIDTHREE");
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.secret_key, "secretthree-longer");
    ck_assert_str_eq(c.session_token, "");
    creds_source_fini(&s);
    free(path);
}
END_TEST

static const struct {
    const char *text; /* NULL: the file is deleted */
    mode_t mode;
} broken_rewrites[] = {
    {"[default]\naws_access_key_id = AKIDBROKEN\n", 0600}, /* no secret */
    {"[other]\naws_access_key_id = A\naws_secret_access_key = B\n", 0600},
    {"", 0600},
    {"AKIDOPEN:secretopen-x\n", 0644}, /* readable by others */
    {NULL, 0},
};

START_TEST(test_broken_rewrite_keeps_keys)
{
    char *path = tmp_path("broken"), *log = tmp_path("broken.log");
    struct creds_source s;
    char err[512] = "";
    struct creds c;
    int i;

    write_file(path, "AKIDGOOD:secretgood\n", 0600);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, path, NULL, err, sizeof(err)),
        0);
    capture_stderr(log);
    if (broken_rewrites[_i].text) /* in place, as a truncating writer */
        write_file(path, broken_rewrites[_i].text, broken_rewrites[_i].mode);
    else
        ck_assert_int_eq(unlink(path), 0);
    for (i = 0; i < 3; i++) {
        force_recheck(&s);
        ck_assert_int_eq(creds_get(&s, &c), 0);
        ck_assert_str_eq(c.access_key, "AKIDGOOD");
        ck_assert_str_eq(c.secret_key, "secretgood");
    }
    /* one warning, not one per check */
    ck_assert_int_eq(count_in_file(log, "keeping previous credentials"), 1);

    /* a good file later is picked up again */
    replace_file(path, "AKIDFIXED:secretfixed\n");
    force_recheck(&s);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDFIXED");
    ck_assert_int_eq(count_in_file(log, "credentials reloaded"), 1);
    creds_source_fini(&s);
    free(path);
    free(log);
}
END_TEST

START_TEST(test_broken_rewrite_real_time)
{
    char *path = tmp_path("broken-rt");
    struct creds_source s;
    char err[512] = "";
    uint64_t until;
    struct creds c;

    write_file(path, "AKIDGOOD:secretgood\n", 0600);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, path, NULL, err, sizeof(err)),
        0);
    replace_file(path, "[default]\naws_access_key_id = AKIDBROKEN\n");
    /* past one recheck interval, so at least one check saw the file */
    until = monotime_ms() + 1300;
    do {
        ck_assert_int_eq(creds_get(&s, &c), 0);
        ck_assert_str_eq(c.access_key, "AKIDGOOD");
        usleep(20 * 1000);
    } while (monotime_ms() < until);
    replace_file(path, "AKIDFIXED:secretfixed\n");
    wait_for_key(&s, "AKIDFIXED");
    creds_source_fini(&s);
    free(path);
}
END_TEST

START_TEST(test_env_source_never_rereads)
{
    struct creds_source s;
    char err[512] = "";
    struct creds c;

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    ck_assert_int_eq(
        creds_source_init(&s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
        0);
    setenv("AWS_ACCESS_KEY_ID", "AKIDLATER", 1);
    force_recheck(&s);
    ck_assert_int_eq(creds_get(&s, &c), 0);
    ck_assert_str_eq(c.access_key, "AKIDENV");
    creds_source_fini(&s);
}
END_TEST

/* ---- suite ---------------------------------------------------------- */

static Suite *creds_suite(void)
{
    Suite *s = suite_create("creds");
    TCase *tc;

    tc = tcase_create("file");
    tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_checked_fixture(tc, env_setup, NULL);
    tcase_add_loop_test(tc, test_aws_file, 0, NELEM(aws_cases));
    tcase_add_loop_test(tc, test_s3fs_file, 0, NELEM(s3fs_cases));
    tcase_add_loop_test(tc, test_file_mode, 0, NELEM(mode_cases));
    tcase_add_test(tc, test_file_missing_and_big);
    suite_add_tcase(s, tc);

    tc = tcase_create("source");
    tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_checked_fixture(tc, env_setup, NULL);
    tcase_add_test(tc, test_explicit_keys_win);
    tcase_add_test(tc, test_env_keys);
    tcase_add_test(tc, test_env_key_without_secret);
    tcase_add_test(tc, test_file_beats_env);
    tcase_add_test(tc, test_shared_file_env);
    tcase_add_test(tc, test_home_file);
    tcase_add_test(tc, test_nothing_found);
    tcase_add_test(tc, test_source_refuses_open_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("reload");
    tcase_add_unchecked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_add_checked_fixture(tc, env_setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reload_on_change);
    tcase_add_loop_test(tc, test_broken_rewrite_keeps_keys, 0,
                        NELEM(broken_rewrites));
    tcase_add_test(tc, test_broken_rewrite_real_time);
    tcase_add_test(tc, test_env_source_never_rereads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(creds_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
