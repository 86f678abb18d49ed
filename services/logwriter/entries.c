/* entries: interaction log entries in the writer's store.
 *
 * An entry is its Entry encoding under its big-endian number; the contact
 * index, the postponed set and the statistics sums are written in the same
 * transaction. Statistics are kept per (template or group, date) so that a
 * date range is a short range scan, and count only entries that are
 * neither canceled nor postponed (docs/domain.md sections 2 and 5). */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "writer.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000
#define SCAN_BUDGET  100000

/* Statistics key: kind ('T' template, 'G' group), code padded to 10
 * bytes, date big-endian. */
#define STATS_KEY_LEN WRITER_STATS_KEY_LEN

bool writer_entry_visible(const writer_t *w, uint64_t entry_no)
{
    for (const writer_range_t *r = w->pending; r; r = r->next)
        if (entry_no >= r->first && entry_no <= r->last)
            return false;
    return true;
}

bool writer_lse_visible(const writer_t *w, uint64_t lse)
{
    for (const writer_range_t *r = w->pending; r; r = r->next)
        if (r->lse == lse)
            return false;
    return true;
}

writer_range_t *writer_range_of_log(const writer_t *w, const ProtobufCBinaryData *log_id)
{
    for (writer_range_t *r = w->pending; r; r = r->next)
        if (r->log_id_len == log_id->len && memcmp(r->log_id, log_id->data, log_id->len) == 0)
            return r;
    return NULL;
}

void writer_fail_no_entry(server_req_t *req, uint64_t entry_no)
{
    server_req_fail(req, RP_ENOTFOUND, "entry_no",
                    "The Interaction Log Entry does not exist. Identification fields and values: "
                    "Entry No.='%llu'",
                    (unsigned long long)entry_no);
}

static void s_stats_key(char kind, const char *code, uint32_t date, uint8_t out[STATS_KEY_LEN])
{
    size_t n = strlen(code);
    memset(out, 0, STATS_KEY_LEN);
    out[0] = (uint8_t)kind;
    memcpy(out + 1, code, n > 10 ? 10 : n);
    out[11] = (uint8_t)(date >> 24);
    out[12] = (uint8_t)(date >> 16);
    out[13] = (uint8_t)(date >> 8);
    out[14] = (uint8_t)date;
}

static rp_err s_stats_add(store_txn_t *txn, store_dbi_t dbi, const uint8_t *key, size_t klen,
                          const writer_stats_t *delta, int sign)
{
    store_val_t v;
    writer_stats_t s = {0, 0, 0};
    rp_err rc = store_get(txn, dbi, key, klen, &v);

    if (rc == RP_OK && v.len == sizeof(s))
        memcpy(&s, v.data, sizeof(s));
    else if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    if (sign > 0) {
        s.count += delta->count;
        s.cost += delta->cost;
        s.duration += delta->duration;
    } else {
        s.count -= delta->count;
        s.cost -= delta->cost;
        s.duration -= delta->duration;
    }
    if (s.count == 0) {
        rc = store_del(txn, dbi, key, klen, NULL, 0);
        return rc == RP_ENOTFOUND ? RP_OK : rc;
    }
    return store_put(txn, dbi, key, klen, &s, sizeof(s), 0);
}

rp_err writer_stats_apply_to(store_txn_t *txn, store_dbi_t dbi, const uint8_t *prefix, size_t plen,
                             const Rapport__V1__Entry *e, int sign)
{
    uint8_t key[WRITER_STATS_PREFIX_MAX + STATS_KEY_LEN];
    writer_stats_t one = {1, e->cost_cents, e->duration_min};
    rp_err rc = RP_OK;

    if (plen > WRITER_STATS_PREFIX_MAX)
        return RP_EINVAL;
    if (plen)
        memcpy(key, prefix, plen);
    if (e->interaction_template_code[0]) {
        s_stats_key('T', e->interaction_template_code, e->date, key + plen);
        rc = s_stats_add(txn, dbi, key, plen + STATS_KEY_LEN, &one, sign);
    }
    if (rc == RP_OK && e->interaction_group_code[0]) {
        s_stats_key('G', e->interaction_group_code, e->date, key + plen);
        rc = s_stats_add(txn, dbi, key, plen + STATS_KEY_LEN, &one, sign);
    }
    return rc;
}

