/* SPDX-License-Identifier: MIT */
/*
 * nodes.c: membership over HTTP (register, heartbeat, deregister, list
 * and long-poll) and the housekeeping tick (pmsd.h).
 *
 * A long-poll (GET /v1/nodes?wait_epoch=N&timeout=S) whose N is not the
 * current epoch is answered at once; otherwise it is parked and answered
 * by pmsd_waiters_run: at the next epoch change, or by the tick once its
 * deadline passed (same epoch: the client simply asks again).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/monotime.h"
#include "pmsd/pmsd.h"
#include "pmsd/store.h"

static json_t *pmsd_nodes_reply(struct pmsd *pd, bool all)
{
    json_t *j = pmsd_nodes_json(&pd->state, all, monotime_ms());

    json_object_set_new(
        j, "heartbeat_interval_ms",
        json_integer((json_int_t)pd->cfg->heartbeat_interval_ms));
    json_object_set_new(j, "heartbeat_expiry_ms",
                        json_integer((json_int_t)pd->cfg->heartbeat_expiry_ms));
    json_object_set_new(j, "config_version", json_string(pd->config_version));
    return j;
}

/* After any membership change: save the epoch, wake the long-polls. */
static void pmsd_membership_changed(struct pmsd *pd)
{
    /* A failure is logged: membership is soft state. With a shared store
     * each pmsd keeps its own membership (nodes heartbeat to every pmsd)
     * and saving it would only make the instances overwrite each other. */
    if (!pmsd_store_shared(pd->store))
        pmsd_save(pd);
    pmsd_waiters_run(pd, true);
}

void pmsd_waiters_run(struct pmsd *pd, bool changed)
{
    uint64_t now = monotime_ms();
    size_t i = 0;

    while (i < pd->nwaiters) {
        struct pmsd_waiter *w = &pd->waiters[i];
        if (!changed && w->deadline_ms > now) {
            i++;
            continue;
        }
        pmsd_reply_json(pd, w->req, 200, pmsd_nodes_reply(pd, w->all));
        pd->waiters[i] = pd->waiters[--pd->nwaiters];
    }
}

int pmsd_api_nodes_list(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *we = pmsd_query(r, "wait_epoch"),
               *to = pmsd_query(r, "timeout");
    const char *all_s = pmsd_query(r, "all");
    bool all = all_s && strcmp(all_s, "0") != 0;
    int64_t epoch, secs = 30;
    struct pmsd_waiter *w;

    if (we && config_parse_int(we, 0, INT64_MAX, &epoch) < 0) {
        snprintf(r->err.msg, sizeof(r->err.msg), "bad wait_epoch");
        return -EINVAL;
    }
    if (!we || (uint64_t)epoch != pd->state.epoch) {
        pmsd_reply_json(pd, r->req, 200, pmsd_nodes_reply(pd, all));
        return 0;
    }
    if (to && config_parse_int(to, 0, 86400, &secs) < 0) {
        snprintf(r->err.msg, sizeof(r->err.msg), "bad timeout");
        return -EINVAL;
    }
    if ((uint64_t)secs * 1000 > pd->cfg->longpoll_max_ms)
        secs = (int64_t)(pd->cfg->longpoll_max_ms / 1000);
    if (pd->nwaiters >= (size_t)pd->cfg->max_waiters) {
        snprintf(r->err.msg, sizeof(r->err.msg), "too many long-polls");
        return -EAGAIN;
    }
    pd->waiters =
        xrealloc(pd->waiters, (pd->nwaiters + 1) * sizeof(*pd->waiters));
    w = &pd->waiters[pd->nwaiters++];
    w->req = r->req;
    w->all = all;
    w->deadline_ms = monotime_ms() + (uint64_t)secs * 1000;
    return PMSD_PARKED;
}

int pmsd_api_node_register(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    const char *id = json_string_value(json_object_get(r->body, "id"));
    bool changed = false;
    int rc;

    rc = pmsd_node_register(&pd->state, r->body, (int64_t)time(NULL),
                            monotime_ms(), &changed, &r->err);
    pmsd_audit(pd, r, "node.register", id, rc);
    if (rc < 0)
        return rc;
    log_notice("node %s at %s registered (epoch %llu)", id,
               json_string_value(json_object_get(r->body, "address")),
               (unsigned long long)pd->state.epoch);
    if (changed)
        pmsd_membership_changed(pd);
    pmsd_reply_json(pd, r->req, 200, pmsd_nodes_reply(pd, false));
    return 0;
}

int pmsd_api_node_heartbeat(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    bool changed = false;
    int rc =
        pmsd_node_heartbeat(&pd->state, r->arg[0], monotime_ms(), &changed);

    if (rc < 0) {
        snprintf(r->err.msg, sizeof(r->err.msg),
                 "unknown node '%.64s': register again", r->arg[0]);
        return rc;
    }
    pmsd_status_node_report(pd, r->arg[0], r->body);
    if (changed) {
        log_notice("node %s is back (epoch %llu)", r->arg[0],
                   (unsigned long long)pd->state.epoch);
        pmsd_membership_changed(pd);
    }
    pmsd_reply_json(pd, r->req, 200,
                    json_pack("{s:I, s:I, s:s}", "epoch",
                              (json_int_t)pd->state.epoch,
                              "heartbeat_interval_ms",
                              (json_int_t)pd->cfg->heartbeat_interval_ms,
                              "config_version", pd->config_version));
    return 0;
}

int pmsd_api_node_delete(struct pmsd_req *r)
{
    struct pmsd *pd = r->pd;
    int rc;

    if (!token_allows_global(&r->tok, TOKEN_ACT_NODE) &&
        !token_allows_global(&r->tok, TOKEN_ACT_ADMIN)) {
        snprintf(r->err.msg, sizeof(r->err.msg), "needs node or admin");
        return -EPERM;
    }
    rc = pmsd_node_remove(&pd->state, r->arg[0]);
    pmsd_audit(pd, r, "node.deregister", r->arg[0], rc);
    if (rc < 0) {
        snprintf(r->err.msg, sizeof(r->err.msg), "no node '%.64s'", r->arg[0]);
        return rc;
    }
    pmsd_status_node_forget(pd, r->arg[0]);
    log_notice("node %s deregistered (epoch %llu)", r->arg[0],
               (unsigned long long)pd->state.epoch);
    pmsd_membership_changed(pd);
    pmsd_reply_json(pd, r->req, 200,
                    json_pack("{s:I}", "epoch", (json_int_t)pd->state.epoch));
    return 0;
}

void pmsd_housekeeping(struct pmsd *pd)
{
    uint64_t now = monotime_ms();
    size_t n = pmsd_nodes_expire(&pd->state, now, pd->cfg->heartbeat_expiry_ms);

    if (n) {
        pd->n.expired_nodes += n;
        log_notice("%zu node(s) missed their heartbeats (epoch %llu, %zu "
                   "live)",
                   n, (unsigned long long)pd->state.epoch,
                   pmsd_nodes_live(&pd->state));
        pmsd_membership_changed(pd);
    } else {
        pmsd_waiters_run(pd, false);
    }
    if (pmsd_store_shared(pd->store) &&
        now - pd->last_store_poll_ms >= pd->cfg->store_poll_ms) {
        pmsd_store_poll(pd);
        pd->last_store_poll_ms = monotime_ms();
    }
    if (now - pd->last_nonce_sweep_ms >= 1000) {
        pmsd_auth_sweep(pd, now);
        pd->last_nonce_sweep_ms = now;
    }
}
