/* logged: logged segments and campaign entries, the records a segment
 * log leaves (intake.c writes them), and what later commands do to them:
 * read, list, cancel and delete (docs/domain.md section 8), and the counts
 * they keep when entries go. A campaign entry of a single interaction
 * (register no. 0) is made here too. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vec.h"
#include "writer.h"

/* Append a number to a vector of uint64_t. */
static rp_err s_vec_add(vec_t *v, uint64_t no)
{
    uint64_t *slot = vec_push(v, 1);
    if (!slot)
        return RP_ENOMEM;
    *slot = no;
    return RP_OK;
}

static void s_fail_no(server_req_t *req, const char *table, uint64_t no)
{
    server_req_fail(req, RP_ENOTFOUND, "entry_no",
                    "The %s does not exist. Identification fields and values: Entry No.='%llu'",
                    table, (unsigned long long)no);
}

/* ---- single interactions ---- */

rp_err logged_single_campaign_entry(writer_txn_t *t, Rapport__V1__Entry *e)
{
    Rapport__V1__CampaignEntry ce = RAPPORT__V1__CAMPAIGN_ENTRY__INIT;
    uint8_t cek[8], range[16];
    rp_err rc = writer_take(t, "campaign_entry", 1, &ce.entry_no);

    if (rc != RP_OK)
        return rc;
    ce.campaign_no = e->campaign_no;
    ce.description = wire_str("Interactions");
    ce.date = e->date;
    ce.user_id = e->user_id;
    ce.segment_no = wire_str("");
    ce.register_no = 0;
    ce.salesperson_code = e->salesperson_code;
    ce.no_of_entries = 1;
    rc = writer_put_record(t, WRITER_DB_CAMPAIGN_ENTRIES, ce.entry_no, &ce.base, 0);
    if (rc != RP_OK)
        return rc;
    store_u64_key(ce.entry_no, cek);
    store_u64_key(e->entry_no, range);
    store_u64_key(e->entry_no, range + 8);
    rc = store_put(t->txn, t->w->db[WRITER_DB_CE_RANGE], cek, 8, range, 16, 0);
    if (rc != RP_OK)
        return rc;
    e->campaign_entry_no = ce.entry_no;
    return RP_OK;
}

/* ---- derived counts ---- */

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lower a count of the records in `db` by how often each key occurs in
 * nos[0..n). */
static rp_err s_counts_drop(writer_txn_t *t, int db, uint64_t *nos, size_t n)
{
    rp_err rc = RP_OK;

    qsort(nos, n, sizeof(*nos), s_cmp_u64);
    for (size_t i = 0, j; i < n && rc == RP_OK; i = j) {
        ProtobufCMessage *m;
        uint64_t *count;
        for (j = i; j < n && nos[j] == nos[i]; j++)
            ;
        if (nos[i] == 0)
            continue;
        rc = writer_get_record(t->txn, t->w, t->arena, db, nos[i],
                               db == WRITER_DB_LOGGED_SEGMENTS
                                   ? &rapport__v1__logged_segment__descriptor
                                   : &rapport__v1__campaign_entry__descriptor,
                               &m);
        if (rc == RP_ENOTFOUND) {
            rc = RP_OK;
            continue;
        }
        if (rc != RP_OK)
            break;
        count = db == WRITER_DB_LOGGED_SEGMENTS
                    ? &((Rapport__V1__LoggedSegment *)m)->no_of_interactions
                    : &((Rapport__V1__CampaignEntry *)m)->no_of_entries;
        *count = *count > j - i ? *count - (j - i) : 0;
        rc = writer_put_record(t, db, nos[i], m, 0);
    }
    return rc;
}

rp_err logged_entries_deleted(writer_txn_t *t, uint64_t *lse_nos, uint64_t *ce_nos, size_t n)
{
    rp_err rc = s_counts_drop(t, WRITER_DB_LOGGED_SEGMENTS, lse_nos, n);
    return rc == RP_OK ? s_counts_drop(t, WRITER_DB_CAMPAIGN_ENTRIES, ce_nos, n) : rc;
}

/* ---- logged segments ---- */

/* Whether a logged segment or campaign entry record is visible: its log is
 * neither in flight nor being indexed (a campaign entry goes with its
 * logged segment, its register no.; a single interaction's has none). */
