/* catalog: the master data of docs/domain.md section 2 (interaction groups,
 * templates with their language rows, contacts, salespeople, campaigns).
 *
 * Records are the protobuf encodings of the contract messages, keyed by
 * their code (already upper-cased by the server's decode). A put is an
 * upsert with full replacement, validated as Business Central validates
 * the table, and keeps the secondary indexes (templates by group, contacts
 * by company and by salesperson) in the same transaction. get / list /
 * delete are written once for every kind: the kind follows from the
 * command number (10s groups, 20s templates, 30s contacts, 40s
 * salespeople, 50s campaigns). */
#include "interaction_internal.h"
#include "pbscan.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define LIST_DEFAULT    100
#define LIST_MAX        10000
#define IMPORT_MAX      10000
#define LOOKUP_MAX      10000
#define CONTACT_COMPANY RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_COMPANY
#define CONTACT_PERSON  RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_PERSON
#define STATUS(c)       RAPPORT__V1__STATUS_CODE__##c
#define CORR_TYPE_OPT   RAPPORT__V1__INTERACTION_TEMPLATE__CORRESPONDENCE_TYPE_OPT_CORRESPONDENCE_TYPE
#define CORR_TYPE(c)    RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_##c
#define REPLY_GET(k)    (10u + 2u * (unsigned)(k))
#define REPLY_LIST(k)   (11u + 2u * (unsigned)(k))
#define CMD_LOOKUP_RES  RAPPORT__V1__INTERACTION_REPLY__RESULT_LOOKUP

/* get / list / delete are generic over the kind because the contract
 * numbers them regularly; these hold the numbering to it. */
#define REQ_CMD(c) RAPPORT__V1__INTERACTION_REQUEST__COMMAND_##c
#define REP_RES(c) RAPPORT__V1__INTERACTION_REPLY__RESULT_##c
_Static_assert(REQ_CMD(GET_GROUP) / 10 - 1 == IX_KIND_GROUP, "command numbering");
_Static_assert(REQ_CMD(DELETE_TEMPLATE) / 10 - 1 == IX_KIND_TEMPLATE, "command numbering");
_Static_assert(REQ_CMD(LIST_CONTACTS) / 10 - 1 == IX_KIND_CONTACT, "command numbering");
_Static_assert(REQ_CMD(GET_SALESPERSON) / 10 - 1 == IX_KIND_SALESPERSON, "command numbering");
_Static_assert(REQ_CMD(DELETE_CAMPAIGN) / 10 - 1 == IX_KIND_CAMPAIGN, "command numbering");
_Static_assert(REP_RES(GROUP) == REPLY_GET(IX_KIND_GROUP) &&
                   REP_RES(GROUPS) == REPLY_LIST(IX_KIND_GROUP),
               "result numbering");
_Static_assert(REP_RES(TEMPLATE) == REPLY_GET(IX_KIND_TEMPLATE) &&
                   REP_RES(TEMPLATES) == REPLY_LIST(IX_KIND_TEMPLATE),
               "result numbering");
_Static_assert(REP_RES(CONTACT) == REPLY_GET(IX_KIND_CONTACT) &&
                   REP_RES(CONTACTS) == REPLY_LIST(IX_KIND_CONTACT),
               "result numbering");
_Static_assert(REP_RES(SALESPERSON) == REPLY_GET(IX_KIND_SALESPERSON) &&
                   REP_RES(SALESPEOPLE) == REPLY_LIST(IX_KIND_SALESPERSON),
               "result numbering");
_Static_assert(REP_RES(CAMPAIGN) == REPLY_GET(IX_KIND_CAMPAIGN) &&
                   REP_RES(CAMPAIGNS) == REPLY_LIST(IX_KIND_CAMPAIGN),
               "result numbering");

static interaction_request_t *s_request(server_req_t *req)
{
    return (interaction_request_t *)req->request;
}

/* The record kind of a get_/list_/delete_ command: its tens digit. */
static interaction_kind_t s_kind_of(const server_req_t *req)
{
    unsigned k = req->command / 10u;
    assert(k >= 1 && k <= IX_KIND_COUNT);
    return (interaction_kind_t)(k - 1);
}

/* The message in the request's `command` oneof. */
static ProtobufCMessage *s_command_msg(server_req_t *req)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(req->request->descriptor, req->command);
    assert(fd && fd->type == PROTOBUF_C_TYPE_MESSAGE);
    return *(ProtobufCMessage **)((char *)req->request + fd->offset);
}

/* Put msg into the reply's `result` oneof as field `id`. */
static void s_reply_result(server_req_t *req, unsigned id, ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(req->reply->descriptor, id);
    assert(fd && (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF));
    *(uint32_t *)((char *)req->reply + fd->quantifier_offset) = fd->id;
    *(ProtobufCMessage **)((char *)req->reply + fd->offset) = msg;
}

static bool s_blank(const char *s)
{
    return !s || !*s;
}

