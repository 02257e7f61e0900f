/* SPDX-License-Identifier: MIT */
/*
 * creds.c: credentials sources and reloading (see creds.h).
 */
#include "common/creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"

#define CREDS_MAX_FILE   (64 * 1024)
#define CREDS_RECHECK_MS 1000

static void creds_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

/* One "name = value" line inside the wanted profile. */
static void creds_take_value(struct creds *out, const char *name,
                             const char *value)
{
    if (strcmp(name, "aws_access_key_id") == 0)
        creds_copy(out->access_key, sizeof(out->access_key), value);
    else if (strcmp(name, "aws_secret_access_key") == 0)
        creds_copy(out->secret_key, sizeof(out->secret_key), value);
    else if (strcmp(name, "aws_session_token") == 0)
        creds_copy(out->session_token, sizeof(out->session_token), value);
}

/* True when the line names the section of profile (also "[profile x]"). */
static bool creds_is_section(const char *line, const char *profile)
{
    char name[256];
    size_t n = strlen(line);

    if (n < 2 || line[n - 1] != ']')
        return false;
    snprintf(name, sizeof(name), "%.*s", (int)(n - 2), line + 1);
    if (strncmp(name, "profile ", 8) == 0)
        return strcmp(config_trim(name + 8), profile) == 0;
    return strcmp(config_trim(name), profile) == 0;
}

static int creds_parse(char *text, const char *profile, struct creds *out,
                       const char *path, char *err, size_t errlen)
{
    bool in_profile = false, any_section = false, found = false;
    char *save = NULL, *line;

    memset(out, 0, sizeof(*out));
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq;

        line = config_trim(line);
        if (!*line || *line == '#' || *line == ';')
            continue;
        if (*line == '[') {
            any_section = true;
            in_profile = creds_is_section(line, profile);
            found |= in_profile;
            continue;
        }
        eq = strchr(line, '=');
        if (!any_section && !eq && strchr(line, ':')) {
            /* s3fs passwd style: ACCESS_KEY:SECRET_KEY */
            char *colon = strchr(line, ':');
            *colon = '\0';
            creds_copy(out->access_key, sizeof(out->access_key), line);
            creds_copy(out->secret_key, sizeof(out->secret_key), colon + 1);
            found = true;
            break;
        }
        if (!in_profile || !eq)
            continue;
        *eq = '\0';
        creds_take_value(out, config_trim(line), config_trim(eq + 1));
    }
    if (!found) {
        snprintf(err, errlen, "%s: no profile [%s]", path, profile);
        return -EINVAL;
    }
    if (!out->access_key[0] || !out->secret_key[0]) {
        snprintf(err, errlen,
                 "%s: profile [%s] lacks aws_access_key_id or "
                 "aws_secret_access_key",
                 path, profile);
        return -EINVAL;
    }
    return 0;
}

int creds_load_file(const char *path, const char *profile, struct creds *out,
                    char *err, size_t errlen)
{
    char *text = NULL;
    struct stat st;
    ssize_t n;
    int fd = -1, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "credentials file %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 "credentials file %s is accessible by group or others "
                 "(mode %04o); run 'chmod 600 %s'",
                 path, (unsigned)(st.st_mode & 07777), path);
        rc = -EACCES;
        goto out;
    }
    if (st.st_size > CREDS_MAX_FILE) {
        snprintf(err, errlen, "credentials file %s is larger than %d bytes",
                 path, CREDS_MAX_FILE);
        rc = -EMSGSIZE;
        goto out;
    }
    text = xmalloc((size_t)st.st_size + 1);
    n = read(fd, text, (size_t)st.st_size);
    if (n < 0) {
        rc = -errno;
        snprintf(err, errlen, "credentials file %s: %s", path, strerror(errno));
        goto out;
    }
    text[n] = '\0';
    rc = creds_parse(text, profile ? profile : "default", out, path, err,
                     errlen);
