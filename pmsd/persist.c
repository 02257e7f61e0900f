/* SPDX-License-Identifier: MIT */
/*
 * persist.c: saving changes before they are acknowledged, and the audit
 * log (pmsd.h).
 *
 * The audit log is one JSON object per line, appended with one write(2):
 *   {"time":"2026-11-22T04:51:53Z","who":"admin","from":"127.0.0.1:5555",
 *    "action":"backend.create","target":"b1","result":"ok"}
 * Token issuance and every admin change are logged, refused ones too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/monotime.h"
#include "pmsd/pmsd.h"
#include "pmsd/store.h"

void pmsd_config_changed(struct pmsd *pd)
{
    pd->config_gen++;
    snprintf(pd->config_version, sizeof(pd->config_version), "%08x-%llu",
             pd->boot_id, (unsigned long long)pd->config_gen);
}

/* Takes the configuration another pmsd saved. 0 or -errno (logged). */
static int pmsd_reload(struct pmsd *pd)
{
    struct pmsd_error e = {{0}};
    char err[256] = "";
    json_t *doc = NULL;
    int rc = pmsd_store_load(pd->store, &doc, err, sizeof(err));

    if (rc == 0)
        rc = pmsd_state_load_config(&pd->state, doc, &e);
    if (rc < 0)
        log_warnx("state: cannot reload from %s: %s",
                  pmsd_store_name(pd->store), e.msg[0] ? e.msg : err);
    else {
        pmsd_config_changed(pd);
        log_notice("state: reloaded (changed by another pmsd)");
    }
    json_decref(doc);
    return rc;
}

int pmsd_save(struct pmsd *pd)
{
    json_t *doc = pmsd_state_to_json(&pd->state);
    char err[256] = "";
    int rc = pmsd_store_save(pd->store, doc, err, sizeof(err));

    json_decref(doc);
    if (rc == -ESTALE) {
        pd->n.save_failures++;
        pmsd_reload(pd);
        return rc;
    }
    if (rc < 0) {
        pd->n.save_failures++;
        log_warnx("state: cannot save: %s", err);
        return -EIO;
    }
    pd->n.saves++;
    return 0;
}

void pmsd_store_poll(struct pmsd *pd)
{
    char err[256] = "";
    bool changed = false;

    if (pmsd_store_changed(pd->store, &changed, err, sizeof(err)) < 0)
        log_debug(LOG_SUB_CLUSTER, "state: poll: %s", err);
    else if (changed)
        pmsd_reload(pd);
}

json_t *pmsd_snapshot(struct pmsd *pd)
{
    json_t *doc = pmsd_state_to_json(&pd->state);
    /* to_json shares the live collections; a snapshot must not change
     * with them. */
    json_t *copy = json_deep_copy(doc);

    json_decref(doc);
    return copy;
}

int pmsd_commit(struct pmsd_req *r, json_t *snap, int rc, const char *action,
                const char *target)
{
    struct pmsd *pd = r->pd;
    struct pmsd_error err;

    if (rc == 0) {
        rc = pmsd_save(pd);
        if (rc == -ESTALE) {
            /* Another pmsd changed the state first; we now hold its
             * version, and the caller may try again on it. */
            snprintf(r->err.msg, sizeof(r->err.msg),
                     "the state was changed by another pmsd; try again");
            rc = -EAGAIN;
        } else if (rc < 0) {
            /* The change never happened: what is served is what is
             * saved. The snapshot was valid state a moment ago. */
            if (pmsd_state_load_config(&pd->state, snap, &err) < 0)
                log_errx("state: cannot restore snapshot: %s", err.msg);
            snprintf(r->err.msg, sizeof(r->err.msg), "state not saved");
            rc = -EIO;
        } else {
            pmsd_config_changed(pd);
        }
    }
    json_decref(snap);
    pmsd_audit(pd, r, action, target, rc);
    return rc;
}

void pmsd_audit(struct pmsd *pd, const struct pmsd_req *r, const char *action,
                const char *target, int rc)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    json_t *j;
    char *line;
    ssize_t n;

    if (pd->audit_fd < 0)
        return;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "time", when, "who",
                  pmsd_who(r), "from", r->peer, "action", action, "target",
                  target ? target : "", "result",
                  rc == 0 ? "ok" : strerror(-rc));
    line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (line) {
        size_t len = strlen(line);
        line[len] = '\n';
        n = write(pd->audit_fd, line, len + 1);
        if (n < 0)
            log_warn("audit: write");
    }
    free(line);
    json_decref(j);
}
