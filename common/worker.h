/* worker: the process entry point every rapport worker shares.
 *
 * A worker's main() names itself and three functions: start (open its
 * store, connect its peers, bind its sockets), run (the request loop until
 * SIGTERM) and destroy. worker_main() does the rest the same way for each:
 * flags and configuration (exit 2 on a bad one), signals, the ZeroMQ
 * context, a clear message and exit 1 when the worker cannot start. */
#ifndef RAPPORT_WORKER_H
#define RAPPORT_WORKER_H

#include <stddef.h>

#include "config.h"
#include "err.h"

typedef struct {
    const char *name; /* "logwriter": rapport-logwriter, <state_dir>/logwriter */
    /* Build the worker in context zctx; errbuf says why it cannot. */
    rp_err (*start)(const config_t *cfg, void *zctx, void **ret_worker, char *errbuf,
                    size_t errlen);
    /* Serve until stopped; 0 on a clean stop. */
    int (*run)(void *worker);
    /* Accepts NULL; NULLs the caller's pointer. */
    void (*destroy)(void **worker);
} worker_def_t;

/* Run the worker `def` as a process; returns the exit status. */
int worker_main(const worker_def_t *def, int argc, char **argv);

#endif
