/* rapport-interaction: the catalog (groups, templates, contacts,
 * salespeople, campaigns) and single interactions, which it resolves and
 * hands to rapport-logwriter.
 *
 * The process entry point only wires things together: flags and
 * configuration, signals, the LMDB env under <state_dir>/interaction, the
 * DEALER to the log writer, the ROUTER, then the request loop until
 * SIGTERM / SIGINT. The logic is in interaction_server.c. */
#include <stdio.h>
#include <stdlib.h>

#include <zmq.h>

#include "config.h"
#include "daemon.h"
#include "interaction_server.h"
#include "link.h"
#include "log.h"
#include "server.h"
#include "store.h"

#include "rapport/v1/logwriter.pb-c.h"

int main(int argc, char **argv)
{
    config_t cfg;
    char dir[CONFIG_PATH_MAX + 32], err[CONFIG_PATH_MAX + 256];
    const store_dbi_spec_t *dbis;
    size_t n_dbis;
    store_t *store = NULL;
    link_t *link = NULL;
    interaction_server_t *ix = NULL;
    server_t *server = NULL;
    void *zctx;
    int status = EXIT_FAILURE, rc;
    rp_err e;

    rc = daemon_setup("interaction", argc, argv, &cfg);
    if (rc >= 0)
        return rc;
    daemon_signals();

    daemon_state_path(&cfg, "interaction", dir, sizeof(dir));
    dbis = interaction_server_dbis(&n_dbis);
    e = store_open(dir, dbis, n_dbis, (uint64_t)cfg.map_size, cfg.sync_mode, &store, err,
                   sizeof(err));
    if (e != RP_OK) {
        log_errx("cannot open the store in %s: %s", dir, err);
        return EXIT_FAILURE;
    }
    zctx = zmq_ctx_new();
    if (!zctx) {
        log_errx("cannot create the ZeroMQ context");
        goto out_close_store;
    }
    e = link_new(zctx, cfg.logwriter_endpoint, "logwriter", &rapport__v1__log_reply__descriptor,
                 &cfg, &link, err, sizeof(err));
    if (e != RP_OK) {
        log_errx("cannot connect to rapport-logwriter at %s: %s", cfg.logwriter_endpoint, err);
        goto out_term_zctx;
    }
    e = interaction_server_new(&cfg, store, link, &ix);
    if (e != RP_OK) {
        log_errx("cannot start: %s", rp_strerror(e));
        goto out_destroy_link;
    }
    e = server_new(interaction_server_spec(ix), &cfg, zctx, cfg.interaction_endpoint, &server, err,
                   sizeof(err));
    if (e != RP_OK) {
        log_errx("cannot serve on %s: %s", cfg.interaction_endpoint, err);
        goto out_destroy_ix;
    }
    interaction_server_attach(ix, server);
    log_info("store %s, rapport-logwriter at %s", dir, cfg.logwriter_endpoint);
    status = server_run(server) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;

    server_destroy(&server);
out_destroy_ix:
    interaction_server_destroy(&ix);
out_destroy_link:
    link_destroy(&link);
out_term_zctx:
    zmq_ctx_term(zctx);
out_close_store:
    store_close(&store);
    return status;
}
