/* segments: the segment commands (docs/domain.md section 6).
 *
 * Each mutating handler reads as: validate -> (ask
 * rapport-interaction for the catalog records it needs, in one batch) ->
 * apply in one write transaction with the dedup record -> reply. The
 * transaction function reloads everything it changes, so store_write()
 * can run it again after growing the map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "segment.h"

#define LINES_DEFAULT    100
#define LINES_MAX        5000
#define SEGMENTS_DEFAULT 100
#define SEGMENTS_MAX     1000
#define ADD_MAX          10000

/* ---- catalog lookups ---- */

typedef void (*after_lookup_fn)(segsrv_t *s, server_req_t *req, Rapport__V1__LookupResult *lr);

typedef struct {
    segsrv_t *s;
    after_lookup_fn fn;
} lookup_ctx_t;

/* Pass a peer's refusal through unchanged. */
static bool s_peer_failed(server_req_t *req, const ProtobufCMessage *reply)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)wire_msg_status(reply);
    if (!st || st->code == RAPPORT__V1__STATUS_CODE__OK)
        return false;
    server_req_status(req, (int)st->code, st->field, "%s", st->message);
    return true;
}

static void s_on_lookup(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *a)
{
    lookup_ctx_t *lc = ctx;
    Rapport__V1__InteractionReply *ir = (Rapport__V1__InteractionReply *)reply;
    (void)a;
    if (s_peer_failed(req, reply)) {
        server_req_finish(req);
        return;
    }
    if (ir->result_case != RAPPORT__V1__INTERACTION_REPLY__RESULT_LOOKUP) {
        server_req_fail(req, RP_EINTERNAL, NULL, "rapport-interaction answered a lookup oddly");
        server_req_finish(req);
        return;
    }
    lc->fn(lc->s, req, ir->lookup);
}

/* Send an interaction request on behalf of req; on failure req is failed
 * (and finished when it was deferred already). */
static void s_ask_interaction(segsrv_t *s, server_req_t *req, Rapport__V1__InteractionRequest *ir,
                              link_fn fn, void *ctx)
{
    bool was_deferred = req->deferred;
    rp_err rc;

    ir->user_id = wire_str(req->user_id);
    rc = link_send(s->interaction, req, &ir->base, fn, ctx);
    if (rc == RP_OK)
        return;
    server_req_fail(req, RP_EUNAVAIL, NULL, "cannot reach rapport-interaction: %s",
                    rp_strerror(rc));
    if (was_deferred)
        server_req_finish(req);
}

static void s_lookup(segsrv_t *s, server_req_t *req, Rapport__V1__Lookup *lk, after_lookup_fn fn)
{
    lookup_ctx_t *lc = wire_arena_alloc(req->arena, sizeof(*lc));
    Rapport__V1__InteractionRequest *ir = (Rapport__V1__InteractionRequest *)wire_arena_message(
        req->arena, &rapport__v1__interaction_request__descriptor);

    lc->s = s;
    lc->fn = fn;
    ir->command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LOOKUP;
    ir->lookup = lk;
    s_ask_interaction(s, req, ir, s_on_lookup, lc);
}

static Rapport__V1__Lookup *s_lookup_new(server_req_t *req)
{
    return (Rapport__V1__Lookup *)wire_arena_message(req->arena, &rapport__v1__lookup__descriptor);
}

static void s_lookup_one(wire_arena_t *a, char ***arr, size_t *n, const char *key)
{
    char **grown;
    if (!key || !*key)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], key) == 0)
            return;
    grown = (char **)wire_arena_ptrs(a, *n + 1);
    if (*n)
        memcpy(grown, *arr, sizeof(char *) * *n);
    grown[(*n)++] = wire_str(key);
    *arr = grown;
}

/* The first record the lookup did not find, as Business Central's text. */
static bool s_fail_missing(server_req_t *req, const Rapport__V1__LookupResult *lr)
{
    static const struct {
        const char *kind, *table, *field, *req_field;
    } kinds[] = {
        {"contact:", "Contact", "No.", "contact_no"},
        {"template:", "Interaction Template", "Code", "interaction_template_code"},
        {"salesperson:", "Salesperson/Purchaser", "Code", "salesperson_code"},
        {"campaign:", "Campaign", "No.", "campaign_no"},
    };
    if (lr->n_missing == 0)
        return false;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t kl = strlen(kinds[k].kind);
        if (strncmp(lr->missing[0], kinds[k].kind, kl) == 0) {
            server_req_fail(req, RP_ENOTFOUND, kinds[k].req_field,
                            "The %s does not exist. Identification fields and values: %s='%s'",
                            kinds[k].table, kinds[k].field, lr->missing[0] + kl);
            return true;
        }
    }
    server_req_fail(req, RP_ENOTFOUND, NULL, "not found: %s", lr->missing[0]);
    return true;
}

static const Rapport__V1__InteractionTemplate *s_template(const Rapport__V1__LookupResult *lr,
                                                          const char *code)
{
    for (size_t i = 0; lr && code && i < lr->n_templates; i++)
        if (strcmp(lr->templates[i]->code, code) == 0)
            return lr->templates[i];
    return NULL;
}

static const Rapport__V1__Contact *s_contact(const Rapport__V1__LookupResult *lr, const char *no)
{
    for (size_t i = 0; lr && no && i < lr->n_contacts; i++)
        if (strcmp(lr->contacts[i]->no, no) == 0)
            return lr->contacts[i];
    return NULL;
}

/* ---- shared rules ---- */

bool seg_template_has_language(const Rapport__V1__InteractionTemplate *t, const char *lang)
{
    for (size_t i = 0; t && lang && *lang && i < t->n_languages; i++)
        if (strcmp(t->languages[i]->language_code, lang) == 0)
            return true;
    return false;
}

static Rapport__V1__CorrespondenceType s_template_corr(const Rapport__V1__InteractionTemplate *t)
{
    if (!t)
        return RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE;
    return t->correspondence_type_opt_case ==
                   RAPPORT__V1__INTERACTION_TEMPLATE__CORRESPONDENCE_TYPE_OPT_CORRESPONDENCE_TYPE
               ? t->correspondence_type
               : RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL;
}

Rapport__V1__CorrespondenceType seg_line_corr_type(const Rapport__V1__SegmentHeader *h,
                                                   const Rapport__V1__InteractionTemplate *t,
                                                   const Rapport__V1__Contact *c)
{
    /* (a) the header ignores the contact's type and has one of its own */
    if (h->ignore_contact_corr_type &&
        h->correspondence_type != RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE)
        return h->correspondence_type;
    /* (b) the template ignores the contact's type, or the contact has none */
    if ((t && t->ignore_contact_corr_type) || !c ||
        c->correspondence_type == RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE)
        return s_template_corr(t);
    /* (c) the contact's type */
    return c->correspondence_type;
}