rp_err writer_stats_apply(writer_txn_t *t, const Rapport__V1__Entry *e, int sign)
{
    return writer_stats_apply_to(t->txn, t->w->db[WRITER_DB_STATS], NULL, 0, e, sign);
}

rp_err writer_stats_merge(writer_txn_t *t, const uint8_t *key, size_t klen,
                          const writer_stats_t *delta)
{
    return s_stats_add(t->txn, t->w->db[WRITER_DB_STATS], key, klen, delta, +1);
}

static bool s_counts(const Rapport__V1__Entry *e)
{
    return e && !e->canceled && !e->postponed;
}

rp_err writer_entry_store(writer_txn_t *t, const Rapport__V1__Entry *e,
                          const Rapport__V1__Entry *old, bool count_stats)
{
    writer_t *w = t->w;
    uint8_t k[8];
    unsigned flags = 0;
    rp_err rc;

    if (e->entry_no > t->max_entry_key) {
        flags = STORE_PUT_APPEND;
        t->max_entry_key = e->entry_no;
    }
    rc = writer_put_record(t, WRITER_DB_ENTRIES, e->entry_no, &e->base, flags);
    if (rc != RP_OK)
        return rc;
    store_u64_key(e->entry_no, k);
    if (!old || strcmp(old->contact_no, e->contact_no) != 0) {
        if (old && old->contact_no[0]) {
            rc = store_del(t->txn, w->db[WRITER_DB_BY_CONTACT], old->contact_no,
                           strlen(old->contact_no), k, 8);
            if (rc != RP_OK && rc != RP_ENOTFOUND)
                return rc;
        }
        if (e->contact_no[0]) {
            rc = store_put(t->txn, w->db[WRITER_DB_BY_CONTACT], e->contact_no,
                           strlen(e->contact_no), k, 8, 0);
            if (rc != RP_OK && rc != RP_EEXIST)
                return rc;
        }
    }
    if (e->postponed && !(old && old->postponed)) {
        rc = store_put(t->txn, w->db[WRITER_DB_POSTPONED], k, 8, "", 0, 0);
        if (rc != RP_OK)
            return rc;
    } else if (!e->postponed && old && old->postponed) {
        rc = store_del(t->txn, w->db[WRITER_DB_POSTPONED], k, 8, NULL, 0);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    if (!count_stats)
        return RP_OK;
    if (s_counts(old)) {
        rc = writer_stats_apply(t, old, -1);
        if (rc != RP_OK)
            return rc;
    }
    if (s_counts(e))
        rc = writer_stats_apply(t, e, +1);
    return rc;
}

rp_err writer_entry_delete(writer_txn_t *t, const Rapport__V1__Entry *e)
{
    writer_t *w = t->w;
    uint8_t k[8];
    rp_err rc;

    store_u64_key(e->entry_no, k);
    rc = store_del(t->txn, w->db[WRITER_DB_ENTRIES], k, 8, NULL, 0);
    if (rc != RP_OK)
        return rc;
    if (e->contact_no[0]) {
        rc = store_del(t->txn, w->db[WRITER_DB_BY_CONTACT], e->contact_no, strlen(e->contact_no), k,
                       8);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    if (e->postponed) {
        rc = store_del(t->txn, w->db[WRITER_DB_POSTPONED], k, 8, NULL, 0);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    return RP_OK;
}

rp_err writer_each_entry(writer_txn_t *t, uint64_t first, uint64_t last, writer_entry_fn fn,
                         void *ctx)
{
    wire_arena_t *a = wire_arena_new();
    rp_err rc = a ? RP_OK : RP_ENOMEM;

    for (uint64_t no = first; rc == RP_OK && no && no <= last; no++) {
        Rapport__V1__Entry *e;
        if ((no - first) % 1024 == 0)
            wire_arena_reset(a);
        rc = writer_get_record(t->txn, t->w, a, WRITER_DB_ENTRIES, no,
                               &rapport__v1__entry__descriptor, (ProtobufCMessage **)&e);
        if (rc == RP_OK)
            rc = fn(t, e, ctx);
        else if (rc == RP_ENOTFOUND)
            rc = RP_OK;
        if (no == UINT64_MAX)
            break;
    }
    wire_arena_destroy(&a);
    return rc;
}

/* Load a visible entry into the arena; RP_ENOTFOUND when absent. */
static rp_err s_load(writer_t *w, store_txn_t *txn, wire_arena_t *a, uint64_t no,
                     Rapport__V1__Entry **ret)
{
    if (!writer_entry_visible(w, no))
        return RP_ENOTFOUND;
    return writer_get_record(txn, w, a, WRITER_DB_ENTRIES, no, &rapport__v1__entry__descriptor,
                             (ProtobufCMessage **)ret);
}

rp_err entries_write(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__WriteEntry *we = writer_request(req)->write_entry;
    Rapport__V1__Entry *e, *old = NULL;
    const char *type;
    rp_err rc;

    if (!we->entry) {
        server_req_fail(req, RP_EINVAL, "write_entry.entry", "entry is required");
        return RP_OK;
    }
    /* Work on a copy: a replayed transaction must start from the request. */
    e = wire_arena_alloc(t->arena, sizeof(*e));
    *e = *we->entry;
    if (!e->contact_no[0]) {
        server_req_fail(req, RP_EINVAL, "write_entry.entry.contact_no",
                        "You must select a contact to interact with.");
        return RP_OK;
    }
    if (!clock_date_valid(e->date)) {
        server_req_fail(req, RP_EINVAL, "write_entry.entry.date", "date %u is not a valid date",
                        e->date);
        return RP_OK;
    }
    if (e->time_of_interaction >= 86400 || e->cost_cents < 0) {
        server_req_fail(req, RP_EINVAL, "write_entry.entry",
                        "time_of_interaction or cost_cents out of range");
        return RP_OK;
    }
    if (!e->user_id[0] || req->user_from_key)
        e->user_id = wire_str(req->user_id);
    e->canceled = false;
    e->campaign_entry_no = 0;
    e->logged_segment_entry_no = 0;
    e->segment_no = wire_str("");
    if (we->resume) {
        rc = s_load(t->w, t->txn, t->arena, e->entry_no, &old);
        if (rc == RP_ENOTFOUND) {
            writer_fail_no_entry(req, e->entry_no);
            return RP_OK;
        }
        if (rc != RP_OK)
            return rc;
        if (!old->postponed) {
            server_req_fail(req, RP_EPRECOND, "entry_no",
                            "Interaction Log Entry %llu is not postponed.",
                            (unsigned long long)e->entry_no);
            return RP_OK;
        }
        type = e->postponed ? "interaction.postponed" : "interaction.resumed";
    } else {
        rc = writer_take(t, "entry", 1, &e->entry_no);
        if (rc != RP_OK)
            return rc;
        type = e->postponed ? "interaction.postponed" : "interaction.logged";
    }
    if (!e->postponed && e->campaign_no[0]) {
        rc = logged_single_campaign_entry(t, e);
        if (rc != RP_OK)
            return rc;
    }
    rc = writer_entry_store(t, e, old, true);
    if (rc != RP_OK)
        return rc;
    rc = events_append(t, type, RAPPORT__V1__EVENT__BODY_ENTRY, &e->base);
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRY;
    writer_reply(req)->entry = e;
    return RP_OK;
}

rp_err entries_get(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    uint64_t no = writer_request(req)->get_entry->entry_no;
    Rapport__V1__Entry *e;
    rp_err rc = s_load(w, txn, req->arena, no, &e);

    if (rc == RP_ENOTFOUND) {
        writer_fail_no_entry(req, no);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRY;
    writer_reply(req)->entry = e;
    return RP_OK;
}

static bool s_tri(Rapport__V1__TriState want, bool have)
{
    return want == RAPPORT__V1__TRI_STATE__TRI_STATE_ANY ||
           (want == RAPPORT__V1__TRI_STATE__TRI_STATE_YES) == have;
}

static bool s_matches(const Rapport__V1__EntryFilter *f, const Rapport__V1__Entry *e)
{
    if (!f)
        return true;
    if (f->entry_no_from && e->entry_no < f->entry_no_from)
        return false;
    if (f->entry_no_to && e->entry_no > f->entry_no_to)
        return false;
    if (f->contact_no[0] && strcmp(f->contact_no, e->contact_no) != 0)
        return false;
    if (f->date_from && e->date < f->date_from)
        return false;
    if (f->date_to && e->date > f->date_to)
        return false;
    if (f->interaction_template_code[0] &&
        strcmp(f->interaction_template_code, e->interaction_template_code) != 0)
        return false;
    if (f->interaction_group_code[0] &&
        strcmp(f->interaction_group_code, e->interaction_group_code) != 0)
        return false;
    if (f->salesperson_code[0] && strcmp(f->salesperson_code, e->salesperson_code) != 0)
        return false;
    if (f->campaign_no[0] && strcmp(f->campaign_no, e->campaign_no) != 0)
        return false;
    if (f->segment_no[0] && strcmp(f->segment_no, e->segment_no) != 0)
        return false;
    if (f->logged_segment_entry_no && f->logged_segment_entry_no != e->logged_segment_entry_no)
        return false;
    return s_tri(f->canceled, e->canceled) && s_tri(f->postponed, e->postponed);
}

/* Walks candidate entry numbers in order for a filter, using the best
 * index: the contact's entries, the logged segment's range, the postponed
 * set, or every entry. */
typedef struct {
    writer_t *w;
    store_txn_t *txn;
    store_cursor_t *cur;
    const Rapport__V1__EntryFilter *f;
    bool desc, started, by_contact, by_set;
    uint64_t after;  /* exclusive start; 0 = from the beginning / end */
    uint64_t lo, hi; /* bounds from the filter (inclusive) */
    uint64_t next;   /* range walk */
    bool range_walk;
} walk_t;

static rp_err s_walk_open(walk_t *wk, writer_t *w, store_txn_t *txn,
                          const Rapport__V1__EntryFilter *f, uint64_t after, bool desc)
{
    memset(wk, 0, sizeof(*wk));
    wk->w = w;
    wk->txn = txn;
    wk->f = f;
    wk->after = after;
    wk->desc = desc;
    wk->lo = f && f->entry_no_from ? f->entry_no_from : 1;
    wk->hi = f && f->entry_no_to ? f->entry_no_to : UINT64_MAX;
    if (f && f->contact_no[0]) {
        wk->by_contact = true;
        return store_cursor_open(txn, w->db[WRITER_DB_BY_CONTACT], &wk->cur);
    }
    if (f && f->logged_segment_entry_no) {
        Rapport__V1__LoggedSegment *ls;
        wire_arena_t *a = wire_arena_new();
        rp_err rc;
        if (!a)
            return RP_ENOMEM;
        rc = writer_get_record(txn, w, a, WRITER_DB_LOGGED_SEGMENTS, f->logged_segment_entry_no,
                               &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);
        if (rc == RP_OK) {
            if (ls->first_entry_no > wk->lo)
                wk->lo = ls->first_entry_no;
            if (ls->last_entry_no < wk->hi)
                wk->hi = ls->last_entry_no;
        } else if (rc == RP_ENOTFOUND) {
            wk->lo = 1;
            wk->hi = 0; /* empty */
        }
        wire_arena_destroy(&a);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    if (f && f->postponed == RAPPORT__V1__TRI_STATE__TRI_STATE_YES) {
        wk->by_set = true;
        return store_cursor_open(txn, w->db[WRITER_DB_POSTPONED], &wk->cur);
    }
    return store_cursor_open(txn, w->db[WRITER_DB_ENTRIES], &wk->cur);
}

/* Next candidate entry number; RP_ENOTFOUND at the end. */
static rp_err s_walk_next(walk_t *wk, uint64_t *ret_no)
{
    store_val_t k, v;
    rp_err rc;

    for (;;) {
        if (wk->by_contact) {
            const char *c = wk->f->contact_no;
            k.data = (void *)(uintptr_t)c;
            k.len = strlen(c);
            if (!wk->started) {
                uint8_t b[8];
                wk->started = true;
                if (!wk->desc) {
                    uint64_t from = wk->after + 1 > wk->lo ? wk->after + 1 : wk->lo;
                    store_u64_key(from, b);
                    v.data = b;
                    v.len = 8;
                    rc = store_cursor_get(wk->cur, STORE_GET_BOTH_RANGE, &k, &v);
                } else {
                    uint64_t below = wk->after ? wk->after : UINT64_MAX;
                    store_u64_key(below, b);
                    v.data = b;
                    v.len = 8;
                    rc = store_cursor_get(wk->cur, STORE_GET_BOTH_RANGE, &k, &v);
                    if (rc == RP_OK)
                        rc = store_cursor_get(wk->cur, STORE_PREV_DUP, &k, &v);
                    else if (rc == RP_ENOTFOUND) {
                        rc = store_cursor_get(wk->cur, STORE_SET, &k, &v);
                        if (rc == RP_OK)
                            rc = store_cursor_get(wk->cur, STORE_LAST_DUP, &k, &v);
                        if (rc == RP_OK && store_key_u64(v.data) >= below)
                            rc = store_cursor_get(wk->cur, STORE_PREV_DUP, &k, &v);
                    }
                }
            } else {
                rc = store_cursor_get(wk->cur, wk->desc ? STORE_PREV_DUP : STORE_NEXT_DUP, &k, &v);
            }
            if (rc != RP_OK)
                return rc;
            *ret_no = store_key_u64(v.data);
        } else {
            if (!wk->started) {
                uint8_t b[8];
                wk->started = true;
                if (!wk->desc) {
                    uint64_t from = wk->after + 1 > wk->lo ? wk->after + 1 : wk->lo;
                    store_u64_key(from, b);
                    k.data = b;
                    k.len = 8;
                    rc = store_cursor_get(wk->cur, STORE_SET_RANGE, &k, &v);
                } else {
                    uint64_t below =
                        wk->after ? wk->after : (wk->hi == UINT64_MAX ? 0 : wk->hi + 1);
                    if (below == 0) {
                        rc = store_cursor_get(wk->cur, STORE_LAST, &k, &v);
                    } else {
                        store_u64_key(below, b);
                        k.data = b;
                        k.len = 8;
                        rc = store_cursor_get(wk->cur, STORE_SET_RANGE, &k, &v);
                        if (rc == RP_OK)
                            rc = store_cursor_get(wk->cur, STORE_PREV, &k, &v);
                        else if (rc == RP_ENOTFOUND)
                            rc = store_cursor_get(wk->cur, STORE_LAST, &k, &v);
                    }
                }
            } else {
                rc = store_cursor_get(wk->cur, wk->desc ? STORE_PREV : STORE_NEXT, &k, &v);
            }
            if (rc != RP_OK)
                return rc;
            if (k.len != 8)
                return RP_ECORRUPT;
            *ret_no = store_key_u64(k.data);
        }
        if (wk->desc ? *ret_no < wk->lo : *ret_no > wk->hi)
            return RP_ENOTFOUND;
        if (*ret_no < wk->lo || *ret_no > wk->hi)
            continue;
        return RP_OK;
    }
}

static void s_walk_close(walk_t *wk)
{
    store_cursor_close(wk->cur);
}

/* Entries matching `f` after `after`, at most `limit`, examining at most
 * `budget` records. *ret_next is where a next page starts (0: complete). */
static rp_err s_collect(writer_t *w, store_txn_t *txn, wire_arena_t *a,
                        const Rapport__V1__EntryFilter *f, uint64_t after, bool desc, size_t limit,
                        size_t budget, Rapport__V1__Entry ***ret_entries, size_t *ret_n,
                        uint64_t *ret_next)
{
    walk_t wk;
    size_t n = 0, cap = limit < 64 ? limit : 64, examined = 0;
    Rapport__V1__Entry **out = malloc(sizeof(*out) * (cap ? cap : 1));
    uint64_t no = 0, last = 0;
    rp_err rc;

    if (!out)
        return RP_ENOMEM;
    *ret_next = 0;
    rc = s_walk_open(&wk, w, txn, f, after, desc);
    if (rc != RP_OK) {
        free(out);
        return rc;
    }
    while (n < limit && (rc = s_walk_next(&wk, &no)) == RP_OK) {
        Rapport__V1__Entry *e;
        last = no;
        if (++examined > budget) {
            *ret_next = no;
            break;
        }
        if (!writer_entry_visible(w, no))
            continue;
        rc = writer_get_record(txn, w, a, WRITER_DB_ENTRIES, no, &rapport__v1__entry__descriptor,
                               (ProtobufCMessage **)&e);
        if (rc == RP_ENOTFOUND)
            continue;
        if (rc != RP_OK)
            break;
        if (!s_matches(f, e))
            continue;
        if (n == cap) {
            Rapport__V1__Entry **grown;
            cap *= 2;
            grown = realloc(out, sizeof(*out) * cap);
            if (!grown) {
                rc = RP_ENOMEM;
                break;
            }
            out = grown;
        }
        out[n++] = e;
    }
    if (rc == RP_OK && n == limit)
        *ret_next = last; /* more may follow */
    s_walk_close(&wk);
    if (rc != RP_OK && rc != RP_ENOTFOUND) {
        free(out);
        return rc;
    }
    *ret_entries = out;
    *ret_n = n;
    return RP_OK;
}

rp_err entries_list(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__ListEntries *le = writer_request(req)->list_entries;
    Rapport__V1__Entries *out;
    Rapport__V1__Entry **found;
    size_t n, limit = le->limit ? le->limit : LIST_DEFAULT;
    uint64_t next;
    rp_err rc;

    if (limit > LIST_MAX)
        limit = LIST_MAX;
    rc = s_collect(w, txn, req->arena, le->filter, le->after, le->descending, limit, SCAN_BUDGET,
                   &found, &n, &next);
    if (rc != RP_OK)
        return rc;
    out = (Rapport__V1__Entries *)wire_arena_message(req->arena, &rapport__v1__entries__descriptor);
    out->n_entries = n;
    out->entries = (Rapport__V1__Entry **)wire_arena_ptrs(req->arena, n);
    memcpy(out->entries, found, sizeof(*found) * n);
    free(found);
    out->next_after = next;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES;
    writer_reply(req)->entries = out;
    return RP_OK;
}

/* Canceled must be 'No' on the entry's logged segment and campaign entry
 * before the entry can be un-canceled (docs/domain.md section 8). */
static rp_err s_check_uncancel(writer_txn_t *t, server_req_t *req, const Rapport__V1__Entry *e,
                               bool *ret_ok)
{
    rp_err rc;
    *ret_ok = true;
    if (e->logged_segment_entry_no) {
        Rapport__V1__LoggedSegment *ls;
        rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS,
                               e->logged_segment_entry_no, &rapport__v1__logged_segment__descriptor,
                               (ProtobufCMessage **)&ls);
        if (rc == RP_OK && ls->canceled) {
            server_req_fail(req, RP_EPRECOND, "entry_nos",
                            "Canceled must be equal to 'No' in Logged Segment: Entry No.=%llu.",
                            (unsigned long long)ls->entry_no);
            *ret_ok = false;
            return RP_OK;
        }
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    if (e->campaign_entry_no) {
        Rapport__V1__CampaignEntry *ce;
        rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_CAMPAIGN_ENTRIES,
                               e->campaign_entry_no, &rapport__v1__campaign_entry__descriptor,
                               (ProtobufCMessage **)&ce);
        if (rc == RP_OK && ce->canceled) {
            server_req_fail(req, RP_EPRECOND, "entry_nos",
                            "Canceled must be equal to 'No' in Campaign Entry: Entry No.=%llu.",
                            (unsigned long long)ce->entry_no);
            *ret_ok = false;
            return RP_OK;
        }
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    return RP_OK;
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The visible entries a request lists by number (1 or more; a number
 * given twice counts once), in number order, into *ret_es / *ret_n. When
 * the list is empty or names an entry that does not exist, req is failed
 * and *ret_n is 0. */
static rp_err s_load_listed(writer_txn_t *t, server_req_t *req, const uint64_t *listed, size_t n,
                            Rapport__V1__Entry ***ret_es, size_t *ret_n)
{
    uint64_t *nos;
    Rapport__V1__Entry **es;
    size_t k = 0;

    *ret_n = 0;
    if (n == 0) {
        server_req_fail(req, RP_EINVAL, "entry_nos", "no entry numbers given");
        return RP_OK;
    }
    nos = wire_arena_alloc(t->arena, sizeof(*nos) * n);
    es = wire_arena_alloc(t->arena, sizeof(*es) * n);
    memcpy(nos, listed, sizeof(*nos) * n);
    qsort(nos, n, sizeof(*nos), s_cmp_u64);
    for (size_t i = 0; i < n; i++) {
        rp_err rc;
        if (i > 0 && nos[i] == nos[i - 1])
            continue;
        rc = s_load(t->w, t->txn, t->arena, nos[i], &es[k]);
        if (rc == RP_ENOTFOUND) {
            writer_fail_no_entry(req, nos[i]);
            return RP_OK;
        }
        if (rc != RP_OK)
            return rc;
        k++;
    }
    *ret_es = es;
    *ret_n = k;
    return RP_OK;
}

rp_err entries_set_canceled(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SetEntriesCanceled *sc = writer_request(req)->set_entries_canceled;
    Rapport__V1__Entry **es = NULL;
    uint64_t *changed;
    size_t n = 0, n_changed = 0;
    rp_err rc = s_load_listed(t, req, sc->entry_nos, sc->n_entry_nos, &es, &n);

    if (rc != RP_OK || n == 0)
        return rc;
    changed = wire_arena_alloc(t->arena, sizeof(*changed) * n);
    /* Validate all first: all or nothing. */
    for (size_t i = 0; i < n; i++) {
        bool ok;
        if (es[i]->postponed) {
            server_req_fail(req, RP_EPRECOND, "entry_nos",
                            "Interaction Log Entry %llu is postponed; only finished entries can be "
                            "canceled.",
                            (unsigned long long)es[i]->entry_no);
            return RP_OK;
        }
        if (!sc->canceled && es[i]->canceled) {
            rc = s_check_uncancel(t, req, es[i], &ok);
            if (rc != RP_OK || !ok)
                return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        Rapport__V1__Entry *e = es[i], *copy;
        if (e->canceled == (protobuf_c_boolean)sc->canceled)
            continue;
        copy = wire_arena_alloc(t->arena, sizeof(*copy));
        *copy = *e;
        copy->canceled = sc->canceled;
        rc = writer_entry_store(t, copy, e, true);
        if (rc != RP_OK)
            return rc;
        changed[n_changed++] = e->entry_no;
    }
    if (n_changed) {
        rc = events_append_entry_nos(t, sc->canceled ? "entries.canceled" : "entries.uncanceled",
                                     changed, n_changed, NULL, 0, NULL, 0);
        if (rc != RP_OK)
            return rc;
    }
    writer_reply_count(req, n_changed);
    return RP_OK;
}

rp_err entries_delete_canceled(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__DeleteCanceledEntries *dc = writer_request(req)->delete_canceled_entries;
    Rapport__V1__EntryFilter f = RAPPORT__V1__ENTRY_FILTER__INIT;
    Rapport__V1__Entry **found;
    uint64_t *nos, next;
    size_t n;
    rp_err rc;

    if (dc->filter)
        f = *dc->filter;
    f.canceled = RAPPORT__V1__TRI_STATE__TRI_STATE_YES;
    f.postponed = RAPPORT__V1__TRI_STATE__TRI_STATE_NO;
    rc = s_collect(t->w, t->txn, t->arena, &f, 0, false, SIZE_MAX, SIZE_MAX, &found, &n, &next);
    if (rc != RP_OK)
        return rc;
    nos = malloc(sizeof(*nos) * (n ? n : 1) * 3);
    if (!nos) {
        free(found);
        return RP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        nos[i] = found[i]->entry_no;
        nos[n + i] = found[i]->logged_segment_entry_no;
        nos[2 * n + i] = found[i]->campaign_entry_no;
        rc = changes_entry_deleted(t, found[i]);
        if (rc == RP_OK)
            rc = writer_entry_delete(t, found[i]);
        if (rc != RP_OK)
            break;
    }
    free(found);
    /* No. of Interactions / No. of Entries are derived: keep them right. */
    if (rc == RP_OK && n)
        rc = logged_entries_deleted(t, nos + n, nos + 2 * n, n);
    if (rc == RP_OK && n)
        rc = events_append_entry_nos(t, "entries.deleted", nos, n, NULL, 0, NULL, 0);
    free(nos);
    if (rc != RP_OK)
        return rc;
    writer_reply_count(req, n);
    return RP_OK;
}

rp_err entries_delete_postponed(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__DeletePostponedEntries *dp = writer_request(req)->delete_postponed_entries;
    Rapport__V1__Entry **es = NULL;
    uint64_t *nos;
    size_t n = 0;
    rp_err rc = s_load_listed(t, req, dp->entry_nos, dp->n_entry_nos, &es, &n);

    if (rc != RP_OK || n == 0)
        return rc;
    nos = wire_arena_alloc(t->arena, sizeof(*nos) * n);
    for (size_t i = 0; i < n; i++) {
        if (!es[i]->postponed) {
            server_req_fail(req, RP_EPRECOND, "entry_nos",
                            "Interaction Log Entry %llu is not postponed.",
                            (unsigned long long)es[i]->entry_no);
            return RP_OK;
        }
    }
    for (size_t i = 0; i < n; i++) { /* in number order, each once */
        rc = changes_entry_deleted(t, es[i]);
        if (rc == RP_OK)
            rc = writer_entry_delete(t, es[i]);
        if (rc != RP_OK)
            return rc;
        nos[i] = es[i]->entry_no;
    }
    rc = events_append_entry_nos(t, "interaction.postponed_deleted", nos, n, NULL, 0, NULL, 0);
    if (rc != RP_OK)
        return rc;
    writer_reply_count(req, n);
    return RP_OK;
}

rp_err entries_statistics(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__GetEntryStatistics *gs = writer_request(req)->statistics;
    char kind =
        gs->group_by == RAPPORT__V1__STATISTICS_GROUP_BY__STATISTICS_GROUP_BY_GROUP ? 'G' : 'T';
    Rapport__V1__Statistics *out;
    Rapport__V1__StatisticsRow *row = NULL;
    Rapport__V1__StatisticsRow **rows = NULL;
    size_t n = 0, cap = 0;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t start = (uint8_t)kind;
    rp_err rc;

    rc = store_cursor_open(txn, w->db[WRITER_DB_STATS], &cur);
    if (rc != RP_OK)
        return rc;
    k.data = &start;
    k.len = 1;
    for (rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        const uint8_t *kb = k.data;
        char code[11];
        uint32_t date;
        writer_stats_t s;

        if (k.len != STATS_KEY_LEN || kb[0] != (uint8_t)kind || v.len != sizeof(s))
            break;
        memcpy(code, kb + 1, 10);
        code[10] = '\0';
        date = (uint32_t)kb[11] << 24 | (uint32_t)kb[12] << 16 | (uint32_t)kb[13] << 8 | kb[14];
        if ((gs->date_from && date < gs->date_from) || (gs->date_to && date > gs->date_to))
            continue;
        memcpy(&s, v.data, sizeof(s));
        if (!row || strcmp(row->code, code) != 0) {
            if (n == cap) {
                Rapport__V1__StatisticsRow **grown;
                cap = cap ? cap * 2 : 16;
                grown = (Rapport__V1__StatisticsRow **)wire_arena_ptrs(req->arena, cap);
                if (n)
                    memcpy(grown, rows, sizeof(*rows) * n);
                rows = grown;
            }
            row = (Rapport__V1__StatisticsRow *)wire_arena_message(
                req->arena, &rapport__v1__statistics_row__descriptor);
            row->code = wire_arena_strdup(req->arena, code);
            rows[n++] = row;
        }
        row->no_of_interactions += s.count;
        row->cost_cents += s.cost;
        row->duration_min += s.duration;
    }
    store_cursor_close(cur);
    if (rc != RP_OK && rc != RP_ENOTFOUND)
        return rc;
    out = (Rapport__V1__Statistics *)wire_arena_message(req->arena,
                                                        &rapport__v1__statistics__descriptor);
    out->rows = rows;
    out->n_rows = n;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_STATISTICS;
    writer_reply(req)->statistics = out;
    return RP_OK;
}
