/* changes: the change stream with full records, read by rapport-relay.
 *
 * The durable event log is thin: an event names the entries it touched by
 * number. ReadChanges turns each retained event into the messages the
 * relay publishes: part 0 is the Event, parts 1.. are the logged segments,
 * campaign entries and entries the event created or changed, each as it
 * was at the event's seq, never a later state. Most of that state is
 * derived from the current records, because the fields that change later
 * are few and the event says what they were:
 *
 * - an entry's content never changes once it is finished (only a postponed
 *   entry is rewritten, and its interaction.* events carry the whole
 *   entry); at the seq of a segment.logged it was not canceled and belonged
 *   to that logged segment; at an entries.(un)canceled or
 *   logged_segment.(un)canceled its canceled flag is what the event set;
 *   at a logged_segments.deleted it was canceled (a canceled logged
 *   segment's entries cannot be un-canceled) and lost its logged segment.
 *   Its logged segment no. only ever goes from L to 0, when L is deleted:
 *   the deletion record of L below tells whether that was after the seq.
 * - an entry deleted later is kept aside (WRITER_DB_HELD_ENTRIES, with the seq it
 *   was deleted at) while an event before that seq is unconfirmed.
 * - a logged segment or campaign entry (few, but their counts and flags
 *   change) is kept as it was after every request that put or deleted it
 *   (WRITER_DB_HELD, key kind + seq + no): the records of seq S are exactly those
 *   kept under S.
 *
 * What is kept aside lives as long as the events that need it: until the
 * relay confirms those seqs, or, without a relay, until the events are
 * pruned. `changes_from` (in WRITER_DB_META) is the oldest seq that can still be
 * read with its records. Part numbers are the index of a record in the
 * event's list (logged segments, campaign entries, then entries in the
 * event's order), so they are stable across reads; an entry that no longer
 * existed at the seq (a range with holes) leaves its number unused. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "writer.h"

#define CHANGES_DEFAULT   1000
#define CHANGES_MAX       10000
#define CHANGES_MAX_BYTES (3u << 20)

enum { MODE_NONE, MODE_BODY, MODE_LOGGED, MODE_SET, MODE_LS_SET, MODE_LS_DELETED };

typedef struct {
    uint64_t first, last;
} span_t;

/* What one event publishes: its kept records, then entries in spans. */
typedef struct {
    uint64_t seq;
    Rapport__V1__Event *ev;
    ProtobufCBinaryData ev_raw; /* as stored (in the read txn) */
    ProtobufCMessage **recs;    /* logged segments, then campaign entries */
    ProtobufCBinaryData *rec_raw;
    bool *rec_is_ls;
    size_t n_recs, cap_recs;
    span_t *spans;
    size_t n_spans, cap_spans;
    int mode;
    bool canceled; /* MODE_SET, MODE_LS_SET */
    uint64_t lse;  /* MODE_LOGGED, MODE_LS_SET */
    bool holes;    /* entries gone at seq are skipped, not an error */
} plan_t;

/* A deleted logged segment (for entries whose link was zeroed later). */
typedef struct {
    uint64_t seq, no, first, last;
} deleted_ls_t;

typedef struct {
    writer_t *w;
    store_txn_t *txn;
    server_req_t *req;
    wire_arena_t *a;
    Rapport__V1__Change **out;
    size_t n, max, bytes;
    deleted_ls_t *dls;
    size_t n_dls;
    bool dls_loaded;
    char *type; /* of the event being emitted */
} reader_t;

/* ---- the plan of one event ---- */

static void s_plan_rec(reader_t *r, plan_t *p, ProtobufCMessage *m, ProtobufCBinaryData raw,
                       bool is_ls)
{
    if (p->n_recs == p->cap_recs) {
        size_t cap = p->cap_recs ? p->cap_recs * 2 : 8;
        ProtobufCMessage **g = (ProtobufCMessage **)wire_arena_ptrs(r->a, cap);
        ProtobufCBinaryData *gr = wire_arena_alloc(r->a, sizeof(*gr) * cap);
        bool *gb = wire_arena_alloc(r->a, cap);
        if (p->n_recs) {
            memcpy(g, p->recs, sizeof(*g) * p->n_recs);
            memcpy(gr, p->rec_raw, sizeof(*gr) * p->n_recs);
            memcpy(gb, p->rec_is_ls, p->n_recs);
        }
        p->recs = g;
        p->rec_raw = gr;
        p->rec_is_ls = gb;
        p->cap_recs = cap;
    }
    p->rec_is_ls[p->n_recs] = is_ls;
    p->rec_raw[p->n_recs] = raw;
    p->recs[p->n_recs++] = m;
}

