/* interactions: single interactions (docs/domain.md sections 4 and 5) and the
 * queries that the log writer answers (postponed entries, statistics).
 *
 * A create or resume resolves a complete entry here (origin, template
 * fill, defaults, checks in docs/domain.md's order) and sends it to
 * rapport-logwriter with the client's request_id, so that the writer's
 * dedup makes a retry safe; the client is answered only after the writer
 * committed. ORIGIN_ENTRY and resume first read the entry they start from,
 * so such a request makes two round trips: its state between them is the
 * s_op_t in req->user. */
#include "interaction_internal.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define STATUS(c)       RAPPORT__V1__STATUS_CODE__##c
#define CMD(c)          RAPPORT__V1__INTERACTION_REQUEST__COMMAND_##c
#define RESULT(c)       RAPPORT__V1__INTERACTION_REPLY__RESULT_##c
#define LOG_CMD(c)      RAPPORT__V1__LOG_REQUEST__COMMAND_##c
#define LOG_RESULT(c)   RAPPORT__V1__LOG_REPLY__RESULT_##c
#define GIVEN(f, name)  ((f)->name##_opt_case != 0)
#define CORR_TYPE_EMAIL RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL
#define TPL_CORR_OPT    RAPPORT__V1__INTERACTION_TEMPLATE__CORRESPONDENCE_TYPE_OPT_CORRESPONDENCE_TYPE
#define COMMENT_STEP    10000u
#define SECONDS_PER_DAY 86400u

/* A create or resume between its round trips to the writer. */
typedef struct {
    bool resume;
    Rapport__V1__Origin origin;
    uint64_t entry_no; /* from_entry_no (create) or the entry to resume */
    Rapport__V1__InteractionFields *f;
    bool postpone;
    bool clear_comments;
    const char *path; /* request path of the fields, for status.field */
} s_op_t;

static interaction_request_t *s_request(server_req_t *req)
{
    return (interaction_request_t *)req->request;
}

static bool s_blank(const char *s)
{
    return !s || !*s;
}

static const char *s_field(server_req_t *req, const s_op_t *op, const char *name)
{
    return wire_arena_printf(req->arena, "%s.%s", op->path, name);
}

/* ---- resolving the entry ---- */

/* Whether the template has a language row for `code`. */
static bool s_template_has_language(const Rapport__V1__InteractionTemplate *t, const char *code)
{
    if (s_blank(code))
        return false;
    for (size_t i = 0; i < t->n_languages; i++)
        if (strcmp(t->languages[i]->language_code, code) == 0)
            return true;
    return false;
}

/* Every field the template decides (docs/domain.md section 4); the command's
 * own values are applied on top afterwards. */
static void s_template_fill(Rapport__V1__Entry *e, const Rapport__V1__InteractionTemplate *t,
                            const Rapport__V1__Contact *contact)
{
    e->interaction_template_code = t->code;
    e->interaction_group_code = t->interaction_group_code;
    e->cost_cents = t->unit_cost_cents;
    e->duration_min = t->unit_duration_min;
    e->information_flow = t->information_flow;
    e->initiated_by = t->initiated_by;
    e->campaign_target = t->campaign_target;
    e->campaign_response = t->campaign_response;
    e->correspondence_type =
        t->correspondence_type_opt_case == TPL_CORR_OPT ? t->correspondence_type : CORR_TYPE_EMAIL;
    e->interaction_language_code = contact && s_template_has_language(t, contact->language_code)
                                       ? contact->language_code
                                       : t->language_code;
    e->description = t->description;
    e->campaign_no = t->campaign_no;
}