out:
    if (text) {
        /* Not strlen(): the parser cut the text into lines with NULs. */
        explicit_bzero(text, (size_t)st.st_size + 1);
        free(text);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Chooses the file for sources 2 and 4; NULL when there is none. */
static char *creds_default_file(void)
{
    const char *env = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");

    if (env && *env)
        return xstrdup(env);
    if (home && *home)
        return xasprintf("%s/.aws/credentials", home);
    return NULL;
}

static int creds_stat(const char *path, struct stat *st)
{
    return stat(path, st) < 0 ? -errno : 0;
}

static int do_creds_reload(struct creds_source *s, char *err, size_t errlen)
{
    struct creds c;
    struct stat st;
    int rc;

    rc = creds_stat(s->file, &st);
    if (rc) {
        snprintf(err, errlen, "credentials file %s: %s", s->file,
                 strerror(-rc));
        return rc;
    }
    rc = creds_load_file(s->file, s->profile, &c, err, errlen);
    if (rc)
        return rc;
    s->cur = c;
    s->loaded = true;
    s->mtime = st.st_mtim;
    s->size = st.st_size;
    s->ino = st.st_ino;
    s->generation++;
    explicit_bzero(&c, sizeof(c));
    return 0;
}

int creds_source_init(struct creds_source *s, const char *access_key,
                      const char *secret_key, const char *session_token,
                      const char *file, const char *profile, char *err,
                      size_t errlen)
{
    const char *env_key = getenv("AWS_ACCESS_KEY_ID");
    const char *env_secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *env_profile = getenv("AWS_PROFILE");
    int rc;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->checked_ms = monotime_ms();
    if (access_key && *access_key && secret_key && *secret_key) {
        creds_copy(s->cur.access_key, sizeof(s->cur.access_key), access_key);
        creds_copy(s->cur.secret_key, sizeof(s->cur.secret_key), secret_key);
        creds_copy(s->cur.session_token, sizeof(s->cur.session_token),
                   session_token);
        s->loaded = true;
        return 0;
    }
    if (!(file && *file) && env_key && *env_key && env_secret && *env_secret) {
        creds_copy(s->cur.access_key, sizeof(s->cur.access_key), env_key);
        creds_copy(s->cur.secret_key, sizeof(s->cur.secret_key), env_secret);
        creds_copy(s->cur.session_token, sizeof(s->cur.session_token),
                   getenv("AWS_SESSION_TOKEN"));
        s->loaded = true;
        return 0;
    }
    s->file = file && *file ? xstrdup(file) : creds_default_file();
    s->profile = xstrdup(profile && *profile           ? profile
                         : env_profile && *env_profile ? env_profile
                                                       : "default");
    if (!s->file) {
        snprintf(err, errlen,
                 "no credentials: give credfile=, keys, or set "
                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
        rc = -ENOENT;
    } else {
        rc = do_creds_reload(s, err, errlen);
    }
    if (rc) {
        /*
         * Nothing stays allocated, so a caller that gives up at once
         * leaks nothing; the mutex stays valid for one that calls
         * creds_source_fini() anyway.
         */
        free(s->file);
        free(s->profile);
        s->file = NULL;
        s->profile = NULL;
    }
    return rc;
}

void creds_source_fini(struct creds_source *s)
{
    explicit_bzero(&s->cur, sizeof(s->cur));
    free(s->file);
    free(s->profile);
    s->file = NULL;
    s->profile = NULL;
    pthread_mutex_destroy(&s->lock);
}

/* Re-reads the file when it changed; the caller holds the lock. */
static void do_creds_refresh(struct creds_source *s)
{
    uint64_t now = monotime_ms();
    struct stat st;
    char err[512];

    if (!s->file || now - s->checked_ms < CREDS_RECHECK_MS)
        return;
    s->checked_ms = now;
    /* A missing file is one more state: all zero, so it is logged once. */
    if (creds_stat(s->file, &st) < 0)
        memset(&st, 0, sizeof(st));
    if (st.st_mtim.tv_sec == s->mtime.tv_sec &&
        st.st_mtim.tv_nsec == s->mtime.tv_nsec && st.st_size == s->size &&
        st.st_ino == s->ino)
        return;
    if (do_creds_reload(s, err, sizeof(err)) == 0) {
        log_notice("credentials reloaded from %s", s->file);
        return;
    }
    log_warnx("keeping previous credentials: %s", err);
    /*
     * A failed reload is not retried until the file changes again. Record
     * what was seen before reading, not after: a writer that finishes
     * after our read of its half-written file must count as a change.
     */
    s->mtime = st.st_mtim;
    s->size = st.st_size;
    s->ino = st.st_ino;
}

int creds_get(struct creds_source *s, struct creds *out)
{
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    do_creds_refresh(s);
    if (s->loaded)
        *out = s->cur;
    else
        rc = -ENOENT;
    pthread_mutex_unlock(&s->lock);
    return rc;
}