static void s_store_fail(interaction_server_t *ix, server_req_t *req, rp_err rc)
{
    log_warnx("store: %s", store_last_error(ix->store));
    server_req_fail(req, rc, NULL, "the catalog store cannot be read: %s", rp_strerror(rc));
}

/* Whether the DUPSORT index `dbi` has a value under key other than `except`
 * (NULL: any); the first such value into *ret_other (valid in txn). */
static rp_err s_index_has_other(store_txn_t *txn, store_dbi_t dbi, const char *key,
                                const char *except, bool *ret_has, store_val_t *ret_other)
{
    store_cursor_t *cur = NULL;
    store_val_t k = {strlen(key), (void *)(uintptr_t)key}, v;
    size_t elen = except ? strlen(except) : 0;
    rp_err rc = store_cursor_open(txn, dbi, &cur);

    if (rc != RP_OK)
        return rc;
    *ret_has = false;
    rc = store_cursor_get(cur, STORE_SET, &k, &v);
    while (rc == RP_OK) {
        if (!except || v.len != elen || memcmp(v.data, except, elen) != 0) {
            *ret_has = true;
            if (ret_other)
                *ret_other = v;
            break;
        }
        rc = store_cursor_get(cur, STORE_NEXT_DUP, &k, &v);
    }
    store_cursor_close(cur);
    return rc == RP_OK || rc == RP_ENOTFOUND ? RP_OK : rc;
}

static rp_err s_index_put(store_txn_t *txn, store_dbi_t dbi, const char *key, const char *val)
{
    rp_err rc;
    if (s_blank(key))
        return RP_OK;
    rc = store_put(txn, dbi, key, strlen(key), val, strlen(val), STORE_PUT_NODUPDATA);
    return rc == RP_EEXIST ? RP_OK : rc;
}

static rp_err s_index_del(store_txn_t *txn, store_dbi_t dbi, const char *key, const char *val)
{
    rp_err rc;
    if (s_blank(key))
        return RP_OK;
    rc = store_del(txn, dbi, key, strlen(key), val, strlen(val));
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* Look a record up inside a mutation; a missing one is *ret_msg = NULL. */
static rp_err s_get_opt(interaction_server_t *ix, store_txn_t *txn, interaction_kind_t kind,
                        const char *key, server_req_t *req, ProtobufCMessage **ret_msg)
{
    rp_err rc = interaction_record_get(ix, txn, kind, key, req->arena, ret_msg);
    if (rc == RP_ENOTFOUND) {
        *ret_msg = NULL;
        return RP_OK;
    }
    return rc;
}

/* ---- groups, salespeople, campaigns: a key and plain fields ---- */

static rp_err s_group_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                            interaction_err_t *err)
{
    Rapport__V1__InteractionGroup *g = s_request(req)->put_group;
    rp_err rc;

    if (s_blank(g->code)) {
        interaction_err_blank(err, "Code", interaction_field(req, "code"));
        return RP_EINVAL;
    }
    rc = interaction_record_put(ix, txn, IX_KIND_GROUP, &g->base);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_GROUP), &g->base);
    return rc;
}

void catalog_group_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_group_apply);
}

static rp_err s_salesperson_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                                  interaction_err_t *err)
{
    Rapport__V1__Salesperson *sp = s_request(req)->put_salesperson;
    rp_err rc;

    if (s_blank(sp->code)) {
        interaction_err_blank(err, "Code", interaction_field(req, "code"));
        return RP_EINVAL;
    }
    rc = interaction_record_put(ix, txn, IX_KIND_SALESPERSON, &sp->base);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_SALESPERSON), &sp->base);
    return rc;
}

void catalog_salesperson_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_salesperson_apply);
}

static rp_err s_campaign_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                               interaction_err_t *err)
{
    Rapport__V1__Campaign *c = s_request(req)->put_campaign;
    rp_err rc;

    if (s_blank(c->no)) {
        interaction_err_blank(err, "No.", interaction_field(req, "no"));
        return RP_EINVAL;
    }
    rc = interaction_record_put(ix, txn, IX_KIND_CAMPAIGN, &c->base);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_CAMPAIGN), &c->base);
    return rc;
}

void catalog_campaign_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_campaign_apply);
}

/* ---- templates and their language rows ---- */

static Rapport__V1__TemplateLanguage *s_template_language(const Rapport__V1__InteractionTemplate *t,
                                                          const char *code, size_t *ret_index)
{
    for (size_t i = 0; i < t->n_languages; i++)
        if (strcmp(t->languages[i]->language_code, code) == 0) {
            if (ret_index)
                *ret_index = i;
            return t->languages[i];
        }
    return NULL;
}