/* The fields the command gives (non-blank strings, set oneofs). */
static void s_apply_given(Rapport__V1__Entry *e, const Rapport__V1__InteractionFields *f)
{
    if (!s_blank(f->contact_no))
        e->contact_no = f->contact_no;
    if (!s_blank(f->salesperson_code))
        e->salesperson_code = f->salesperson_code;
    if (!s_blank(f->interaction_template_code))
        e->interaction_template_code = f->interaction_template_code;
    if (!s_blank(f->description))
        e->description = f->description;
    if (f->date)
        e->date = f->date;
    if (GIVEN(f, time_of_interaction))
        e->time_of_interaction = f->time_of_interaction;
    if (GIVEN(f, evaluation))
        e->evaluation = f->evaluation;
    if (GIVEN(f, attempt_failed))
        e->attempt_failed = f->attempt_failed;
    if (GIVEN(f, cost_cents))
        e->cost_cents = f->cost_cents;
    if (GIVEN(f, duration_min))
        e->duration_min = f->duration_min;
    if (GIVEN(f, information_flow))
        e->information_flow = f->information_flow;
    if (GIVEN(f, initiated_by))
        e->initiated_by = f->initiated_by;
    if (!s_blank(f->campaign_no))
        e->campaign_no = f->campaign_no;
    if (GIVEN(f, campaign_target))
        e->campaign_target = f->campaign_target;
    if (GIVEN(f, campaign_response))
        e->campaign_response = f->campaign_response;
    if (!s_blank(f->language_code))
        e->interaction_language_code = f->language_code;
    if (GIVEN(f, correspondence_type))
        e->correspondence_type = f->correspondence_type;
    if (!s_blank(f->opportunity_no))
        e->opportunity_no = f->opportunity_no;
    if (!s_blank(f->todo_no))
        e->todo_no = f->todo_no;
    if (!s_blank(f->subject))
        e->subject = f->subject;
}

/* Comment lines 10000, 20000, ... dated with the work date. */
static void s_comments_set(server_req_t *req, Rapport__V1__Entry *e,
                           const Rapport__V1__InteractionFields *f, uint32_t work_date)
{
    Rapport__V1__CommentLine **lines =
        (Rapport__V1__CommentLine **)wire_arena_ptrs(req->arena, f->n_comments);

    for (size_t i = 0; i < f->n_comments; i++) {
        lines[i] = (Rapport__V1__CommentLine *)wire_arena_message(
            req->arena, &rapport__v1__comment_line__descriptor);
        lines[i]->line_no = (uint32_t)(i + 1) * COMMENT_STEP;
        lines[i]->date = work_date;
        lines[i]->comment = f->comments[i];
    }
    e->comments = lines;
    e->n_comments = f->n_comments;
}

/* Date, time and cost as given must be usable values. */
static bool s_fields_valid(server_req_t *req, const s_op_t *op, interaction_err_t *err)
{
    const Rapport__V1__InteractionFields *f = op->f;

    if (f->date && !clock_date_valid(f->date)) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), s_field(req, op, "date"),
                            "%u is not a valid date: give YYYYMMDD between 17530101 and 99991231.",
                            f->date);
        return false;
    }
    if (GIVEN(f, time_of_interaction) && f->time_of_interaction >= SECONDS_PER_DAY) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), s_field(req, op, "time_of_interaction"),
                            "%u is not a valid Time of Interaction: give seconds after midnight, "
                            "less than 86400.",
                            f->time_of_interaction);
        return false;
    }
    if (GIVEN(f, cost_cents) && f->cost_cents < 0) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), s_field(req, op, "cost_cents"),
                            "Cost (LCY) must not be negative.");
        return false;
    }
    return true;
}

/* A catalog record, or NULL when there is none or on a store error
 * (*ret_rc says which). */
static void *s_lookup(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                      interaction_kind_t kind, const char *key, rp_err *ret_rc)
{
    ProtobufCMessage *m = NULL;
    rp_err rc =
        s_blank(key) ? RP_ENOTFOUND : interaction_record_get(ix, txn, kind, key, req->arena, &m);

    *ret_rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    return rc == RP_OK ? m : NULL;
}

/* The codes the command gives name records (docs/domain.md, section 4):
 * a code that names none is refused at once, before the blank-field
 * checks, so the reply names the real cause (Business Central's table
 * relation, checked when a field is set). Postponing does not skip it. */
static bool s_given_codes_exist(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                                const s_op_t *op, interaction_err_t *err)
{
    static const struct {
        interaction_kind_t kind;
        const char *field;
        size_t offset;
    } codes[] = {
        {IX_KIND_CONTACT, "contact_no", offsetof(Rapport__V1__InteractionFields, contact_no)},
        {IX_KIND_SALESPERSON, "salesperson_code",
         offsetof(Rapport__V1__InteractionFields, salesperson_code)},
        {IX_KIND_TEMPLATE, "interaction_template_code",
         offsetof(Rapport__V1__InteractionFields, interaction_template_code)},
        {IX_KIND_CAMPAIGN, "campaign_no", offsetof(Rapport__V1__InteractionFields, campaign_no)},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *code = *(const char *const *)((const char *)op->f + codes[i].offset);
        if (s_blank(code) || interaction_record_exists(ix, txn, codes[i].kind, code))
            continue;
        interaction_err_not_found(err, codes[i].kind, code, s_field(req, op, codes[i].field));
        return false;
    }
    return true;
}

