/* rapport-segment: args -> config -> log -> store -> sockets -> loop. */
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "daemon.h"
#include "log.h"
#include "segment_server.h"

int main(int argc, char **argv)
{
    config_t cfg;
    segsrv_t *w = NULL;
    char err[1024];
    void *zctx;
    int rc = daemon_setup("segment", argc, argv, &cfg);

    if (rc >= 0)
        return rc;
    daemon_signals();
    zctx = zmq_ctx_new();
    if (!zctx) {
        log_errx("cannot create the ZeroMQ context");
        return 1;
    }
    if (segsrv_new(&cfg, zctx, &w, err, sizeof(err)) != RP_OK) {
        log_errx("cannot start: %s", err);
        daemon_notify("STATUS=cannot start: %s", err);
        zmq_ctx_term(zctx);
        return 1;
    }
    rc = segsrv_run(w);
    segsrv_destroy(&w);
    zmq_ctx_term(zctx);
    return rc;
}
