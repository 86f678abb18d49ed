/* promote_cmds: `rapport promote --state-dir DIR`, run on the machine of a
 * stopped read replica: its log writer's store becomes the primary's, at
 * the seq it applied last.
 *
 * The stream fences the old primary: the promotion publishes a term marker
 * (rapport.v1.term) at the end of the change stream, expecting the stream's
 * last message to be the one the replica's seq ends with, and the relay of
 * any store whose term is lower stops (relay.h). So the replica must have
 * applied the whole stream, and NATS must answer: otherwise nothing is
 * changed. Then, in one LMDB transaction of the replica's env, the replica
 * mark goes, the term is the marker's, and the change stream of the new
 * primary starts after its seq (changes_from, relay_confirmed).
 *
 * The store stays locked (worker.lock, store_open) from the first read to
 * the commit: a log writer running on it makes the promotion refuse, and
 * none can start meanwhile. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <nats/nats.h>

#include "cli.h"
#include "json.h"
#include "natsconn.h"
#include "store.h"

#define PROMOTE_WAIT_MS 5000

static const cli_opt_t s_promote_opts[] = {
    {.name = "--state-dir", .local = CLI_LOCAL_STATE_DIR},
    {0},
};

/* The replica's env: what it is and where. */
typedef struct {
    char dir[CONFIG_PATH_MAX + 16];
    store_t *store;
    store_dbi_t meta;
    char store_hex[17];
    uint64_t seq, term, fenced;
    bool replica;
} promote_env_t;

/* The stream's last message. */
typedef struct {
    uint64_t stream_seq, seq, term;
    bool last;
    char store_hex[17];
    char subject[64];
} promote_end_t;

static rp_err s_meta(store_txn_t *txn, promote_env_t *e, const char *key, bool *present,
                     uint64_t *ret)
{
    store_val_t v;
    rp_err rc = store_get(txn, e->meta, key, strlen(key), &v);

    *ret = 0;
    if (present)
        *present = rc == RP_OK;
    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc == RP_OK && v.len != 8)
        return RP_ECORRUPT;
    if (rc == RP_OK)
        *ret = store_key_u64(v.data);
    return rc;
}

/* Open and lock the env, read its marks. Returns an exit code. */
static int s_open_env(const cli_ctx_t *ctx, const char *state_dir, promote_env_t *e)
{
    static const store_dbi_spec_t spec[] = {{"meta", 0}};
    char path[CONFIG_PATH_MAX + 32], err[512];
    store_txn_t *txn = NULL;
    store_val_t v;
    struct stat sb;
    rp_err rc;

    if (snprintf(e->dir, sizeof(e->dir), "%s/logwriter", state_dir) >= (int)sizeof(e->dir) ||
        snprintf(path, sizeof(path), "%s/data.mdb", e->dir) >= (int)sizeof(path))
        return cli_usage_error(ctx, "path too long");
    if (stat(path, &sb) != 0)
        return cli_input_error("%s is not a log writer's state directory: no %s", state_dir, path);
    rc = store_open(e->dir, spec, 1, (uint64_t)ctx->cfg.map_size, ctx->cfg.sync_mode, &e->store,
                    err, sizeof(err));
    if (rc == RP_EADDRINUSE) {
        cli_warn("rapport-logwriter is running on %s (it holds worker.lock): stop the replica "
                 "first (systemctl stop rapport-logwriter), then promote it",
                 e->dir);
        return CLI_EXIT_REFUSED;
    }
    if (rc != RP_OK) {
        cli_warn("%s", err);
        return CLI_EXIT_REFUSED;
    }
    e->meta = store_dbi(e->store, 0);
    rc = store_txn_begin(e->store, false, &txn);
    if (rc == RP_OK)
        rc = s_meta(txn, e, "seq", NULL, &e->seq);
    if (rc == RP_OK)
        rc = s_meta(txn, e, "term", NULL, &e->term);
    if (rc == RP_OK)
        rc = s_meta(txn, e, "fenced", NULL, &e->fenced);
    if (rc == RP_OK)
        rc = s_meta(txn, e, "replica", &e->replica, &(uint64_t){0});
    if (rc == RP_OK && store_get(txn, e->meta, "stream_id", 9, &v) == RP_OK && v.len == 8)
        for (size_t i = 0; i < 8; i++)
            snprintf(e->store_hex + 2 * i, 3, "%02x", ((const uint8_t *)v.data)[i]);
    store_txn_abort(txn);
    if (rc != RP_OK) {
        cli_warn("%s: cannot read the store: %s", e->dir, rp_strerror(rc));
        return CLI_EXIT_REFUSED;
    }
    if (e->fenced) {
        cli_warn("%s is fenced (a primary of term %" PRIu64 " replaced it): it cannot be promoted; "
                 "rebuild it as a replica from an empty state directory",
                 e->dir, e->fenced);
        return CLI_EXIT_REFUSED;
    }
    if (!e->replica) {
        cli_warn("%s is not a read replica's store (it was never started with --replica, or was "
                 "promoted already): nothing to promote",
                 e->dir);
        return CLI_EXIT_REFUSED;
    }
    if (!e->seq || !e->store_hex[0]) {
        cli_warn("%s has applied nothing from the stream yet: nothing to promote", e->dir);
        return CLI_EXIT_REFUSED;
    }
    return CLI_EXIT_OK;
}

