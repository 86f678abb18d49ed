/* worker: args -> config -> log -> the worker's start -> loop -> exit, for
 * every rapport worker (see worker.h). */
#include "worker.h"

#include <stdlib.h>

#include <zmq.h>

#include "daemon.h"
#include "log.h"

int worker_main(const worker_def_t *def, int argc, char **argv)
{
    config_t cfg;
    char err[CONFIG_PATH_MAX + 512];
    void *zctx, *w = NULL;
    int rc = daemon_setup(def->name, argc, argv, &cfg);

    if (rc >= 0)
        return rc; /* --help, --version, or a configuration error (2) */
    daemon_signals();
    zctx = zmq_ctx_new();
    if (!zctx) {
        log_errx("cannot create the ZeroMQ context");
        return EXIT_FAILURE;
    }
    err[0] = '\0';
    if (def->start(&cfg, zctx, &w, err, sizeof(err)) != RP_OK) {
        log_errx("cannot start: %s", err[0] ? err : "out of memory");
        daemon_notify("STATUS=cannot start: %s", err);
        zmq_ctx_term(zctx);
        return EXIT_FAILURE;
    }
    rc = def->run(w); /* 0, or the worker's exit status */
    rc = rc < 0 ? EXIT_FAILURE : rc;
    def->destroy(&w);
    zmq_ctx_term(zctx);
    return rc;
}
