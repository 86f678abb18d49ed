/* interaction_server: rapport-interaction's logic, as main.c sees it.
 *
 * The worker keeps the catalog (docs/domain.md section 2) in its own LMDB env
 * and turns single-interaction commands (sections 4 and 5) into fully
 * resolved entries that it sends to rapport-logwriter, replying to its
 * client after the writer's ack. main.c opens the store with
 * interaction_server_dbis(), connects the link to the writer (common/link
 * with Rapport__V1__LogReply replies), creates the logic
 * object, hands interaction_server_spec() to server_new() and attaches the
 * server, then runs it. */
#ifndef RAPPORT_INTERACTION_SERVER_H
#define RAPPORT_INTERACTION_SERVER_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "link.h"
#include "server.h"
#include "store.h"

typedef struct interaction_server interaction_server_t;

/* The DBIs of the worker's env, to pass to store_open(). */
const store_dbi_spec_t *interaction_server_dbis(size_t *ret_n);

/* The logic over an open store and a connected writer link; neither is
 * owned (the caller closes them after interaction_server_destroy). RP_ENOMEM. */
rp_err interaction_server_new(const config_t *cfg, store_t *store, link_t *link,
                              interaction_server_t **ret_ix);

/* Accepts NULL; NULLs the caller's pointer. */
void interaction_server_destroy(interaction_server_t **self_p);

/* The server spec (dispatch table, stats, tick); valid as long as ix. */
const server_spec_t *interaction_server_spec(interaction_server_t *ix);

/* Register the writer link's socket with the running server. */
void interaction_server_attach(interaction_server_t *ix, server_t *server);

/* The whole worker of a process: its store under <state_dir>/interaction,
 * its link to the log writer, its server on interaction_endpoint. On
 * failure errbuf says why. Owned by the caller (interaction_worker_destroy). */
typedef struct interaction_worker interaction_worker_t;
rp_err interaction_worker_new(const config_t *cfg, void *zctx, interaction_worker_t **ret,
                              char *errbuf, size_t errlen);
int interaction_worker_run(interaction_worker_t *w);
void interaction_worker_destroy(interaction_worker_t **self_p);

#endif
