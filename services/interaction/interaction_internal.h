/* interaction_internal: what the files of rapport-interaction share.
 *
 * interaction_server.c holds the dispatch table and the helpers below
 * (record access by kind, errors with Business Central's texts, the
 * dedup-guarded write path); catalog.c and interactions.c hold the handlers
 * named in the table. Not installed, not used outside the service. */
#ifndef RAPPORT_INTERACTION_INTERNAL_H
#define RAPPORT_INTERACTION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interaction_server.h"
#include "link.h"
#include "server.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"

typedef Rapport__V1__InteractionRequest interaction_request_t;
typedef Rapport__V1__InteractionReply interaction_reply_t;

/* The env's DBIs, in the order of interaction_server_dbis(). Index DBIs
 * are DUPSORT: key = the referenced code, values = the referring keys. */
enum {
    IX_DBI_GROUPS,
    IX_DBI_TEMPLATES,
    IX_DBI_TEMPLATES_BY_GROUP,
    IX_DBI_CONTACTS,
    IX_DBI_CONTACTS_BY_COMPANY,
    IX_DBI_CONTACTS_BY_SALESPERSON,
    IX_DBI_SALESPEOPLE,
    IX_DBI_CAMPAIGNS,
    IX_DBI_DEDUP,
    IX_DBI_DEDUP_TIME,
    IX_DBI_COUNT
};

/* The catalog's record kinds. */
typedef enum {
    IX_KIND_GROUP,
    IX_KIND_TEMPLATE,
    IX_KIND_CONTACT,
    IX_KIND_SALESPERSON,
    IX_KIND_CAMPAIGN,
    IX_KIND_COUNT
} interaction_kind_t;

typedef struct {
    const char *table;       /* Business Central's table caption */
    const char *key_caption; /* its key field's caption */
    const char *lookup;      /* prefix in LookupResult.missing */
    int dbi;
    const ProtobufCMessageDescriptor *desc; /* field 1 is the key */
} interaction_kind_info_t;

extern const interaction_kind_info_t interaction_kinds[IX_KIND_COUNT];

/* A failure found while validating, reported to the client as a Status. */
typedef struct {
    int code; /* rapport.v1.StatusCode, 0 while nothing failed */
    char field[192];
    char message[768];
} interaction_err_t;

struct interaction_server {
    const config_t *cfg;
    store_t *store;
    store_dbi_t dbi[IX_DBI_COUNT];
    link_t *link; /* to rapport-logwriter */
    server_t *server;
    server_spec_t spec;
    uint64_t seq; /* for internal request ids */
};

/* ---- errors ---- */

/* Set e (first call wins). `field` may be NULL. */
void interaction_err_set(interaction_err_t *e, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* NOT_FOUND with "The <Table> does not exist. Identification fields and
 * values: <Field>='<key>'". */
void interaction_err_not_found(interaction_err_t *e, interaction_kind_t kind, const char *key,
                               const char *field);

/* INVALID_ARGUMENT "You must fill in the <caption> field." */
void interaction_err_blank(interaction_err_t *e, const char *caption, const char *field);

/* Copy e into req's status. */
void interaction_req_fail(server_req_t *req, const interaction_err_t *e);

/* "<command>.<suffix>", the path of a request field, in req's arena. */
const char *interaction_field(const server_req_t *req, const char *suffix);

/* ---- records ---- */

/* Decode the record `key` of `kind` into arena. RP_ENOTFOUND, RP_EIO,
 * RP_ECORRUPT (undecodable record). */
rp_err interaction_record_get(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                              const char *key, wire_arena_t *arena, ProtobufCMessage **ret_msg);

/* Whether `key` of `kind` exists. */
bool interaction_record_exists(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                               const char *key);

/* Store msg (of kind's type) under its key, replacing any record. */
rp_err interaction_record_put(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                              const ProtobufCMessage *msg);

/* The key (field 1) of a record message. */
const char *interaction_record_key(const ProtobufCMessage *msg);

/* ---- reply and transactions ---- */

/* The request's reply message. */
interaction_reply_t *interaction_reply(server_req_t *req);

/* A read transaction; on failure req's status is set and NULL returned. */
store_txn_t *interaction_read_begin(interaction_server_t *ix, server_req_t *req);

/* Body of a catalog mutation, run inside the write transaction: validate,
 * change, and set the reply's result. Return RP_OK, a store error
 * (RP_EMAPFULL makes store_write replay it), or RP_EINVAL after filling
 * *err. It must keep every effect inside txn and req's arena. */
typedef rp_err (*interaction_apply_fn)(interaction_server_t *ix, store_txn_t *txn,
                                       server_req_t *req, interaction_err_t *err);

/* Run a mutation: apply() runs and, when it succeeds, its reply is
 * recorded under the caller's request_id in the same transaction (a repeat
 * is answered by the server from that record before it gets here). Sets
 * req's status on failure; the caller returns and the server replies. */
void interaction_mutate(interaction_server_t *ix, server_req_t *req, interaction_apply_fn apply);

/* Fill msg's envelope for a request to the writer: an id of its own
 * derived from the client's (`tag` tells what it is for), the caller's
 * user id. */
void interaction_writer_envelope(interaction_server_t *ix, server_req_t *req,
                                 Rapport__V1__LogRequest *msg, const char *tag);

/* Send msg to the writer; fn(ix, req, reply, arena) runs later with a
 * Rapport__V1__LogReply in req's arena (the writer's, or the link's
 * UNAVAILABLE on timeout). On failure set req's status and return false
 * (nothing is pending then). */
bool interaction_writer_send(interaction_server_t *ix, server_req_t *req,
                             Rapport__V1__LogRequest *msg, link_fn fn);

/* The reply a link_fn gets from the writer link: always a LogReply, in
 * `arena`, which is req's arena (every request to the writer is sent on
 * behalf of a client request). */
Rapport__V1__LogReply *interaction_log_reply(ProtobufCMessage *msg, wire_arena_t *arena);

/* Copy a writer error into req's status; true when the reply was OK. */
bool interaction_writer_ok(server_req_t *req, const Rapport__V1__LogReply *reply);

/* ---- handlers (catalog.c) ---- */

void catalog_group_put(void *ctx, server_req_t *req);
void catalog_template_put(void *ctx, server_req_t *req);
void catalog_template_language_put(void *ctx, server_req_t *req);
void catalog_template_language_delete(void *ctx, server_req_t *req);
void catalog_contact_put(void *ctx, server_req_t *req);
void catalog_contacts_import(void *ctx, server_req_t *req);
void catalog_salesperson_put(void *ctx, server_req_t *req);
void catalog_campaign_put(void *ctx, server_req_t *req);
/* get_* / list_* / delete_* of every kind (the kind from the command). */
void catalog_record_get(void *ctx, server_req_t *req);
void catalog_records_list(void *ctx, server_req_t *req);
void catalog_record_delete(void *ctx, server_req_t *req);
void catalog_lookup(void *ctx, server_req_t *req);

/* ---- handlers (interactions.c) ---- */

void interactions_create(void *ctx, server_req_t *req);
void interactions_resume(void *ctx, server_req_t *req);
void interactions_postponed_list(void *ctx, server_req_t *req);
void interactions_postponed_delete(void *ctx, server_req_t *req);
void interactions_statistics_get(void *ctx, server_req_t *req);

#endif