/* Store t and move its templates-by-group index entry from old's group. */
static rp_err s_template_store(interaction_server_t *ix, store_txn_t *txn,
                               const Rapport__V1__InteractionTemplate *old,
                               const Rapport__V1__InteractionTemplate *t)
{
    store_dbi_t by_group = ix->dbi[IX_DBI_TEMPLATES_BY_GROUP];
    rp_err rc;

    if (old && strcmp(old->interaction_group_code, t->interaction_group_code) != 0) {
        rc = s_index_del(txn, by_group, old->interaction_group_code, old->code);
        if (rc != RP_OK)
            return rc;
    }
    rc = s_index_put(txn, by_group, t->interaction_group_code, t->code);
    if (rc != RP_OK)
        return rc;
    return interaction_record_put(ix, txn, IX_KIND_TEMPLATE, &t->base);
}

static rp_err s_template_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                               interaction_err_t *err)
{
    Rapport__V1__InteractionTemplate *t = s_request(req)->put_template;
    Rapport__V1__InteractionTemplate *old = NULL;
    ProtobufCMessage *m;
    rp_err rc;

    if (s_blank(t->code)) {
        interaction_err_blank(err, "Code", interaction_field(req, "code"));
        return RP_EINVAL;
    }
    if (s_blank(t->interaction_group_code)) {
        interaction_err_blank(err, "Interaction Group Code",
                              interaction_field(req, "interaction_group_code"));
        return RP_EINVAL;
    }
    if (t->unit_cost_cents < 0) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT),
                            interaction_field(req, "unit_cost_cents"),
                            "Unit Cost (LCY) must not be negative in Interaction Template: "
                            "Code=%s.",
                            t->code);
        return RP_EINVAL;
    }
    if (!interaction_record_exists(ix, txn, IX_KIND_GROUP, t->interaction_group_code)) {
        interaction_err_not_found(err, IX_KIND_GROUP, t->interaction_group_code,
                                  interaction_field(req, "interaction_group_code"));
        return RP_EINVAL;
    }
    if (!s_blank(t->campaign_no) &&
        !interaction_record_exists(ix, txn, IX_KIND_CAMPAIGN, t->campaign_no)) {
        interaction_err_not_found(err, IX_KIND_CAMPAIGN, t->campaign_no,
                                  interaction_field(req, "campaign_no"));
        return RP_EINVAL;
    }
    rc = s_get_opt(ix, txn, IX_KIND_TEMPLATE, t->code, req, &m);
    if (rc != RP_OK)
        return rc;
    old = (Rapport__V1__InteractionTemplate *)m;

    /* Language rows are maintained by put_template_language only. */
    t->n_languages = old ? old->n_languages : 0;
    t->languages = old ? old->languages : NULL;
    if (t->correspondence_type_opt_case != CORR_TYPE_OPT) {
        t->correspondence_type_opt_case = CORR_TYPE_OPT;
        t->correspondence_type = old && old->correspondence_type_opt_case == CORR_TYPE_OPT
                                     ? old->correspondence_type
                                     : CORR_TYPE(EMAIL);
    }
    if (t->n_languages > 0 && s_blank(t->language_code)) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), interaction_field(req, "language_code"),
                            "Language Code (Default) must have a value in Interaction Template: "
                            "Code=%s. It cannot be zero or empty.",
                            t->code);
        return RP_EINVAL;
    }
    if (t->n_languages > 0 && !s_template_language(t, t->language_code, NULL)) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), interaction_field(req, "language_code"),
                            "The field Language Code (Default) of table Interaction Template "
                            "contains a value (%s) that cannot be found in the related table "
                            "(Interaction Tmpl. Language).",
                            t->language_code);
        return RP_EINVAL;
    }
    /* Campaign Target / Response only mean something with a campaign. */
    if (s_blank(t->campaign_no)) {
        t->campaign_target = 0;
        t->campaign_response = 0;
    }
    rc = s_template_store(ix, txn, old, t);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_TEMPLATE), &t->base);
    return rc;
}

void catalog_template_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_template_apply);
}

/* The template named by a language command, or an error. */
static rp_err s_language_template(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                                  const char *template_code, const char *language_code,
                                  interaction_err_t *err, Rapport__V1__InteractionTemplate **ret_t)
{
    ProtobufCMessage *m;
    rp_err rc;

    if (s_blank(template_code)) {
        interaction_err_blank(err, "Interaction Template Code",
                              interaction_field(req, "template_code"));
        return RP_EINVAL;
    }
    if (s_blank(language_code)) {
        interaction_err_blank(err, "Language Code", interaction_field(req, "language_code"));
        return RP_EINVAL;
    }
    rc = interaction_record_get(ix, txn, IX_KIND_TEMPLATE, template_code, req->arena, &m);
    if (rc == RP_ENOTFOUND) {
        interaction_err_not_found(err, IX_KIND_TEMPLATE, template_code,
                                  interaction_field(req, "template_code"));
        return RP_EINVAL;
    }
    if (rc != RP_OK)
        return rc;
    *ret_t = (Rapport__V1__InteractionTemplate *)m;
    return RP_OK;
}

