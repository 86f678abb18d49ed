/* logwriter_server: the rapport-logwriter process object. main.c creates
 * it, runs it until SIGTERM and destroys it. */
#ifndef RAPPORT_LOGWRITER_SERVER_H
#define RAPPORT_LOGWRITER_SERVER_H

#include <stddef.h>

#include "config.h"
#include "err.h"

typedef struct writer logwriter_t;

/* Open the store in <state_dir>/logwriter, bind the ROUTER and the PUB.
 * On failure errbuf says why (store in use or unreadable, address in use).
 * Owned by the caller (logwriter_destroy). */
rp_err logwriter_new(const config_t *cfg, void *zctx, logwriter_t **ret, char *errbuf,
                     size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. */
void logwriter_destroy(logwriter_t **self_p);

/* Serve until the stop flag is set and nothing is in flight: 0, or 2 when
 * a replica refused its stream (another store's, or with a gap). */
int logwriter_run(logwriter_t *w);

#endif