void seg_line_from_header(const Rapport__V1__SegmentHeader *h,
                          const Rapport__V1__InteractionTemplate *t, const Rapport__V1__Contact *c,
                          Rapport__V1__SegmentLine *l)
{
    l->segment_no = h->no;
    l->contact_no = c->no;
    l->contact_company_no = c->company_no;
    l->description = h->description;
    l->campaign_no = h->campaign_no;
    l->campaign_target = h->campaign_target;
    l->campaign_response = h->campaign_response;
    l->salesperson_code = h->salesperson_code[0] ? h->salesperson_code : c->salesperson_code;
    l->interaction_template_code = h->interaction_template_code;
    l->interaction_group_code = h->interaction_group_code;
    l->cost_cents = h->unit_cost_cents;
    l->duration_min = h->unit_duration_min;
    l->date = h->date;
    l->information_flow = h->information_flow;
    l->initiated_by = h->initiated_by;
    l->evaluation = RAPPORT__V1__EVALUATION__EVALUATION_NONE;
    l->subject = h->subject;
    l->language_code =
        seg_template_has_language(t, c->language_code) ? c->language_code : h->language_code;
    l->correspondence_type = seg_line_corr_type(h, t, c);
}

static bool s_has_pf(const Rapport__V1__SegmentLine *l, const char *field)
{
    for (size_t i = 0; i < l->n_personalized_fields; i++)
        if (strcmp(l->personalized_fields[i], field) == 0)
            return true;
    return false;
}

static unsigned s_field_id(const char *name)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
        &rapport__v1__segment_line__descriptor, name);
    return fd ? fd->id : 0;
}

/* Mark a line field personalized; the list stays in field-number order,
 * the order in which a stored line gives it back. */
static void s_add_pf(wire_arena_t *a, Rapport__V1__SegmentLine *l, const char *field)
{
    char **grown;
    size_t at;
    if (s_has_pf(l, field))
        return;
    grown = (char **)wire_arena_ptrs(a, l->n_personalized_fields + 1);
    for (at = 0; at < l->n_personalized_fields &&
                 s_field_id(l->personalized_fields[at]) < s_field_id(field);
         at++)
        grown[at] = l->personalized_fields[at];
    grown[at] = wire_str(field);
    for (size_t i = at; i < l->n_personalized_fields; i++)
        grown[i + 1] = l->personalized_fields[i];
    l->n_personalized_fields++;
    l->personalized_fields = grown;
}

static void s_reply_segment(server_req_t *req, Rapport__V1__SegmentHeader *h)
{
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_SEGMENT;
    seg_reply(req)->segment = h;
}

/* Run fn in a write transaction; on a store failure req is failed. */
static bool s_write(segsrv_t *s, server_req_t *req, store_write_fn fn, void *ctx)
{
    rp_err rc = store_write(s->store, fn, ctx, NULL);
    if (rc == RP_OK)
        return true;
    log_warnx("write failed: %s (%s)", rp_strerror(rc), store_last_error(s->store));
    seg_fail_store(req, rc);
    return false;
}

/* Load for a change: fails req (and returns RP_ENOTFOUND / RP_EPRECOND as
 * a domain outcome, not a store error) when absent or being logged. */
static rp_err s_load_for_change(segsrv_t *s, store_txn_t *txn, server_req_t *req, const char *no,
                                seg_t *seg)
{
    rp_err rc = seg_load(s, txn, req->arena, no, seg);
    if (rc == RP_ENOTFOUND) {
        seg_fail_no_segment(req, no);
        return RP_ENOTFOUND;
    }
    if (rc != RP_OK)
        return rc;
    /* A log that is still checking the lines has no LOGGING record yet,
     * but its lines must not change under it either. */
    if (seg->h->logging || fanout_active(s, no)) {
        seg_fail_logging(req, no);
        return RP_EPRECOND;
    }
    return RP_OK;
}

/* A domain outcome of s_load_for_change ends the transaction function
 * without writing: the caller's reply already says why. */
static rp_err s_domain(rp_err rc)
{
    return rc == RP_ENOTFOUND || rc == RP_EPRECOND ? RP_OK : rc;
}

/* ---- numbering ---- */

typedef struct {
    segsrv_t *s;
    server_req_t *req;
} apply_t;

