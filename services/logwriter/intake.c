/* intake: the log writer's end of a segment log, the stream of entries
 * rapport-segment's fan-out sends for a LogSegment (docs/design.md,
 * "Logging a segment").
 *
 * Begin reserves the logged segment no., the whole entry range and one
 * campaign entry no. per campaign, and records the log under its log_id
 * (the record below, WRITER_DB_SEGLOGS). Batches then write entries into
 * the reserved range in ordinary group commits: they stay invisible
 * (writer_entry_visible) and their statistics are kept aside, so a large
 * segment never holds one giant transaction and single interactions keep
 * flowing meanwhile. Commit writes the logged segment and its campaign
 * entries and marks the log committed: it is durable, and the fan-out may
 * answer its client. The contact index of its entries is built after the
 * commit (indexing.c); the transaction of its last chunk merges the
 * statistics and publishes segment.logged (intake_reveal), and all of the
 * segment becomes visible at once.
 *
 * A repeated Begin of a committed log_id answers from the record; a Begin
 * of a log_id left half-way (a crash) removes what was written and starts
 * again on the same reservation, so numbers stay gapless. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "writer.h"

#define SEGLOG_IN_FLIGHT     0u
#define SEGLOG_COMMITTED     1u /* visible */
#define SEGLOG_INDEXING      2u /* committed (durable), its contact index being built */
#define MAX_LINES            100000000ull
#define MAX_CAMPAIGNS        1000
#define PROGRESS_INTERVAL_MS 250
#define STATS_AGG            64

typedef struct {
    uint32_t state;
    uint32_t n_campaigns;
    uint64_t boot;
    uint64_t lse, first, count, received, ce_first;
    uint32_t body_len;  /* SegmentLogBegin (in flight) or SegmentLogged (committed) */
    uint32_t owner_len; /* the key that began it, after the body ("" over ipc) */
} seglog_hdr_t;

typedef struct {
    seglog_hdr_t h;
    uint64_t *counts; /* entries per campaign */
    Rapport__V1__SegmentLogBegin *begin;
    Rapport__V1__SegmentLogged *logged;
    const char *owner; /* NUL-terminated */
} seglog_t;

/* ---- the record ---- */

static rp_err s_seglog_load(store_txn_t *txn, writer_t *w, wire_arena_t *a,
                            const ProtobufCBinaryData *log_id, seglog_t *ret)
{
    store_val_t v;
    const uint8_t *p;
    size_t counts;
    char *owner;
    rp_err rc = store_get(txn, w->db[WRITER_DB_SEGLOGS], log_id->data, log_id->len, &v);

    if (rc != RP_OK)
        return rc;
    if (v.len < sizeof(seglog_hdr_t))
        return RP_ECORRUPT;
    memset(ret, 0, sizeof(*ret));
    memcpy(&ret->h, v.data, sizeof(ret->h));
    p = (const uint8_t *)v.data + sizeof(ret->h);
    counts = ret->h.state != SEGLOG_IN_FLIGHT ? 0 : ret->h.n_campaigns * sizeof(uint64_t);
    if (v.len != sizeof(ret->h) + counts + ret->h.body_len + ret->h.owner_len)
        return RP_ECORRUPT;
    owner = wire_arena_alloc(a, ret->h.owner_len + 1u);
    memcpy(owner, p + counts + ret->h.body_len, ret->h.owner_len);
    ret->owner = owner;
    if (ret->h.state != SEGLOG_IN_FLIGHT)
        return wire_decode_trusted(a, &rapport__v1__segment_logged__descriptor, p, ret->h.body_len,
                                   (ProtobufCMessage **)&ret->logged);
    ret->counts = wire_arena_alloc(a, sizeof(uint64_t) * (ret->h.n_campaigns + 1u));
    memcpy(ret->counts, p, counts);
    return wire_decode_trusted(a, &rapport__v1__segment_log_begin__descriptor, p + counts,
                               ret->h.body_len, (ProtobufCMessage **)&ret->begin);
}

static rp_err s_seglog_save(writer_txn_t *t, const ProtobufCBinaryData *log_id, seglog_t *sl)
{
    const ProtobufCMessage *body =
        sl->h.state != SEGLOG_IN_FLIGHT ? &sl->logged->base : &sl->begin->base;
    size_t counts = sl->h.state != SEGLOG_IN_FLIGHT ? 0 : sl->h.n_campaigns * sizeof(uint64_t);
    size_t blen = wire_size(body), olen = sl->owner ? strlen(sl->owner) : 0;
    uint8_t *dst;
    rp_err rc;

    sl->h.body_len = (uint32_t)blen;
    sl->h.owner_len = (uint32_t)olen;
    rc = store_reserve(t->txn, t->w->db[WRITER_DB_SEGLOGS], log_id->data, log_id->len,
                       sizeof(sl->h) + counts + blen + olen, 0, (void **)&dst);
    if (rc != RP_OK)
        return rc;
    memcpy(dst, &sl->h, sizeof(sl->h));
    if (counts)
        memcpy(dst + sizeof(sl->h), sl->counts, counts);
    wire_encode_to(body, dst + sizeof(sl->h) + counts);
    if (olen)
        memcpy(dst + sizeof(sl->h) + counts + blen, sl->owner, olen);
    return RP_OK;
}