static int s_nats_error(const char *what, natsStatus s, jsErrCode jerr)
{
    cli_warn("%s: %s (%s, JetStream error %d); nothing was changed: the promotion needs the "
             "stream, so that the old primary is fenced",
             what, nats_GetLastError(NULL), natsStatus_GetText(s), (int)jerr);
    return CLI_EXIT_UNREACHABLE;
}

/* The stream's last message. Returns an exit code. */
static int s_read_end(const cli_ctx_t *ctx, jsCtx *js, promote_end_t *end)
{
    jsStreamInfo *si = NULL;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    const char *v = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, ctx->cfg.nats_stream, NULL, &jerr);

    if (s != NATS_OK)
        return s_nats_error("cannot read the stream", s, jerr);
    end->stream_seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    if (!end->stream_seq) {
        cli_warn("stream %s is empty: this replica's changes are not in it; nothing was changed",
                 ctx->cfg.nats_stream);
        return CLI_EXIT_REFUSED;
    }
    s = js_GetMsg(&m, js, ctx->cfg.nats_stream, end->stream_seq, NULL, &jerr);
    if (s != NATS_OK)
        return s_nats_error("cannot read the stream's last message", s, jerr);
    natsconn_header_u64(m, "Rapport-Seq", &end->seq);
    natsconn_header_u64(m, "Rapport-Term", &end->term);
    end->last = natsMsgHeader_Get(m, "Rapport-Last", &v) == NATS_OK && v && !strcmp(v, "true");
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) == NATS_OK && v && strcspn(v, ":") == 16)
        snprintf(end->store_hex, sizeof(end->store_hex), "%.16s", v);
    snprintf(end->subject, sizeof(end->subject), "%s", natsMsg_GetSubject(m));
    natsMsg_Destroy(m);
    return CLI_EXIT_OK;
}

/* The replica has applied exactly what the stream holds. */
static int s_check_caught_up(const cli_ctx_t *ctx, const promote_env_t *e, const promote_end_t *end)
{
    if (strcmp(end->store_hex, e->store_hex) != 0) {
        cli_warn("stream %s ends with a message of store %s, and %s is of store %s: set "
                 "nats_stream to this store's stream; nothing was changed",
                 ctx->cfg.nats_stream, end->store_hex[0] ? end->store_hex : "(none)", e->dir,
                 e->store_hex);
        return CLI_EXIT_REFUSED;
    }
    if (end->seq > e->seq || (end->seq == e->seq && !end->last)) {
        cli_warn("stream %s holds seq %" PRIu64 ", and this replica applied seq %" PRIu64
                 " only: start it as a replica again until it has applied the whole stream "
                 "(rapport_replica_applied_seq), stop it, then promote it; nothing was changed",
                 ctx->cfg.nats_stream, end->seq, e->seq);
        return CLI_EXIT_REFUSED;
    }
    if (end->seq < e->seq) {
        cli_warn("stream %s ends at seq %" PRIu64 ", before this replica's seq %" PRIu64
                 " (it lost messages it had acked?): the new primary could not continue it; "
                 "nothing was changed",
                 ctx->cfg.nats_stream, end->seq, e->seq);
        return CLI_EXIT_REFUSED;
    }
    return CLI_EXIT_OK;
}

