/* SPDX-License-Identifier: MIT */
/*
 * log.h: the one logging facility of every pcachefs binary.
 *
 * Levels follow syslog's order. A message below the current level costs one
 * comparison: the level is checked before anything is formatted. Messages
 * go to one process-wide sink, stderr (foreground, with a timestamp) or
 * syslog (daemons); a line is written with one write(2) so lines from
 * several threads never interleave.
 *
 * Two flavours, as in BSD err(3): log_warn() appends ": strerror(errno)",
 * log_warnx() does not. Debug messages belong to a subsystem and are only
 * printed for the subsystems switched on (-o debug=s3,store).
 *
 * The sink and level are the one piece of process-wide state outside
 * main.c: a log line has to be writable from anywhere, including library
 * callbacks that carry no context. They are set once at startup.
 */
#ifndef PCACHE_LOG_H
#define PCACHE_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERR = 3,
    LOG_LEVEL_WARN = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/* Subsystems for debug output; a bit each. */
enum log_subsys {
    LOG_SUB_MAIN = 1u << 0,
    LOG_SUB_S3 = 1u << 1,
    LOG_SUB_HTTP = 1u << 2,
    LOG_SUB_STORE = 1u << 3,
    LOG_SUB_FUSE = 1u << 4,
    LOG_SUB_CACHE = 1u << 5,
    LOG_SUB_CLUSTER = 1u << 6,
    LOG_SUB_CONFIG = 1u << 7,
    LOG_SUB_ALL = 0xffffffffu,
};

enum log_sink {
    LOG_SINK_STDERR,
    LOG_SINK_SYSLOG,
};

/*
 * Parses a level name ("err", "warn", "notice", "info", "debug");
 * 0 or -EINVAL.
 */
int log_parse_level(const char *name, enum log_level *out);

/* Sets the program name shown in each line and the sink. */
void log_init(const char *ident, enum log_sink sink);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/*
 * Parses "s3,store" (or "all") and switches debug output on for those
 * subsystems; also raises the level to debug. 0 or -EINVAL (unknown name).
 */
int log_enable_debug(const char *list);
bool log_debug_enabled(unsigned subsys);
/* Reopens the sink (SIGHUP after log rotation). */
void log_reopen(void);
/* Points stderr (the stderr sink) at the file path, appending; again on
 * SIGHUP after rotation. 0 or -errno. */
int log_to_file(const char *path);
/* Sends libevent's own messages through this log (daemons). */
void log_route_libevent(void);

void log_write(enum log_level level, bool with_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

extern enum log_level log_level_current;

#define log_at(lvl, e, ...)                                                    \
    do {                                                                       \
        if ((lvl) <= log_level_current)                                        \
            log_write((lvl), (e), __VA_ARGS__);                                \
    } while (0)

#define log_err(...)    log_at(LOG_LEVEL_ERR, true, __VA_ARGS__)
#define log_errx(...)   log_at(LOG_LEVEL_ERR, false, __VA_ARGS__)
#define log_warn(...)   log_at(LOG_LEVEL_WARN, true, __VA_ARGS__)
#define log_warnx(...)  log_at(LOG_LEVEL_WARN, false, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LEVEL_NOTICE, false, __VA_ARGS__)
#define log_info(...)   log_at(LOG_LEVEL_INFO, false, __VA_ARGS__)
#define log_debug(sub, ...)                                                    \
    do {                                                                       \
        if (log_level_current >= LOG_LEVEL_DEBUG && log_debug_enabled(sub))    \
            log_write(LOG_LEVEL_DEBUG, false, __VA_ARGS__);                    \
    } while (0)

#endif
