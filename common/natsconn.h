/* natsconn: a libnats connection made from rapport's nats_* settings,
 * shared by rapport-relay and the log writer's replica mode. */
#ifndef RAPPORT_NATSCONN_H
#define RAPPORT_NATSCONN_H

#include <stdint.h>

#include <nats/nats.h>

#include "config.h"
#include "err.h"

/* Options for cfg->nats_url and its credentials, for a client called
 * `name`: reconnecting forever, logging each disconnect and reconnect.
 * RP_ECONFIG (errbuf says which setting) or RP_ENOMEM. Owned by the
 * caller (natsOptions_Destroy). */
rp_err natsconn_options(const config_t *cfg, const char *name, natsOptions **ret, char *errbuf,
                        size_t errlen);

/* Connect with `opts`; a server that is down is no error (the connection
 * keeps trying in the background). RP_ECONFIG for bad settings. */
rp_err natsconn_connect(const config_t *cfg, natsOptions *opts, natsConnection **ret, char *errbuf,
                        size_t errlen);

/* The decimal value of header `key` of m; 0 when absent or malformed. */
void natsconn_header_u64(natsMsg *m, const char *key, uint64_t *out);

#endif
