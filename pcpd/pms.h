/* SPDX-License-Identifier: MIT */
/*
 * pms.h: the node's side of pmsd (--pms): membership, configuration and
 * pmsd's public key.
 *
 * At start the node fetches pmsd's public key (GET /v1/pubkey) and its
 * configuration (GET /v1/node/config: backends with credentials, pbuckets
 * with routes), publishes that route table (replacing the config file's),
 * and only then registers (POST /v1/nodes), so a node appears in the node
 * list once it can serve. Then it heartbeats on the interval pmsd gives,
 * fetches the configuration again whenever the heartbeat's
 * config_version changes, registers again when a heartbeat answers 404
 * (pmsd lost it: restarted without it, or it expired), and deregisters
 * (DELETE /v1/nodes/ID) on SIGTERM. Every address of the list is a pmsd
 * of the same cluster: the node registers and heartbeats with each (their
 * membership is not shared, docs/protocol.md), and takes the key and the
 * configuration from the first that answers (failover).
 *
 * Requests are signed with the node user's key (pms_credfile, role node).
 *
 * Threads: one dedicated thread, see pms.c; pcpd_pms_want_key and
 * pcpd_pms_stop may be called from any thread.
 */
#ifndef PCPD_PMS_H
#define PCPD_PMS_H

#include <stddef.h>

struct pcpd;
struct pcpd_pms;

/*
 * Checks the settings (addresses, credentials file) of pd->cfg and makes
 * the client; pd (borrowed) must outlive it. 0 or -EINVAL with err.
 */
int pcpd_pms_new(struct pcpd *pd, struct pcpd_pms **out, char *err,
                 size_t errlen);
/* Starts the thread. 0 or -errno. */
int pcpd_pms_start(struct pcpd_pms *p);
/* Asks the thread to fetch pmsd's key again (a token named another key).
 * Any thread, returns at once. NULL is a no-op. */
void pcpd_pms_want_key(struct pcpd_pms *p);
/* Asks the thread to deregister and end (SIGTERM). Returns at once. */
void pcpd_pms_stop(struct pcpd_pms *p);
/* Asks the thread to stop and waits until it deregistered and ended.
 * pcpd_pms_want_key stays harmless afterwards. NULL is a no-op. */
void pcpd_pms_join(struct pcpd_pms *p);
/* Joins (if not yet) and frees. NULL is a no-op. */
void pcpd_pms_free(struct pcpd_pms *p);

#endif