/* A log in flight belongs to the key that began it: another key may not
 * restart, feed or commit it (over ipc there is no key, and no owner). */
static bool s_owner_ok(server_req_t *req, const seglog_t *sl, const ProtobufCBinaryData *log_id)
{
    if (sl->h.state != SEGLOG_IN_FLIGHT || strcmp(sl->owner, req->key) == 0)
        return true;
    log_notice("refused a segment log message from key %s: log %.*s was begun by key %s",
               req->key[0] ? req->key : "(ipc)", (int)log_id->len, (const char *)log_id->data,
               sl->owner[0] ? sl->owner : "(ipc)");
    server_req_fail(req, RP_EPERM, "log_id", "segment log %.*s was begun by another key",
                    (int)log_id->len, (const char *)log_id->data);
    return false;
}

/* Committed logs are kept (to answer a resent Begin or Commit) for
 * dedup_retention_days, like idempotency records; then they go. */
rp_err intake_prune(writer_t *w, store_txn_t *txn, int64_t max_age_ms, size_t budget)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint64_t cutoff = (uint64_t)(clock_now_ms() - max_age_ms);
    size_t n = 0;
    rp_err rc = store_cursor_open(txn, w->db[WRITER_DB_SEGLOG_TIME], &cur);

    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    while (rc == RP_OK && n++ < budget && k.len > 8 && store_key_u64(k.data) < cutoff) {
        rc = store_del(txn, w->db[WRITER_DB_SEGLOGS], (uint8_t *)k.data + 8, k.len - 8, NULL, 0);
        if (rc == RP_OK || rc == RP_ENOTFOUND)
            rc = store_cursor_del(cur, false);
        if (rc == RP_OK)
            rc = store_cursor_get(cur, STORE_FIRST, &k, &v); /* re-seek (ITS#9376) */
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* Index a committed log by the time of its commit, for intake_prune. */
static rp_err s_seglog_committed_at(writer_txn_t *t, const ProtobufCBinaryData *log_id)
{
    uint8_t key[8 + 2 * WIRE_REQUEST_ID_MAX];

    if (log_id->len > sizeof(key) - 8)
        return RP_OK; /* kept for good: a log_id is never that long */
    store_u64_key((uint64_t)clock_now_ms(), key);
    memcpy(key + 8, log_id->data, log_id->len);
    return store_put(t->txn, t->w->db[WRITER_DB_SEGLOG_TIME], key, 8 + log_id->len, "", 0, 0);
}

rp_err intake_load_pending(writer_t *w)
{
    store_txn_t *txn = NULL;
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    rp_err rc = store_txn_begin(w->store, false, &txn);

    if (rc != RP_OK)
        return rc;
    rc = store_cursor_open(txn, w->db[WRITER_DB_SEGLOGS], &cur);
    if (rc != RP_OK) {
        store_txn_abort(txn);
        return rc;
    }
    for (rc = store_cursor_get(cur, STORE_FIRST, &k, &v); rc == RP_OK;
         rc = store_cursor_get(cur, STORE_NEXT, &k, &v)) {
        seglog_hdr_t h;
        writer_range_t *r;
        if (v.len < sizeof(h)) {
            rc = RP_ECORRUPT;
            break;
        }
        memcpy(&h, v.data, sizeof(h));
        if (h.state == SEGLOG_COMMITTED || h.count == 0 || k.len > sizeof(r->log_id))
            continue;
        r = calloc(1, sizeof(*r));
        if (!r) {
            rc = RP_ENOMEM;
            break;
        }
        r->first = h.first;
        r->last = h.first + h.count - 1;
        r->lse = h.lse;
        r->committed = h.state == SEGLOG_INDEXING;
        r->indexed = r->committed ? h.received : 0;
        memcpy(r->log_id, k.data, k.len);
        r->log_id_len = k.len;
        r->next = w->pending;
        w->pending = r;
        if (r->committed)
            log_info("segment log of logged segment %llu is committed, its index built for "
                     "%llu of %llu entries: it goes on",
                     (unsigned long long)h.lse, (unsigned long long)h.received,
                     (unsigned long long)h.count);
        else
            log_info("segment log of logged segment %llu is unfinished (%llu of %llu entries); "
                     "it stays invisible until its segment worker resends it",
                     (unsigned long long)h.lse, (unsigned long long)h.received,
                     (unsigned long long)h.count);
    }
    store_cursor_close(cur);
    store_txn_abort(txn);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* ---- helpers ---- */

static void s_stats_prefix(uint64_t lse, uint8_t out[8])
{
    store_u64_key(lse, out);
}

static rp_err s_entry_discard(writer_txn_t *t, Rapport__V1__Entry *e, void *ctx)
{
    (void)ctx;
    return writer_entry_delete(t, e);
}

/* Remove a log's statistics kept aside (WRITER_DB_SEGLOG_STATS), adding
 * them to the statistics first when `merge`. */
static rp_err s_kept_stats_take(writer_txn_t *t, uint64_t lse, bool merge)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint8_t prefix[8];
    rp_err rc;

    s_stats_prefix(lse, prefix);
    rc = store_cursor_open(t->txn, t->w->db[WRITER_DB_SEGLOG_STATS], &cur);
    if (rc != RP_OK)
        return rc;
    k.data = prefix;
    k.len = 8;
    rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
    while (rc == RP_OK && k.len > 8 && memcmp(k.data, prefix, 8) == 0) {
        writer_stats_t s;
        if (merge && v.len != sizeof(s)) {
            rc = RP_ECORRUPT;
            break;
        }
        if (merge) {
            memcpy(&s, v.data, sizeof(s));
            rc = writer_stats_merge(t, (const uint8_t *)k.data + 8, k.len - 8, &s);
        }
        if (rc == RP_OK)
            rc = store_cursor_del(cur, false);
        /* Seek again rather than trust the cursor after a delete. */
        if (rc == RP_OK) {
            k.data = prefix;
            k.len = 8;
            rc = store_cursor_get(cur, STORE_SET_RANGE, &k, &v);
        }
    }
    store_cursor_close(cur);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* Remove what an interrupted attempt wrote: entries and kept-aside sums. */
static rp_err s_discard(writer_txn_t *t, seglog_t *sl)
{
    rp_err rc = sl->h.received ? writer_each_entry(t, sl->h.first, sl->h.first + sl->h.received - 1,
                                                   s_entry_discard, NULL)
                               : RP_OK;

    if (rc == RP_OK)
        rc = s_kept_stats_take(t, sl->h.lse, false);
    if (rc != RP_OK)
        return rc;
    sl->h.received = 0;
    memset(sl->counts, 0, sizeof(uint64_t) * sl->h.n_campaigns);
    /* The entry range is re-used: the largest key may have been one of
     * the discarded entries, which only costs MDB_APPEND its fast path. */
    return RP_OK;
}

static Rapport__V1__LogStarted *s_started(server_req_t *req, const ProtobufCBinaryData *log_id,
                                          const seglog_t *sl, uint32_t credit)
{
    Rapport__V1__LogStarted *ls = (Rapport__V1__LogStarted *)wire_arena_message(
        req->arena, &rapport__v1__log_started__descriptor);
    ls->log_id = *log_id;
    ls->logged_segment_no = sl->h.lse;
    ls->first_entry_no = sl->h.first;
    ls->credit = credit;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_LOG_STARTED;
    writer_reply(req)->log_started = ls;
    return ls;
}

static bool s_log_id_ok(server_req_t *req, const ProtobufCBinaryData *log_id)
{
    if (log_id->len == 0) {
        server_req_fail(req, RP_EINVAL, "log_id", "log_id is required");
        return false;
    }
    return true;
}

/* ---- the stream ---- */

/* A Begin resent after a crash of either side: start over on the same
 * reservation. */
static rp_err s_begin_again(writer_txn_t *t, server_req_t *req,
                            const Rapport__V1__SegmentLogBegin *b, seglog_t *sl)
{
    rp_err rc;

    if (!s_owner_ok(req, sl, &b->log_id))
        return RP_OK;
    if (sl->h.count != b->line_count) {
        server_req_fail(req, RP_EPRECOND, "line_count",
                        "segment log %.*s was begun with %llu lines, not %llu", (int)b->log_id.len,
                        (const char *)b->log_id.data, (unsigned long long)sl->h.count,
                        (unsigned long long)b->line_count);
        return RP_OK;
    }
    rc = s_discard(t, sl);
    if (rc != RP_OK)
        return rc;
    sl->h.boot = t->w->boot_id;
    rc = s_seglog_save(t, &b->log_id, sl);
    if (rc == RP_OK)
        s_started(req, &b->log_id, sl, (uint32_t)t->w->cfg->log_credit);
    return rc;
}

/* A new log's Begin against the rules (docs/domain.md section 7): fails
 * req when it breaks one. */
static rp_err s_begin_check(writer_txn_t *t, server_req_t *req,
                            const Rapport__V1__SegmentLogBegin *b)
{
    store_val_t v;
    rp_err rc;

    if (!b->segment_no[0]) {
        server_req_fail(req, RP_EINVAL, "segment_no", "segment_no is required");
        return RP_OK;
    }
    if (!b->description[0]) {
        server_req_fail(req, RP_EINVAL, "description",
                        "Description must have a value in Segment Header: No.=%s.", b->segment_no);
        return RP_OK;
    }
    if (b->line_count == 0) {
        server_req_fail(req, RP_EPRECOND, "line_count", "Segment %s is empty.", b->segment_no);
        return RP_OK;
    }
    if (b->line_count > MAX_LINES || b->n_campaign_nos > MAX_CAMPAIGNS) {
        server_req_fail(req, RP_ERANGE, "line_count",
                        "a segment log takes at most %llu lines and %d campaigns", MAX_LINES,
                        MAX_CAMPAIGNS);
        return RP_OK;
    }
    if (!clock_date_valid(b->creation_date) || (b->date && !clock_date_valid(b->date))) {
        server_req_fail(req, RP_EINVAL, "creation_date", "creation_date or date is not valid");
        return RP_OK;
    }
    for (size_t i = 0; i < b->n_campaign_nos; i++) {
        bool bad = !b->campaign_nos[i][0];
        for (size_t j = 0; j < i; j++)
            bad |= strcmp(b->campaign_nos[i], b->campaign_nos[j]) == 0;
        if (bad) {
            server_req_fail(req, RP_EINVAL, "campaign_nos",
                            "campaign_nos must be distinct and not blank");
            return RP_OK;
        }
    }
    rc = store_get(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], b->segment_no, strlen(b->segment_no),
                   &v);
    if (rc == RP_OK)
        server_req_fail(req, RP_EEXIST, "segment_no",
                        "Logged Segment for Segment No. %s already exists.", b->segment_no);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* A new log: reserve its numbers, record it, and keep its entry range
 * invisible (after commit). */
static rp_err s_begin_new(writer_txn_t *t, server_req_t *req, Rapport__V1__SegmentLogBegin *b)
{
    writer_range_t *r;
    seglog_t sl;
    rp_err rc;

    memset(&sl, 0, sizeof(sl));
    sl.h.state = SEGLOG_IN_FLIGHT;
    sl.h.n_campaigns = (uint32_t)b->n_campaign_nos;
    sl.h.boot = t->w->boot_id;
    sl.h.count = b->line_count;
    sl.begin = b;
    sl.owner = req->key;
    sl.counts = wire_arena_alloc(t->arena, sizeof(uint64_t) * (b->n_campaign_nos + 1));
    rc = writer_take(t, "logged_segment", 1, &sl.h.lse);
    if (rc == RP_OK)
        rc = writer_take(t, "entry", b->line_count, &sl.h.first);
    if (rc == RP_OK && b->n_campaign_nos)
        rc = writer_take(t, "campaign_entry", b->n_campaign_nos, &sl.h.ce_first);
    if (rc == RP_OK)
        rc = s_seglog_save(t, &b->log_id, &sl);
    if (rc != RP_OK)
        return rc;
    r = calloc(1, sizeof(*r));
    if (!r)
        return RP_ENOMEM;
    r->first = sl.h.first;
    r->last = sl.h.first + sl.h.count - 1;
    r->lse = sl.h.lse;
    memcpy(r->log_id, b->log_id.data, b->log_id.len);
    r->log_id_len = b->log_id.len;
    r->next = t->add_ranges;
    t->add_ranges = r;
    s_started(req, &b->log_id, &sl, (uint32_t)t->w->cfg->log_credit);
    return RP_OK;
}

rp_err intake_begin(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SegmentLogBegin *b = writer_request(req)->log_begin;
    seglog_t sl;
    rp_err rc;

    if (!s_log_id_ok(req, &b->log_id))
        return RP_OK;
    rc = s_seglog_load(t->txn, t->w, req->arena, &b->log_id, &sl);
    if (rc == RP_OK && sl.h.state != SEGLOG_IN_FLIGHT) {
        Rapport__V1__LogStarted *ls = s_started(req, &b->log_id, &sl, 0);
        ls->committed = true;
        ls->logged = sl.logged;
        return RP_OK;
    }
    if (rc == RP_OK)
        return s_begin_again(t, req, b, &sl);
    if (rc != RP_ENOTFOUND)
        return rc;
    rc = s_begin_check(t, req, b);
    if (rc != RP_OK || server_req_failed(req))
        return rc;
    return s_begin_new(t, req, b);
}

/* Statistics of a batch summed per key before touching the store. */
typedef struct {
    uint8_t key[8 + WRITER_STATS_KEY_LEN];
    writer_stats_t s;
} agg_t;

static rp_err s_agg_flush(writer_txn_t *t, agg_t *agg, size_t *n)
{
    store_dbi_t dbi = t->w->db[WRITER_DB_SEGLOG_STATS];
    for (size_t i = 0; i < *n; i++) {
        store_val_t v;
        writer_stats_t s = {0, 0, 0};
        rp_err rc = store_get(t->txn, dbi, agg[i].key, sizeof(agg[i].key), &v);
        if (rc == RP_OK && v.len == sizeof(s))
            memcpy(&s, v.data, sizeof(s));
        else if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
        s.count += agg[i].s.count;
        s.cost += agg[i].s.cost;
        s.duration += agg[i].s.duration;
        rc = store_put(t->txn, dbi, agg[i].key, sizeof(agg[i].key), &s, sizeof(s), 0);
        if (rc != RP_OK)
            return rc;
    }
    *n = 0;
    return RP_OK;
}

static rp_err s_agg_add(writer_txn_t *t, agg_t *agg, size_t *n, uint64_t lse, char kind,
                        const char *code, const writer_fwd_t *e)
{
    uint8_t key[8 + WRITER_STATS_KEY_LEN];
    size_t len = strlen(code);

    memset(key, 0, sizeof(key));
    s_stats_prefix(lse, key);
    key[8] = (uint8_t)kind;
    memcpy(key + 9, code, len > 10 ? 10 : len);
    key[19] = (uint8_t)(e->date >> 24);
    key[20] = (uint8_t)(e->date >> 16);
    key[21] = (uint8_t)(e->date >> 8);
    key[22] = (uint8_t)e->date;
    for (size_t i = 0; i < *n; i++) {
        if (memcmp(agg[i].key, key, sizeof(key)) == 0) {
            agg[i].s.count++;
            agg[i].s.cost += e->cost_cents;
            agg[i].s.duration += e->duration_min;
            return RP_OK;
        }
    }
    if (*n == STATS_AGG) {
        rp_err rc = s_agg_flush(t, agg, n);
        if (rc != RP_OK)
            return rc;
    }
    memcpy(agg[*n].key, key, sizeof(key));
    agg[*n].s.count = 1;
    agg[*n].s.cost = e->cost_cents;
    agg[*n].s.duration = e->duration_min;
    (*n)++;
    return RP_OK;
}

static void s_progress(writer_txn_t *t, const ProtobufCBinaryData *log_id, const seglog_t *sl)
{
    writer_t *w = t->w;
    size_t slot = sl->h.lse % 64;
    int64_t now = clock_mono_ms();
    bool done = sl->h.received == sl->h.count;

    if (!done && w->progress[slot].lse == sl->h.lse &&
        now - w->progress[slot].ms < PROGRESS_INTERVAL_MS)
        return;
    if (t->n_progress == sizeof(t->progress) / sizeof(t->progress[0]))
        return;
    w->progress[slot].lse = sl->h.lse;
    w->progress[slot].ms = now;
    t->progress[t->n_progress].log_id = *log_id;
    t->progress[t->n_progress].segment_no = sl->begin->segment_no;
    t->progress[t->n_progress].done = sl->h.received;
    t->progress[t->n_progress].total = sl->h.count;
    t->n_progress++;
}

/* The record of the log a Batch or Commit names. When it does not exist,
 * belongs to another key or (`in_flight_only`) is committed, req is failed
 * and RP_OK returned. */
static rp_err s_load_named(writer_txn_t *t, server_req_t *req, const ProtobufCBinaryData *log_id,
                           bool in_flight_only, seglog_t *sl)
{
    rp_err rc;

    if (!s_log_id_ok(req, log_id))
        return RP_OK;
    rc = s_seglog_load(t->txn, t->w, t->arena, log_id, sl);
    if (rc == RP_ENOTFOUND) {
        server_req_fail(req, RP_ENOTFOUND, "log_id", "no segment log %.*s was begun",
                        (int)log_id->len, (const char *)log_id->data);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    if (in_flight_only && sl->h.state != SEGLOG_IN_FLIGHT) {
        server_req_fail(req, RP_EPRECOND, "log_id", "segment log %.*s is already committed",
                        (int)log_id->len, (const char *)log_id->data);
        return RP_OK;
    }
    s_owner_ok(req, sl, log_id); /* a committed log answers anyone */
    return RP_OK;
}

/* Each entry's campaign, as its index in Begin's campaign_nos (SIZE_MAX:
 * none); fails req on a campaign Begin did not announce. */
static size_t *s_batch_campaigns(writer_txn_t *t, server_req_t *req, const seglog_t *sl,
                                 const writer_fwd_t *es, size_t n)
{
    size_t *camp = wire_arena_alloc(t->arena, sizeof(size_t) * n);

    for (size_t i = 0; i < n; i++) {
        camp[i] = SIZE_MAX;
        if (!es[i].campaign_no[0])
            continue;
        for (size_t j = 0; j < sl->h.n_campaigns; j++)
            if (strcmp(sl->begin->campaign_nos[j], es[i].campaign_no) == 0)
                camp[i] = j;
        if (camp[i] == SIZE_MAX) {
            server_req_fail(req, RP_EINVAL, "packed_entries",
                            "campaign %s was not announced in Begin", es[i].campaign_no);
            return NULL;
        }
    }
    return camp;
}

/* Write a checked batch into the log's range, its statistics kept aside. */
static rp_err s_batch_store(writer_txn_t *t, server_req_t *req, seglog_t *sl,
                            const writer_fwd_t *es, const size_t *camp, size_t n)
{
    agg_t agg[STATS_AGG];
    size_t n_agg = 0;
    writer_fwd_ids_t ids;
    rp_err rc = RP_OK;

    ids.logged_segment_no = sl->h.lse;
    ids.segment_no = sl->begin->segment_no;
    ids.user_id = req->user_id;
    for (size_t i = 0; i < n && rc == RP_OK; i++) {
        const writer_fwd_t *e = &es[i];
        ids.entry_no = sl->h.first + sl->h.received + i;
        ids.campaign_entry_no = 0;
        if (camp[i] != SIZE_MAX) {
            ids.campaign_entry_no = sl->h.ce_first + camp[i];
            sl->counts[camp[i]]++;
        }
        rc = writer_fwd_store(t, e, &ids);
        if (rc == RP_OK && e->template_code[0])
            rc = s_agg_add(t, agg, &n_agg, sl->h.lse, 'T', e->template_code, e);
        if (rc == RP_OK && e->group_code[0])
            rc = s_agg_add(t, agg, &n_agg, sl->h.lse, 'G', e->group_code, e);
    }
    if (rc == RP_OK)
        rc = s_agg_flush(t, agg, &n_agg);
    if (rc == RP_OK)
        sl->h.received += n;
    return rc;
}

rp_err intake_batch(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SegmentLogBatch *bt = writer_request(req)->log_batch;
    Rapport__V1__LogBatchAck *ack;
    writer_fwd_t *es = NULL;
    size_t n = 0, *camp;
    seglog_t sl;
    rp_err rc = s_load_named(t, req, &bt->log_id, true, &sl);

    if (rc != RP_OK || server_req_failed(req))
        return rc;
    if (sl.h.boot != t->w->boot_id) {
        server_req_fail(req, RP_EABORTED, "log_id",
                        "segment log %.*s was interrupted by a restart of the log writer; send "
                        "Begin again",
                        (int)bt->log_id.len, (const char *)bt->log_id.data);
        return RP_OK;
    }
    /* Read and check the whole batch before writing any of it. */
    if (writer_fwd_parse(req, t->arena, &bt->packed_entries, sl.h.count, &es, &n) != RP_OK)
        return RP_OK;
    if (bt->index < sl.h.received && bt->index + n <= sl.h.received)
        goto out_ack; /* a resent batch already written */
    if (bt->index != sl.h.received) {
        server_req_fail(req, RP_EABORTED, "index", "expected the batch at index %llu, got %llu",
                        (unsigned long long)sl.h.received, (unsigned long long)bt->index);
        return RP_OK;
    }
    if (sl.h.received + n > sl.h.count) {
        server_req_fail(req, RP_EINVAL, "packed_entries",
                        "a batch of %zu entries does not fit the %llu announced lines", n,
                        (unsigned long long)sl.h.count);
        return RP_OK;
    }
    camp = s_batch_campaigns(t, req, &sl, es, n);
    if (!camp)
        return RP_OK;
    rc = s_batch_store(t, req, &sl, es, camp, n);
    if (rc == RP_OK)
        rc = s_seglog_save(t, &bt->log_id, &sl);
    if (rc != RP_OK)
        return rc;
    s_progress(t, &bt->log_id, &sl);
out_ack:
    ack = (Rapport__V1__LogBatchAck *)wire_arena_message(req->arena,
                                                         &rapport__v1__log_batch_ack__descriptor);
    ack->log_id = bt->log_id;
    ack->received = sl.h.received;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_LOG_BATCH_ACK;
    writer_reply(req)->log_batch_ack = ack;
    return RP_OK;
}

/* Campaign entry j of a committing log, with its indexes. */
static rp_err s_commit_campaign_entry(writer_txn_t *t, const seglog_t *sl,
                                      const Rapport__V1__LoggedSegment *ls, uint32_t j,
                                      Rapport__V1__CampaignEntry **ret)
{
    Rapport__V1__CampaignEntry *ce = (Rapport__V1__CampaignEntry *)wire_arena_message(
        t->arena, &rapport__v1__campaign_entry__descriptor);
    uint8_t range[16], cek[8], lsek[8];
    rp_err rc;

    ce->entry_no = sl->h.ce_first + j;
    ce->campaign_no = sl->begin->campaign_nos[j];
    ce->description = sl->begin->description;
    ce->date = sl->begin->date ? sl->begin->date : sl->begin->creation_date;
    ce->user_id = ls->user_id;
    ce->segment_no = ls->segment_no;
    ce->register_no = ls->entry_no;
    ce->salesperson_code = sl->begin->salesperson_code;
    ce->no_of_entries = sl->counts[j];
    rc = writer_put_record(t, WRITER_DB_CAMPAIGN_ENTRIES, ce->entry_no, &ce->base, 0);
    store_u64_key(ce->entry_no, cek);
    store_u64_key(ls->entry_no, lsek);
    if (rc == RP_OK)
        rc = store_put(t->txn, t->w->db[WRITER_DB_CE_BY_LSE], lsek, 8, cek, 8, 0);
    store_u64_key(ls->first_entry_no, range);
    store_u64_key(ls->last_entry_no, range + 8);
    if (rc == RP_OK)
        rc = store_put(t->txn, t->w->db[WRITER_DB_CE_RANGE], cek, 8, range, 16, 0);
    *ret = ce;
    return rc;
}

/* The records a complete log leaves: its logged segment and campaign
 * entries; *ret is what SegmentLogged says of them. */
static rp_err s_commit_records(writer_txn_t *t, server_req_t *req, const seglog_t *sl,
                               Rapport__V1__SegmentLogged **ret)
{
    Rapport__V1__LoggedSegment ls = RAPPORT__V1__LOGGED_SEGMENT__INIT;
    Rapport__V1__SegmentLogged *out;
    uint8_t k[8];
    rp_err rc;

    ls.entry_no = sl->h.lse;
    ls.segment_no = sl->begin->segment_no;
    ls.description = sl->begin->description;
    ls.creation_date = sl->begin->creation_date;
    ls.user_id = wire_str(req->user_id);
    ls.no_of_interactions = sl->h.count;
    ls.no_of_campaign_entries = sl->h.n_campaigns;
    ls.first_entry_no = sl->h.first;
    ls.last_entry_no = sl->h.first + sl->h.count - 1;
    ls.follow_up_segment_no = sl->begin->follow_up_segment_no;
    rc = writer_put_record(t, WRITER_DB_LOGGED_SEGMENTS, ls.entry_no, &ls.base, 0);
    store_u64_key(ls.entry_no, k);
    if (rc == RP_OK)
        rc = store_put(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls.segment_no,
                       strlen(ls.segment_no), k, 8, 0);
    if (rc != RP_OK)
        return rc;
    out = (Rapport__V1__SegmentLogged *)wire_arena_message(
        t->arena, &rapport__v1__segment_logged__descriptor);
    out->logged_segment_no = ls.entry_no;
    out->segment_no = ls.segment_no;
    out->description = ls.description;
    out->entry_count = ls.no_of_interactions;
    out->first_entry_no = ls.first_entry_no;
    out->last_entry_no = ls.last_entry_no;
    out->follow_up_segment_no = ls.follow_up_segment_no;
    out->n_campaign_entries = sl->h.n_campaigns;
    out->campaign_entries =
        (Rapport__V1__CampaignEntry **)wire_arena_ptrs(t->arena, sl->h.n_campaigns);
    for (uint32_t j = 0; j < sl->h.n_campaigns && rc == RP_OK; j++)
        rc = s_commit_campaign_entry(t, sl, &ls, j, &out->campaign_entries[j]);
    *ret = out;
    return rc;
}

rp_err intake_commit(writer_txn_t *t, server_req_t *req)
{
    Rapport__V1__SegmentLogCommit *c = writer_request(req)->log_commit;
    Rapport__V1__SegmentLogged *out;
    seglog_t sl;
    rp_err rc = s_load_named(t, req, &c->log_id, false, &sl);

    if (rc != RP_OK || server_req_failed(req))
        return rc;
    if (sl.h.state != SEGLOG_IN_FLIGHT) {
        out = sl.logged; /* committed before: the same answer */
        goto out_reply;
    }
    if (c->count != sl.h.count || sl.h.received != sl.h.count) {
        server_req_fail(req, RP_EABORTED, "count",
                        "segment log incomplete: %llu of %llu entries received, commit says %llu",
                        (unsigned long long)sl.h.received, (unsigned long long)sl.h.count,
                        (unsigned long long)c->count);
        return RP_OK;
    }
    if (t->n_commit_ranges == sizeof(t->commit_range_first) / sizeof(t->commit_range_first[0])) {
        /* Too many logs committing in one transaction: let this one be
         * retried in the next. */
        server_req_fail(req, RP_EUNAVAIL, NULL, "the log writer is busy; retry");
        return RP_OK;
    }
    rc = s_commit_records(t, req, &sl, &out);
    if (rc != RP_OK)
        return rc;
    /* Durable now; visible once its contact index is built (indexing.c),
     * when its statistics merge and segment.logged is published. */
    t->commit_range_first[t->n_commit_ranges++] = sl.h.first;
    sl.h.state = SEGLOG_INDEXING;
    sl.h.received = 0; /* from now on: entries indexed */
    sl.logged = out;
    rc = s_seglog_save(t, &c->log_id, &sl);
    if (rc != RP_OK)
        return rc;
out_reply:
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED;
    writer_reply(req)->segment_logged = out;
    return RP_OK;
}

rp_err intake_visible(writer_t *w, store_txn_t *txn, server_req_t *req)
{
    Rapport__V1__SegmentLogVisible *v = writer_request(req)->log_visible;
    writer_range_t *r;
    seglog_t sl;
    rp_err rc;

    if (!s_log_id_ok(req, &v->log_id))
        return RP_OK;
    rc = s_seglog_load(txn, w, req->arena, &v->log_id, &sl);
    if (rc == RP_ENOTFOUND || (rc == RP_OK && sl.h.state == SEGLOG_IN_FLIGHT)) {
        server_req_fail(req, RP_ENOTFOUND, "log_id", "no segment log %.*s was committed",
                        (int)v->log_id.len, (const char *)v->log_id.data);
        return RP_OK;
    }
    if (rc != RP_OK)
        return rc;
    r = writer_range_of_log(w, &v->log_id);
    if (r && r->committed)
        return indexing_wait(r, req);
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_SEGMENT_LOGGED;
    writer_reply(req)->segment_logged = sl.logged;
    return RP_OK;
}

rp_err intake_set_indexed(writer_txn_t *t, const writer_range_t *r, uint64_t indexed)
{
    ProtobufCBinaryData id = {r->log_id_len, (uint8_t *)(uintptr_t)r->log_id};
    seglog_t sl;
    rp_err rc = s_seglog_load(t->txn, t->w, t->arena, &id, &sl);

    if (rc != RP_OK)
        return rc;
    sl.h.received = indexed;
    return s_seglog_save(t, &id, &sl);
}

rp_err intake_reveal(writer_txn_t *t, writer_range_t *r)
{
    ProtobufCBinaryData id = {r->log_id_len, r->log_id};
    Rapport__V1__LoggedSegment *ls;
    uint8_t *slash;
    seglog_t sl;
    rp_err rc = s_seglog_load(t->txn, t->w, t->arena, &id, &sl);

    if (rc != RP_OK)
        return rc;
    if (sl.h.state != SEGLOG_INDEXING)
        return RP_OK; /* revealed before a restart */
    /* segment.logged names who logged it, and the LogSegment's request_id
     * (the segment worker's log_id is "<segment No.>/<request_id>"). */
    rc = writer_get_record(t->txn, t->w, t->arena, WRITER_DB_LOGGED_SEGMENTS, sl.h.lse,
                           &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);
    if (rc != RP_OK)
        return rc;
    t->cause_user_id = ls->user_id;
    slash = memchr(id.data, '/', id.len);
    if (slash && (size_t)(id.data + id.len - slash - 1) <= WIRE_REQUEST_ID_MAX) {
        t->cause_request_id.data = slash + 1;
        t->cause_request_id.len = (size_t)(id.data + id.len - slash - 1);
    }
    rc = s_kept_stats_take(t, sl.h.lse, true);
    if (rc != RP_OK)
        return rc;
    sl.h.state = SEGLOG_COMMITTED;
    sl.h.received = sl.h.count;
    rc = s_seglog_save(t, &id, &sl);
    if (rc == RP_OK)
        rc = s_seglog_committed_at(t, &id);
    if (rc == RP_OK)
        rc = events_append(t, "segment.logged", RAPPORT__V1__EVENT__BODY_SEGMENT_LOGGED,
                           &sl.logged->base);
    return rc;
}
