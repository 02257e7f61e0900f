/* SPDX-License-Identifier: MIT */
/*
 * creds.h: S3 credentials, where they come from, and picking up changes.
 *
 * Sources, first match wins:
 *   1. keys given explicitly (options),
 *   2. a credentials file given explicitly (credfile=, profile=),
 *   3. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 *   4. the AWS shared credentials file ($AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials) with profile $AWS_PROFILE or "default".
 * A credentials file is either AWS style ([profile] sections with
 * aws_access_key_id, aws_secret_access_key, aws_session_token) or s3fs
 * style (one "ACCESS_KEY:SECRET_KEY" line). A file that group or others can
 * read is refused with a message saying so.
 *
 * A file source is re-read when its mtime, size or inode changes (checked
 * at most once a second), so rotated keys and refreshed session tokens are
 * used without a remount. creds_get() is thread-safe (one mutex).
 */
#ifndef PCACHE_CREDS_H
#define PCACHE_CREDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CREDS_MAX_KEY 256

/* A snapshot of one key pair; fixed-size so it can be copied freely. */
struct creds {
    char access_key[CREDS_MAX_KEY];
    char secret_key[CREDS_MAX_KEY];
    char session_token[4096];
};

struct creds_source {
    pthread_mutex_t lock;
    /* fixed at init */
    char *file;    /* owned; NULL for explicit or env keys */
    char *profile; /* owned */
    /* under lock */
    struct creds cur;
    bool loaded;
    uint64_t checked_ms; /* monotonic time of the last stat() */
    struct timespec mtime;
    off_t size;
    ino_t ino;
    unsigned generation; /* bumped on every change */
};

/*
 * Chooses the source (see above) and loads it once. access_key and
 * secret_key may be NULL; file and profile may be NULL. Returns 0,
 * -ENOENT (nothing found), -EACCES (file readable by others) or -EINVAL
 * (malformed file, missing profile); err (size errlen) says which.
 * On failure s holds no memory; creds_source_fini() is then optional.
 */
int creds_source_init(struct creds_source *s, const char *access_key,
                      const char *secret_key, const char *session_token,
                      const char *file, const char *profile, char *err,
                      size_t errlen);
void creds_source_fini(struct creds_source *s);

/*
 * Copies the current credentials into out, re-reading a changed file first.
 * A file that became unreadable or malformed keeps the last good keys (and
 * logs once). Returns 0 or -ENOENT when no keys were ever loaded.
 */
int creds_get(struct creds_source *s, struct creds *out);

/* Parses one file (see above) without the source machinery; for tests. */
int creds_load_file(const char *path, const char *profile, struct creds *out,
                    char *err, size_t errlen);

#endif
