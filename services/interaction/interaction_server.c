/* interaction_server: the dispatch table of rapport-interaction and the
 * helpers its handlers share.
 *
 * The table is indexed by the `command` oneof case of InteractionRequest;
 * the server checks the role and the request_id of mutating commands
 * before a handler runs. Catalog mutations go through interaction_mutate(),
 * which records the reply under the request_id in the same LMDB
 * transaction as the change, so a repeated request_id returns the first
 * reply and changes nothing. Creates and resumes are made idempotent by
 * the log writer, which keeps the first reply under the client's
 * request_id. */
#include "interaction_internal.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"

#define ID_PREFIX_MAX 32

#define CMD(c) RAPPORT__V1__INTERACTION_REQUEST__COMMAND_##c

static const server_command_t s_commands[] = {
    [CMD(PUT_GROUP)] = {"put_group", catalog_group_put, ROLE_WRITER, true},
    [CMD(GET_GROUP)] = {"get_group", catalog_record_get, ROLE_READER, false},
    [CMD(LIST_GROUPS)] = {"list_groups", catalog_records_list, ROLE_READER, false},
    [CMD(DELETE_GROUP)] = {"delete_group", catalog_record_delete, ROLE_ADMIN, true},

    [CMD(PUT_TEMPLATE)] = {"put_template", catalog_template_put, ROLE_WRITER, true},
    [CMD(GET_TEMPLATE)] = {"get_template", catalog_record_get, ROLE_READER, false},
    [CMD(LIST_TEMPLATES)] = {"list_templates", catalog_records_list, ROLE_READER, false},
    [CMD(DELETE_TEMPLATE)] = {"delete_template", catalog_record_delete, ROLE_ADMIN, true},
    [CMD(PUT_TEMPLATE_LANGUAGE)] = {"put_template_language", catalog_template_language_put,
                                    ROLE_WRITER, true},
    [CMD(DELETE_TEMPLATE_LANGUAGE)] = {"delete_template_language", catalog_template_language_delete,
                                       ROLE_ADMIN, true},

    [CMD(PUT_CONTACT)] = {"put_contact", catalog_contact_put, ROLE_WRITER, true},
    [CMD(GET_CONTACT)] = {"get_contact", catalog_record_get, ROLE_READER, false},
    [CMD(LIST_CONTACTS)] = {"list_contacts", catalog_records_list, ROLE_READER, false},
    [CMD(DELETE_CONTACT)] = {"delete_contact", catalog_record_delete, ROLE_ADMIN, true},
    [CMD(IMPORT_CONTACTS)] = {"import_contacts", catalog_contacts_import, ROLE_WRITER, true},

    [CMD(PUT_SALESPERSON)] = {"put_salesperson", catalog_salesperson_put, ROLE_WRITER, true},
    [CMD(GET_SALESPERSON)] = {"get_salesperson", catalog_record_get, ROLE_READER, false},
    [CMD(LIST_SALESPEOPLE)] = {"list_salespeople", catalog_records_list, ROLE_READER, false},
    [CMD(DELETE_SALESPERSON)] = {"delete_salesperson", catalog_record_delete, ROLE_ADMIN, true},

    [CMD(PUT_CAMPAIGN)] = {"put_campaign", catalog_campaign_put, ROLE_WRITER, true},
    [CMD(GET_CAMPAIGN)] = {"get_campaign", catalog_record_get, ROLE_READER, false},
    [CMD(LIST_CAMPAIGNS)] = {"list_campaigns", catalog_records_list, ROLE_READER, false},
    [CMD(DELETE_CAMPAIGN)] = {"delete_campaign", catalog_record_delete, ROLE_ADMIN, true},

    [CMD(LOOKUP)] = {"lookup", catalog_lookup, ROLE_READER, false},

    [CMD(CREATE_INTERACTION)] = {"create_interaction", interactions_create, ROLE_WRITER, true},
    [CMD(RESUME_INTERACTION)] = {"resume_interaction", interactions_resume, ROLE_WRITER, true},
    [CMD(LIST_POSTPONED)] = {"list_postponed", interactions_postponed_list, ROLE_READER, false},
    [CMD(DELETE_POSTPONED)] = {"delete_postponed", interactions_postponed_delete, ROLE_ADMIN, true},

    [CMD(TEMPLATE_STATISTICS)] = {"template_statistics", interactions_statistics_get, ROLE_READER,
                                  false},
    [CMD(GROUP_STATISTICS)] = {"group_statistics", interactions_statistics_get, ROLE_READER, false},

    /* Answered by the server itself (spec.stats_command). */
    [CMD(STATS)] = {"stats", NULL, ROLE_READER, false},
};