static rp_err s_language_put_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                                   interaction_err_t *err)
{
    Rapport__V1__PutTemplateLanguage *p = s_request(req)->put_template_language;
    Rapport__V1__InteractionTemplate *t;
    Rapport__V1__TemplateLanguage *row;
    rp_err rc;

    rc = s_language_template(ix, txn, req, p->template_code, p->language_code, err, &t);
    if (rc != RP_OK)
        return rc;
    row = s_template_language(t, p->language_code, NULL);
    if (row) {
        row->description = p->description;
    } else {
        /* Insert in language code order. */
        Rapport__V1__TemplateLanguage **rows =
            (Rapport__V1__TemplateLanguage **)wire_arena_ptrs(req->arena, t->n_languages + 1);
        size_t at = 0;

        while (at < t->n_languages && strcmp(t->languages[at]->language_code, p->language_code) < 0)
            at++;
        row = (Rapport__V1__TemplateLanguage *)wire_arena_message(
            req->arena, &rapport__v1__template_language__descriptor);
        row->language_code = p->language_code;
        row->description = p->description;
        if (at)
            memcpy(rows, t->languages, sizeof(*rows) * at);
        rows[at] = row;
        if (t->n_languages > at)
            memcpy(rows + at + 1, t->languages + at, sizeof(*rows) * (t->n_languages - at));
        t->languages = rows;
        t->n_languages++;
    }
    /* The first row becomes the default while the default names no row. */
    if (!s_template_language(t, t->language_code, NULL))
        t->language_code = p->language_code;
    rc = interaction_record_put(ix, txn, IX_KIND_TEMPLATE, &t->base);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_TEMPLATE), &t->base);
    return rc;
}

void catalog_template_language_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_language_put_apply);
}

static rp_err s_language_delete_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                                      interaction_err_t *err)
{
    Rapport__V1__DeleteTemplateLanguage *d = s_request(req)->delete_template_language;
    Rapport__V1__InteractionTemplate *t;
    size_t at = 0;
    rp_err rc;

    rc = s_language_template(ix, txn, req, d->template_code, d->language_code, err, &t);
    if (rc != RP_OK)
        return rc;
    if (!s_template_language(t, d->language_code, &at)) {
        interaction_err_set(err, STATUS(NOT_FOUND), interaction_field(req, "language_code"),
                            "The Interaction Tmpl. Language does not exist. Identification "
                            "fields and values: Interaction Template Code='%s',Language Code='%s'",
                            t->code, d->language_code);
        return RP_EINVAL;
    }
    if (strcmp(t->language_code, d->language_code) == 0) {
        if (t->n_languages > 1) {
            interaction_err_set(err, STATUS(FAILED_PRECONDITION),
                                interaction_field(req, "language_code"),
                                "You cannot delete Language Code %s of Interaction Template %s "
                                "because it is the template's default language. Make another "
                                "language the default first.",
                                d->language_code, t->code);
            return RP_EINVAL;
        }
        t->language_code = wire_str("");
    }
    memmove(t->languages + at, t->languages + at + 1,
            sizeof(*t->languages) * (t->n_languages - at - 1));
    t->n_languages--;
    rc = interaction_record_put(ix, txn, IX_KIND_TEMPLATE, &t->base);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_TEMPLATE), &t->base);
    return rc;
}

void catalog_template_language_delete(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_language_delete_apply);
}

/* ---- contacts ---- */

static const char *s_type_caption(Rapport__V1__ContactType type)
{
    return type == CONTACT_COMPANY ? "Company" : type == CONTACT_PERSON ? "Person" : "";
}

/* Validate and store one contact; `path` is the request path of c, used in
 * status.field. */
