/* segment_server: the rapport-segment process object. main.c creates it,
 * runs it until SIGTERM and destroys it. */
#ifndef RAPPORT_SEGMENT_SERVER_H
#define RAPPORT_SEGMENT_SERVER_H

#include <stddef.h>

#include "config.h"
#include "err.h"

typedef struct segsrv segsrv_t;

/* Open the store in <state_dir>/segment, connect to the other workers,
 * bind the ROUTER, and queue the recovery of segments left in LOGGING.
 * On failure errbuf says why. Owned by the caller (segsrv_destroy). */
rp_err segsrv_new(const config_t *cfg, void *zctx, segsrv_t **ret, char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. */
void segsrv_destroy(segsrv_t **self_p);

/* Serve until the stop flag is set and nothing is in flight. */
int segsrv_run(segsrv_t *s);

#endif