/* The checks of docs/domain.md section 4 in order; with postpone only 1 and 2
 * (and the privacy block, which refuses the contact from the start). */
static bool s_entry_check(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                          const s_op_t *op, const Rapport__V1__Entry *e,
                          const Rapport__V1__Contact *contact, interaction_err_t *err)
{
    Rapport__V1__Salesperson *sp;
    rp_err rc;

    if (s_blank(e->contact_no)) {
        interaction_err_set(err, STATUS(INVALID_ARGUMENT), s_field(req, op, "contact_no"),
                            "You must select a contact to interact with.");
        return false;
    }
    if (contact && contact->privacy_blocked) {
        interaction_err_set(err, STATUS(FAILED_PRECONDITION), s_field(req, op, "contact_no"),
                            "Privacy Blocked must be equal to 'No' in Contact: No.=%s. Current "
                            "value is 'Yes'.",
                            contact->no);
        return false;
    }
    if (s_blank(e->interaction_template_code))
        interaction_err_blank(err, "Interaction Template Code",
                              s_field(req, op, "interaction_template_code"));
    else if (s_blank(e->salesperson_code))
        interaction_err_blank(err, "Salesperson Code", s_field(req, op, "salesperson_code"));
    else if (e->date == 0)
        interaction_err_blank(err, "Date", s_field(req, op, "date"));
    else if (s_blank(e->description))
        interaction_err_blank(err, "Description", s_field(req, op, "description"));
    if (err->code)
        return false;
    if (op->postpone)
        return true;

    if (!contact) {
        interaction_err_not_found(err, IX_KIND_CONTACT, e->contact_no,
                                  s_field(req, op, "contact_no"));
        return false;
    }
    sp = s_lookup(ix, txn, req, IX_KIND_SALESPERSON, e->salesperson_code, &rc);
    if (rc != RP_OK)
        goto out_store;
    if (!sp) {
        interaction_err_not_found(err, IX_KIND_SALESPERSON, e->salesperson_code,
                                  s_field(req, op, "salesperson_code"));
        return false;
    }
    if (!interaction_record_exists(ix, txn, IX_KIND_TEMPLATE, e->interaction_template_code)) {
        interaction_err_not_found(err, IX_KIND_TEMPLATE, e->interaction_template_code,
                                  s_field(req, op, "interaction_template_code"));
        return false;
    }
    if (!s_blank(e->campaign_no) &&
        !interaction_record_exists(ix, txn, IX_KIND_CAMPAIGN, e->campaign_no)) {
        interaction_err_not_found(err, IX_KIND_CAMPAIGN, e->campaign_no,
                                  s_field(req, op, "campaign_no"));
        return false;
    }
    if (sp->blocked) {
        interaction_err_set(err, STATUS(FAILED_PRECONDITION), s_field(req, op, "salesperson_code"),
                            "Blocked must be equal to 'No' in Salesperson/Purchaser: Code=%s. "
                            "Current value is 'Yes'.",
                            sp->code);
        return false;
    }
    return true;

out_store:
    interaction_err_set(err, rp_err_status_code(rc), NULL, "the catalog store cannot be read: %s",
                        rp_strerror(rc));
    return false;
}