static const store_dbi_spec_t s_dbis[IX_DBI_COUNT] = {
    [IX_DBI_GROUPS] = {"groups", 0},
    [IX_DBI_TEMPLATES] = {"templates", 0},
    [IX_DBI_TEMPLATES_BY_GROUP] = {"templates_by_group", STORE_DB_DUPSORT},
    [IX_DBI_CONTACTS] = {"contacts", 0},
    [IX_DBI_CONTACTS_BY_COMPANY] = {"contacts_by_company", STORE_DB_DUPSORT},
    [IX_DBI_CONTACTS_BY_SALESPERSON] = {"contacts_by_salesperson", STORE_DB_DUPSORT},
    [IX_DBI_SALESPEOPLE] = {"salespeople", 0},
    [IX_DBI_CAMPAIGNS] = {"campaigns", 0},
    [IX_DBI_DEDUP] = {"dedup", 0},
    [IX_DBI_DEDUP_TIME] = {"dedup_time", 0},
};

const interaction_kind_info_t interaction_kinds[IX_KIND_COUNT] = {
    [IX_KIND_GROUP] = {"Interaction Group", "Code", "group", IX_DBI_GROUPS,
                       &rapport__v1__interaction_group__descriptor},
    [IX_KIND_TEMPLATE] = {"Interaction Template", "Code", "template", IX_DBI_TEMPLATES,
                          &rapport__v1__interaction_template__descriptor},
    [IX_KIND_CONTACT] = {"Contact", "No.", "contact", IX_DBI_CONTACTS,
                         &rapport__v1__contact__descriptor},
    [IX_KIND_SALESPERSON] = {"Salesperson/Purchaser", "Code", "salesperson", IX_DBI_SALESPEOPLE,
                             &rapport__v1__salesperson__descriptor},
    [IX_KIND_CAMPAIGN] = {"Campaign", "No.", "campaign", IX_DBI_CAMPAIGNS,
                          &rapport__v1__campaign__descriptor},
};

const store_dbi_spec_t *interaction_server_dbis(size_t *ret_n)
{
    *ret_n = IX_DBI_COUNT;
    return s_dbis;
}

/* ---- errors ---- */