static void s_plan_span(reader_t *r, plan_t *p, uint64_t first, uint64_t last)
{
    if (!first || last < first)
        return;
    if (p->n_spans == p->cap_spans) {
        size_t cap = p->cap_spans ? p->cap_spans * 2 : 8;
        span_t *g = wire_arena_alloc(r->a, sizeof(*g) * cap);
        if (p->n_spans)
            memcpy(g, p->spans, sizeof(*g) * p->n_spans);
        p->spans = g;
        p->cap_spans = cap;
    }
    p->spans[p->n_spans].first = first;
    p->spans[p->n_spans].last = last;
    p->n_spans++;
}

/* The logged segments (kind 'L') or campaign entries ('C') kept under
 * `seq`: records into the plan, deleted logged segments' ranges as spans
 * when `deleted_spans`. */
static rp_err s_plan_kept(reader_t *r, plan_t *p, char kind, bool deleted_spans)
{
    bool is_ls = kind == 'L';
    store_cursor_t *cur;
    store_val_t k, v;
    uint8_t key[CHANGES_HELD_KEY_LEN];
    rp_err rc = store_cursor_open(r->txn, r->w->db[WRITER_DB_HELD], &cur);

    if (rc != RP_OK)
        return rc;
    changes_held_key(kind, p->seq, 0, key);
    k.data = key;
    k.len = sizeof(key);
    for (rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        ProtobufCMessage *m;
        if (k.len != CHANGES_HELD_KEY_LEN || memcmp(k.data, key, 9) != 0)
            break;
        if (v.len < 1) {
            rc = RP_ECORRUPT;
            break;
        }
        rc = wire_decode_trusted(r->a,
                                 is_ls ? &rapport__v1__logged_segment__descriptor
                                       : &rapport__v1__campaign_entry__descriptor,
                                 (const uint8_t *)v.data + 1, v.len - 1, &m);
        if (rc != RP_OK)
            break;
        if (((const uint8_t *)v.data)[0] == CHANGES_HELD_RECORD) {
            ProtobufCBinaryData raw = {v.len - 1, (uint8_t *)v.data + 1};
            s_plan_rec(r, p, m, raw, is_ls);
        } else if (deleted_spans && is_ls)
            s_plan_span(r, p, ((Rapport__V1__LoggedSegment *)m)->first_entry_no,
                        ((Rapport__V1__LoggedSegment *)m)->last_entry_no);
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

static bool s_is(const char *type, const char *want)
{
    return strcmp(type, want) == 0;
}

static rp_err s_plan(reader_t *r, Rapport__V1__Event *ev, ProtobufCBinaryData raw, plan_t *p)
{
    const char *type = ev->type;
    bool ls_deleted = s_is(type, "logged_segments.deleted");
    rp_err rc;

    memset(p, 0, sizeof(*p));
    p->seq = ev->seq;
    p->ev = ev;
    p->ev_raw = raw;
    rc = s_plan_kept(r, p, 'L', ls_deleted);
    if (rc == RP_OK)
        rc = s_plan_kept(r, p, 'C', false);
    if (rc != RP_OK)
        return rc;
    if (ev->body_case == RAPPORT__V1__EVENT__BODY_ENTRY && ev->entry) {
        p->mode = MODE_BODY;
        s_plan_span(r, p, ev->entry->entry_no, ev->entry->entry_no);
    } else if (s_is(type, "segment.logged") && ev->segment_logged) {
        p->mode = MODE_LOGGED;
        p->lse = ev->segment_logged->logged_segment_no;
        s_plan_span(r, p, ev->segment_logged->first_entry_no, ev->segment_logged->last_entry_no);
    } else if ((s_is(type, "entries.canceled") || s_is(type, "entries.uncanceled")) &&
               ev->entries) {
        p->mode = MODE_SET;
        p->canceled = s_is(type, "entries.canceled");
        for (size_t i = 0; i < ev->entries->n_ranges; i++)
            s_plan_span(r, p, ev->entries->ranges[i]->first, ev->entries->ranges[i]->last);
    } else if ((s_is(type, "logged_segment.canceled") || s_is(type, "logged_segment.uncanceled")) &&
               ev->logged_segments && ev->logged_segments->n_logged_segment_nos) {
        p->mode = MODE_LS_SET;
        p->canceled = s_is(type, "logged_segment.canceled");
        p->lse = ev->logged_segments->logged_segment_nos[0];
        p->holes = true;
        for (size_t i = 0; i < p->n_recs; i++) {
            Rapport__V1__LoggedSegment *ls = (Rapport__V1__LoggedSegment *)p->recs[i];
            if (p->rec_is_ls[i] && ls->entry_no == p->lse)
                s_plan_span(r, p, ls->first_entry_no, ls->last_entry_no);
        }
    } else if (ls_deleted) {
        p->mode = MODE_LS_DELETED;
        p->holes = true;
    }
    return RP_OK;
}

/* ---- entries as of a seq ---- */

/* Every logged segment deleted at a seq still readable. */
static rp_err s_load_deleted_ls(reader_t *r)
{
    store_cursor_t *cur;
    store_val_t k, v;
    uint8_t start[1] = {'L'};
    size_t cap = 0;
    rp_err rc = store_cursor_open(r->txn, r->w->db[WRITER_DB_HELD], &cur);

    if (rc != RP_OK)
        return rc;
    r->dls_loaded = true;
    k.data = start;
    k.len = 1;
    for (rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        Rapport__V1__LoggedSegment *ls;
        if (k.len != CHANGES_HELD_KEY_LEN || ((uint8_t *)k.data)[0] != 'L')
            break;
        if (v.len < 1 || ((const uint8_t *)v.data)[0] != CHANGES_HELD_DELETED)
            continue;
        rc = wire_decode_trusted(r->a, &rapport__v1__logged_segment__descriptor,
                                 (const uint8_t *)v.data + 1, v.len - 1, (ProtobufCMessage **)&ls);
        if (rc != RP_OK)
            break;
        if (r->n_dls == cap) {
            deleted_ls_t *g;
            cap = cap ? cap * 2 : 16;
            g = wire_arena_alloc(r->a, sizeof(*g) * cap);
            if (r->n_dls)
                memcpy(g, r->dls, sizeof(*g) * r->n_dls);
            r->dls = g;
        }
        r->dls[r->n_dls].seq = store_key_u64((uint8_t *)k.data + 1);
        r->dls[r->n_dls].no = ls->entry_no;
        r->dls[r->n_dls].first = ls->first_entry_no;
        r->dls[r->n_dls].last = ls->last_entry_no;
        r->n_dls++;
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* The logged segment no. of an entry at `seq` whose link is 0 now. */
static rp_err s_lse_at(reader_t *r, const Rapport__V1__Entry *e, uint64_t seq, uint64_t *ret)
{
    *ret = 0;
    if (!e->segment_no[0])
        return RP_OK; /* never in a logged segment */
    if (!r->dls_loaded) {
        rp_err rc = s_load_deleted_ls(r);
        if (rc != RP_OK)
            return rc;
    }
    for (size_t i = 0; i < r->n_dls; i++)
        if (r->dls[i].seq > seq && e->entry_no >= r->dls[i].first && e->entry_no <= r->dls[i].last)
            *ret = r->dls[i].no;
    return RP_OK;
}

/* Entry `no` as it was at the plan's seq; *ret NULL when it did not exist
 * then (a hole). */
static rp_err s_entry_at(reader_t *r, const plan_t *p, uint64_t no, Rapport__V1__Entry **ret)
{
    Rapport__V1__Entry *e;
    rp_err rc;

    *ret = NULL;
    if (p->mode == MODE_BODY) {
        *ret = p->ev->entry;
        return RP_OK;
    }
    rc = writer_get_record(r->txn, r->w, r->a, WRITER_DB_ENTRIES, no,
                           &rapport__v1__entry__descriptor, (ProtobufCMessage **)&e);
    if (rc == RP_ENOTFOUND) {
        uint8_t k[8];
        store_val_t v;
        store_u64_key(no, k);
        rc = store_get(r->txn, r->w->db[WRITER_DB_HELD_ENTRIES], k, 8, &v);
        if (rc == RP_OK && (v.len < 8 || store_key_u64(v.data) <= p->seq))
            rc = v.len < 8 ? RP_ECORRUPT : RP_ENOTFOUND; /* deleted at or before the seq */
        if (rc == RP_OK)
            rc = wire_decode_trusted(r->a, &rapport__v1__entry__descriptor,
                                     (const uint8_t *)v.data + 8, v.len - 8,
                                     (ProtobufCMessage **)&e);
    }
    if (rc == RP_ENOTFOUND && p->holes)
        return RP_OK;
    if (rc == RP_ENOTFOUND) {
        server_req_fail(r->req, RP_ECORRUPT, "from_seq",
                        "entry %llu as of seq %llu is gone from the log writer's store",
                        (unsigned long long)no, (unsigned long long)p->seq);
        return RP_EABORTED; /* the request has failed: stop */
    }
    if (rc != RP_OK)
        return rc;
    switch (p->mode) {
    case MODE_LOGGED:
        e->canceled = false;
        e->postponed = false;
        e->logged_segment_entry_no = p->lse;
        break;
    case MODE_SET:
        e->canceled = p->canceled;
        if (!e->logged_segment_entry_no)
            rc = s_lse_at(r, e, p->seq, &e->logged_segment_entry_no);
        break;
    case MODE_LS_SET:
        e->canceled = p->canceled;
        e->logged_segment_entry_no = p->lse;
        break;
    default: /* MODE_LS_DELETED */
        e->canceled = true;
        e->logged_segment_entry_no = 0;
        break;
    }
    *ret = e;
    return rc;
}

/* ---- the page ---- */

static Rapport__V1__Change *s_change(reader_t *r, uint64_t seq, uint32_t part)
{
    Rapport__V1__Change *c =
        (Rapport__V1__Change *)wire_arena_message(r->a, &rapport__v1__change__descriptor);
    c->seq = seq;
    c->part = part;
    c->type = r->type;
    return c;
}

/* The change of part `part` (>= 1) of a plan; *ret NULL for a hole. */
static rp_err s_part(reader_t *r, const plan_t *p, uint64_t part, uint64_t entry_no,
                     Rapport__V1__Change **ret)
{
    Rapport__V1__Change *c;
    Rapport__V1__Entry *e;
    rp_err rc;

    *ret = NULL;
    if (part - 1 < p->n_recs) {
        bool ls = p->rec_is_ls[part - 1];
        c = s_change(r, p->seq, (uint32_t)part);
        c->kind = ls ? RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_LOGGED_SEGMENT
                     : RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_CAMPAIGN_ENTRY;
        c->no = ls ? ((Rapport__V1__LoggedSegment *)p->recs[part - 1])->entry_no
                   : ((Rapport__V1__CampaignEntry *)p->recs[part - 1])->entry_no;
        c->data = p->rec_raw[part - 1];
        *ret = c;
        return RP_OK;
    }
    rc = s_entry_at(r, p, entry_no, &e);
    if (rc != RP_OK || !e)
        return rc;
    c = s_change(r, p->seq, (uint32_t)part);
    c->kind = RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_ENTRY;
    c->no = e->entry_no;
    c->contact_no = e->contact_no;
    c->data.len = wire_size(&e->base);
    c->data.data = wire_arena_alloc(r->a, c->data.len ? c->data.len : 1);
    wire_encode_to(&e->base, c->data.data);
    *ret = c;
    return RP_OK;
}

static void s_append(reader_t *r, Rapport__V1__Change *c, bool last)
{
    c->last = last;
    r->out[r->n++] = c;
    r->bytes += wire_size(&c->base);
}

static bool s_full(const reader_t *r)
{
    return r->n + 1 >= r->max || r->bytes >= CHANGES_MAX_BYTES;
}

/* Emit the parts of one event from `from_part` on. *ret_done is set when
 * the event is finished; else *ret_next_part is where the page stopped.
 * The change held back is appended once it is known whether another part
 * of its seq follows (its `last` flag). */
static rp_err s_emit(reader_t *r, const plan_t *p, uint64_t from_part, bool *ret_done,
                     uint64_t *ret_next_part)
{
    Rapport__V1__Change *held = NULL;
    uint64_t part = from_part, skip, base = 1 + p->n_recs;
    size_t si = 0;
    uint64_t no = 0;
    rp_err rc = RP_OK;

    *ret_done = false;
    if (part == 0) {
        held = s_change(r, p->seq, 0);
        held->kind = RAPPORT__V1__CHANGE_KIND__CHANGE_KIND_EVENT;
        held->data = p->ev_raw;
        part = 1;
    }
    /* Position the entry walk at `part`. */
    skip = part > base ? part - base : 0;
    while (si < p->n_spans && skip > p->spans[si].last - p->spans[si].first) {
        skip -= p->spans[si].last - p->spans[si].first + 1;
        si++;
    }
    if (si < p->n_spans)
        no = p->spans[si].first + skip;
    for (;;) {
        Rapport__V1__Change *c = NULL;
        if (part >= base) {
            if (si >= p->n_spans)
                break;
        } else if (part - 1 >= p->n_recs) {
            break;
        }
        rc = s_part(r, p, part, no, &c);
        if (rc != RP_OK)
            return rc;
        if (c) {
            if (held && s_full(r)) {
                s_append(r, held, false);
                *ret_next_part = part;
                return RP_OK;
            }
            if (held)
                s_append(r, held, false);
            held = c;
        }
        if (part >= base && ++no > p->spans[si].last && ++si < p->n_spans)
            no = p->spans[si].first;
        part++;
    }
    if (held)
        s_append(r, held, true);
    *ret_done = true;
    return RP_OK;
}

static rp_err s_read_events(reader_t *r, Rapport__V1__Changes *out, uint64_t from, uint64_t part)
{
    store_cursor_t *cur;
    store_val_t k, v;
    uint8_t key[8];
    rp_err rc = store_cursor_open(r->txn, r->w->db[WRITER_DB_EVENTS], &cur);

    if (rc != RP_OK)
        return rc;
    out->next_seq = from;
    out->next_part = (uint32_t)part;
    store_u64_key(from, key);
    k.data = key;
    k.len = 8;
    for (rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
         rc == RP_OK && r->n < r->max && r->bytes < CHANGES_MAX_BYTES;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        Rapport__V1__Event *ev;
        uint64_t seq = store_key_u64(k.data), next_part = 0;
        plan_t p;
        bool done;

        if (seq != out->next_seq) {
            /* The log is gapless: a hole means it was pruned under us. */
            rc = RP_ECORRUPT;
            break;
        }
        rc = wire_decode_trusted(r->a, &rapport__v1__event__descriptor, v.data, v.len,
                                 (ProtobufCMessage **)&ev);
        if (rc == RP_OK)
            rc = s_plan(r, ev, (ProtobufCBinaryData){v.len, v.data}, &p);
        r->type = ev->type;
        if (rc == RP_OK)
            rc = s_emit(r, &p, seq == from ? part : 0, &done, &next_part);
        if (rc != RP_OK)
            break;
        if (!done) {
            out->next_part = (uint32_t)next_part;
            break;
        }
        out->next_seq = seq + 1;
        out->next_part = 0;
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

rp_err changes_read(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__ReadChanges *rq = writer_request(req)->read_changes;
    Rapport__V1__Changes *out;
    reader_t r = {.w = w, .txn = txn, .req = req, .a = req->arena};
    uint64_t from;
    bool present;
    rp_err rc;

    r.max = rq->max ? rq->max : CHANGES_DEFAULT;
    if (r.max > CHANGES_MAX)
        r.max = CHANGES_MAX;
    out = (Rapport__V1__Changes *)wire_arena_message(req->arena, &rapport__v1__changes__descriptor);
    out->store_id.data = w->stream_id;
    out->store_id.len = sizeof(w->stream_id);
    out->held_replies = w->n_held_for_relay;
    out->term = w->term;
    rc = writer_meta_get(txn, w, "seq", &out->last_seq);
    if (rc == RP_OK)
        rc = writer_meta_get(txn, w, "changes_from", &out->first_seq);
    if (rc == RP_OK)
        rc = changes_relay_confirmed(txn, w, &present, &out->relay_confirmed_seq);
    if (rc != RP_OK)
        return rc;
    from = rq->from_seq ? rq->from_seq : out->first_seq;
    if (from < out->first_seq) {
        server_req_fail(req, RP_EPRECOND, "from_seq",
                        "the changes before seq %llu can no longer be read with their records "
                        "(asked from seq %llu)",
                        (unsigned long long)out->first_seq, (unsigned long long)from);
        return RP_OK;
    }
    r.out = (Rapport__V1__Change **)wire_arena_ptrs(req->arena, r.max);
    rc = s_read_events(&r, out, from, rq->from_seq ? rq->from_part : 0);
    if (rc == RP_EABORTED)
        return RP_OK;
    if (rc != RP_OK)
        return rc;
    out->changes = r.out;
    out->n_changes = r.n;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_CHANGES;
    writer_reply(req)->changes = out;
    return RP_OK;
}