/* A new entry (docs/domain.md section 4); `from` is the entry of ORIGIN_ENTRY. */
static rp_err s_create_resolve(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                               const s_op_t *op, const Rapport__V1__Entry *from,
                               Rapport__V1__Entry *e, Rapport__V1__Contact **ret_contact)
{
    const Rapport__V1__InteractionFields *f = op->f;
    Rapport__V1__InteractionTemplate *t;
    Rapport__V1__Contact *contact;
    const char *contact_no = f->contact_no;
    uint32_t work_date = clock_work_date();
    rp_err rc;

    if (from && !s_blank(from->contact_no))
        contact_no = from->contact_no;
    contact = s_lookup(ix, txn, req, IX_KIND_CONTACT, contact_no, &rc);
    if (rc != RP_OK)
        return rc;
    t = s_lookup(ix, txn, req, IX_KIND_TEMPLATE, f->interaction_template_code, &rc);
    if (rc != RP_OK)
        return rc;

    if (t)
        s_template_fill(e, t, contact);
    s_apply_given(e, f);
    /* What the origin fixes wins over the command. */
    if (from) {
        if (!s_blank(from->contact_no))
            e->contact_no = from->contact_no;
        if (!s_blank(from->contact_company_no))
            e->contact_company_no = from->contact_company_no;
        if (!s_blank(from->salesperson_code))
            e->salesperson_code = from->salesperson_code;
        if (!s_blank(from->campaign_no))
            e->campaign_no = from->campaign_no;
        if (!s_blank(from->opportunity_no))
            e->opportunity_no = from->opportunity_no;
        if (!s_blank(from->todo_no))
            e->todo_no = from->todo_no;
    }
    if (contact && s_blank(e->contact_company_no))
        e->contact_company_no = contact->company_no;
    if (contact && s_blank(e->salesperson_code) &&
        op->origin != RAPPORT__V1__ORIGIN__ORIGIN_SALESPERSON)
        e->salesperson_code = contact->salesperson_code;
    if (e->date == 0)
        e->date = work_date;
    if (!GIVEN(f, time_of_interaction))
        e->time_of_interaction = clock_round_up_minute(clock_time_of_day());
    if (s_blank(f->subject))
        e->subject = e->description;
    if (s_blank(e->campaign_no)) {
        e->campaign_target = 0;
        e->campaign_response = 0;
    }
    s_comments_set(req, e, f, work_date);
    e->entry_no = 0;
    e->postponed = op->postpone;
    e->user_id = wire_str(req->user_id);
    *ret_contact = contact;
    return RP_OK;
}

/* The postponed entry `stored` with the command's overrides (section 5). */
static rp_err s_resume_resolve(interaction_server_t *ix, store_txn_t *txn, server_req_t *req,
                               const s_op_t *op, const Rapport__V1__Entry *stored,
                               Rapport__V1__Entry *e, Rapport__V1__Contact **ret_contact)
{
    const Rapport__V1__InteractionFields *f = op->f;
    Rapport__V1__InteractionTemplate *t = NULL;
    Rapport__V1__Contact *contact;
    const char *contact_no = s_blank(f->contact_no) ? stored->contact_no : f->contact_no;
    const char *template_code = s_blank(f->interaction_template_code)
                                    ? stored->interaction_template_code
                                    : f->interaction_template_code;
    bool refill;
    uint32_t work_date = clock_work_date();
    rp_err rc;

    *e = *stored;
    contact = s_lookup(ix, txn, req, IX_KIND_CONTACT, contact_no, &rc);
    if (rc != RP_OK)
        return rc;
    /* Another template re-derives what the template decides; so does a
     * template that was not there yet when the entry was postponed. */
    refill =
        !s_blank(template_code) && (strcmp(template_code, stored->interaction_template_code) != 0 ||
                                    s_blank(stored->interaction_group_code));
    if (refill) {
        t = s_lookup(ix, txn, req, IX_KIND_TEMPLATE, template_code, &rc);
        if (rc != RP_OK)
            return rc;
        if (t)
            s_template_fill(e, t, contact);
    }
    s_apply_given(e, f);
    /* The company follows the contact; a postponed entry may name a
     * contact that did not exist yet then. */
    if (strcmp(contact_no, stored->contact_no) != 0 || s_blank(stored->contact_company_no))
        e->contact_company_no = contact ? contact->company_no : wire_str("");
    e->date = f->date ? f->date : work_date;
    e->time_of_interaction = GIVEN(f, time_of_interaction)
                                 ? f->time_of_interaction
                                 : clock_round_up_minute(clock_time_of_day());
    /* A subject that followed the description keeps following it. */
    if (s_blank(f->subject) && strcmp(stored->subject, stored->description) == 0)
        e->subject = e->description;
    if (s_blank(e->campaign_no)) {
        e->campaign_target = 0;
        e->campaign_response = 0;
    }
    if (f->n_comments > 0)
        s_comments_set(req, e, f, work_date);
    else if (op->clear_comments) {
        e->comments = NULL;
        e->n_comments = 0;
    }
    e->entry_no = stored->entry_no;
    e->postponed = op->postpone;
    e->user_id = wire_str(req->user_id);
    *ret_contact = contact;
    return RP_OK;
}

