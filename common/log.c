/* SPDX-License-Identifier: MIT */
/*
 * log.c: the process-wide log sink (see log.h).
 */
#include "common/log.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum log_level log_level_current = LOG_LEVEL_NOTICE;

/* Written once at startup, read everywhere afterwards. */
static struct {
    char ident[32];
    enum log_sink sink;
    unsigned debug_mask;
} log_state = {"pcachefs", LOG_SINK_STDERR, 0};

static const struct {
    const char *name;
    unsigned bit;
} log_subsys_names[] = {
    {"main", LOG_SUB_MAIN},       {"s3", LOG_SUB_S3},
    {"http", LOG_SUB_HTTP},       {"store", LOG_SUB_STORE},
    {"fuse", LOG_SUB_FUSE},       {"cache", LOG_SUB_CACHE},
    {"cluster", LOG_SUB_CLUSTER}, {"config", LOG_SUB_CONFIG},
    {"all", LOG_SUB_ALL},
};

void log_init(const char *ident, enum log_sink sink)
{
    snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident);
    log_state.sink = sink;
    if (sink == LOG_SINK_SYSLOG)
        openlog(log_state.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_parse_level(const char *name, enum log_level *out)
{
    static const char *const names[] = {"err", "warn", "notice", "info",
                                        "debug"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            *out = (enum log_level)(LOG_LEVEL_ERR + (int)i);
            return 0;
        }
    }
    return -EINVAL;
}

void log_set_level(enum log_level level)
{
    log_level_current = level;
}

enum log_level log_get_level(void)
{
    return log_level_current;
}

int log_enable_debug(const char *list)
{
    const char *p = list;
    unsigned mask = 0;

    while (*p) {
        size_t n = strcspn(p, ",+");
        size_t i;
        bool found = false;

        for (i = 0; i < sizeof(log_subsys_names) / sizeof(log_subsys_names[0]);
             i++) {
            if (strlen(log_subsys_names[i].name) == n &&
                strncasecmp(p, log_subsys_names[i].name, n) == 0) {
                mask |= log_subsys_names[i].bit;
                found = true;
            }
        }
        if (!found && n > 0)
            return -EINVAL;
        p += n;
        if (*p)
            p++;
    }
    log_state.debug_mask |= mask;
    log_level_current = LOG_LEVEL_DEBUG;
    return 0;
}

bool log_debug_enabled(unsigned subsys)
{
    return (log_state.debug_mask & subsys) != 0;
}

void log_reopen(void)
{
    if (log_state.sink == LOG_SINK_SYSLOG) {
        closelog();
        openlog(log_state.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    }
}

int log_to_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    if (fd < 0)
        return -errno;
    if (dup2(fd, STDERR_FILENO) < 0) {
        close(fd);
        return -errno;
    }
    close(fd);
    return 0;
}

static void log_libevent_cb(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_ERR)
        log_errx("libevent: %s", msg);
    else if (severity >= EVENT_LOG_WARN)
        log_warnx("libevent: %s", msg);
    else
        log_debug(LOG_SUB_HTTP, "libevent: %s", msg);
}

void log_route_libevent(void)
{
    event_set_log_callback(log_libevent_cb);
}

static const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warning";
    case LOG_LEVEL_NOTICE:
        return "notice";
    case LOG_LEVEL_INFO:
        return "info";
    default:
        return "debug";
    }
}

void log_write(enum log_level level, bool with_errno, const char *fmt, ...)
{
    int saved = errno;
    char line[2048];
    size_t n = 0;
    va_list ap;
    int rc;

    if (log_state.sink == LOG_SINK_STDERR) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        rc = snprintf(line + n, sizeof(line) - n,
                      ".%03ldZ %s[%d] %s: ", ts.tv_nsec / 1000000,
                      log_state.ident, (int)getpid(), log_level_name(level));
        n += rc > 0 ? (size_t)rc : 0;
    }
    va_start(ap, fmt);
    rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = rc > 0 ? n + (size_t)rc : n;
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    if (with_errno) {
        rc = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
        n = rc > 0 ? n + (size_t)rc : n;
        if (n >= sizeof(line) - 1)
            n = sizeof(line) - 2;
    }
    if (log_state.sink == LOG_SINK_SYSLOG) {
        line[n] = '\0';
        syslog((int)level, "%s", line);
    } else {
        line[n++] = '\n';
        /* One write per line: lines from several threads never mix. */
        if (write(STDERR_FILENO, line, n) < 0) {
            /* nowhere left to report it */
        }
    }
    errno = saved;
}