static rp_err s_contact_store(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                              Rapport__V1__Contact *c, const char *path, interaction_err_t *err)
{
    store_dbi_t by_company = ix->dbi[IX_DBI_CONTACTS_BY_COMPANY];
    store_dbi_t by_salesperson = ix->dbi[IX_DBI_CONTACTS_BY_SALESPERSON];
    wire_arena_t *a = req->arena;
    Rapport__V1__Contact *old;
    ProtobufCMessage *m;
    rp_err rc;

    if (s_blank(c->no)) {
        interaction_err_blank(err, "No.", wire_arena_printf(a, "%s.no", path));
        return RP_EINVAL;
    }
    if (c->type != CONTACT_COMPANY && c->type != CONTACT_PERSON) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), wire_arena_printf(a, "%s.type", path),
                            "Type must be Company or Person in Contact: No.=%s.", c->no);
        return RP_EINVAL;
    }
    if (c->type == CONTACT_COMPANY) {
        c->company_no = c->no;
    } else if (!s_blank(c->company_no)) {
        const char *field = wire_arena_printf(a, "%s.company_no", path);
        Rapport__V1__Contact *company;

        if (strcmp(c->company_no, c->no) == 0) {
            interaction_err_set(err, STATUS(FAILED_PRECONDITION), field,
                                "Type must be equal to 'Company' in Contact: No.=%s. Current "
                                "value is 'Person'.",
                                c->no);
            return RP_EINVAL;
        }
        rc = s_get_opt(ix, txn, IX_KIND_CONTACT, c->company_no, req, &m);
        if (rc != RP_OK)
            return rc;
        company = (Rapport__V1__Contact *)m;
        if (!company) {
            interaction_err_not_found(err, IX_KIND_CONTACT, c->company_no, field);
            return RP_EINVAL;
        }
        if (company->type != CONTACT_COMPANY) {
            interaction_err_set(err, STATUS(FAILED_PRECONDITION), field,
                                "Type must be equal to 'Company' in Contact: No.=%s. Current "
                                "value is '%s'.",
                                company->no, s_type_caption(company->type));
            return RP_EINVAL;
        }
    }
    if (!s_blank(c->salesperson_code) &&
        !interaction_record_exists(ix, txn, IX_KIND_SALESPERSON, c->salesperson_code)) {
        interaction_err_not_found(err, IX_KIND_SALESPERSON, c->salesperson_code,
                                  wire_arena_printf(a, "%s.salesperson_code", path));
        return RP_EINVAL;
    }
    rc = s_get_opt(ix, txn, IX_KIND_CONTACT, c->no, req, &m);
    if (rc != RP_OK)
        return rc;
    old = (Rapport__V1__Contact *)m;
    if (old && old->type == CONTACT_COMPANY && c->type == CONTACT_PERSON) {
        bool has = false;
        store_val_t other;
        rc = s_index_has_other(txn, by_company, old->no, old->no, &has, &other);
        if (rc != RP_OK)
            return rc;
        if (has) {
            interaction_err_set(err, STATUS(FAILED_PRECONDITION),
                                wire_arena_printf(a, "%s.type", path),
                                "Contact %s cannot become a person: it is the company of contact "
                                "%.*s.",
                                c->no, (int)other.len, (const char *)other.data);
            return RP_EINVAL;
        }
    }
    if (old) {
        rc = s_index_del(txn, by_company, old->company_no, old->no);
        if (rc == RP_OK)
            rc = s_index_del(txn, by_salesperson, old->salesperson_code, old->no);
        if (rc != RP_OK)
            return rc;
    }
    rc = s_index_put(txn, by_company, c->company_no, c->no);
    if (rc == RP_OK)
        rc = s_index_put(txn, by_salesperson, c->salesperson_code, c->no);
    if (rc == RP_OK)
        rc = interaction_record_put(ix, txn, IX_KIND_CONTACT, &c->base);
    return rc;
}

static rp_err s_contact_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                              interaction_err_t *err)
{
    Rapport__V1__Contact *c = s_request(req)->put_contact;
    rp_err rc = s_contact_store(ix, txn, req, c, "put_contact", err);

    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(IX_KIND_CONTACT), &c->base);
    return rc;
}

void catalog_contact_put(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_contact_apply);
}