/* ---- the round trips ---- */

/* A mutation is sent with the client's request_id; a reply of another kind
 * is the writer's stored first reply of a different command under the same
 * request_id: the client reused an id. */
static void s_fail_reused_id(server_req_t *req)
{
    server_req_status(req, STATUS(INVALID_ARGUMENT), "request_id",
                      "the request_id was used before for another command");
}

static void s_on_written(void *ctx, server_req_t *req, ProtobufCMessage *msg, wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    interaction_reply_t *out = interaction_reply(req);

    (void)ctx;
    if (!interaction_writer_ok(req, reply)) {
        server_req_finish(req);
        return;
    }
    if (reply->result_case != LOG_RESULT(ENTRY) || !reply->entry) {
        /* The writer answered from its dedup record of another command. */
        s_fail_reused_id(req);
        server_req_finish(req);
        return;
    }
    out->result_case = RESULT(ENTRY);
    out->entry = reply->entry;
    /* No record of our own: the writer holds the first reply under this
     * request_id, and a retry reaches it (a resume through
     * s_resume_probe). */
    server_req_finish(req);
}

/* Resolve, check and send the entry. `base` is the ORIGIN_ENTRY entry
 * (create) or the postponed entry (resume). Returns false with req's status
 * set when nothing was sent. */
static bool s_resolve_and_write(interaction_server_t *ix, server_req_t *req,
                                const Rapport__V1__Entry *base)
{
    const s_op_t *op = req->user;
    Rapport__V1__Entry *e =
        (Rapport__V1__Entry *)wire_arena_message(req->arena, &rapport__v1__entry__descriptor);
    Rapport__V1__LogRequest *msg;
    Rapport__V1__WriteEntry *we;
    Rapport__V1__Contact *contact = NULL;
    interaction_err_t err = {0};
    store_txn_t *txn = NULL;
    rp_err rc;

    txn = interaction_read_begin(ix, req);
    if (!txn)
        return false;
    if (s_given_codes_exist(ix, txn, req, op, &err)) {
        rc = op->resume ? s_resume_resolve(ix, txn, req, op, base, e, &contact)
                        : s_create_resolve(ix, txn, req, op, base, e, &contact);
        if (rc != RP_OK)
            interaction_err_set(&err, rp_err_status_code(rc), NULL,
                                "the catalog store cannot be read: %s", rp_strerror(rc));
        else
            s_entry_check(ix, txn, req, op, e, contact, &err);
    }
    store_txn_abort(txn);
    if (err.code) {
        interaction_req_fail(req, &err);
        return false;
    }

    msg = (Rapport__V1__LogRequest *)wire_arena_message(req->arena,
                                                        &rapport__v1__log_request__descriptor);
    we = (Rapport__V1__WriteEntry *)wire_arena_message(req->arena,
                                                       &rapport__v1__write_entry__descriptor);
    /* The client's request_id: the writer's dedup makes a retry safe. */
    msg->request_id = *wire_msg_request_id(req->request);
    msg->user_id = wire_str(req->user_id);
    we->entry = e;
    we->resume = op->resume;
    msg->command_case = LOG_CMD(WRITE_ENTRY);
    msg->write_entry = we;
    return interaction_writer_send(ix, req, msg, s_on_written);
}

/* Ask the writer for entry `entry_no`; fn gets the reply. */
static bool s_entry_get(interaction_server_t *ix, server_req_t *req, uint64_t entry_no, link_fn fn)
{
    Rapport__V1__LogRequest *msg = (Rapport__V1__LogRequest *)wire_arena_message(
        req->arena, &rapport__v1__log_request__descriptor);
    Rapport__V1__GetEntry *get = (Rapport__V1__GetEntry *)wire_arena_message(
        req->arena, &rapport__v1__get_entry__descriptor);

    interaction_writer_envelope(ix, req, msg, "get");
    get->entry_no = entry_no;
    msg->command_case = LOG_CMD(GET_ENTRY);
    msg->get_entry = get;
    return interaction_writer_send(ix, req, msg, fn);
}