/* Fence: the term marker, right after the message the replica has last. */
static int s_publish_marker(const cli_ctx_t *ctx, jsCtx *js, const promote_env_t *e,
                            const promote_end_t *end, uint64_t term)
{
    natsMsg *m = NULL;
    jsPubAck *pa = NULL;
    jsPubOptions po;
    jsErrCode jerr = 0;
    char id[64], num[24], expect[24], seq[24];
    natsStatus s = natsMsg_Create(&m, "rapport.v1.term", NULL, "", 0);

    snprintf(id, sizeof(id), "%s:term:%" PRIu64, e->store_hex, term);
    snprintf(num, sizeof(num), "%" PRIu64, term);
    snprintf(expect, sizeof(expect), "%" PRIu64, end->stream_seq);
    snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", expect);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Seq", seq);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Part", "0");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Type", "term");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Last", "true");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Term", num);
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = PROMOTE_WAIT_MS;
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, js, m, &po, &jerr);
    natsMsg_Destroy(m);
    if (s == NATS_OK && pa && pa->Duplicate) {
        jsPubAck_Destroy(pa);
        cli_warn("stream %s already has a term %" PRIu64 " marker of store %s: nothing was "
                 "changed",
                 ctx->cfg.nats_stream, term, e->store_hex);
        return CLI_EXIT_REFUSED;
    }
    jsPubAck_Destroy(pa);
    if (s != NATS_OK)
        return s_nats_error("cannot publish the term marker (did the stream move on meanwhile?)", s,
                            jerr);
    return CLI_EXIT_OK;
}

/* The env becomes the primary's, in one transaction. */
static rp_err s_commit(promote_env_t *e, uint64_t term)
{
    static const char *const puts[] = {"term", "changes_from", "relay_confirmed"};
    const uint64_t vals[] = {term, e->seq + 1, e->seq};
    store_txn_t *txn = NULL;
    rp_err rc = store_txn_begin(e->store, true, &txn);

    if (rc == RP_OK)
        rc = store_del(txn, e->meta, "replica", 7, NULL, 0);
    for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]) && rc == RP_OK; i++) {
        uint8_t b[8];
        store_u64_key(vals[i], b);
        rc = store_put(txn, e->meta, puts[i], strlen(puts[i]), b, 8, 0);
    }
    if (rc != RP_OK) {
        store_txn_abort(txn);
        return rc;
    }
    return store_txn_commit(txn);
}

static int s_print(const cli_ctx_t *ctx, const char *state_dir, const promote_env_t *e,
                   const promote_end_t *end, uint64_t term)
{
    if (ctx->json) {
        json_writer_t jw;

        json_writer_init(&jw, stdout, true);
        json_object_begin(&jw);
        json_key(&jw, "state_dir");
        json_string(&jw, state_dir);
        json_key(&jw, "store_id");
        json_string(&jw, e->store_hex);
        json_key(&jw, "seq");
        json_uint(&jw, e->seq);
        json_key(&jw, "term");
        json_uint(&jw, term);
        json_key(&jw, "stream_message");
        json_uint(&jw, end->stream_seq + 1);
        json_object_end(&jw);
        if (json_writer_end(&jw) != 0) {
            cli_warn("write error on stdout");
            return CLI_EXIT_REFUSED;
        }
        return CLI_EXIT_OK;
    }
    printf("promoted %s: store %s is the primary at seq %" PRIu64 ", term %" PRIu64
           " (term marker at message %" PRIu64 " of stream %s)\n",
           state_dir, e->store_hex, e->seq, term, end->stream_seq + 1, ctx->cfg.nats_stream);
    printf("start rapport-logwriter without --replica and rapport-relay on this host, then\n"
           "point the segment and interaction workers at it (logwriter_endpoint)\n");
    return cli_stdout_status();
}