void interaction_err_set(interaction_err_t *e, int code, const char *field, const char *fmt, ...)
{
    va_list ap;

    if (e->code != 0)
        return;
    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

void interaction_err_not_found(interaction_err_t *e, interaction_kind_t kind, const char *key,
                               const char *field)
{
    interaction_err_set(e, RAPPORT__V1__STATUS_CODE__NOT_FOUND, field,
                        "The %s does not exist. Identification fields and values: %s='%s'",
                        interaction_kinds[kind].table, interaction_kinds[kind].key_caption, key);
}

void interaction_err_blank(interaction_err_t *e, const char *caption, const char *field)
{
    interaction_err_set(e, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, field,
                        "You must fill in the %s field.", caption);
}

void interaction_req_fail(server_req_t *req, const interaction_err_t *e)
{
    server_req_status(req, e->code ? e->code : RAPPORT__V1__STATUS_CODE__INTERNAL, e->field, "%s",
                      e->message);
}

const char *interaction_field(const server_req_t *req, const char *suffix)
{
    const char *cmd =
        req->command < sizeof(s_commands) / sizeof(s_commands[0]) && s_commands[req->command].name
            ? s_commands[req->command].name
            : "";
    return wire_arena_printf(req->arena, "%s.%s", cmd, suffix);
}

/* ---- records ---- */

const char *interaction_record_key(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    assert(fd && fd->type == PROTOBUF_C_TYPE_STRING);
    return *(const char *const *)((const char *)msg + fd->offset);
}

rp_err interaction_record_get(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                              const char *key, wire_arena_t *arena, ProtobufCMessage **ret_msg)
{
    store_val_t v;
    wire_error_t werr;
    ProtobufCMessage *msg;
    rp_err rc;

    if (!key || !*key)
        return RP_ENOTFOUND;
    rc = store_get(txn, ix->dbi[interaction_kinds[kind].dbi], key, strlen(key), &v);
    if (rc != RP_OK)
        return rc;
    rc = wire_decode_arena(arena, interaction_kinds[kind].desc, v.data, v.len, SIZE_MAX, 0, &msg,
                           &werr);
    if (rc != RP_OK) {
        log_warnx("%s '%s' is stored undecodable: %s", interaction_kinds[kind].table, key,
                  werr.message);
        return RP_ECORRUPT;
    }
    *ret_msg = msg;
    return RP_OK;
}

bool interaction_record_exists(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                               const char *key)
{
    store_val_t v;
    if (!key || !*key)
        return false;
    return store_get(txn, ix->dbi[interaction_kinds[kind].dbi], key, strlen(key), &v) == RP_OK;
}

rp_err interaction_record_put(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                              const ProtobufCMessage *msg)
{
    const char *key = interaction_record_key(msg);
    size_t len = wire_size(msg);
    void *val;
    rp_err rc;

    rc = store_reserve(txn, ix->dbi[interaction_kinds[kind].dbi], key, strlen(key), len, 0, &val);
    if (rc != RP_OK)
        return rc;
    wire_encode_to(msg, val);
    return RP_OK;
}

/* ---- replies, transactions, dedup ---- */

interaction_reply_t *interaction_reply(server_req_t *req)
{
    return (interaction_reply_t *)req->reply;
}

store_txn_t *interaction_read_begin(interaction_server_t *ix, server_req_t *req)
{
    store_txn_t *txn = NULL;
    rp_err rc = store_txn_begin(ix->store, false, &txn);

    if (rc != RP_OK) {
        log_warnx("store: %s", store_last_error(ix->store));
        server_req_fail(req, rc, NULL, "the catalog store cannot be read: %s", rp_strerror(rc));
        return NULL;
    }
    return txn;
}

typedef struct {
    interaction_server_t *ix;
    server_req_t *req;
    interaction_apply_fn apply;
    interaction_err_t err;
} s_mutation_t;

static rp_err s_mutation_txn(store_txn_t *txn, void *arg)
{
    s_mutation_t *m = arg;
    rp_err rc;

    memset(&m->err, 0, sizeof(m->err));
    rc = m->apply(m->ix, txn, m->req, &m->err);
    if (rc != RP_OK)
        return rc;
    return server_dedup_record(m->req, txn);
}

void interaction_mutate(interaction_server_t *ix, server_req_t *req, interaction_apply_fn apply)
{
    s_mutation_t m = {.ix = ix, .req = req, .apply = apply};
    rp_err rc = store_write(ix->store, s_mutation_txn, &m, NULL);

    if (m.err.code != 0) {
        interaction_req_fail(req, &m.err);
        return;
    }
    if (rc != RP_OK) {
        log_warnx("store: %s", store_last_error(ix->store));
        server_req_fail(req, rc, NULL, "the catalog store cannot be written: %s", rp_strerror(rc));
    }
}

/* ---- the writer ---- */

void interaction_writer_envelope(interaction_server_t *ix, server_req_t *req,
                                 Rapport__V1__LogRequest *msg, const char *tag)
{
    const ProtobufCBinaryData *rid = wire_msg_request_id(req->request);
    size_t prefix = rid->len > ID_PREFIX_MAX ? ID_PREFIX_MAX : rid->len;
    char suffix[WIRE_REQUEST_ID_MAX + 1];
    int n;

    /* "<client id prefix>#<tag>#<seq>": unique within the process, and
     * still says which client request it serves. */
    n = snprintf(suffix, sizeof(suffix), "%s#%s#%llu", prefix ? "" : "interaction", tag,
                 (unsigned long long)++ix->seq);
    if (n < 0 || (size_t)n > WIRE_REQUEST_ID_MAX)
        n = WIRE_REQUEST_ID_MAX;
    if (prefix + (size_t)n > WIRE_REQUEST_ID_MAX)
        prefix = WIRE_REQUEST_ID_MAX - (size_t)n;
    msg->request_id.len = prefix + (size_t)n;
    msg->request_id.data = wire_arena_alloc(req->arena, msg->request_id.len);
    if (prefix)
        memcpy(msg->request_id.data, rid->data, prefix);
    memcpy(msg->request_id.data + prefix, suffix, (size_t)n);
    msg->user_id = wire_str(req->user_id);
}

bool interaction_writer_send(interaction_server_t *ix, server_req_t *req,
                             Rapport__V1__LogRequest *msg, link_fn fn)
{
    rp_err rc = link_send(ix->link, req, &msg->base, fn, ix);

    switch (rc) {
    case RP_OK:
        return true;
    case RP_ENOSPC:
        server_req_status(req, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, NULL,
                          "rapport-logwriter is not keeping up: its queue is full");
        break;
    case RP_EEXIST:
        server_req_status(req, RAPPORT__V1__STATUS_CODE__ABORTED, "request_id",
                          "a request with the same request_id is already waiting for "
                          "rapport-logwriter");
        break;
    default:
        server_req_status(req, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, NULL,
                          "rapport-logwriter cannot be reached: %s", rp_strerror(rc));
        break;
    }
    return false;
}

Rapport__V1__LogReply *interaction_log_reply(ProtobufCMessage *msg, wire_arena_t *arena)
{
    (void)arena;
    assert(msg && msg->descriptor == &rapport__v1__log_reply__descriptor);
    return (Rapport__V1__LogReply *)msg;
}

bool interaction_writer_ok(server_req_t *req, const Rapport__V1__LogReply *reply)
{
    const Rapport__V1__Status *st = reply->status;

    if (!st || st->code == RAPPORT__V1__STATUS_CODE__OK)
        return true;
    server_req_status(req, (int)st->code, st->field, "%s", st->message);
    return false;
}

/* ---- loop hooks ---- */

static void s_on_writer(void *ctx)
{
    interaction_server_t *ix = ctx;
    link_on_readable(ix->link);
}

static void s_tick(void *ctx)
{
    interaction_server_t *ix = ctx;
    link_counters_t before, after;

    link_counters(ix->link, &before);
    link_tick(ix->link);
    link_counters(ix->link, &after);
    if (after.timeouts > before.timeouts)
        log_warnx("rapport-logwriter did not answer %llu requests within %lld ms (%s)",
                  (unsigned long long)(after.timeouts - before.timeouts),
                  (long long)ix->cfg->request_timeout_ms, ix->cfg->logwriter_endpoint);
}

static bool s_busy(void *ctx)
{
    interaction_server_t *ix = ctx;
    return link_pending(ix->link) > 0;
}

/* ---- stats ---- */

static void s_stats_gauge(wire_arena_t *a, Rapport__V1__WorkerStats *st, const char *name,
                          const char *help, const char *label, const char *value, double v)
{
    Rapport__V1__Gauge *g = server_gauge(a, name, help, v);
    if (label) {
        Rapport__V1__Label *l =
            (Rapport__V1__Label *)wire_arena_message(a, &rapport__v1__label__descriptor);
        l->name = wire_str(label);
        l->value = wire_str(value);
        g->labels = (Rapport__V1__Label **)wire_arena_ptrs(a, 1);
        g->labels[0] = l;
        g->n_labels = 1;
    }
    server_stats_add_gauge(a, st, g);
}

static void s_stats_counter(wire_arena_t *a, Rapport__V1__WorkerStats *st, const char *name,
                            const char *help, uint64_t value)
{
    Rapport__V1__Counter *c =
        (Rapport__V1__Counter *)wire_arena_message(a, &rapport__v1__counter__descriptor);
    Rapport__V1__Counter **grown = (Rapport__V1__Counter **)wire_arena_ptrs(a, st->n_counters + 1);

    c->name = wire_str(name);
    c->help = wire_str(help);
    c->value = value;
    if (st->n_counters)
        memcpy(grown, st->counters, sizeof(*grown) * st->n_counters);
    grown[st->n_counters++] = c;
    st->counters = grown;
}

static void s_stats(void *ctx, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    interaction_server_t *ix = ctx;
    link_counters_t lc;
    store_txn_t *txn = NULL;

    server_stats_add_store(a, st, ix->store);
    if (store_txn_begin(ix->store, false, &txn) == RP_OK) {
        for (int k = 0; k < IX_KIND_COUNT; k++) {
            uint64_t n = 0;
            if (store_count(txn, ix->dbi[interaction_kinds[k].dbi], &n) == RP_OK)
                s_stats_gauge(a, st, "rapport_catalog_records", "Catalog records by kind", "kind",
                              interaction_kinds[k].lookup, (double)n);
        }
        store_txn_abort(txn);
    }
    s_stats_gauge(a, st, "rapport_logwriter_pending", "Requests waiting for rapport-logwriter",
                  NULL, NULL, (double)link_pending(ix->link));
    link_counters(ix->link, &lc);
    s_stats_counter(a, st, "rapport_logwriter_resends_total",
                    "Requests sent to rapport-logwriter again for want of an answer", lc.resends);
    s_stats_counter(a, st, "rapport_logwriter_timeouts_total",
                    "Requests rapport-logwriter did not answer in time", lc.timeouts);
    s_stats_counter(a, st, "rapport_logwriter_unmatched_replies_total",
                    "Replies from rapport-logwriter that matched no pending request", lc.unmatched);
}

/* ---- life cycle ---- */

rp_err interaction_server_new(const config_t *cfg, store_t *store, link_t *link,
                              interaction_server_t **ret_ix)
{
    interaction_server_t *ix = calloc(1, sizeof(*ix));

    if (!ix)
        return RP_ENOMEM;
    ix->cfg = cfg;
    ix->store = store;
    ix->link = link;
    for (size_t i = 0; i < IX_DBI_COUNT; i++)
        ix->dbi[i] = store_dbi(store, i);
    ix->spec = (server_spec_t){
        .worker = "interaction",
        .request_desc = &rapport__v1__interaction_request__descriptor,
        .reply_desc = &rapport__v1__interaction_reply__descriptor,
        .commands = s_commands,
        .n_commands = sizeof(s_commands) / sizeof(s_commands[0]),
        .stats_command = CMD(STATS),
        .stats_result = RAPPORT__V1__INTERACTION_REPLY__RESULT_STATS,
        .stats_fn = s_stats,
        .tick_fn = s_tick,
        .busy_fn = s_busy,
        .ctx = ix,
        .dedup_store = store,
        .dedup_dbi = ix->dbi[IX_DBI_DEDUP],
        .dedup_time_dbi = ix->dbi[IX_DBI_DEDUP_TIME],
    };
    *ret_ix = ix;
    return RP_OK;
}

void interaction_server_destroy(interaction_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const server_spec_t *interaction_server_spec(interaction_server_t *ix)
{
    return &ix->spec;
}

void interaction_server_attach(interaction_server_t *ix, server_t *server)
{
    ix->server = server;
    server_add_socket(server, link_socket(ix->link), s_on_writer, ix);
}

/* ---- the worker of a process ---- */

struct interaction_worker {
    store_t *store;
    link_t *link;
    interaction_server_t *ix;
    server_t *server;
};

rp_err interaction_worker_new(const config_t *cfg, void *zctx, interaction_worker_t **ret,
                              char *errbuf, size_t errlen)
{
    interaction_worker_t *w = calloc(1, sizeof(*w));
    char dir[CONFIG_PATH_MAX + 32];
    const store_dbi_spec_t *dbis;
    size_t n_dbis;
    rp_err rc;

    if (!w)
        return RP_ENOMEM;
    daemon_state_path(cfg, "interaction", dir, sizeof(dir));
    dbis = interaction_server_dbis(&n_dbis);
    rc = store_open(dir, dbis, n_dbis, (uint64_t)cfg->map_size, cfg->sync_mode, &w->store, errbuf,
                    errlen);
    if (rc == RP_OK)
        rc = link_new(zctx, cfg->logwriter_endpoint, "logwriter",
                      &rapport__v1__log_reply__descriptor, cfg, &w->link, errbuf, errlen);
    if (rc == RP_OK && (rc = interaction_server_new(cfg, w->store, w->link, &w->ix)) != RP_OK)
        snprintf(errbuf, errlen, "%s", rp_strerror(rc));
    if (rc == RP_OK)
        rc = server_new(interaction_server_spec(w->ix), cfg, zctx, cfg->interaction_endpoint,
                        &w->server, errbuf, errlen);
    if (rc != RP_OK) {
        interaction_worker_destroy(&w);
        return rc;
    }
    interaction_server_attach(w->ix, w->server);
    log_info("store %s, rapport-logwriter at %s", dir, cfg->logwriter_endpoint);
    *ret = w;
    return RP_OK;
}

int interaction_worker_run(interaction_worker_t *w)
{
    return server_run(w->server);
}

void interaction_worker_destroy(interaction_worker_t **self_p)
{
    interaction_worker_t *w;

    if (!self_p || !*self_p)
        return;
    w = *self_p;
    server_destroy(&w->server);
    interaction_server_destroy(&w->ix);
    link_destroy(&w->link);
    store_close(&w->store);
    free(w);
    *self_p = NULL;
}