/* The entry of a GetEntry reply, or NULL with req's status set. */
static Rapport__V1__Entry *s_reply_entry(server_req_t *req, const Rapport__V1__LogReply *reply)
{
    if (!interaction_writer_ok(req, reply))
        return NULL;
    if (reply->result_case != LOG_RESULT(ENTRY) || !reply->entry) {
        server_req_status(req, STATUS(INTERNAL), NULL,
                          "rapport-logwriter answered GetEntry without an entry");
        return NULL;
    }
    return reply->entry;
}

static void s_on_origin_entry(void *ctx, server_req_t *req, ProtobufCMessage *msg,
                              wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    Rapport__V1__Entry *from = s_reply_entry(req, reply);

    if (!from || !s_resolve_and_write(ctx, req, from))
        server_req_finish(req);
}

static void s_on_resume_probe(void *ctx, server_req_t *req, ProtobufCMessage *msg,
                              wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    const Rapport__V1__Status *st = reply->status;

    if (st && st->code == RAPPORT__V1__STATUS_CODE__FAILED_PRECONDITION) {
        server_req_status(req, (int)st->code, "resume_interaction.entry_no", "%s", st->message);
        server_req_finish(req);
        return;
    }
    s_on_written(ctx, req, msg, arena);
}

/* The entry to resume is not postponed (any more). When this request
 * resumed it before a crash lost the reply, the writer has the first reply
 * under the request_id: send the entry as it is with the client's
 * request_id, and the writer answers from its dedup record, or refuses
 * ("is not postponed") and writes nothing. */
static bool s_resume_probe(interaction_server_t *ix, server_req_t *req, Rapport__V1__Entry *stored)
{
    Rapport__V1__LogRequest *msg = (Rapport__V1__LogRequest *)wire_arena_message(
        req->arena, &rapport__v1__log_request__descriptor);
    Rapport__V1__WriteEntry *we = (Rapport__V1__WriteEntry *)wire_arena_message(
        req->arena, &rapport__v1__write_entry__descriptor);

    msg->request_id = *wire_msg_request_id(req->request);
    msg->user_id = wire_str(req->user_id);
    we->entry = stored;
    we->resume = true;
    msg->command_case = LOG_CMD(WRITE_ENTRY);
    msg->write_entry = we;
    return interaction_writer_send(ix, req, msg, s_on_resume_probe);
}

static void s_on_postponed_entry(void *ctx, server_req_t *req, ProtobufCMessage *msg,
                                 wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    Rapport__V1__Entry *stored = s_reply_entry(req, reply);

    if (stored && !stored->postponed) {
        if (!s_resume_probe(ctx, req, stored))
            server_req_finish(req);
        return;
    }
    if (!stored || !s_resolve_and_write(ctx, req, stored))
        server_req_finish(req);
}

static s_op_t *s_op_new(server_req_t *req, Rapport__V1__InteractionFields *f, const char *path)
{
    s_op_t *op = wire_arena_alloc(req->arena, sizeof(*op));
    op->f = f ? f
              : (Rapport__V1__InteractionFields *)wire_arena_message(
                    req->arena, &rapport__v1__interaction_fields__descriptor);
    op->path = path;
    req->user = op;
    return op;
}

void interactions_create(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    Rapport__V1__CreateInteraction *c = s_request(req)->create_interaction;
    interaction_err_t err = {0};
    s_op_t *op;

    op = s_op_new(req, c->fields, "create_interaction.fields");
    op->origin = c->origin;
    op->entry_no = c->from_entry_no;
    op->postpone = c->postpone;
    if (!s_fields_valid(req, op, &err)) {
        interaction_req_fail(req, &err);
        return;
    }
    if (c->origin == RAPPORT__V1__ORIGIN__ORIGIN_ENTRY) {
        if (c->from_entry_no == 0) {
            interaction_err_blank(&err, "From Entry No.", "create_interaction.from_entry_no");
            interaction_req_fail(req, &err);
            return;
        }
        s_entry_get(ix, req, c->from_entry_no, s_on_origin_entry);
        return;
    }
    s_resolve_and_write(ix, req, NULL);
}