static int s_promote(cli_ctx_t *ctx)
{
    const char *state_dir = ctx->local[CLI_LOCAL_STATE_DIR];
    promote_env_t e;
    promote_end_t end;
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    char err[512];
    uint64_t term;
    rp_err rc;
    int ret;

    if (!state_dir || !*state_dir)
        state_dir = ctx->cfg.state_dir;
    if (!ctx->cfg.nats_url[0])
        return cli_usage_error(ctx, "the promotion is fenced by the change stream: set nats_url "
                                    "(the configuration file, RAPPORT_NATS_URL or --set "
                                    "nats_url=...)");
    memset(&e, 0, sizeof(e));
    memset(&end, 0, sizeof(end));
    ret = s_open_env(ctx, state_dir, &e);
    if (ret != CLI_EXIT_OK)
        goto out;
    rc = natsconn_options(&ctx->cfg, "rapport-promote", &opts, err, sizeof(err));
    /* A command reports what failed itself: no connection log lines. */
    if (rc == RP_OK && (natsOptions_SetDisconnectedCB(opts, NULL, NULL) != NATS_OK ||
                        natsOptions_SetReconnectedCB(opts, NULL, NULL) != NATS_OK)) {
        snprintf(err, sizeof(err), "cannot set the NATS options");
        rc = RP_ENOMEM;
    }
    if (rc == RP_OK)
        rc = natsconn_connect(&ctx->cfg, opts, &nc, err, sizeof(err));
    jsOptions_Init(&jo);
    jo.Wait = PROMOTE_WAIT_MS;
    if (rc == RP_OK && natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
        snprintf(err, sizeof(err), "cannot create the JetStream context: %s",
                 nats_GetLastError(NULL));
        rc = RP_ECONFIG;
    }
    if (rc != RP_OK) {
        ret = cli_input_error("%s", err);
        goto out;
    }
    ret = s_read_end(ctx, js, &end);
    if (ret == CLI_EXIT_OK)
        ret = s_check_caught_up(ctx, &e, &end);
    if (ret != CLI_EXIT_OK)
        goto out;
    term = (end.term > e.term ? end.term : e.term) + 1;
    ret = s_publish_marker(ctx, js, &e, &end, term);
    if (ret != CLI_EXIT_OK)
        goto out;
    rc = s_commit(&e, term);
    if (rc != RP_OK) {
        cli_warn("%s: cannot change the store: %s (%s); the stream is fenced at term %" PRIu64
                 " already: run rapport promote again",
                 e.dir, rp_strerror(rc), store_last_error(e.store), term);
        ret = CLI_EXIT_REFUSED;
        goto out;
    }
    ret = s_print(ctx, state_dir, &e, &end, term);
out:
    jsCtx_Destroy(js);
    if (nc) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    natsOptions_Destroy(opts);
    store_close(&e.store);
    return ret;
}

const cli_cmd_t cli_promote_cmds[] = {
    {.group = "promote",
     .usage = "[--state-dir STATE_DIR]",
     .summary =
         "make the STOPPED read replica whose state dir is STATE_DIR (default the config's\n"
         "      state_dir) the primary, at the seq it applied last: it must have applied the\n"
         "      whole change stream (nats_url, nats_stream); a term marker in the stream fences\n"
         "      the old primary, whose relay and log writer then stop. Start rapport-logwriter\n"
         "      without --replica and rapport-relay afterwards",
     .service = CLI_SVC_LOGWRITER,
     .command = "stats",
     .opts = {s_promote_opts},
     .run = s_promote},
    {0},
};