static rp_err s_apply_numbering(store_txn_t *txn, void *ctx)
{
    apply_t *ap = ctx;
    Rapport__V1__SegmentNumbering *n = seg_request(ap->req)->set_numbering;
    uint8_t *dst;
    rp_err rc;

    server_req_reset_reply(ap->req);
    if (n->width == 0) {
        rc = store_del(txn, ap->s->db[SEG_DB_META], "numbering", 9, NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    } else {
        rc = store_reserve(txn, ap->s->db[SEG_DB_META], "numbering", 9, wire_size(&n->base), 0,
                           (void **)&dst);
        if (rc == RP_OK)
            wire_encode_to(&n->base, dst);
    }
    if (rc != RP_OK)
        return rc;
    seg_reply(ap->req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_NUMBERING;
    seg_reply(ap->req)->numbering = n;
    return server_dedup_record(ap->req, txn);
}

void segments_set_numbering(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__SegmentNumbering *n = seg_request(req)->set_numbering;
    apply_t ap = {s, req};
    char probe[64];
    int len;

    if (n->width > SEG_NO_MAX || (n->width > 0 && n->next == 0)) {
        server_req_fail(req, RP_EINVAL, "width",
                        "numbering needs a width of 1 to %d and a next number of at least 1 "
                        "(width 0 clears it)",
                        SEG_NO_MAX);
        return;
    }
    len = snprintf(probe, sizeof(probe), "%s%0*llu", n->prefix, (int)n->width,
                   (unsigned long long)n->next);
    if (n->width > 0 && (len < 0 || len > SEG_NO_MAX)) {
        server_req_fail(req, RP_EINVAL, "prefix",
                        "numbers like %s would be longer than %d characters", probe, SEG_NO_MAX);
        return;
    }
    s_write(s, req, s_apply_numbering, &ap);
}

void segments_get_numbering(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    store_txn_t *txn = NULL;
    Rapport__V1__SegmentNumbering *n;
    rp_err rc = store_txn_begin(s->store, false, &txn);

    if (rc == RP_OK)
        rc = seg_numbering_get(s, txn, req->arena, &n);
    store_txn_abort(txn);
    if (rc != RP_OK) {
        seg_fail_store(req, rc);
        return;
    }
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_NUMBERING;
    seg_reply(req)->numbering = n;
}

/* ---- header fields ---- */

/* Validate the scalar fields of a SegmentFields (the catalog references are
 * checked by a lookup). */
static bool s_fields_ok(server_req_t *req, const Rapport__V1__SegmentFields *f)
{
    if (!f)
        return true;
    if (f->date_opt_case == RAPPORT__V1__SEGMENT_FIELDS__DATE_OPT_DATE && f->date &&
        !clock_date_valid(f->date)) {
        server_req_fail(req, RP_EINVAL, "fields.date", "%u is not a valid date", f->date);
        return false;
    }
    if (f->unit_cost_cents_opt_case ==
            RAPPORT__V1__SEGMENT_FIELDS__UNIT_COST_CENTS_OPT_UNIT_COST_CENTS &&
        f->unit_cost_cents < 0) {
        server_req_fail(req, RP_EINVAL, "fields.unit_cost_cents",
                        "Unit Cost (LCY) must not be negative.");
        return false;
    }
    return true;
}

#define HAS(f, name) ((f) && (f)->name##_opt_case != 0)

/* Lookup of the catalog records a SegmentFields refers to; NULL when none. */
static Rapport__V1__Lookup *s_fields_lookup(server_req_t *req, const Rapport__V1__SegmentFields *f)
{
    Rapport__V1__Lookup *lk = s_lookup_new(req);
    if (!f)
        return NULL;
    if (HAS(f, interaction_template_code))
        s_lookup_one(req->arena, &lk->template_codes, &lk->n_template_codes,
                     f->interaction_template_code);
    if (HAS(f, salesperson_code))
        s_lookup_one(req->arena, &lk->salesperson_codes, &lk->n_salesperson_codes,
                     f->salesperson_code);
    if (HAS(f, campaign_no))
        s_lookup_one(req->arena, &lk->campaign_nos, &lk->n_campaign_nos, f->campaign_no);
    if (!lk->n_template_codes && !lk->n_salesperson_codes && !lk->n_campaign_nos)
        return NULL;
    return lk;
}

/* Copy the template's interaction section onto the header (docs/domain.md 6). */
static void s_header_take_template(Rapport__V1__SegmentHeader *h,
                                   const Rapport__V1__InteractionTemplate *t, const char *code)
{
    h->interaction_template_code = wire_str(code);
    if (!t) {
        h->interaction_group_code = wire_str("");
        return;
    }
    h->interaction_group_code = t->interaction_group_code;
    h->unit_cost_cents = t->unit_cost_cents;
    h->unit_duration_min = t->unit_duration_min;
    h->information_flow = t->information_flow;
    h->initiated_by = t->initiated_by;
    h->correspondence_type = s_template_corr(t);
    h->ignore_contact_corr_type = t->ignore_contact_corr_type;
    h->language_code = t->language_code;
    h->campaign_target = t->campaign_target;
    h->campaign_response = t->campaign_response;
    if (t->campaign_no[0])
        h->campaign_no = t->campaign_no;
    h->subject = wire_str("");
}

/* Set the header fields given (the template first). Returns false with req
 * failed on a rule violation. */
static bool s_header_apply(server_req_t *req, Rapport__V1__SegmentHeader *h,
                           const Rapport__V1__SegmentFields *f, const Rapport__V1__LookupResult *lr)
{
    if (!f)
        return true;
    if (HAS(f, interaction_template_code))
        s_header_take_template(h, s_template(lr, f->interaction_template_code),
                               f->interaction_template_code);
    if (HAS(f, description))
        h->description = f->description;
    if (HAS(f, salesperson_code))
        h->salesperson_code = f->salesperson_code;
    if (HAS(f, date))
        h->date = f->date ? f->date : clock_work_date();
    if (HAS(f, campaign_no)) {
        h->campaign_no = f->campaign_no;
        if (!f->campaign_no[0])
            h->campaign_target = h->campaign_response = false;
    }
    if (HAS(f, campaign_target))
        h->campaign_target = f->campaign_target;
    if (HAS(f, campaign_response))
        h->campaign_response = f->campaign_response;
    if ((h->campaign_target || h->campaign_response) && !h->campaign_no[0]) {
        server_req_fail(req, RP_EPRECOND, "fields.campaign_no",
                        "Campaign No. must have a value in Segment Header: No.=%s.", h->no);
        return false;
    }
    if (HAS(f, language_code))
        h->language_code = f->language_code;
    if (HAS(f, subject))
        h->subject = f->subject;
    if (HAS(f, correspondence_type))
        h->correspondence_type = f->correspondence_type;
    if (HAS(f, ignore_contact_corr_type))
        h->ignore_contact_corr_type = f->ignore_contact_corr_type;
    if (HAS(f, information_flow))
        h->information_flow = f->information_flow;
    if (HAS(f, initiated_by))
        h->initiated_by = f->initiated_by;
    if (HAS(f, unit_cost_cents))
        h->unit_cost_cents = f->unit_cost_cents;
    if (HAS(f, unit_duration_min))
        h->unit_duration_min = f->unit_duration_min;
    return true;
}

/* ---- create ---- */

typedef struct {
    segsrv_t *s;
    server_req_t *req;
    const Rapport__V1__LookupResult *lr;
} apply_lr_t;

/* A change that needs catalog records: look them up (lk NULL: nothing to
 * look up), then run `apply` in a write transaction with the lookup result
 * (apply_lr_t) unless a record is missing, then finish the request. */
typedef struct {
    store_write_fn apply;
} write_after_t;

static void s_write_after_lookup(segsrv_t *s, server_req_t *req, Rapport__V1__LookupResult *lr)
{
    const write_after_t *wa = req->user;
    apply_lr_t ap = {s, req, lr};
    if (!(lr && s_fail_missing(req, lr)))
        s_write(s, req, wa->apply, &ap);
    if (req->deferred)
        server_req_finish(req);
}

static void s_lookup_then_write(segsrv_t *s, server_req_t *req, Rapport__V1__Lookup *lk,
                                store_write_fn apply)
{
    write_after_t *wa = wire_arena_alloc(req->arena, sizeof(*wa));
    wa->apply = apply;
    req->user = wa;
    if (lk)
        s_lookup(s, req, lk, s_write_after_lookup);
    else
        s_write_after_lookup(s, req, NULL);
}

static rp_err s_apply_create(store_txn_t *txn, void *ctx)
{
    apply_lr_t *ap = ctx;
    server_req_t *req = ap->req;
    Rapport__V1__CreateSegment *cs = seg_request(req)->create_segment;
    Rapport__V1__SegmentHeader *h;
    seg_t seg;
    char no[SEG_NO_MAX + 1];
    store_val_t v;
    rp_err rc;

    server_req_reset_reply(req);
    if (cs->no[0]) {
        snprintf(no, sizeof(no), "%s", cs->no);
    } else {
        rc = seg_numbering_take(ap->s, txn, no);
        if (rc == RP_EPRECOND || rc == RP_ERANGE) {
            server_req_fail(req, RP_EPRECOND, "no",
                            rc == RP_EPRECOND ? "Segment Nos. must have a value in Marketing Setup."
                                              : "Segment Nos. has no numbers left.");
            return RP_OK;
        }
        if (rc != RP_OK)
            return rc;
    }
    rc = store_get(txn, ap->s->db[SEG_DB_SEGMENTS], no, strlen(no), &v);
    if (rc == RP_ENOTFOUND) {
        /* A log in flight has taken the No. for its follow-up. */
        bool reserved;
        rc = fanout_reserves(ap->s, txn, no, &reserved);
        if (rc == RP_OK && !reserved)
            rc = RP_ENOTFOUND;
    }
    if (rc == RP_OK) {
        server_req_fail(req, RP_EEXIST, "no",
                        "The Segment Header already exists. Identification fields and values: "
                        "No.='%s'",
                        no);
        return RP_OK;
    }
    if (rc != RP_ENOTFOUND)
        return rc;
    h = (Rapport__V1__SegmentHeader *)wire_arena_message(req->arena,
                                                         &rapport__v1__segment_header__descriptor);
    h->no = wire_arena_strdup(req->arena, no);
    h->date = clock_work_date();
    h->correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_NONE;
    if (!s_header_apply(req, h, cs->fields, ap->lr))
        return RP_OK;
    seg.h = h;
    seg.last_line_no = 0;
    rc = seg_new_id(ap->s, txn, &seg.seg_id);
    if (rc == RP_OK)
        rc = seg_save(ap->s, txn, &seg);
    if (rc != RP_OK)
        return rc;
    s_reply_segment(req, h);
    return server_dedup_record(req, txn);
}

void segments_create(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__CreateSegment *cs = seg_request(req)->create_segment;
    Rapport__V1__Lookup *lk;

    if (!s_fields_ok(req, cs->fields))
        return;
    lk = s_fields_lookup(req, cs->fields);
    s_lookup_then_write(s, req, lk, s_apply_create);
}

/* ---- get, list, delete ---- */

void segments_get(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    const char *no = seg_request(req)->get_segment->segment_no;
    store_txn_t *txn = NULL;
    seg_t seg;
    rp_err rc = store_txn_begin(s->store, false, &txn);

    if (rc == RP_OK)
        rc = seg_load(s, txn, req->arena, no, &seg);
    store_txn_abort(txn);
    if (rc == RP_ENOTFOUND)
        seg_fail_no_segment(req, no);
    else if (rc != RP_OK)
        seg_fail_store(req, rc);
    else
        s_reply_segment(req, seg.h);
}

typedef struct {
    segsrv_t *s;
    store_txn_t *txn;
    server_req_t *req;
    seg_t seg; /* list_lines: the segment */
    Rapport__V1__Segments *segments;
    Rapport__V1__SegmentLines *lines;
} s_page_t;

static rp_err s_take_segment(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    s_page_t *pg = ctx;
    char *no = wire_arena_alloc(pg->req->arena, k->len + 1);
    seg_t seg;
    rp_err rc;

    (void)v;
    memcpy(no, k->data, k->len);
    rc = seg_load(pg->s, pg->txn, pg->req->arena, no, &seg);
    if (rc == RP_OK) {
        pg->segments->segments[pg->segments->n_segments++] = seg.h;
        *taken = true;
    }
    return rc;
}

void segments_list(void *ctx, server_req_t *req)
{
    Rapport__V1__ListSegments *ls = seg_request(req)->list_segments;
    s_page_t pg = {ctx, NULL, req, {0}, NULL, NULL};
    store_page_spec_t spec = {0};
    store_page_t page;
    rp_err rc = store_txn_begin(pg.s->store, false, &pg.txn);

    spec.after = ls->after;
    spec.after_len = strlen(ls->after);
    spec.limit =
        ls->limit ? (ls->limit > SEGMENTS_MAX ? SEGMENTS_MAX : ls->limit) : SEGMENTS_DEFAULT;
    spec.take = s_take_segment;
    spec.ctx = &pg;
    pg.segments =
        (Rapport__V1__Segments *)wire_arena_message(req->arena, &rapport__v1__segments__descriptor);
    pg.segments->segments = (Rapport__V1__SegmentHeader **)wire_arena_ptrs(req->arena, spec.limit);
    if (rc == RP_OK)
        rc = store_page(pg.txn, pg.s->db[SEG_DB_SEGMENTS], &spec, &page);
    store_txn_abort(pg.txn);
    if (rc != RP_OK) {
        seg_fail_store(req, rc);
        return;
    }
    if (page.more)
        pg.segments->next_after = pg.segments->segments[pg.segments->n_segments - 1]->no;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_SEGMENTS;
    seg_reply(req)->segments = pg.segments;
}

static rp_err s_apply_delete(store_txn_t *txn, void *ctx)
{
    apply_t *ap = ctx;
    server_req_t *req = ap->req;
    const char *no = seg_request(req)->delete_segment->segment_no;
    Rapport__V1__Count *c;
    seg_t seg;
    rp_err rc;

    server_req_reset_reply(req);
    rc = s_load_for_change(ap->s, txn, req, no, &seg);
    if (rc != RP_OK)
        return s_domain(rc);
    rc = seg_trash_put(ap->s, txn, seg.seg_id);
    if (rc == RP_OK)
        rc = store_del(txn, ap->s->db[SEG_DB_SEGMENTS], no, strlen(no), NULL, 0);
    if (rc != RP_OK)
        return rc;
    c = (Rapport__V1__Count *)wire_arena_message(req->arena, &rapport__v1__count__descriptor);
    c->count = seg.h->no_of_lines;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_COUNT;
    seg_reply(req)->count = c;
    return server_dedup_record(req, txn);
}

void segments_delete(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    apply_t ap = {s, req};
    s_write(s, req, s_apply_delete, &ap);
}

/* ---- update the header ---- */

/* Push the header's new values to one line (docs/domain.md 6). Returns whether
 * the line changed. */
static bool s_push_to_line(const Rapport__V1__SegmentHeader *h,
                           const Rapport__V1__SegmentHeader *old,
                           const Rapport__V1__SegmentFields *f, Rapport__V1__SegmentLine *l)
{
    bool changed = false, same_template;

    if (HAS(f, interaction_template_code)) {
        /* Every line takes the new template and what comes with it;
         * personalized lines keep their language and subject. */
        l->interaction_template_code = h->interaction_template_code;
        l->interaction_group_code = h->interaction_group_code;
        l->cost_cents = h->unit_cost_cents;
        l->duration_min = h->unit_duration_min;
        l->information_flow = h->information_flow;
        l->initiated_by = h->initiated_by;
        if (!l->personalized) {
            l->language_code = h->language_code;
            l->subject = h->subject;
        }
        changed = true;
    }
    same_template = strcmp(l->interaction_template_code, h->interaction_template_code) == 0;
    if (!same_template)
        return changed;
#define PUSH(field, line_field, value)                    \
    do {                                                  \
        if (HAS(f, field) && !s_has_pf(l, #line_field)) { \
            l->line_field = value;                        \
            changed = true;                               \
        }                                                 \
    } while (0)
    PUSH(description, description, h->description);
    PUSH(salesperson_code, salesperson_code, h->salesperson_code);
    PUSH(date, date, h->date);
    PUSH(unit_cost_cents, cost_cents, h->unit_cost_cents);
    PUSH(unit_duration_min, duration_min, h->unit_duration_min);
    PUSH(information_flow, information_flow, h->information_flow);
    PUSH(initiated_by, initiated_by, h->initiated_by);
    PUSH(language_code, language_code, h->language_code);
    PUSH(correspondence_type, correspondence_type, h->correspondence_type);
#undef PUSH
    if (HAS(f, campaign_no) || HAS(f, campaign_target) || HAS(f, campaign_response)) {
        l->campaign_no = h->campaign_no;
        l->campaign_target = h->campaign_target;
        l->campaign_response = h->campaign_response;
        changed = true;
    }
    /* A subject change only reaches lines still carrying the old one. */
    if (HAS(f, subject) && !s_has_pf(l, "subject") && strcmp(l->subject, old->subject) == 0) {
        l->subject = h->subject;
        changed = true;
    }
    return changed;
}

static rp_err s_apply_update(store_txn_t *txn, void *ctx)
{
    apply_lr_t *ap = ctx;
    server_req_t *req = ap->req;
    segsrv_t *s = ap->s;
    Rapport__V1__UpdateSegment *u = seg_request(req)->update_segment;
    bool update_lines = u->update_lines_opt_case == 0 || u->update_lines;
    Rapport__V1__SegmentHeader *h, old;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t prefix[8];
    wire_arena_t *scratch;
    seg_t seg;
    rp_err rc;

    server_req_reset_reply(req);
    rc = s_load_for_change(s, txn, req, u->segment_no, &seg);
    if (rc != RP_OK)
        return s_domain(rc);
    h = seg.h;
    old = *h;
    if (!s_header_apply(req, h, u->fields, ap->lr))
        return RP_OK;
    if (update_lines && u->fields && seg.last_line_no) {
        scratch = wire_arena_new();
        if (!scratch)
            return RP_ENOMEM;
        h->total_cost_cents = 0;
        h->total_duration_min = 0;
        store_u64_key(seg.seg_id, prefix);
        rc = store_cursor_open(txn, s->db[SEG_DB_LINES], &cur);
        k.data = prefix;
        k.len = 8;
        if (rc == RP_OK)
            rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
        for (size_t i = 0; rc == RP_OK && k.len == 16 && memcmp(k.data, prefix, 8) == 0; i++) {
            Rapport__V1__SegmentLine *l;
            if (i % 1024 == 0)
                wire_arena_reset(scratch);
            rc = seg_line_decode(scratch, h->no, store_key_u64((const uint8_t *)k.data + 8), v.data,
                                 v.len, &l);
            if (rc != RP_OK)
                break;
            if (s_push_to_line(h, &old, u->fields, l)) {
                store_val_t nv = {seg_line_size(l), NULL};
                /* The key must not point into the page: when the value's
                 * size changes, LMDB deletes the node before it adds it
                 * again, and a key read from the map would then name
                 * another line (or none). */
                uint8_t kbuf[16];
                store_val_t kc = {sizeof(kbuf), kbuf};
                memcpy(kbuf, k.data, sizeof(kbuf));
                nv.data = wire_arena_alloc(scratch, nv.len);
                seg_line_encode(l, nv.data);
                rc = store_cursor_put(cur, &kc, &nv, STORE_PUT_CURRENT);
                if (rc != RP_OK)
                    break;
            }
            h->total_cost_cents += l->cost_cents;
            h->total_duration_min += l->duration_min;
            rc = store_cursor_get(cur, STORE_NEXT, &k, &v);
        }
        store_cursor_close(cur);
        wire_arena_destroy(&scratch);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    rc = seg_save(s, txn, &seg);
    if (rc != RP_OK)
        return rc;
    s_reply_segment(req, h);
    return server_dedup_record(req, txn);
}

void segments_update(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__UpdateSegment *u = seg_request(req)->update_segment;
    Rapport__V1__Lookup *lk;

    if (!s_fields_ok(req, u->fields))
        return;
    lk = s_fields_lookup(req, u->fields);
    s_lookup_then_write(s, req, lk, s_apply_update);
}

/* ---- add contacts ---- */

typedef struct {
    segsrv_t *s;
    char template_code[16];
    Rapport__V1__Contact **contacts; /* in the order to add */
    size_t n, cap;
    char after[SEG_NO_MAX + 1]; /* list paging */
    const Rapport__V1__LookupResult *lr;
    const Rapport__V1__LookupResult *tlr; /* the template, looked up alone */
    uint64_t added, skipped;
} add_t;

static void s_add_contact(server_req_t *req, add_t *ad, Rapport__V1__Contact *c)
{
    if (ad->n == ad->cap) {
        void **grown;
        ad->cap = ad->cap ? ad->cap * 2 : 256;
        grown = wire_arena_ptrs(req->arena, ad->cap);
        if (ad->n)
            memcpy(grown, ad->contacts, sizeof(void *) * ad->n);
        ad->contacts = (Rapport__V1__Contact **)grown;
    }
    ad->contacts[ad->n++] = c;
}

static rp_err s_apply_add(store_txn_t *txn, void *ctx)
{
    server_req_t *req = ctx;
    add_t *ad = req->user;
    segsrv_t *s = ad->s;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    const Rapport__V1__InteractionTemplate *t;
    Rapport__V1__AddedContacts *out;
    bool append = true;
    seg_t seg;
    rp_err rc;

    server_req_reset_reply(req);
    ad->added = ad->skipped = 0;
    rc = s_load_for_change(s, txn, req, ac->segment_no, &seg);
    if (rc != RP_OK)
        return s_domain(rc);
    t = s_template(ad->tlr ? ad->tlr : ad->lr, seg.h->interaction_template_code);
    for (size_t i = 0; i < ad->n; i++) {
        Rapport__V1__SegmentLine l = RAPPORT__V1__SEGMENT_LINE__INIT;
        uint64_t existing;
        rc = seg_line_of_contact(s, txn, seg.seg_id, ad->contacts[i]->no, &existing);
        if (rc == RP_OK) {
            ad->skipped++;
            continue;
        }
        if (rc != RP_ENOTFOUND)
            return rc;
        seg_line_from_header(seg.h, t, ad->contacts[i], &l);
        l.line_no = seg.last_line_no + LINE_STEP;
        /* Lines of the newest segment go at the end of the DBI. */
        rc = seg_line_save(s, txn, seg.seg_id, &l, append ? STORE_PUT_APPEND : 0);
        if (rc == RP_EEXIST && append) {
            append = false;
            rc = seg_line_save(s, txn, seg.seg_id, &l, 0);
        }
        if (rc == RP_OK)
            rc = seg_contact_index_put(s, txn, seg.seg_id, l.contact_no, l.line_no);
        if (rc != RP_OK)
            return rc;
        seg.last_line_no = l.line_no;
        seg_totals(seg.h, &l, +1);
        ad->added++;
    }
    rc = seg_save(s, txn, &seg);
    if (rc != RP_OK)
        return rc;
    out = (Rapport__V1__AddedContacts *)wire_arena_message(
        req->arena, &rapport__v1__added_contacts__descriptor);
    out->added = ad->added;
    out->skipped = ad->skipped;
    out->no_of_lines = seg.h->no_of_lines;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_ADDED;
    seg_reply(req)->added = out;
    return server_dedup_record(req, txn);
}

static void s_add_apply(segsrv_t *s, server_req_t *req)
{
    s_write(s, req, s_apply_add, req);
    if (req->deferred)
        server_req_finish(req);
}

/* Contacts given by number: the lookup brings them and the template. */
static void s_add_after_lookup(segsrv_t *s, server_req_t *req, Rapport__V1__LookupResult *lr)
{
    add_t *ad = req->user;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    seg_map_t *found;

    ad->lr = lr;
    if (s_fail_missing(req, lr)) {
        server_req_finish(req);
        return;
    }
    /* In the order asked, each contact once: a map, not a search per
     * contact (10000 contacts a request). */
    found = seg_map_new(lr->n_contacts);
    for (size_t i = 0; found && i < lr->n_contacts; i++) {
        void **slot = seg_map_slot(found, lr->contacts[i]->no, true);
        if (!slot) {
            seg_map_destroy(&found);
            break;
        }
        *slot = lr->contacts[i];
    }
    if (!found) {
        server_req_fail(req, RP_ENOMEM, NULL, "out of memory");
        server_req_finish(req);
        return;
    }
    for (size_t i = 0; i < ac->n_contact_nos; i++) {
        void **slot = seg_map_slot(found, ac->contact_nos[i], false);
        if (!slot || !*slot)
            continue; /* not found, or asked for twice */
        s_add_contact(req, ad, *slot);
        *slot = NULL;
    }
    seg_map_destroy(&found);
    s_add_apply(s, req);
}

/* Contacts given by number, after the template: a lookup holds at most
 * 10000 keys (rapport-interaction's bound), so 10000 contacts and the
 * template cannot share one. */
static void s_add_lookup_listed(segsrv_t *s, server_req_t *req, Rapport__V1__LookupResult *lr)
{
    add_t *ad = req->user;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    Rapport__V1__Lookup *lk;

    if (lr && s_fail_missing(req, lr)) {
        server_req_finish(req);
        return;
    }
    ad->tlr = lr;
    lk = s_lookup_new(req);
    lk->contact_nos = ac->contact_nos;
    lk->n_contact_nos = ac->n_contact_nos;
    s_lookup(s, req, lk, s_add_after_lookup);
}

static void s_add_template_after_lookup(segsrv_t *s, server_req_t *req,
                                        Rapport__V1__LookupResult *lr)
{
    add_t *ad = req->user;
    ad->lr = lr;
    if (s_fail_missing(req, lr)) {
        server_req_finish(req);
        return;
    }
    s_add_apply(s, req);
}

static void s_list_contacts_next(segsrv_t *s, server_req_t *req);

/* A page of contacts by company / salesperson. */
static void s_on_contacts_page(void *ctx, server_req_t *req, ProtobufCMessage *reply,
                               wire_arena_t *a)
{
    segsrv_t *s = ctx;
    add_t *ad = req->user;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    Rapport__V1__InteractionReply *ir = (Rapport__V1__InteractionReply *)reply;
    Rapport__V1__Lookup *lk;

    (void)a;
    if (s_peer_failed(req, reply)) {
        server_req_finish(req);
        return;
    }
    if (ir->result_case != RAPPORT__V1__INTERACTION_REPLY__RESULT_CONTACTS) {
        server_req_fail(req, RP_EINTERNAL, NULL, "rapport-interaction answered a listing oddly");
        server_req_finish(req);
        return;
    }
    for (size_t i = 0; i < ir->contacts->n_contacts; i++) {
        Rapport__V1__Contact *c = ir->contacts->contacts[i];
        /* By company: all of its persons. */
        if (ac->company_no[0] && c->type != RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_PERSON)
            continue;
        if (ad->n >= 10000000) {
            server_req_fail(req, RP_ERANGE, NULL, "too many contacts to add at once");
            server_req_finish(req);
            return;
        }
        s_add_contact(req, ad, c);
    }
    if (ir->contacts->next_after[0]) {
        snprintf(ad->after, sizeof(ad->after), "%s", ir->contacts->next_after);
        s_list_contacts_next(s, req);
        return;
    }
    lk = s_lookup_new(req);
    s_lookup_one(req->arena, &lk->template_codes, &lk->n_template_codes, ad->template_code);
    if (ac->company_no[0])
        s_lookup_one(req->arena, &lk->contact_nos, &lk->n_contact_nos, ac->company_no);
    else
        s_lookup_one(req->arena, &lk->salesperson_codes, &lk->n_salesperson_codes,
                     ac->salesperson_code);
    s_lookup(s, req, lk, s_add_template_after_lookup);
}

static void s_list_contacts_next(segsrv_t *s, server_req_t *req)
{
    add_t *ad = req->user;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    Rapport__V1__InteractionRequest *ir = (Rapport__V1__InteractionRequest *)wire_arena_message(
        req->arena, &rapport__v1__interaction_request__descriptor);
    Rapport__V1__ListCatalog *lc = (Rapport__V1__ListCatalog *)wire_arena_message(
        req->arena, &rapport__v1__list_catalog__descriptor);

    lc->after = wire_arena_strdup(req->arena, ad->after);
    lc->limit = 10000;
    lc->company_no = ac->company_no;
    lc->salesperson_code = ac->salesperson_code;
    ir->command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_LIST_CONTACTS;
    ir->list_contacts = lc;
    s_ask_interaction(s, req, ir, s_on_contacts_page, s);
}

void segments_add_contacts(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__AddContacts *ac = seg_request(req)->add_contacts;
    int modes = (ac->n_contact_nos > 0) + (ac->company_no[0] != 0) + (ac->salesperson_code[0] != 0);
    store_txn_t *txn = NULL;
    add_t *ad;
    seg_t seg;
    rp_err rc;

    if (modes != 1) {
        server_req_fail(req, RP_EINVAL, "contact_nos",
                        "give contact numbers, or a company, or a salesperson (exactly one)");
        return;
    }
    if (ac->n_contact_nos > ADD_MAX) {
        server_req_fail(req, RP_EINVAL, "contact_nos",
                        "at most %d contacts can be added per request, not %zu", ADD_MAX,
                        ac->n_contact_nos);
        return;
    }
    rc = store_txn_begin(s->store, false, &txn);
    if (rc == RP_OK)
        rc = seg_load(s, txn, req->arena, ac->segment_no, &seg);
    store_txn_abort(txn);
    if (rc == RP_ENOTFOUND) {
        seg_fail_no_segment(req, ac->segment_no);
        return;
    }
    if (rc != RP_OK) {
        seg_fail_store(req, rc);
        return;
    }
    if (seg.h->logging || fanout_active(s, ac->segment_no)) {
        seg_fail_logging(req, ac->segment_no);
        return;
    }
    ad = wire_arena_alloc(req->arena, sizeof(*ad));
    ad->s = s;
    snprintf(ad->template_code, sizeof(ad->template_code), "%s", seg.h->interaction_template_code);
    req->user = ad;
    if (ac->n_contact_nos && ad->template_code[0]) {
        Rapport__V1__Lookup *lk = s_lookup_new(req);
        s_lookup_one(req->arena, &lk->template_codes, &lk->n_template_codes, ad->template_code);
        s_lookup(s, req, lk, s_add_lookup_listed);
        return;
    }
    if (ac->n_contact_nos) {
        s_add_lookup_listed(s, req, NULL);
        return;
    }
    s_list_contacts_next(s, req);
}

/* ---- remove and list lines ---- */

static void s_fail_no_line(server_req_t *req, const char *no, uint64_t line_no)
{
    server_req_fail(req, RP_ENOTFOUND, "line_nos",
                    "The Segment Line does not exist. Identification fields and values: Segment "
                    "No.='%s',Line No.='%llu'",
                    no, (unsigned long long)line_no);
}

static rp_err s_apply_remove(store_txn_t *txn, void *ctx)
{
    apply_t *ap = ctx;
    server_req_t *req = ap->req;
    Rapport__V1__RemoveLines *rl = seg_request(req)->remove_lines;
    Rapport__V1__Count *c;
    seg_t seg;
    uint64_t removed = 0;
    rp_err rc;

    server_req_reset_reply(req);
    rc = s_load_for_change(ap->s, txn, req, rl->segment_no, &seg);
    if (rc != RP_OK)
        return s_domain(rc);
    for (size_t i = 0; i < rl->n_line_nos; i++) {
        Rapport__V1__SegmentLine *l;
        rc = seg_line_load(ap->s, txn, req->arena, &seg, rl->line_nos[i], &l);
        if (rc == RP_ENOTFOUND) {
            bool dup = false;
            for (size_t j = 0; j < i; j++)
                dup |= rl->line_nos[j] == rl->line_nos[i];
            if (dup)
                continue;
            /* All or nothing: the transaction is not committed. */
            s_fail_no_line(req, rl->segment_no, rl->line_nos[i]);
            return RP_EABORTED;
        }
        if (rc != RP_OK)
            return rc;
        {
            uint8_t k[16];
            seg_line_key(seg.seg_id, l->line_no, k);
            rc = store_del(txn, ap->s->db[SEG_DB_LINES], k, 16, NULL, 0);
        }
        if (rc == RP_OK)
            rc = seg_contact_index_del(ap->s, txn, seg.seg_id, l->contact_no);
        if (rc != RP_OK)
            return rc;
        seg_totals(seg.h, l, -1);
        removed++;
    }
    rc = seg_save(ap->s, txn, &seg);
    if (rc != RP_OK)
        return rc;
    c = (Rapport__V1__Count *)wire_arena_message(req->arena, &rapport__v1__count__descriptor);
    c->count = removed;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_COUNT;
    seg_reply(req)->count = c;
    return server_dedup_record(req, txn);
}

void segments_remove_lines(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    apply_t ap = {s, req};
    rp_err rc;

    if (seg_request(req)->remove_lines->n_line_nos == 0) {
        server_req_fail(req, RP_EINVAL, "line_nos", "no line numbers given");
        return;
    }
    rc = store_write(s->store, s_apply_remove, &ap, NULL);
    if (rc != RP_OK && rc != RP_EABORTED)
        seg_fail_store(req, rc);
}

static rp_err s_take_line(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    s_page_t *pg = ctx;
    Rapport__V1__SegmentLines *out = pg->lines;
    rp_err rc =
        seg_line_decode(pg->req->arena, pg->seg.h->no, store_key_u64((const uint8_t *)k->data + 8),
                        v->data, v->len, &out->lines[out->n_lines]);

    if (rc == RP_OK) {
        out->n_lines++;
        *taken = true;
    }
    return rc;
}

void segments_list_lines(void *ctx, server_req_t *req)
{
    Rapport__V1__ListLines *ll = seg_request(req)->list_lines;
    s_page_t pg = {ctx, NULL, req, {0}, NULL, NULL};
    store_page_spec_t spec = {0};
    store_page_t page;
    uint8_t after[16];
    rp_err rc = store_txn_begin(pg.s->store, false, &pg.txn);

    if (rc == RP_OK)
        rc = seg_load(pg.s, pg.txn, req->arena, ll->segment_no, &pg.seg);
    if (rc == RP_ENOTFOUND) {
        store_txn_abort(pg.txn);
        seg_fail_no_segment(req, ll->segment_no);
        return;
    }
    /* The segment's lines are the keys that start with its id. */
    seg_line_key(rc == RP_OK ? pg.seg.seg_id : 0, ll->after, after);
    spec.after = after;
    spec.after_len = sizeof(after);
    spec.prefix_len = 8;
    spec.limit = ll->limit ? (ll->limit > LINES_MAX ? LINES_MAX : ll->limit) : LINES_DEFAULT;
    spec.take = s_take_line;
    spec.ctx = &pg;
    pg.lines = (Rapport__V1__SegmentLines *)wire_arena_message(
        req->arena, &rapport__v1__segment_lines__descriptor);
    pg.lines->lines = (Rapport__V1__SegmentLine **)wire_arena_ptrs(req->arena, spec.limit);
    if (rc == RP_OK)
        rc = store_page(pg.txn, pg.s->db[SEG_DB_LINES], &spec, &page);
    store_txn_abort(pg.txn);
    if (rc != RP_OK) {
        seg_fail_store(req, rc);
        return;
    }
    if (page.more)
        pg.lines->next_after = pg.lines->lines[pg.lines->n_lines - 1]->line_no;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_LINES;
    seg_reply(req)->lines = pg.lines;
}

/* ---- personalize a line ---- */

static bool s_line_fields_ok(server_req_t *req, const Rapport__V1__LineFields *f)
{
    if (!f) {
        server_req_fail(req, RP_EINVAL, "fields", "no line fields given");
        return false;
    }
    if (HAS(f, date) && !clock_date_valid(f->date)) {
        server_req_fail(req, RP_EINVAL, "fields.date", "%u is not a valid date", f->date);
        return false;
    }
    if (HAS(f, time_of_interaction) && f->time_of_interaction >= 86400) {
        server_req_fail(req, RP_EINVAL, "fields.time_of_interaction",
                        "time_of_interaction must be below 86400 seconds");
        return false;
    }
    if (HAS(f, cost_cents) && f->cost_cents < 0) {
        server_req_fail(req, RP_EINVAL, "fields.cost_cents", "Cost (LCY) must not be negative.");
        return false;
    }
    return true;
}

static rp_err s_apply_line(store_txn_t *txn, void *ctx)
{
    apply_lr_t *ap = ctx;
    server_req_t *req = ap->req;
    Rapport__V1__UpdateLine *ul = seg_request(req)->update_line;
    const Rapport__V1__LineFields *f = ul->fields;
    Rapport__V1__SegmentLine *l;
    seg_t seg;
    rp_err rc;

    server_req_reset_reply(req);
    rc = s_load_for_change(ap->s, txn, req, ul->segment_no, &seg);
    if (rc != RP_OK)
        return s_domain(rc);
    rc = seg_line_load(ap->s, txn, req->arena, &seg, ul->line_no, &l);
    if (rc == RP_ENOTFOUND) {
        s_fail_no_line(req, ul->segment_no, ul->line_no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    seg_totals(seg.h, l, -1);
    if (HAS(f, interaction_template_code)) {
        const Rapport__V1__InteractionTemplate *t =
            s_template(ap->lr, f->interaction_template_code);
        const Rapport__V1__Contact *c = s_contact(ap->lr, l->contact_no);
        l->interaction_template_code = f->interaction_template_code;
        l->personalized =
            strcmp(f->interaction_template_code, seg.h->interaction_template_code) != 0;
        if (t) {
            /* Re-derive the line from its own template. */
            l->interaction_group_code = t->interaction_group_code;
            l->cost_cents = t->unit_cost_cents;
            l->duration_min = t->unit_duration_min;
            l->information_flow = t->information_flow;
            l->initiated_by = t->initiated_by;
            l->campaign_target = t->campaign_target;
            l->campaign_response = t->campaign_response;
            if (t->campaign_no[0])
                l->campaign_no = t->campaign_no;
            l->language_code = c && seg_template_has_language(t, c->language_code)
                                   ? c->language_code
                                   : t->language_code;
            l->correspondence_type = seg_line_corr_type(seg.h, t, c);
        } else {
            l->interaction_group_code = wire_str("");
        }
    }
#define SET(field)                           \
    do {                                     \
        if (HAS(f, field)) {                 \
            l->field = f->field;             \
            s_add_pf(req->arena, l, #field); \
        }                                    \
    } while (0)
    SET(description);
    SET(subject);
    SET(language_code);
    SET(cost_cents);
    SET(duration_min);
    SET(evaluation);
    SET(salesperson_code);
    SET(date);
    SET(time_of_interaction);
    SET(information_flow);
    SET(initiated_by);
    SET(correspondence_type);
#undef SET
    seg_totals(seg.h, l, +1);
    rc = seg_line_save(ap->s, txn, seg.seg_id, l, 0);
    if (rc == RP_OK)
        rc = seg_save(ap->s, txn, &seg);
    if (rc != RP_OK)
        return rc;
    seg_reply(req)->result_case = RAPPORT__V1__SEGMENT_REPLY__RESULT_LINE;
    seg_reply(req)->line = l;
    return server_dedup_record(req, txn);
}

void segments_update_line(void *ctx, server_req_t *req)
{
    segsrv_t *s = ctx;
    Rapport__V1__UpdateLine *ul = seg_request(req)->update_line;
    const Rapport__V1__LineFields *f = ul->fields;
    Rapport__V1__Lookup *lk;
    Rapport__V1__SegmentLine *l;
    store_txn_t *txn = NULL;
    seg_t seg;
    rp_err rc;

    if (!s_line_fields_ok(req, f))
        return;
    lk = s_lookup_new(req);
    if (HAS(f, interaction_template_code) && f->interaction_template_code[0]) {
        /* Re-deriving needs the template and the line's contact. */
        rc = store_txn_begin(s->store, false, &txn);
        if (rc == RP_OK)
            rc = seg_load(s, txn, req->arena, ul->segment_no, &seg);
        if (rc == RP_OK)
            rc = seg_line_load(s, txn, req->arena, &seg, ul->line_no, &l);
        store_txn_abort(txn);
        if (rc == RP_ENOTFOUND) {
            /* The transaction reports which one is missing. */
            s_lookup_then_write(s, req, NULL, s_apply_line);
            return;
        }
        if (rc != RP_OK) {
            seg_fail_store(req, rc);
            return;
        }
        s_lookup_one(req->arena, &lk->template_codes, &lk->n_template_codes,
                     f->interaction_template_code);
        s_lookup_one(req->arena, &lk->contact_nos, &lk->n_contact_nos, l->contact_no);
    }
    if (HAS(f, salesperson_code))
        s_lookup_one(req->arena, &lk->salesperson_codes, &lk->n_salesperson_codes,
                     f->salesperson_code);
    if (!lk->n_template_codes && !lk->n_contact_nos && !lk->n_salesperson_codes)
        lk = NULL;
    s_lookup_then_write(s, req, lk, s_apply_line);
}