void interactions_resume(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    Rapport__V1__ResumeInteraction *r = s_request(req)->resume_interaction;
    interaction_err_t err = {0};
    s_op_t *op;

    op = s_op_new(req, r->fields, "resume_interaction.fields");
    op->resume = true;
    op->entry_no = r->entry_no;
    op->postpone = r->postpone;
    op->clear_comments = r->clear_comments;
    if (r->entry_no == 0) {
        interaction_err_blank(&err, "Entry No.", "resume_interaction.entry_no");
        interaction_req_fail(req, &err);
        return;
    }
    if (!s_fields_valid(req, op, &err)) {
        interaction_req_fail(req, &err);
        return;
    }
    s_entry_get(ix, req, r->entry_no, s_on_postponed_entry);
}

/* ---- queries and deletes the writer answers ---- */

static bool s_dates_valid(server_req_t *req, const char *cmd, uint32_t from, uint32_t to)
{
    if (from && !clock_date_valid(from)) {
        server_req_status(
            req, STATUS(INVALID_ARGUMENT), wire_arena_printf(req->arena, "%s.date_from", cmd),
            "%u is not a valid date: give YYYYMMDD between 17530101 and 99991231.", from);
        return false;
    }
    if (to && !clock_date_valid(to)) {
        server_req_status(
            req, STATUS(INVALID_ARGUMENT), wire_arena_printf(req->arena, "%s.date_to", cmd),
            "%u is not a valid date: give YYYYMMDD between 17530101 and 99991231.", to);
        return false;
    }
    return true;
}

static void s_on_entries(void *ctx, server_req_t *req, ProtobufCMessage *msg, wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    interaction_reply_t *out = interaction_reply(req);

    (void)ctx;
    if (interaction_writer_ok(req, reply)) {
        if (reply->result_case == LOG_RESULT(ENTRIES) && reply->entries) {
            out->result_case = RESULT(ENTRIES);
            out->entries = reply->entries;
        } else {
            server_req_status(req, STATUS(INTERNAL), NULL,
                              "rapport-logwriter answered ListEntries without entries");
        }
    }
    server_req_finish(req);
}

void interactions_postponed_list(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    Rapport__V1__ListPostponed *lp = s_request(req)->list_postponed;
    Rapport__V1__LogRequest *msg;
    Rapport__V1__ListEntries *le;
    Rapport__V1__EntryFilter *flt;

    if (!s_dates_valid(req, "list_postponed", lp->date_from, lp->date_to))
        return;
    msg = (Rapport__V1__LogRequest *)wire_arena_message(req->arena,
                                                        &rapport__v1__log_request__descriptor);
    le = (Rapport__V1__ListEntries *)wire_arena_message(req->arena,
                                                        &rapport__v1__list_entries__descriptor);
    flt = (Rapport__V1__EntryFilter *)wire_arena_message(req->arena,
                                                         &rapport__v1__entry_filter__descriptor);
    flt->postponed = RAPPORT__V1__TRI_STATE__TRI_STATE_YES;
    flt->contact_no = lp->contact_no;
    flt->salesperson_code = lp->salesperson_code;
    flt->interaction_template_code = lp->interaction_template_code;
    flt->date_from = lp->date_from;
    flt->date_to = lp->date_to;
    le->filter = flt;
    le->after = lp->after;
    le->limit = lp->limit;
    interaction_writer_envelope(ix, req, msg, "list");
    msg->command_case = LOG_CMD(LIST_ENTRIES);
    msg->list_entries = le;
    interaction_writer_send(ix, req, msg, s_on_entries);
}

static void s_on_deleted(void *ctx, server_req_t *req, ProtobufCMessage *msg, wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    interaction_reply_t *out = interaction_reply(req);

    (void)ctx;
    if (interaction_writer_ok(req, reply)) {
        if (reply->result_case == LOG_RESULT(COUNT) && reply->count) {
            out->result_case = RESULT(COUNT);
            out->count = reply->count;
        } else {
            s_fail_reused_id(req);
        }
    }
    server_req_finish(req);
}