static rp_err s_import_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                             interaction_err_t *err)
{
    Rapport__V1__ImportContacts *im = s_request(req)->import_contacts;
    Rapport__V1__Count *count;

    /* Companies first, so that a person may name a company of the same
     * import whatever the order. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < im->n_contacts; i++) {
            Rapport__V1__Contact *c = im->contacts[i];
            const char *path;
            rp_err rc;

            if ((c->type == CONTACT_COMPANY) != (pass == 0))
                continue;
            path = wire_arena_printf(req->arena, "import_contacts.contacts[%zu]", i);
            rc = s_contact_store(ix, txn, req, c, path, err);
            if (rc != RP_OK) {
                if (err->code) {
                    char inner[sizeof(err->message)];
                    memcpy(inner, err->message, sizeof(inner));
                    snprintf(err->message, sizeof(err->message),
                             "Contact %zu of %zu (No. '%s'): %.600s Nothing was imported.", i + 1,
                             im->n_contacts, c->no, inner);
                }
                return rc;
            }
        }
    }
    count = (Rapport__V1__Count *)wire_arena_message(req->arena, &rapport__v1__count__descriptor);
    count->count = im->n_contacts;
    s_reply_result(req, RAPPORT__V1__INTERACTION_REPLY__RESULT_COUNT, &count->base);
    return RP_OK;
}

void catalog_contacts_import(void *ctx, server_req_t *req)
{
    Rapport__V1__ImportContacts *im = s_request(req)->import_contacts;

    if (im->n_contacts > IMPORT_MAX) {
        server_req_status(req, STATUS(INVALID_ARGUMENT), "import_contacts.contacts",
                          "An import holds at most %d contacts; this one has %zu.", IMPORT_MAX,
                          im->n_contacts);
        return;
    }
    interaction_mutate(ctx, req, s_import_apply);
}

/* ---- get / list / delete of every kind ---- */

void catalog_record_get(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    interaction_kind_t kind = s_kind_of(req);
    const char *key = interaction_record_key(s_command_msg(req));
    const char *field =
        interaction_field(req, kind == IX_KIND_CONTACT || kind == IX_KIND_CAMPAIGN ? "no" : "code");
    interaction_err_t err = {0};
    ProtobufCMessage *msg;
    store_txn_t *txn = NULL;
    rp_err rc;

    if (s_blank(key)) {
        interaction_err_blank(&err, interaction_kinds[kind].key_caption, field);
        interaction_req_fail(req, &err);
        return;
    }
    txn = interaction_read_begin(ix, req);
    if (!txn)
        return;
    rc = interaction_record_get(ix, txn, kind, key, req->arena, &msg);
    store_txn_abort(txn);
    if (rc == RP_ENOTFOUND) {
        interaction_err_not_found(&err, kind, key, field);
        interaction_req_fail(req, &err);
    } else if (rc != RP_OK) {
        s_store_fail(ix, req, rc);
    } else {
        s_reply_result(req, REPLY_GET(kind), msg);
    }
}

typedef struct {
    interaction_server_t *ix;
    store_txn_t *txn;
    server_req_t *req;
    interaction_kind_t kind;
    const char *salesperson; /* keep only contacts of this salesperson (NULL: all) */
    ProtobufCMessage **items;
    size_t n;
} s_page_t;

/* A record of a page through a record DBI. */
static rp_err s_take_record(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    s_page_t *pg = ctx;
    wire_error_t werr;
    rp_err rc = wire_decode_arena(pg->req->arena, interaction_kinds[pg->kind].desc, v->data, v->len,
                                  SIZE_MAX, 0, &pg->items[pg->n], &werr);

    if (rc != RP_OK) {
        log_warnx("%s '%.*s' is stored undecodable: %s", interaction_kinds[pg->kind].table,
                  (int)k->len, (const char *)k->data, werr.message);
        return RP_ECORRUPT;
    }
    pg->n++;
    *taken = true;
    return RP_OK;
}

/* A contact named by a contact index, kept when its salesperson is the
 * one asked for (if any). */
static rp_err s_take_indexed(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    s_page_t *pg = ctx;
    char no[128];
    ProtobufCMessage *msg;
    rp_err rc;

    (void)k;
    if (v->len >= sizeof(no))
        return RP_ECORRUPT;
    memcpy(no, v->data, v->len);
    no[v->len] = '\0';
    rc = interaction_record_get(pg->ix, pg->txn, IX_KIND_CONTACT, no, pg->req->arena, &msg);
    if (rc == RP_ENOTFOUND) {
        log_warnx("contact index names contact '%s', which does not exist", no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    if (!s_blank(pg->salesperson) &&
        strcmp(((Rapport__V1__Contact *)msg)->salesperson_code, pg->salesperson) != 0)
        return RP_OK;
    pg->items[pg->n++] = msg;
    *taken = true;
    return RP_OK;
}

void catalog_records_list(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    interaction_kind_t kind = s_kind_of(req);
    Rapport__V1__ListCatalog *lc = (Rapport__V1__ListCatalog *)s_command_msg(req);
    const ProtobufCFieldDescriptor *rfd =
        protobuf_c_message_descriptor_get_field(req->reply->descriptor, REPLY_LIST(kind));
    const ProtobufCMessageDescriptor *page_desc = rfd->descriptor;
    const ProtobufCFieldDescriptor *items_fd =
        protobuf_c_message_descriptor_get_field(page_desc, 1);
    const ProtobufCFieldDescriptor *next_fd = protobuf_c_message_descriptor_get_field(page_desc, 2);
    s_page_t pg = {ix, NULL, req, kind, NULL, NULL, 0};
    store_page_spec_t spec = {0};
    store_page_t out;
    store_val_t index_key;
    ProtobufCMessage *page;
    char *next;
    rp_err rc;

    spec.limit = lc->limit == 0 ? LIST_DEFAULT : lc->limit > LIST_MAX ? LIST_MAX : lc->limit;
    spec.after = lc->after;
    spec.after_len = s_blank(lc->after) ? 0 : strlen(lc->after);
    spec.take = s_take_record;
    spec.ctx = &pg;
    pg.items = (ProtobufCMessage **)wire_arena_ptrs(req->arena, spec.limit);
    if (kind != IX_KIND_CONTACT && (!s_blank(lc->company_no) || !s_blank(lc->salesperson_code))) {
        server_req_status(req, STATUS(INVALID_ARGUMENT), interaction_field(req, "company_no"),
                          "Only list_contacts filters by company_no or salesperson_code.");
        return;
    }
    pg.txn = interaction_read_begin(ix, req);
    if (!pg.txn)
        return;
    if (kind == IX_KIND_CONTACT && (!s_blank(lc->company_no) || !s_blank(lc->salesperson_code))) {
        /* The contacts under one key of a contact index. */
        bool by_company = !s_blank(lc->company_no);
        const char *key = by_company ? lc->company_no : lc->salesperson_code;
        index_key.data = (void *)(uintptr_t)key;
        index_key.len = strlen(key);
        spec.dup_key = &index_key;
        spec.take = s_take_indexed;
        pg.salesperson = by_company ? lc->salesperson_code : NULL;
        rc = store_page(
            pg.txn,
            ix->dbi[by_company ? IX_DBI_CONTACTS_BY_COMPANY : IX_DBI_CONTACTS_BY_SALESPERSON],
            &spec, &out);
    } else {
        rc = store_page(pg.txn, ix->dbi[interaction_kinds[kind].dbi], &spec, &out);
    }
    store_txn_abort(pg.txn);
    if (rc != RP_OK) {
        s_store_fail(ix, req, rc);
        return;
    }
    next = wire_arena_alloc(req->arena, out.more ? out.last_len + 1 : 1);
    memcpy(next, out.last, out.more ? out.last_len : 0);
    next[out.more ? out.last_len : 0] = '\0';
    page = wire_arena_message(req->arena, page_desc);
    *(size_t *)((char *)page + items_fd->quantifier_offset) = pg.n;
    *(ProtobufCMessage ***)((char *)page + items_fd->offset) = pg.items;
    *(const char **)((char *)page + next_fd->offset) = next;
    s_reply_result(req, REPLY_LIST(kind), page);
}

/* Kind-specific checks and index upkeep before a record goes. */
static rp_err s_delete_prepare(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                               interaction_kind_t kind, ProtobufCMessage *msg,
                               interaction_err_t *err)
{
    store_val_t other;
    bool has = false;
    rp_err rc;

    switch (kind) {
    case IX_KIND_GROUP: {
        Rapport__V1__InteractionGroup *g = (Rapport__V1__InteractionGroup *)msg;
        rc =
            s_index_has_other(txn, ix->dbi[IX_DBI_TEMPLATES_BY_GROUP], g->code, NULL, &has, &other);
        if (rc != RP_OK)
            return rc;
        if (has) {
            interaction_err_set(err, STATUS(FAILED_PRECONDITION), interaction_field(req, "code"),
                                "You cannot delete Interaction Group %s because Interaction "
                                "Template %.*s uses it.",
                                g->code, (int)other.len, (const char *)other.data);
            return RP_EINVAL;
        }
        return RP_OK;
    }
    case IX_KIND_TEMPLATE: {
        Rapport__V1__InteractionTemplate *t = (Rapport__V1__InteractionTemplate *)msg;
        return s_index_del(txn, ix->dbi[IX_DBI_TEMPLATES_BY_GROUP], t->interaction_group_code,
                           t->code);
    }
    case IX_KIND_CONTACT: {
        Rapport__V1__Contact *c = (Rapport__V1__Contact *)msg;
        if (c->type == CONTACT_COMPANY) {
            rc = s_index_has_other(txn, ix->dbi[IX_DBI_CONTACTS_BY_COMPANY], c->no, c->no, &has,
                                   &other);
            if (rc != RP_OK)
                return rc;
            if (has) {
                interaction_err_set(err, STATUS(FAILED_PRECONDITION), interaction_field(req, "no"),
                                    "You cannot delete Contact %s because it is the company of "
                                    "Contact %.*s.",
                                    c->no, (int)other.len, (const char *)other.data);
                return RP_EINVAL;
            }
        }
        rc = s_index_del(txn, ix->dbi[IX_DBI_CONTACTS_BY_COMPANY], c->company_no, c->no);
        if (rc == RP_OK)
            rc = s_index_del(txn, ix->dbi[IX_DBI_CONTACTS_BY_SALESPERSON], c->salesperson_code,
                             c->no);
        return rc;
    }
    default:
        return RP_OK;
    }
}

static rp_err s_delete_apply(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                             interaction_err_t *err)
{
    interaction_kind_t kind = s_kind_of(req);
    const char *key = interaction_record_key(s_command_msg(req));
    const char *field =
        interaction_field(req, kind == IX_KIND_CONTACT || kind == IX_KIND_CAMPAIGN ? "no" : "code");
    ProtobufCMessage *msg;
    rp_err rc;

    if (s_blank(key)) {
        interaction_err_blank(err, interaction_kinds[kind].key_caption, field);
        return RP_EINVAL;
    }
    rc = interaction_record_get(ix, txn, kind, key, req->arena, &msg);
    if (rc == RP_ENOTFOUND) {
        interaction_err_not_found(err, kind, key, field);
        return RP_EINVAL;
    }
    if (rc != RP_OK)
        return rc;
    rc = s_delete_prepare(ix, txn, req, kind, msg, err);
    if (rc != RP_OK)
        return rc;
    rc = store_del(txn, ix->dbi[interaction_kinds[kind].dbi], key, strlen(key), NULL, 0);
    if (rc == RP_OK)
        s_reply_result(req, REPLY_GET(kind), msg);
    return rc;
}

void catalog_record_delete(void *ctx, server_req_t *req)
{
    interaction_mutate(ctx, req, s_delete_apply);
}

/* ---- lookup ---- */

/* Look up `n` keys of `kind`; found records go to items (n_items), the
 * others to res->missing as "<kind>:<key>". */
static rp_err s_lookup_kind(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                            interaction_kind_t kind, char **keys, size_t n, void **ret_items,
                            size_t *ret_n, Rapport__V1__LookupResult *res)
{
    ProtobufCMessage **items = (ProtobufCMessage **)wire_arena_ptrs(req->arena, n);
    size_t found = 0;

    for (size_t i = 0; i < n; i++) {
        ProtobufCMessage *msg;
        rp_err rc = interaction_record_get(ix, txn, kind, keys[i], req->arena, &msg);
        if (rc == RP_OK)
            items[found++] = msg;
        else if (rc == RP_ENOTFOUND)
            res->missing[res->n_missing++] =
                wire_arena_printf(req->arena, "%s:%s", interaction_kinds[kind].lookup, keys[i]);
        else
            return rc;
    }
    *ret_items = (void *)items;
    *ret_n = found;
    return RP_OK;
}

/* The contacts of a packed lookup: found ones as stored, each behind its
 * length, in the order asked. One cursor walks them: when the keys come in
 * key order, as a segment's contacts mostly do, each lookup stays on the
 * cursor's page (LMDB's MDB_SET checks it first) and nothing is decoded. */
static rp_err s_lookup_packed(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                              char **keys, size_t n, Rapport__V1__LookupResult *res)
{
    store_val_t *found = wire_arena_alloc(req->arena, sizeof(*found) * (n ? n : 1));
    store_cursor_t *cur = NULL;
    size_t total = 0, nf = 0;
    uint8_t *out;
    rp_err rc = store_cursor_open(txn, ix->dbi[interaction_kinds[IX_KIND_CONTACT].dbi], &cur);

    for (size_t i = 0; rc == RP_OK && i < n; i++) {
        store_val_t k = {strlen(keys[i]), keys[i]}, v;
        rc = k.len ? store_cursor_get(cur, STORE_SET, &k, &v) : RP_ENOTFOUND;
        if (rc == RP_OK) {
            found[nf++] = v;
            total += v.len + 10;
        } else if (rc == RP_ENOTFOUND) {
            res->missing[res->n_missing++] = wire_arena_printf(req->arena, "contact:%s", keys[i]);
            rc = RP_OK;
        }
    }
    store_cursor_close(cur);
    if (rc != RP_OK)
        return rc;
    /* Copied out while the transaction still holds the pages. */
    out = wire_arena_alloc(req->arena, total ? total : 1);
    res->packed_contacts.data = out;
    for (size_t i = 0; i < nf; i++) {
        out += pbscan_put_varint(out, found[i].len);
        memcpy(out, found[i].data, found[i].len);
        out += found[i].len;
    }
    res->packed_contacts.len = (size_t)(out - res->packed_contacts.data);
    return RP_OK;
}

void catalog_lookup(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    Rapport__V1__Lookup *lk = s_request(req)->lookup;
    size_t total =
        lk->n_contact_nos + lk->n_template_codes + lk->n_salesperson_codes + lk->n_campaign_nos;
    Rapport__V1__LookupResult *res;
    store_txn_t *txn = NULL;
    rp_err rc;

    if (total > LOOKUP_MAX) {
        server_req_status(req, STATUS(INVALID_ARGUMENT), "lookup",
                          "A lookup asks for at most %d keys; this one asks for %zu.", LOOKUP_MAX,
                          total);
        return;
    }
    res = (Rapport__V1__LookupResult *)wire_arena_message(req->arena,
                                                          &rapport__v1__lookup_result__descriptor);
    res->missing = (char **)wire_arena_ptrs(req->arena, total);
    txn = interaction_read_begin(ix, req);
    if (!txn)
        return;
    {
        void *contacts = NULL, *templates = NULL, *salespeople = NULL, *campaigns = NULL;

        rc = lk->packed ? s_lookup_packed(ix, txn, req, lk->contact_nos, lk->n_contact_nos, res)
                        : s_lookup_kind(ix, txn, req, IX_KIND_CONTACT, lk->contact_nos,
                                        lk->n_contact_nos, &contacts, &res->n_contacts, res);
        if (rc == RP_OK)
            rc = s_lookup_kind(ix, txn, req, IX_KIND_TEMPLATE, lk->template_codes,
                               lk->n_template_codes, &templates, &res->n_templates, res);
        if (rc == RP_OK)
            rc = s_lookup_kind(ix, txn, req, IX_KIND_SALESPERSON, lk->salesperson_codes,
                               lk->n_salesperson_codes, &salespeople, &res->n_salespeople, res);
        if (rc == RP_OK)
            rc = s_lookup_kind(ix, txn, req, IX_KIND_CAMPAIGN, lk->campaign_nos, lk->n_campaign_nos,
                               &campaigns, &res->n_campaigns, res);
        /* Arrays of message pointers, as protobuf-c lays them out. */
        res->contacts = contacts;
        res->templates = templates;
        res->salespeople = salespeople;
        res->campaigns = campaigns;
    }
    store_txn_abort(txn);
    if (rc != RP_OK) {
        s_store_fail(ix, req, rc);
        return;
    }
    s_reply_result(req, CMD_LOOKUP_RES, &res->base);
}
