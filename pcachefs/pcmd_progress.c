/* SPDX-License-Identifier: MIT */
/*
 * pcmd_progress.c: the progress bar of sync and warmup.
 *
 * One line on stderr, redrawn in place every 200 ms by a thread of its
 * own: bytes and files done of the total, the rate and the time left.
 * Only drawn when enabled (stderr is a terminal, or --progress), so a
 * pipe or a log file gets nothing but the results. Result lines on
 * stdout go through pcmd_progress_printf, which erases the bar first so
 * that the two never mix on one terminal line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/monotime.h"
#include "pcachefs/pcmd.h"

#define PCMD_PROGRESS_MS 200

static uint64_t pcmd_progress_load(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void pcmd_progress_format(const struct pcmd_progress *pg, char *out, size_t len)
{
    uint64_t bytes = pcmd_progress_load(&pg->done_bytes);
    uint64_t files = pcmd_progress_load(&pg->done_files);
    uint64_t failed = pcmd_progress_load(&pg->failed_files);
    uint64_t total = pcmd_progress_load(&pg->total_files);
    double secs = monotime_sec() - pg->t0;
    double rate = secs > 0 ? (double)bytes / secs : 0;
    char b[16], t[16], r[16], eta[24] = "--:--";
    int pct = 0, fill, i;
    char bar[24];

    if (pg->total_bytes)
        pct = (int)(100.0 * (double)bytes / (double)pg->total_bytes);
    else if (total)
        pct = (int)(100.0 * (double)files / (double)total);
    if (pct > 100)
        pct = 100;
    fill = pct / 5;
    for (i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    if (rate > 0 && pg->total_bytes > bytes) {
        uint64_t left = (uint64_t)((double)(pg->total_bytes - bytes) / rate);

        snprintf(eta, sizeof(eta), "%02u:%02u:%02u", (unsigned)(left / 3600),
                 (unsigned)(left / 60 % 60), (unsigned)(left % 60));
    } else if (pg->total_bytes && bytes >= pg->total_bytes) {
        snprintf(eta, sizeof(eta), "00:00:00");
    }
    snprintf(out, len, "%s [%s] %3d%% %s/%s, %llu/%llu %s%s%s, %s/s, ETA %s",
             pg->what, bar, pct, pcmd_size_str(bytes, true, b, sizeof(b)),
             pcmd_size_str(pg->total_bytes, true, t, sizeof(t)),
             (unsigned long long)files, (unsigned long long)total, pg->unit,
             failed ? ", failed " : "",
             failed ? pcmd_size_str(failed, false, r, sizeof(r)) : "",
             pcmd_size_str((uint64_t)rate, true, r, sizeof(r)), eta);
}

/* Caller holds pg->lock. */
static void do_pcmd_progress_draw(struct pcmd_progress *pg)
{
    char line[256];

    pcmd_progress_format(pg, line, sizeof(line));
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    pg->drawn = true;
}

static void *pcmd_progress_thread_cb(void *arg)
{
    struct pcmd_progress *pg = arg;
    struct timespec ts;

    pthread_mutex_lock(&pg->lock);
    while (!pg->stop) {
        do_pcmd_progress_draw(pg);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += PCMD_PROGRESS_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pg->cond, &pg->lock, &ts);
    }
    pthread_mutex_unlock(&pg->lock);
    return NULL;
}

void pcmd_progress_start(struct pcmd_progress *pg, bool enabled,
                         const char *what, uint64_t files, uint64_t bytes)
{
    memset(pg, 0, sizeof(*pg));
    pg->enabled = enabled;
    pg->what = what;
    pg->unit = "files";
    pg->total_files = files;
    pg->total_bytes = bytes;
    pg->t0 = monotime_sec();
    pthread_mutex_init(&pg->lock, NULL);
    pthread_cond_init(&pg->cond, NULL);
    if (enabled &&
        pthread_create(&pg->thread, NULL, pcmd_progress_thread_cb, pg) == 0)
        pg->started = true;
}

void pcmd_progress_add(struct pcmd_progress *pg, uint64_t bytes, uint64_t files,
                       uint64_t failed)
{
    __atomic_add_fetch(&pg->done_bytes, bytes, __ATOMIC_RELAXED);
    __atomic_add_fetch(&pg->done_files, files, __ATOMIC_RELAXED);
    __atomic_add_fetch(&pg->failed_files, failed, __ATOMIC_RELAXED);
}

void pcmd_progress_printf(struct pcmd_progress *pg, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&pg->lock);
    if (pg->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        pg->drawn = false;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_unlock(&pg->lock);
}

void pcmd_progress_stop(struct pcmd_progress *pg)
{
    if (pg->started) {
        pthread_mutex_lock(&pg->lock);
        pg->stop = true;
        pthread_cond_signal(&pg->cond);
        pthread_mutex_unlock(&pg->lock);
        pthread_join(pg->thread, NULL);
        /* the final state stays on the screen */
        pthread_mutex_lock(&pg->lock);
        do_pcmd_progress_draw(pg);
        fputc('\n', stderr);
        pthread_mutex_unlock(&pg->lock);
        pg->started = false;
    }
    pthread_mutex_destroy(&pg->lock);
    pthread_cond_destroy(&pg->cond);
}
