/* rapport-relay: args -> config -> log -> writer client and NATS -> loop. */
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "daemon.h"
#include "log.h"
#include "relay.h"

int main(int argc, char **argv)
{
    config_t cfg;
    relay_t *r = NULL;
    char err[1024];
    void *zctx;
    rp_err rc;
    int status = daemon_setup("relay", argc, argv, &cfg);

    if (status >= 0)
        return status;
    daemon_signals();
    zctx = zmq_ctx_new();
    if (!zctx) {
        log_errx("cannot create the ZeroMQ context");
        return 1;
    }
    rc = relay_new(&cfg, zctx, &r, err, sizeof(err));
    if (rc != RP_OK) {
        log_errx("cannot start: %s", err);
        daemon_notify("STATUS=cannot start: %s", err);
        zmq_ctx_term(zctx);
        return rc == RP_ECONFIG ? 2 : 1;
    }
    status = relay_run(r);
    relay_destroy(&r);
    zmq_ctx_term(zctx);
    return status;
}