void interactions_postponed_delete(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    Rapport__V1__DeletePostponedInteractions *dp = s_request(req)->delete_postponed;
    Rapport__V1__LogRequest *msg;
    Rapport__V1__DeletePostponedEntries *del;

    if (dp->n_entry_nos == 0) {
        server_req_status(req, STATUS(INVALID_ARGUMENT), "delete_postponed.entry_nos",
                          "You must name at least one Entry No. to delete.");
        return;
    }
    msg = (Rapport__V1__LogRequest *)wire_arena_message(req->arena,
                                                        &rapport__v1__log_request__descriptor);
    del = (Rapport__V1__DeletePostponedEntries *)wire_arena_message(
        req->arena, &rapport__v1__delete_postponed_entries__descriptor);
    del->n_entry_nos = dp->n_entry_nos;
    del->entry_nos = dp->entry_nos;
    /* A mutation: the client's request_id, so the writer's dedup applies. */
    msg->request_id = *wire_msg_request_id(req->request);
    msg->user_id = wire_str(req->user_id);
    msg->command_case = LOG_CMD(DELETE_POSTPONED_ENTRIES);
    msg->delete_postponed_entries = del;
    interaction_writer_send(ix, req, msg, s_on_deleted);
}

static void s_on_statistics(void *ctx, server_req_t *req, ProtobufCMessage *msg,
                            wire_arena_t *arena)
{
    Rapport__V1__LogReply *reply = interaction_log_reply(msg, arena);
    interaction_server_t *ix = ctx;
    interaction_reply_t *out = interaction_reply(req);
    interaction_kind_t kind =
        req->command == CMD(TEMPLATE_STATISTICS) ? IX_KIND_TEMPLATE : IX_KIND_GROUP;
    Rapport__V1__Statistics *st;
    store_txn_t *txn = NULL;

    if (!interaction_writer_ok(req, reply))
        goto out_finish;
    if (reply->result_case != LOG_RESULT(STATISTICS) || !reply->statistics) {
        server_req_status(req, STATUS(INTERNAL), NULL,
                          "rapport-logwriter answered GetEntryStatistics without statistics");
        goto out_finish;
    }
    st = reply->statistics;
    txn = interaction_read_begin(ix, req);
    if (!txn)
        goto out_finish;
    /* Descriptions come from the catalog as it is now. */
    for (size_t i = 0; i < st->n_rows; i++) {
        ProtobufCMessage *m;
        Rapport__V1__StatisticsRow *row = st->rows[i];
        if (interaction_record_get(ix, txn, kind, row->code, req->arena, &m) != RP_OK)
            continue;
        row->description = kind == IX_KIND_TEMPLATE
                               ? ((Rapport__V1__InteractionTemplate *)m)->description
                               : ((Rapport__V1__InteractionGroup *)m)->description;
    }
    store_txn_abort(txn);
    out->result_case = RESULT(STATISTICS);
    out->statistics = st;
out_finish:
    server_req_finish(req);
}

void interactions_statistics_get(void *ctx, server_req_t *req)
{
    interaction_server_t *ix = ctx;
    bool by_template = req->command == CMD(TEMPLATE_STATISTICS);
    Rapport__V1__GetInteractionStatistics *gs =
        by_template ? s_request(req)->template_statistics : s_request(req)->group_statistics;
    Rapport__V1__LogRequest *msg;
    Rapport__V1__GetEntryStatistics *ges;

    if (!s_dates_valid(req, by_template ? "template_statistics" : "group_statistics", gs->date_from,
                       gs->date_to))
        return;
    msg = (Rapport__V1__LogRequest *)wire_arena_message(req->arena,
                                                        &rapport__v1__log_request__descriptor);
    ges = (Rapport__V1__GetEntryStatistics *)wire_arena_message(
        req->arena, &rapport__v1__get_entry_statistics__descriptor);
    ges->group_by = by_template ? RAPPORT__V1__STATISTICS_GROUP_BY__STATISTICS_GROUP_BY_TEMPLATE
                                : RAPPORT__V1__STATISTICS_GROUP_BY__STATISTICS_GROUP_BY_GROUP;
    ges->date_from = gs->date_from;
    ges->date_to = gs->date_to;
    interaction_writer_envelope(ix, req, msg, "stats");
    msg->command_case = LOG_CMD(STATISTICS);
    msg->statistics = ges;
    interaction_writer_send(ix, req, msg, s_on_statistics);
}