static bool s_record_visible(const writer_t *w, int db, const ProtobufCMessage *m)
{
    if (db == WRITER_DB_LOGGED_SEGMENTS)
        return writer_lse_visible(w, ((const Rapport__V1__LoggedSegment *)m)->entry_no);
    if (db == WRITER_DB_CAMPAIGN_ENTRIES)
        return writer_lse_visible(w, ((const Rapport__V1__CampaignEntry *)m)->register_no);
    return true;
}

/* A visible record by its no.; RP_ENOTFOUND also for an invisible one. */
static rp_err s_get_visible(store_txn_t *txn, writer_t *w, wire_arena_t *a, int db, uint64_t no,
                            ProtobufCMessage **ret)
{
    ProtobufCMessage *m;
    rp_err rc = writer_get_record(txn, w, a, db, no,
                                  db == WRITER_DB_LOGGED_SEGMENTS
                                      ? &rapport__v1__logged_segment__descriptor
                                      : &rapport__v1__campaign_entry__descriptor,
                                  &m);
    if (rc == RP_OK && !s_record_visible(w, db, m))
        rc = RP_ENOTFOUND;
    if (rc == RP_OK)
        *ret = m;
    return rc;
}

rp_err logged_get(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    uint64_t no = writer_request(req)->get_logged_segment->entry_no;
    Rapport__V1__LoggedSegment *ls;
    rp_err rc =
        s_get_visible(txn, w, req->arena, WRITER_DB_LOGGED_SEGMENTS, no, (ProtobufCMessage **)&ls);

    if (rc == RP_ENOTFOUND) {
        s_fail_no(req, "Logged Segment", no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENT;
    writer_reply(req)->logged_segment = ls;
    return RP_OK;
}

/* Page through a u64-keyed DBI of records: keys > after, at most limit,
 * keeping the visible ones that `keep` accepts. */
typedef bool (*keep_fn)(const ProtobufCMessage *m, const void *arg);

typedef struct {
    writer_t *w;
    wire_arena_t *a;
    int db;
    const ProtobufCMessageDescriptor *desc;
    keep_fn keep;
    const void *arg;
    ProtobufCMessage **out;
    size_t n;
} s_page_t;

static rp_err s_take_record(void *ctx, const store_val_t *k, const store_val_t *v, bool *taken)
{
    s_page_t *pg = ctx;
    ProtobufCMessage *m;
    rp_err rc = wire_decode_trusted(pg->a, pg->desc, v->data, v->len, &m);

    (void)k;
    if (rc != RP_OK)
        return rc;
    if ((pg->keep && !pg->keep(m, pg->arg)) || !s_record_visible(pg->w, pg->db, m))
        return RP_OK;
    pg->out[pg->n++] = m;
    *taken = true;
    return RP_OK;
}

static rp_err s_page(writer_t *w, store_txn_t *txn, wire_arena_t *a, int db,
                     const ProtobufCMessageDescriptor *desc, uint64_t after, uint32_t limit,
                     keep_fn keep, const void *arg, ProtobufCMessage ***ret, size_t *ret_n,
                     uint64_t *ret_next)
{
    s_page_t pg = {w, a, db, desc, keep, arg, NULL, 0};
    store_page_spec_t spec = {0};
    store_page_t page;
    uint8_t key[8];
    rp_err rc;

    store_u64_key(after, key);
    spec.after = key;
    spec.after_len = sizeof(key);
    spec.limit = limit ? (limit > 1000 ? 1000 : limit) : 100;
    spec.scan_max = 100000;
    spec.take = s_take_record;
    spec.ctx = &pg;
    pg.out = (ProtobufCMessage **)wire_arena_ptrs(a, spec.limit);
    rc = store_page(txn, w->db[db], &spec, &page);
    if (rc != RP_OK)
        return rc;
    *ret = pg.out;
    *ret_n = pg.n;
    *ret_next = page.more && page.last_len == 8 ? store_key_u64(page.last) : 0;
    return RP_OK;
}

static bool s_keep_segment(const ProtobufCMessage *m, const void *arg)
{
    const char *no = arg;
    return !*no || strcmp(((const Rapport__V1__LoggedSegment *)m)->segment_no, no) == 0;
}

rp_err logged_list(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__ListLoggedSegments *l = writer_request(req)->list_logged_segments;
    Rapport__V1__LoggedSegments *out = (Rapport__V1__LoggedSegments *)wire_arena_message(
        req->arena, &rapport__v1__logged_segments__descriptor);
    rp_err rc = s_page(w, txn, req->arena, WRITER_DB_LOGGED_SEGMENTS,
                       &rapport__v1__logged_segment__descriptor, l->after, l->limit, s_keep_segment,
                       l->segment_no, (ProtobufCMessage ***)&out->logged_segments,
                       &out->n_logged_segments, &out->next_after);
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENTS;
    writer_reply(req)->logged_segments = out;
    return RP_OK;
}

typedef struct {
    uint64_t lse, ce; /* the entries of logged segment lse, or with lse 0 of campaign entry ce */
    bool canceled;
    vec_t *nos;
} s_cancel_t;

static rp_err s_entry_cancel(writer_txn_t *t, Rapport__V1__Entry *e, void *ctx)
{
    s_cancel_t *c = ctx;
    Rapport__V1__Entry copy;
    rp_err rc;

    if ((c->lse && e->logged_segment_entry_no != c->lse) ||
        (c->ce && e->campaign_entry_no != c->ce))
        return RP_OK;
    if (e->canceled == (protobuf_c_boolean)c->canceled || e->postponed)
        return RP_OK;
    copy = *e;
    copy.canceled = c->canceled;
    rc = writer_entry_store(t, &copy, e, true);
    return rc == RP_OK && c->nos ? s_vec_add(c->nos, e->entry_no) : rc;
}

/* Set canceled on the entries in [first, last] that belong to `lse` (or,
 * with lse 0, to campaign entry `ce`), keeping statistics right. The
 * changed entries' numbers are appended to `nos` unless it is NULL. */
static rp_err s_cancel_range(writer_txn_t *t, uint64_t first, uint64_t last, uint64_t lse,
                             uint64_t ce, bool canceled, vec_t *nos)
{
    s_cancel_t c = {lse, ce, canceled, nos};
    return writer_each_entry(t, first, last, s_entry_cancel, &c);
}

/* Append the campaign entry numbers of a logged segment to `ces`. */
static rp_err s_ces_of(writer_txn_t *t, uint64_t lse, vec_t *ces)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t key[8];
    rp_err rc;

    store_u64_key(lse, key);
    rc = store_cursor_open(t->txn, t->w->db[WRITER_DB_CE_BY_LSE], &cur);
    if (rc != RP_OK)
        return rc;
    k.data = key;
    k.len = 8;
    for (rc = store_cursor_get(cur, STORE_SET, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT_DUP, &k, &v)) {
        rc = s_vec_add(ces, store_key_u64(v.data));
        if (rc != RP_OK)
            break;
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

static rp_err s_set_ce_flag(writer_txn_t *t, uint64_t ce_no, bool canceled, uint64_t register_no,
                            bool set_register)
{
    Rapport__V1__CampaignEntry *ce;
    rp_err rc =
        writer_get_record(t->txn, t->w, t->arena, WRITER_DB_CAMPAIGN_ENTRIES, ce_no,
                          &rapport__v1__campaign_entry__descriptor, (ProtobufCMessage **)&ce);
    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc != RP_OK)
        return rc;
    if (set_register)
        ce->register_no = register_no;
    else
        ce->canceled = canceled;
    return writer_put_record(t, WRITER_DB_CAMPAIGN_ENTRIES, ce_no, &ce->base, 0);
}

rp_err logged_set_canceled(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SetLoggedSegmentCanceled *sc = writer_request(req)->set_logged_segment_canceled;
    Rapport__V1__LoggedSegment *ls;
    Rapport__V1__LoggedSegmentNos body = RAPPORT__V1__LOGGED_SEGMENT_NOS__INIT;
    vec_t ces = VEC_INIT(sizeof(uint64_t), 0);
    rp_err rc;

    rc = s_get_visible(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS, sc->entry_no,
                       (ProtobufCMessage **)&ls);
    if (rc == RP_ENOTFOUND) {
        s_fail_no(req, "Logged Segment", sc->entry_no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENT;
    writer_reply(req)->logged_segment = ls;
    if (ls->canceled == (protobuf_c_boolean)sc->canceled)
        return RP_OK;
    ls->canceled = sc->canceled;
    rc = writer_put_record(t, WRITER_DB_LOGGED_SEGMENTS, ls->entry_no, &ls->base, 0);
    if (rc == RP_OK)
        rc = s_cancel_range(t, ls->first_entry_no, ls->last_entry_no, ls->entry_no, 0, sc->canceled,
                            NULL);
    if (rc == RP_OK)
        rc = s_ces_of(t, ls->entry_no, &ces);
    for (size_t i = 0; rc == RP_OK && i < ces.n; i++)
        rc = s_set_ce_flag(t, ((uint64_t *)ces.data)[i], sc->canceled, 0, false);
    if (rc == RP_OK) {
        body.logged_segment_nos = &ls->entry_no;
        body.n_logged_segment_nos = 1;
        body.campaign_entry_nos = ces.data;
        body.n_campaign_entry_nos = ces.n;
        rc =
            events_append(t, sc->canceled ? "logged_segment.canceled" : "logged_segment.uncanceled",
                          RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS, &body.base);
    }
    vec_free(&ces);
    return rc;
}

static rp_err s_entry_unlink(writer_txn_t *t, Rapport__V1__Entry *e, void *ctx)
{
    uint64_t lse = *(uint64_t *)ctx;
    Rapport__V1__Entry copy;

    if (e->logged_segment_entry_no != lse)
        return RP_OK;
    copy = *e;
    copy.logged_segment_entry_no = 0;
    return writer_entry_store(t, &copy, e, true);
}

/* Zero the logged segment link of a deleted logged segment's entries. */
static rp_err s_unlink_range(writer_txn_t *t, const Rapport__V1__LoggedSegment *ls)
{
    uint64_t lse = ls->entry_no;
    return writer_each_entry(t, ls->first_entry_no, ls->last_entry_no, s_entry_unlink, &lse);
}

/* Delete one canceled logged segment: its entries lose their link to it,
 * its campaign entries theirs, and its record and indexes go. */
static rp_err s_delete_logged(writer_txn_t *t, uint64_t entry_no, vec_t *ces)
{
    Rapport__V1__LoggedSegment *ls;
    uint8_t key[8];
    store_val_t cur_lse;
    rp_err rc =
        writer_get_record(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS, entry_no,
                          &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);

    vec_clear(ces);
    if (rc == RP_OK)
        rc = s_unlink_range(t, ls);
    if (rc == RP_OK)
        rc = s_ces_of(t, ls->entry_no, ces);
    for (size_t j = 0; rc == RP_OK && j < ces->n; j++)
        rc = s_set_ce_flag(t, ((uint64_t *)ces->data)[j], false, 0, true);
    if (rc != RP_OK)
        return rc;
    store_u64_key(ls->entry_no, key);
    if (ces->n) {
        rc = store_del(t->txn, t->w->db[WRITER_DB_CE_BY_LSE], key, 8, NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK &&
        store_get(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls->segment_no,
                  strlen(ls->segment_no), &cur_lse) == RP_OK &&
        cur_lse.len == 8 && store_key_u64(cur_lse.data) == ls->entry_no)
        rc = store_del(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls->segment_no,
                       strlen(ls->segment_no), NULL, 0);
    if (rc == RP_OK)
        rc = changes_record_deleted(t, WRITER_DB_LOGGED_SEGMENTS, ls->entry_no, &ls->base);
    if (rc == RP_OK)
        rc = store_del(t->txn, t->w->db[WRITER_DB_LOGGED_SEGMENTS], key, 8, NULL, 0);
    return rc;
}

rp_err logged_delete_canceled(writer_txn_t *t, server_req_t *req)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    vec_t dead = VEC_INIT(sizeof(uint64_t), 0), ces = VEC_INIT(sizeof(uint64_t), 0);
    rp_err rc = store_cursor_open(t->txn, t->w->db[WRITER_DB_LOGGED_SEGMENTS], &cur);

    if (rc != RP_OK)
        return rc;
    /* Collect first: the loop below writes to the same DBI. */
    for (rc = store_cursor_get(cur, STORE_FIRST, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        Rapport__V1__LoggedSegment *ls;
        rc = wire_decode_trusted(t->arena, &rapport__v1__logged_segment__descriptor, v.data, v.len,
                                 (ProtobufCMessage **)&ls);
        if (rc == RP_OK && ls->canceled)
            rc = s_vec_add(&dead, ls->entry_no);
        if (rc != RP_OK)
            break;
    }
    store_cursor_close(cur);
    rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    for (size_t i = 0; rc == RP_OK && i < dead.n; i++)
        rc = s_delete_logged(t, ((uint64_t *)dead.data)[i], &ces);
    if (rc == RP_OK && dead.n) {
        Rapport__V1__LoggedSegmentNos body = RAPPORT__V1__LOGGED_SEGMENT_NOS__INIT;
        body.logged_segment_nos = dead.data;
        body.n_logged_segment_nos = dead.n;
        rc = events_append(t, "logged_segments.deleted", RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS,
                           &body.base);
    }
    if (rc == RP_OK)
        writer_reply_count(req, dead.n);
    vec_free(&dead);
    vec_free(&ces);
    return rc;
}

/* ---- campaign entries ---- */

static bool s_keep_campaign(const ProtobufCMessage *m, const void *arg)
{
    const char *no = arg;
    return !*no || strcmp(((const Rapport__V1__CampaignEntry *)m)->campaign_no, no) == 0;
}

rp_err logged_list_campaign_entries(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__ListCampaignEntries *l = writer_request(req)->list_campaign_entries;
    Rapport__V1__CampaignEntries *out = (Rapport__V1__CampaignEntries *)wire_arena_message(
        req->arena, &rapport__v1__campaign_entries__descriptor);
    rp_err rc = s_page(
        w, txn, req->arena, WRITER_DB_CAMPAIGN_ENTRIES, &rapport__v1__campaign_entry__descriptor,
        l->after, l->limit, s_keep_campaign, l->campaign_no,
        (ProtobufCMessage ***)&out->campaign_entries, &out->n_campaign_entries, &out->next_after);
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_CAMPAIGN_ENTRIES;
    writer_reply(req)->campaign_entries = out;
    return RP_OK;
}

static rp_err s_ce_range(writer_txn_t *t, uint64_t ce, uint64_t *first, uint64_t *last)
{
    uint8_t k[8];
    store_val_t v;
    rp_err rc;

    store_u64_key(ce, k);
    rc = store_get(t->txn, t->w->db[WRITER_DB_CE_RANGE], k, 8, &v);
    if (rc == RP_ENOTFOUND) {
        *first = 1;
        *last = 0;
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    if (v.len != 16)
        return RP_ECORRUPT;
    *first = store_key_u64(v.data);
    *last = store_key_u64((const uint8_t *)v.data + 8);
    return RP_OK;
}

rp_err logged_set_campaign_entry_canceled(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SetCampaignEntryCanceled *sc = writer_request(req)->set_campaign_entry_canceled;
    Rapport__V1__CampaignEntry *ce;
    uint64_t first, last;
    vec_t nos = VEC_INIT(sizeof(uint64_t), 0);
    rp_err rc;

    rc = s_get_visible(t->txn, t->w, t->arena, WRITER_DB_CAMPAIGN_ENTRIES, sc->entry_no,
                       (ProtobufCMessage **)&ce);
    if (rc == RP_ENOTFOUND) {
        s_fail_no(req, "Campaign Entry", sc->entry_no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_CAMPAIGN_ENTRY;
    writer_reply(req)->campaign_entry = ce;
    if (ce->canceled == (protobuf_c_boolean)sc->canceled)
        return RP_OK;
    if (!sc->canceled && ce->register_no) {
        Rapport__V1__LoggedSegment *ls;
        rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS, ce->register_no,
                               &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);
        if (rc == RP_OK && ls->canceled) {
            server_req_fail(req, RP_EPRECOND, "entry_no",
                            "Canceled must be equal to 'No' in Logged Segment: Entry No.=%llu.",
                            (unsigned long long)ls->entry_no);
            return RP_OK;
        }
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    ce->canceled = sc->canceled;
    rc = writer_put_record(t, WRITER_DB_CAMPAIGN_ENTRIES, ce->entry_no, &ce->base, 0);
    if (rc == RP_OK)
        rc = s_ce_range(t, ce->entry_no, &first, &last);
    if (rc == RP_OK)
        rc = s_cancel_range(t, first, last, 0, ce->entry_no, sc->canceled, &nos);
    if (rc == RP_OK)
        rc = events_append_entry_nos(t, sc->canceled ? "entries.canceled" : "entries.uncanceled",
                                     nos.data, nos.n, &ce->entry_no, 1, NULL, 0);
    vec_free(&nos);
    return rc;
}

typedef struct {
    uint64_t ce;
    vec_t *nos, *lse_nos; /* the deleted entries' numbers, and their logged segments' */
} s_ce_delete_t;

static rp_err s_entry_delete_of_ce(writer_txn_t *t, Rapport__V1__Entry *e, void *ctx)
{
    s_ce_delete_t *d = ctx;
    rp_err rc = RP_OK;

    if (e->campaign_entry_no != d->ce)
        return RP_OK;
    if (!e->canceled && !e->postponed)
        rc = writer_stats_apply(t, e, -1);
    if (rc == RP_OK)
        rc = s_vec_add(d->nos, e->entry_no);
    if (rc == RP_OK)
        rc = s_vec_add(d->lse_nos, e->logged_segment_entry_no);
    if (rc == RP_OK)
        rc = changes_entry_deleted(t, e); /* the change stream */
    return rc == RP_OK ? writer_entry_delete(t, e) : rc;
}

/* Delete one canceled campaign entry with its entries (their numbers and
 * their logged segments' go to nos and lse_nos); its logged segment stays,
 * with one campaign entry less. */
static rp_err s_delete_campaign_entry(writer_txn_t *t, const Rapport__V1__CampaignEntry *ce,
                                      vec_t *nos, vec_t *lse_nos)
{
    s_ce_delete_t d = {ce->entry_no, nos, lse_nos};
    uint64_t first, last;
    uint8_t cek[8], lsek[8];
    rp_err rc = s_ce_range(t, ce->entry_no, &first, &last);

    if (rc == RP_OK)
        rc = writer_each_entry(t, first, last, s_entry_delete_of_ce, &d);
    if (rc == RP_OK && ce->register_no) {
        Rapport__V1__LoggedSegment *ls;
        rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS, ce->register_no,
                               &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);
        if (rc == RP_OK && ls->no_of_campaign_entries > 0) {
            ls->no_of_campaign_entries--;
            rc = writer_put_record(t, WRITER_DB_LOGGED_SEGMENTS, ls->entry_no, &ls->base, 0);
        }
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    store_u64_key(ce->entry_no, cek);
    if (rc == RP_OK)
        rc = changes_record_deleted(t, WRITER_DB_CAMPAIGN_ENTRIES, ce->entry_no, &ce->base);
    if (rc == RP_OK)
        rc = store_del(t->txn, t->w->db[WRITER_DB_CAMPAIGN_ENTRIES], cek, 8, NULL, 0);
    if (rc == RP_OK) {
        rc = store_del(t->txn, t->w->db[WRITER_DB_CE_RANGE], cek, 8, NULL, 0);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    if (rc == RP_OK && ce->register_no) {
        store_u64_key(ce->register_no, lsek);
        rc = store_del(t->txn, t->w->db[WRITER_DB_CE_BY_LSE], lsek, 8, cek, 8);
        rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    return rc;
}

rp_err logged_delete_canceled_campaign_entries(writer_txn_t *t, server_req_t *req)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    vec_t dead = VEC_INIT(sizeof(uint64_t), 0), nos = VEC_INIT(sizeof(uint64_t), 0),
          lse_nos = VEC_INIT(sizeof(uint64_t), 0);
    wire_arena_t *a = wire_arena_new();
    rp_err rc =
        a ? store_cursor_open(t->txn, t->w->db[WRITER_DB_CAMPAIGN_ENTRIES], &cur) : RP_ENOMEM;

    /* Collect first: the loop below writes to the same DBI. */
    for (rc = rc == RP_OK ? store_cursor_get(cur, STORE_FIRST, &k, &v) : rc; rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        Rapport__V1__CampaignEntry *ce;
        rc = wire_decode_trusted(a, &rapport__v1__campaign_entry__descriptor, v.data, v.len,
                                 (ProtobufCMessage **)&ce);
        if (rc == RP_OK && ce->canceled)
            rc = s_vec_add(&dead, ce->entry_no);
        wire_arena_reset(a);
        if (rc != RP_OK)
            break;
    }
    store_cursor_close(cur);
    rc = rc == RP_ENOTFOUND ? RP_OK : rc;
    for (size_t i = 0; rc == RP_OK && i < dead.n; i++) {
        Rapport__V1__CampaignEntry *ce;
        rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_CAMPAIGN_ENTRIES,
                               ((uint64_t *)dead.data)[i], &rapport__v1__campaign_entry__descriptor,
                               (ProtobufCMessage **)&ce);
        if (rc == RP_OK)
            rc = s_delete_campaign_entry(t, ce, &nos, &lse_nos);
    }
    /* Their campaign entries are gone; their logged segments stay. */
    if (rc == RP_OK && lse_nos.n)
        rc = s_counts_drop(t, WRITER_DB_LOGGED_SEGMENTS, lse_nos.data, lse_nos.n);
    if (rc == RP_OK && dead.n)
        rc = events_append_entry_nos(t, "entries.deleted", nos.data, nos.n, dead.data, dead.n, NULL,
                                     0);
    if (rc == RP_OK)
        writer_reply_count(req, dead.n);
    wire_arena_destroy(&a);
    vec_free(&dead);
    vec_free(&nos);
    vec_free(&lse_nos);
    return rc;
}
