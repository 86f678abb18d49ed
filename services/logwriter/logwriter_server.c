/* logwriter_server: the log writer's command table and group commit.
 *
 * The server hands over every request drained from the ROUTER at once.
 * Reads are answered first from a read transaction (they never wait for a
 * commit); all mutating requests of the drain then run in one write
 * transaction, one fsync for all (group commit). Replies and events leave
 * only after that commit: nothing is acked or published before it is
 * durable. A successful mutating request stores its reply under its
 * request_id in the same transaction, so a retry gets the first reply and
 * changes nothing. */
#include "logwriter_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "writer.h"

/* Segment-log entries one group commit applies at most. Each entry may
 * dirty a page of the contact index, and LMDB keeps a write transaction's
 * dirty pages in memory until the commit: this bounds that memory (about
 * 4 KiB an entry) whatever the segment's or the store's size. */
#define COMMIT_MAX_ENTRIES 16384

/* Old events and committed segment logs go every minute, the first time a
 * few seconds after start. */
#define PRUNE_EVERY_MS 60000
#define PRUNE_FIRST_MS 5000

enum {
    CMD_WRITE_ENTRY = RAPPORT__V1__LOG_REQUEST__COMMAND_WRITE_ENTRY,
    CMD_GET_ENTRY = RAPPORT__V1__LOG_REQUEST__COMMAND_GET_ENTRY,
    CMD_LIST_ENTRIES = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES,
    CMD_SET_CANCELED = RAPPORT__V1__LOG_REQUEST__COMMAND_SET_ENTRIES_CANCELED,
    CMD_DELETE_CANCELED = RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_ENTRIES,
    CMD_DELETE_POSTPONED = RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_POSTPONED_ENTRIES,
    CMD_STATISTICS = RAPPORT__V1__LOG_REQUEST__COMMAND_STATISTICS,
    CMD_READ_EVENTS = RAPPORT__V1__LOG_REQUEST__COMMAND_READ_EVENTS,
    CMD_READ_CHANGES = RAPPORT__V1__LOG_REQUEST__COMMAND_READ_CHANGES,
    CMD_CONFIRM_RELAYED = RAPPORT__V1__LOG_REQUEST__COMMAND_CONFIRM_RELAYED,
    CMD_LOG_BEGIN = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BEGIN,
    CMD_LOG_BATCH = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_BATCH,
    CMD_LOG_COMMIT = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_COMMIT,
    CMD_LOG_VISIBLE = RAPPORT__V1__LOG_REQUEST__COMMAND_LOG_VISIBLE,
    CMD_GET_LOGGED = RAPPORT__V1__LOG_REQUEST__COMMAND_GET_LOGGED_SEGMENT,
    CMD_LIST_LOGGED = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_LOGGED_SEGMENTS,
    CMD_SET_LOGGED_CANCELED = RAPPORT__V1__LOG_REQUEST__COMMAND_SET_LOGGED_SEGMENT_CANCELED,
    CMD_DELETE_LOGGED = RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_LOGGED_SEGMENTS,
    CMD_LIST_CE = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_CAMPAIGN_ENTRIES,
    CMD_SET_CE_CANCELED = RAPPORT__V1__LOG_REQUEST__COMMAND_SET_CAMPAIGN_ENTRY_CANCELED,
    CMD_DELETE_CE = RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_CAMPAIGN_ENTRIES,
    CMD_STATS = RAPPORT__V1__LOG_REQUEST__COMMAND_STATS,
    CMD_COUNT
};

/* How the writer handles a command: a read, answered from a read
 * transaction at once, or a write, applied in the group commit. */
typedef struct {
    writer_read_fn read;
    writer_write_fn write;
} handler_t;

#define READ(fn)               \
    .impl = &(const handler_t) \
    {                          \
        fn, NULL               \
    }
#define WRITE(fn)              \
    .impl = &(const handler_t) \
    {                          \
        NULL, fn               \
    }

/* write_entry and the segment log stream take entries that the other
 * workers validated: internal (over tcp, their relay keys only). The
 * stream is idempotent by its log_id. */
static const server_command_t s_commands[CMD_COUNT] = {
    [CMD_WRITE_ENTRY] = {"write_entry", NULL, ROLE_WRITER, true, .internal = true,
                         WRITE(entries_write)},
    [CMD_GET_ENTRY] = {"get_entry", NULL, ROLE_READER, false, READ(entries_get)},
    [CMD_LIST_ENTRIES] = {"list_entries", NULL, ROLE_READER, false, READ(entries_list)},
    [CMD_SET_CANCELED] = {"set_entries_canceled", NULL, ROLE_ADMIN, true,
                          WRITE(entries_set_canceled)},
    [CMD_DELETE_CANCELED] = {"delete_canceled_entries", NULL, ROLE_ADMIN, true,
                             WRITE(entries_delete_canceled)},
    [CMD_DELETE_POSTPONED] = {"delete_postponed_entries", NULL, ROLE_ADMIN, true,
                              WRITE(entries_delete_postponed)},
    [CMD_STATISTICS] = {"statistics", NULL, ROLE_READER, false, READ(entries_statistics)},
    [CMD_READ_EVENTS] = {"read_events", NULL, ROLE_READER, false, READ(events_read)},
    [CMD_READ_CHANGES] = {"read_changes", NULL, ROLE_READER, false, READ(changes_read)},
    [CMD_CONFIRM_RELAYED] = {"confirm_relayed", NULL, ROLE_ADMIN, true, .internal = true,
                             .own_idempotency = true, WRITE(changes_confirm)},
    [CMD_LOG_BEGIN] = {"log_begin", NULL, ROLE_WRITER, true, .internal = true,
                       .own_idempotency = true, WRITE(intake_begin)},
    [CMD_LOG_BATCH] = {"log_batch", NULL, ROLE_WRITER, true, .internal = true,
                       .own_idempotency = true, WRITE(intake_batch)},
    [CMD_LOG_COMMIT] = {"log_commit", NULL, ROLE_WRITER, true, .internal = true,
                        .own_idempotency = true, WRITE(intake_commit)},
    [CMD_LOG_VISIBLE] = {"log_visible", NULL, ROLE_WRITER, false, .internal = true,
                         READ(intake_visible)},
    [CMD_GET_LOGGED] = {"get_logged_segment", NULL, ROLE_READER, false, READ(logged_get)},
    [CMD_LIST_LOGGED] = {"list_logged_segments", NULL, ROLE_READER, false, READ(logged_list)},
    [CMD_SET_LOGGED_CANCELED] = {"set_logged_segment_canceled", NULL, ROLE_ADMIN, true,
                                 WRITE(logged_set_canceled)},
    [CMD_DELETE_LOGGED] = {"delete_canceled_logged_segments", NULL, ROLE_ADMIN, true,
                           WRITE(logged_delete_canceled)},
    [CMD_LIST_CE] = {"list_campaign_entries", NULL, ROLE_READER, false,
                     READ(logged_list_campaign_entries)},
    [CMD_SET_CE_CANCELED] = {"set_campaign_entry_canceled", NULL, ROLE_ADMIN, true,
                             WRITE(logged_set_campaign_entry_canceled)},
    [CMD_DELETE_CE] = {"delete_canceled_campaign_entries", NULL, ROLE_ADMIN, true,
                       WRITE(logged_delete_canceled_campaign_entries)},
    [CMD_STATS] = {"stats", NULL, ROLE_READER, false}, /* answered by the server */
};

static const handler_t *s_handler(const server_req_t *req)
{
    return s_commands[req->command].impl;
}

static const store_dbi_spec_t s_dbis[WRITER_DB_COUNT] = {
    [WRITER_DB_META] = {"meta", 0},
    [WRITER_DB_ENTRIES] = {"entries", 0},
    [WRITER_DB_BY_CONTACT] = {"entries_by_contact", STORE_DB_DUPSORT | STORE_DB_DUPFIXED},
    [WRITER_DB_POSTPONED] = {"postponed", 0},
    [WRITER_DB_LOGGED_SEGMENTS] = {"logged_segments", 0},
    [WRITER_DB_LSE_BY_SEGMENT] = {"logged_segment_by_segment_no", 0},
    [WRITER_DB_CAMPAIGN_ENTRIES] = {"campaign_entries", 0},
    [WRITER_DB_CE_BY_LSE] = {"campaign_entries_by_logged_segment",
                             STORE_DB_DUPSORT | STORE_DB_DUPFIXED},
    [WRITER_DB_CE_RANGE] = {"campaign_entry_range", 0},
    [WRITER_DB_STATS] = {"statistics", 0},
    [WRITER_DB_EVENTS] = {"events", 0},
    [WRITER_DB_DEDUP] = {"dedup", 0},
    [WRITER_DB_DEDUP_TIME] = {"dedup_by_time", 0},
    [WRITER_DB_SEGLOGS] = {"segment_logs_in_flight", 0},
    [WRITER_DB_SEGLOG_STATS] = {"segment_log_statistics", 0},
    [WRITER_DB_SEGLOG_TIME] = {"segment_logs_by_time", 0},
    [WRITER_DB_HELD] = {"changes_held", 0},
    [WRITER_DB_HELD_ENTRIES] = {"changes_held_entries", 0},
};

/* ---- shared helpers ---- */

rp_err writer_meta_find(store_txn_t *txn, writer_t *w, const char *name, bool *ret_present,
                        uint64_t *ret)
{
    store_val_t v;
    rp_err rc = store_get(txn, w->db[WRITER_DB_META], name, strlen(name), &v);
    *ret_present = false;
    *ret = 0;
    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc != RP_OK)
        return rc;
    if (v.len != 8)
        return RP_ECORRUPT;
    *ret_present = true;
    *ret = store_key_u64(v.data);
    return RP_OK;
}

rp_err writer_meta_get(store_txn_t *txn, writer_t *w, const char *name, uint64_t *ret)
{
    bool present;
    return writer_meta_find(txn, w, name, &present, ret);
}

rp_err writer_meta_put(store_txn_t *txn, writer_t *w, const char *name, uint64_t v)
{
    uint8_t b[8];
    store_u64_key(v, b);
    return store_put(txn, w->db[WRITER_DB_META], name, strlen(name), b, 8, 0);
}

rp_err writer_take(writer_txn_t *t, const char *name, uint64_t n, uint64_t *ret_first)
{
    uint64_t last;
    rp_err rc = writer_meta_get(t->txn, t->w, name, &last);
    if (rc != RP_OK)
        return rc;
    *ret_first = last + 1;
    return writer_meta_put(t->txn, t->w, name, last + n);
}

rp_err writer_put_record(writer_txn_t *t, int db, uint64_t key, const ProtobufCMessage *msg,
                         unsigned flags)
{
    uint8_t k[8];
    void *dst;
    size_t len = wire_size(msg);
    rp_err rc;

    /* The change stream (a replica publishes none). */
    if ((db == WRITER_DB_LOGGED_SEGMENTS || db == WRITER_DB_CAMPAIGN_ENTRIES) && !t->w->replica) {
        rc = changes_record_put(t, db, key, msg);
        if (rc != RP_OK)
            return rc;
    }
    store_u64_key(key, k);
    rc = store_reserve(t->txn, t->w->db[db], k, 8, len, flags, &dst);
    if (rc != RP_OK)
        return rc;
    wire_encode_to(msg, dst);
    return RP_OK;
}

rp_err writer_get_record(store_txn_t *txn, writer_t *w, wire_arena_t *a, int db, uint64_t key,
                         const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
    uint8_t k[8];
    store_val_t v;
    rp_err rc;

    store_u64_key(key, k);
    rc = store_get(txn, w->db[db], k, 8, &v);
    if (rc != RP_OK)
        return rc;
    return wire_decode_trusted(a, desc, v.data, v.len, ret);
}

void writer_reply_count(server_req_t *req, uint64_t count)
{
    Rapport__V1__Count *c =
        (Rapport__V1__Count *)wire_arena_message(req->arena, &rapport__v1__count__descriptor);
    c->count = count;
    writer_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_COUNT;
    writer_reply(req)->count = c;
}

/* ---- the batch ---- */

typedef struct {
    writer_t *w;
    server_req_t **reqs;
    size_t n;
    writer_txn_t t;
    uint64_t *event_seq; /* per request: its reply's seq when it appended events, else 0 */
} batch_t;

static void s_staged_free(writer_txn_t *t)
{
    writer_event_t *e = t->events;
    writer_range_t *r = t->add_ranges;
    while (e) {
        writer_event_t *n = e->next;
        free(e);
        e = n;
    }
    while (r) {
        writer_range_t *n = r->next;
        free(r);
        r = n;
    }
    t->events = NULL;
    t->events_tail = &t->events;
    t->add_ranges = NULL;
    t->n_commit_ranges = 0;
    t->n_progress = 0;
}

static rp_err s_apply(store_txn_t *txn, void *ctx)
{
    batch_t *b = ctx;
    writer_txn_t *t = &b->t;
    rp_err rc;

    /* A fresh attempt: forget what an aborted one staged. */
    s_staged_free(t);
    wire_arena_reset(t->arena);
    t->txn = txn;
    t->max_entry_key = b->w->max_entry_key;
    b->event_seq = wire_arena_alloc(t->arena, b->n * sizeof(*b->event_seq));
    /* A repeat of a request_id was answered by the server before it got
     * here; a success records its reply for the repeats to come. */
    for (size_t i = 0; i < b->n; i++) {
        server_req_t *req = b->reqs[i];
        uint64_t before;

        server_req_reset_reply(req);
        t->req = req;
        rc = writer_meta_get(txn, b->w, "seq", &before);
        if (rc == RP_OK)
            rc = s_handler(req)->write(t, req);
        if (rc == RP_OK)
            rc = writer_meta_get(txn, b->w, "seq", &writer_reply(req)->seq);
        if (rc != RP_OK)
            return rc;
        b->event_seq[i] = writer_reply(req)->seq > before ? writer_reply(req)->seq : 0;
        if (server_req_failed(req) || s_commands[req->command].own_idempotency)
            continue;
        rc = server_dedup_record(req, txn);
        if (rc != RP_OK)
            return rc;
    }
    return RP_OK;
}

/* After a commit: new ranges become invisible; committed ones are to be
 * indexed (indexing.c makes them visible). */
static void s_apply_ranges(writer_t *w, writer_txn_t *t)
{
    for (size_t i = 0; i < t->n_commit_ranges; i++)
        for (writer_range_t *r = w->pending; r; r = r->next)
            if (r->first == t->commit_range_first[i] && !r->committed) {
                r->committed = true;
                r->indexed = 0;
            }
    while (t->add_ranges) {
        writer_range_t *r = t->add_ranges;
        t->add_ranges = r->next;
        r->next = w->pending;
        w->pending = r;
    }
    t->n_commit_ranges = 0;
}

/* ---- transactions of the writer's own (indexing.c) ---- */

typedef struct {
    writer_txn_t *t;
    writer_txn_fn fn;
    void *ctx;
} own_t;

static rp_err s_own_apply(store_txn_t *txn, void *ctx)
{
    own_t *o = ctx;

    s_staged_free(o->t);
    wire_arena_reset(o->t->arena);
    o->t->txn = txn;
    o->t->max_entry_key = o->t->w->max_entry_key;
    return o->fn(o->t, o->ctx);
}

/* After the commit of a transaction of the writer's own: its ranges and
 * events. */
static void s_own_committed(writer_t *w, writer_txn_t *t)
{
    w->max_entry_key = t->max_entry_key;
    s_apply_ranges(w, t);
    events_publish_staged(w, t->events);
}

static void s_own_free(writer_txn_t *t)
{
    s_staged_free(t);
    wire_arena_destroy(&t->arena);
}

rp_err writer_txn_run(writer_t *w, writer_txn_fn fn, void *ctx, unsigned flags)
{
    writer_txn_t t = {.w = w};
    own_t o = {&t, fn, ctx};
    rp_err rc;

    t.events_tail = &t.events;
    t.arena = wire_arena_new();
    if (!t.arena)
        return RP_ENOMEM;
    rc = store_write_flags(w->store, s_own_apply, &o, flags, NULL);
    if (rc == RP_OK)
        s_own_committed(w, &t);
    s_own_free(&t);
    return rc;
}

rp_err writer_txn_begin(writer_t *w, writer_txn_t *t)
{
    rp_err rc;

    memset(t, 0, sizeof(*t));
    t->w = w;
    t->events_tail = &t->events;
    t->max_entry_key = w->max_entry_key;
    t->arena = wire_arena_new();
    if (!t->arena)
        return RP_ENOMEM;
    rc = store_txn_begin(w->store, true, &t->txn);
    if (rc != RP_OK)
        s_own_free(t);
    return rc;
}

rp_err writer_txn_commit(writer_txn_t *t)
{
    rp_err rc = store_txn_commit(t->txn);

    t->txn = NULL;
    if (rc == RP_OK)
        s_own_committed(t->w, t);
    s_own_free(t);
    return rc;
}

void writer_txn_abort(writer_txn_t *t)
{
    store_txn_abort(t->txn);
    t->txn = NULL;
    s_own_free(t);
}

static void s_commit(writer_t *w, server_req_t **reqs, size_t n)
{
    batch_t b = {.w = w, .reqs = reqs, .n = n};
    uint64_t t0 = clock_mono_ns();
    unsigned attempts = 0;
    bool only_batches = true;
    rp_err rc;

    b.t.w = w;
    b.t.events_tail = &b.t.events;
    b.t.arena = wire_arena_new();
    if (!b.t.arena)
        abort();
    /* A transaction of segment-log batches only writes entries that stay
     * invisible until the log's Commit, which is synced fully: it may skip
     * the meta sync (a power failure loses at most this chunk, and the log
     * is begun again). */
    for (size_t i = 0; i < n && only_batches; i++)
        only_batches = reqs[i]->command == CMD_LOG_BATCH;
    rc = store_write_flags(w->store, s_apply, &b, only_batches ? STORE_WRITE_NOMETASYNC : 0,
                           &attempts);
    w->commits++;
    w->replays += attempts > 1 ? attempts - 1 : 0;
    server_hist_observe(&w->commit_batch, (double)n);
    server_hist_observe(&w->commit_seconds, (double)(clock_mono_ns() - t0) / 1e9);
    server_hist_observe(&w->fsync_seconds, (double)store_last_commit_ns(w->store) / 1e9);
    if (rc == RP_OK) {
        /* Crash tests: the commit is durable, no reply has left yet. */
        for (size_t i = 0; i < n; i++) {
            if (reqs[i]->command == CMD_LOG_BATCH)
                daemon_fault_point("logwriter.mid_stream");
            else if (reqs[i]->command == CMD_LOG_COMMIT)
                daemon_fault_point("logwriter.after_commit");
        }
        w->max_entry_key = b.t.max_entry_key;
        s_apply_ranges(w, &b.t);
        events_publish_staged(w, b.t.events);
        for (size_t i = 0; i < b.t.n_progress; i++)
            events_publish_progress(w, &b.t.progress[i].log_id, b.t.progress[i].segment_no,
                                    b.t.progress[i].done, b.t.progress[i].total);
        for (size_t i = 0; i < n; i++)
            if (!writer_hold_for_relay(w, reqs[i], b.event_seq[i]))
                server_req_finish(reqs[i]);
    } else {
        w->commit_failures++;
        log_warnx("commit of %zu requests failed: %s (%s)", n, rp_strerror(rc),
                  store_last_error(w->store));
        for (size_t i = 0; i < n; i++) {
            server_req_reset_reply(reqs[i]);
            writer_reply(reqs[i])->seq = 0;
            if (rc == RP_ENOSPC || rc == RP_EMAPFULL)
                server_req_fail(reqs[i], RP_ENOSPC, NULL,
                                "the log writer cannot write: %s; nothing was written",
                                store_last_error(w->store));
            else
                server_req_fail(reqs[i], RP_EUNAVAIL, NULL,
                                "the log writer could not commit (%s); nothing was written",
                                rp_strerror(rc));
            server_req_finish(reqs[i]);
        }
    }
    s_staged_free(&b.t);
    wire_arena_destroy(&b.t.arena);
}

/* The entries a request brings, for the server's drain and the group
 * commit's cap. */
static size_t s_weight(const server_req_t *req)
{
    const Rapport__V1__LogRequest *lr = (const Rapport__V1__LogRequest *)req->request;
    return req->command == CMD_LOG_BATCH ? writer_fwd_count(&lr->log_batch->packed_entries) : 1;
}

static bool s_in_stream(const server_req_t *req)
{
    return req->command == CMD_LOG_BEGIN || req->command == CMD_LOG_BATCH ||
           req->command == CMD_LOG_COMMIT;
}

/* Put the writes that are no part of a segment log stream first, each
 * group in its own order (a stream is one sender's sequence); returns how
 * many they are (0 when out of memory: then all keep their order). */
static size_t s_others_first(server_req_t **reqs, size_t n)
{
    server_req_t **stream = malloc(n * sizeof(*stream));
    size_t n_other = 0, n_stream = 0;

    if (!stream)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s_in_stream(reqs[i]))
            stream[n_stream++] = reqs[i];
        else
            reqs[n_other++] = reqs[i];
    }
    memcpy(reqs + n_other, stream, n_stream * sizeof(*stream));
    free(stream);
    return n_other;
}

/* Group commit. The writes that are no part of a segment log stream (a
 * single interaction, a cancel) commit first, in a transaction of their
 * own, so that they wait for at most the transaction under way, never
 * behind a stream's chunk; the stream follows in transactions of up to
 * COMMIT_MAX_ENTRIES entries. */
static void s_commit_groups(writer_t *w, server_req_t **reqs, size_t n)
{
    size_t first = s_others_first(reqs, n), entries = 0;

    if (first)
        s_commit(w, reqs, first);
    for (size_t i = first; i < n; i++) {
        size_t k = reqs[i]->weight;
        if (i > first && entries + k > COMMIT_MAX_ENTRIES) {
            s_commit(w, &reqs[first], i - first);
            first = i;
            entries = 0;
        }
        entries += k;
    }
    if (first < n)
        s_commit(w, &reqs[first], n - first);
}

/* Answer a read from rtxn, with the seq the store reflects; a
 * SegmentLogVisible may wait for its log. */
static void s_read(writer_t *w, store_txn_t *rtxn, server_req_t *req)
{
    rp_err rc = s_handler(req)->read(w, rtxn, req);

    if (rc != RP_OK) {
        req->deferred = false;
        server_req_reset_reply(req);
        server_req_fail(req, rc == RP_ECORRUPT ? RP_ECORRUPT : RP_EINTERNAL, NULL,
                        "the log writer could not read: %s", rp_strerror(rc));
    }
    (void)writer_meta_get(rtxn, w, "seq", &writer_reply(req)->seq);
    /* The end of a segment log: its segment.logged is at that seq or before. */
    if (!req->deferred &&
        !(req->command == CMD_LOG_VISIBLE && writer_hold_for_relay(w, req, writer_reply(req)->seq)))
        server_req_finish(req);
}

/* Put req on the waiting list (deferred) until its timeout (timeout_ms,
 * else request_timeout_ms, from its arrival; a write's reply three
 * quarters of it, so that its UNAVAILABLE reaches the caller before the
 * caller gives up); false when out of memory. */
static bool s_defer(writer_t *w, server_req_t *req, uint64_t relay_seq)
{
    const Rapport__V1__LogRequest *lr = writer_request(req);
    int64_t ms = lr->timeout_ms ? (int64_t)lr->timeout_ms : w->cfg->request_timeout_ms;

    if (relay_seq)
        ms -= ms / 4;
    if (w->n_waiting == w->cap_waiting) {
        size_t cap = w->cap_waiting ? w->cap_waiting * 2 : 16;
        writer_waiter_t *g = realloc(w->waiting, cap * sizeof(*g));
        if (!g)
            return false;
        w->waiting = g;
        w->cap_waiting = cap;
    }
    w->waiting[w->n_waiting++] =
        (writer_waiter_t){req, (int64_t)(req->t0_ns / 1000000) + ms, relay_seq};
    w->n_held_for_relay += relay_seq != 0;
    req->deferred = true;
    return true;
}

/* A read whose min_seq the store has not reached: on a replica it waits
 * (true) until s_serve_waiting answers it (out of memory: answered now,
 * with the seq it reflects). On the primary no waiting brings it: every
 * seq a client knows of came in a reply after its commit here, so it is
 * refused now (true). */
static bool s_wait(writer_t *w, server_req_t *req)
{
    uint64_t min_seq = writer_request(req)->min_seq;

    if (min_seq <= w->last_seq)
        return false;
    if (w->replica)
        return s_defer(w, req, 0);
    server_req_fail(req, RP_ERANGE, "min_seq",
                    "seq %llu (min_seq) is beyond this log writer's last seq %llu: it is not a "
                    "seq of this store",
                    (unsigned long long)min_seq, (unsigned long long)w->last_seq);
    writer_reply(req)->seq = w->last_seq;
    server_req_finish(req);
    return true;
}

/* A write's reply that the relay has not confirmed in time: UNAVAILABLE
 * (the write stays committed, and a retry with its request_id gets the
 * first reply once the relay has confirmed it). */
static void s_relay_unavailable(writer_t *w, server_req_t *req, uint64_t seq, const char *why)
{
    req->raw_reply = NULL; /* a repeat's first reply, from its idempotency record */
    server_req_reset_reply(req);
    server_req_status(req, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, NULL,
                      "committed at seq %llu, which rapport-relay has not confirmed to JetStream "
                      "%s (confirmed: seq %llu; ack_after_relay): retry with the same request_id, "
                      "answered once it is confirmed",
                      (unsigned long long)seq, why, (unsigned long long)w->relay_confirmed);
    writer_reply(req)->seq = seq;
}

bool writer_hold_for_relay(writer_t *w, server_req_t *req, uint64_t seq)
{
    uint8_t *buf = NULL;
    size_t len;

    if (!w->cfg->ack_after_relay || w->replica || seq <= w->relay_confirmed ||
        server_req_failed(req))
        return false;
    /* The reply as bytes in the request's arena: what it points to (the
     * batch's scratch, a read transaction) is gone when it leaves. */
    if (req->raw_reply || server_req_encode(req, &buf, &len) == RP_OK) {
        if (buf)
            server_req_reply_raw(req, buf, len);
        free(buf);
        if (s_defer(w, req, seq))
            return true;
    }
    s_relay_unavailable(w, req, seq, "yet (the log writer is out of memory)");
    return false;
}

/* A repeat answered from its idempotency record: its first reply waits for
 * the relay as the first did. */
static bool s_dedup_hit(void *ctx, server_req_t *req)
{
    writer_t *w = ctx;
    Rapport__V1__LogReply *first;

    if (!w->cfg->ack_after_relay || w->replica ||
        wire_decode_trusted(req->arena, &rapport__v1__log_reply__descriptor, req->raw_reply,
                            req->raw_len, (ProtobufCMessage **)&first) != RP_OK)
        return false;
    return writer_hold_for_relay(w, req, first->seq);
}

/* Whether a waiting request is to be answered now. A stopping writer reads
 * no more confirms: the replies held for the relay go at once. */
static bool s_due(const writer_t *w, const writer_waiter_t *wt, int64_t now)
{
    if (now >= wt->deadline_ms || (wt->relay_seq && daemon_stop))
        return true;
    return wt->relay_seq ? wt->relay_seq <= w->relay_confirmed
                         : writer_request(wt->req)->min_seq <= w->last_seq;
}

/* Answer the waiting requests that are due: the replies the relay has
 * confirmed, the reads whose min_seq is applied now, and those whose time
 * is up (UNAVAILABLE). They are taken off the list first: a read served
 * (a LogVisible) may be held for the relay again. */
static void s_serve_waiting(writer_t *w)
{
    store_txn_t *rtxn = NULL;
    int64_t now = clock_mono_ms();
    size_t keep = 0, n_due = 0, n = w->n_waiting;
    writer_waiter_t *due = malloc(n * sizeof(*due));

    if (!due)
        return; /* the next turn */
    for (size_t i = 0; i < n; i++) {
        if (!s_due(w, &w->waiting[i], now)) {
            w->waiting[keep++] = w->waiting[i];
            continue;
        }
        due[n_due++] = w->waiting[i];
        w->n_held_for_relay -= w->waiting[i].relay_seq != 0;
    }
    w->n_waiting = keep;
    for (size_t i = 0; i < n_due; i++) {
        writer_waiter_t wt = due[i];
        uint64_t min_seq = writer_request(wt.req)->min_seq;
        rp_err rc;

        wt.req->deferred = false;
        if (wt.relay_seq) {
            if (wt.relay_seq > w->relay_confirmed)
                s_relay_unavailable(w, wt.req, wt.relay_seq,
                                    daemon_stop ? "before the log writer stopped"
                                                : "within the request's timeout");
            server_req_finish(wt.req);
        } else if (min_seq > w->last_seq) {
            server_req_fail(wt.req, RP_EUNAVAIL, "min_seq",
                            "this log writer has applied seq %llu; seq %llu (min_seq) did not "
                            "arrive in time: try again, or read from the primary",
                            (unsigned long long)w->last_seq, (unsigned long long)min_seq);
            writer_reply(wt.req)->seq = w->last_seq;
            server_req_finish(wt.req);
        } else if (!rtxn && (rc = store_txn_begin(w->store, false, &rtxn)) != RP_OK) {
            server_req_fail(wt.req, RP_EUNAVAIL, NULL, "the log writer cannot read: %s",
                            rp_strerror(rc));
            server_req_finish(wt.req);
        } else {
            s_read(w, rtxn, wt.req);
        }
    }
    store_txn_abort(rtxn);
    free(due);
}

/* What a replica refuses: every write, and the writer's own stream. */
static bool s_refused_by_replica(const writer_t *w, const server_req_t *req)
{
    return w->replica && (!s_handler(req)->read || req->command == CMD_READ_CHANGES ||
                          req->command == CMD_LOG_VISIBLE);
}

/* A ConfirmRelayed lets the replies held for its seq go at once, before
 * its batch commits (an fsync): JetStream holds the seq whether or not
 * that commit succeeds, and changes_confirm keeps it in the store. */
static void s_confirm_early(writer_t *w, server_req_t **reqs, size_t n)
{
    bool moved = false;

    if (w->replica || !w->n_held_for_relay)
        return;
    for (size_t i = 0; i < n; i++) {
        const Rapport__V1__ConfirmRelayed *cr = reqs[i]->command == CMD_CONFIRM_RELAYED
                                                    ? writer_request(reqs[i])->confirm_relayed
                                                    : NULL;
        if (cr && cr->seq <= w->last_seq && cr->seq > w->relay_confirmed) {
            w->relay_confirmed = cr->seq;
            moved = true;
        }
    }
    if (moved)
        s_serve_waiting(w);
}

static void s_on_batch(void *ctx, server_req_t **reqs, size_t n)
{
    writer_t *w = ctx;
    store_txn_t *rtxn = NULL;
    size_t nw = 0;

    s_confirm_early(w, reqs, n);
    for (size_t i = 0; i < n; i++) {
        server_req_t *req = reqs[i];
        rp_err rc;

        if (s_refused_by_replica(w, req)) {
            replica_refuse(w, req, s_commands[req->command].name);
            server_req_finish(req);
            continue;
        }
        if (!s_handler(req)->read) {
            reqs[nw++] = req; /* writes keep their order */
            continue;
        }
        if (s_wait(w, req))
            continue;
        if (!rtxn && (rc = store_txn_begin(w->store, false, &rtxn)) != RP_OK) {
            server_req_fail(req, RP_EUNAVAIL, NULL, "the log writer cannot read: %s",
                            rp_strerror(rc));
            server_req_finish(req);
            continue;
        }
        s_read(w, rtxn, req);
    }
    store_txn_abort(rtxn);
    if (nw == 0)
        return;
    if (w->cfg->group_commit) {
        s_commit_groups(w, reqs, nw);
        return;
    }
    for (size_t i = 0; i < nw; i++)
        s_commit(w, &reqs[i], 1);
}

/* Segment log records kept: those in flight, and committed ones (for a
 * resent Begin) until dedup_retention_days. */
static void s_stats_seglogs(writer_t *w, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;

    if (store_txn_begin(w->store, false, &txn) == RP_OK &&
        store_count(txn, w->db[WRITER_DB_SEGLOGS], &n) == RP_OK)
        server_stats_add_gauge(a, st,
                               server_gauge(a, "rapport_segment_log_records",
                                            "Segment logs kept: in flight, and committed ones "
                                            "for dedup_retention_days",
                                            (double)n));
    store_txn_abort(txn);
}

static void s_stats(void *ctx, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    writer_t *w = ctx;

    server_stats_add_hist(a, st,
                          server_hist_export(a, &w->commit_batch, "rapport_commit_batch_requests",
                                             "Requests applied per write transaction", NULL, NULL));
    server_stats_add_hist(a, st,
                          server_hist_export(a, &w->fsync_seconds, "rapport_commit_fsync_seconds",
                                             "Time to commit a write transaction (write and "
                                             "fsync)",
                                             NULL, NULL));
    server_stats_add_hist(a, st,
                          server_hist_export(a, &w->commit_seconds, "rapport_commit_seconds",
                                             "Time to apply and commit (fsync) one transaction",
                                             NULL, NULL));
    server_stats_add_gauge(
        a, st,
        server_gauge(a, "rapport_commits", "Write transactions committed", (double)w->commits));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_commit_failures",
                                        "Write transactions that failed",
                                        (double)w->commit_failures));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_map_growth_replays",
                                        "Batches replayed after growing the map",
                                        (double)w->replays));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_last_event_seq",
                                        "Sequence number of the newest durable event",
                                        (double)w->last_seq));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_primary_term",
                                        "The term of the primary this store is (or follows): "
                                        "one more at each rapport promote",
                                        (double)w->term));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_events_published",
                                        "Events sent on the PUB socket",
                                        (double)w->events_published));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_event_subscriptions",
                                        "Subscriptions received on the PUB socket (each is in "
                                        "effect once counted)",
                                        (double)w->event_subscriptions));
    server_stats_add_store(a, st, w->store);
    s_stats_seglogs(w, a, st);
    if (w->replica)
        replica_stats(w, a, st);
    else
        changes_stats(w, a, st);
    {
        size_t n = 0;
        for (writer_range_t *r = w->pending; r; r = r->next)
            n++;
        server_stats_add_gauge(a, st,
                               server_gauge(a, "rapport_segment_logs_in_flight",
                                            "Segment logs begun and not committed", (double)n));
    }
}

static bool s_background(void *ctx)
{
    return indexing_step(ctx);
}

/* Replies held for the relay are answered before a stop (UNAVAILABLE). */
static bool s_busy(void *ctx)
{
    writer_t *w = ctx;
    return indexing_busy(w) || w->n_held_for_relay;
}

static void s_tick(void *ctx)
{
    writer_t *w = ctx;
    int64_t now = clock_mono_ms();

    if (w->n_waiting)
        s_serve_waiting(w);
    /* Not while a replica holds its write transaction open. */
    if (now - w->last_prune_ms >= PRUNE_EVERY_MS && !replica_applying(w)) {
        w->last_prune_ms = now;
        events_prune(w);
    }
}

/* Read counters and the stream id; create them in a new store. */
static rp_err s_load(store_txn_t *txn, void *ctx)
{
    writer_t *w = ctx;
    store_val_t v;
    store_cursor_t *cur = NULL;
    rp_err rc = store_get(txn, w->db[WRITER_DB_META], "stream_id", 9, &v);

    if (rc == RP_ENOTFOUND) {
        if (getrandom(w->stream_id, sizeof(w->stream_id), 0) != (ssize_t)sizeof(w->stream_id)) {
            uint64_t x = clock_mono_ns();
            memcpy(w->stream_id, &x, sizeof(x));
        }
        rc = store_put(txn, w->db[WRITER_DB_META], "stream_id", 9, w->stream_id, 8, 0);
    } else if (rc == RP_OK && v.len == 8) {
        memcpy(w->stream_id, v.data, 8);
    } else if (rc == RP_OK) {
        rc = RP_ECORRUPT;
    }
    if (rc != RP_OK)
        return rc;
    rc = writer_meta_get(txn, w, "seq", &w->last_seq);
    if (rc == RP_OK)
        rc = writer_meta_get(txn, w, "term", &w->term);
    if (rc == RP_OK)
        rc = writer_meta_get(txn, w, "fenced", &w->fenced_by_term);
    if (rc == RP_OK)
        rc = writer_meta_find(txn, w, "replica", &w->env_replica, &(uint64_t){0});
    if (rc != RP_OK || w->fenced_by_term || (w->env_replica && !w->cfg->replica))
        return rc; /* refused by logwriter_new */
    /* A store that follows the stream is marked so; rapport promote takes
     * the mark off. */
    if (w->cfg->replica && !w->env_replica) {
        w->env_replica = true;
        rc = writer_meta_put(txn, w, "replica", 1);
    }
    if (rc == RP_OK)
        rc = changes_load(txn, w);
    if (rc != RP_OK)
        return rc;
    rc = store_cursor_open(txn, w->db[WRITER_DB_ENTRIES], &cur);
    if (rc != RP_OK)
        return rc;
    {
        store_val_t k;
        rc = store_cursor_get(cur, STORE_LAST, &k, &v);
        w->max_entry_key = rc == RP_OK && k.len == 8 ? store_key_u64(k.data) : 0;
    }
    store_cursor_close(cur);
    return RP_OK;
}

/* What the env's marks allow: a fenced store never serves (nor follows
 * the stream: it has seqs the stream does not); a replica's serves as the
 * primary only once promoted. */
static rp_err s_check_role(writer_t *w, const char *dir, char *errbuf, size_t errlen)
{
    if (w->fenced_by_term) {
        snprintf(errbuf, errlen,
                 "%s is fenced: a replica promoted with term %llu took over the change stream "
                 "(%s) from this store (term %llu, at seq %llu), which must not serve as the "
                 "primary nor follow the stream again: rebuild this host as a replica from an "
                 "empty state directory or a `rapport backup` of the new primary",
                 dir, (unsigned long long)w->fenced_by_term, w->cfg->nats_stream,
                 (unsigned long long)w->term, (unsigned long long)w->last_seq);
        return RP_ECONFIG;
    }
    if (w->env_replica && !w->cfg->replica) {
        snprintf(errbuf, errlen,
                 "%s is a read replica's store (at seq %llu): start it with --replica (replica "
                 "= on), or make it the primary with `rapport promote --state-dir %s` first",
                 dir, (unsigned long long)w->last_seq, w->cfg->state_dir);
        return RP_ECONFIG;
    }
    return RP_OK;
}

/* The PUB socket is an XPUB: each subscription arrives as a message (first
 * byte 1; 0 for an unsubscription) once libzmq has put it in effect. The
 * count lets a subscriber see when its subscription has been taken, so it
 * knows from which event on it receives everything. */
static void s_on_subscription(void *ctx)
{
    writer_t *w = ctx;
    uint8_t first = 0;
    int n;

    while ((n = zmq_recv(w->pub, &first, 1, ZMQ_DONTWAIT)) >= 0)
        if (n >= 1 && first == 1)
            w->event_subscriptions++;
}

rp_err logwriter_new(const config_t *cfg, void *zctx, logwriter_t **ret, char *errbuf,
                     size_t errlen)
{
    writer_t *w = calloc(1, sizeof(*w));
    gate_t *gate = NULL;
    char dir[CONFIG_PATH_MAX + 16];
    server_spec_t spec = {
        .worker = "logwriter",
        .request_desc = &rapport__v1__log_request__descriptor,
        .reply_desc = &rapport__v1__log_reply__descriptor,
        .commands = s_commands,
        .n_commands = CMD_COUNT,
        .stats_command = CMD_STATS,
        .stats_result = RAPPORT__V1__LOG_REPLY__RESULT_STATS,
        .batch_fn = s_on_batch,
        .weight_fn = s_weight,
        .batch_weight_max = COMMIT_MAX_ENTRIES,
        .stats_fn = s_stats,
        .tick_fn = s_tick,
        .background_fn = s_background,
        .busy_fn = s_busy,
        .dedup_hit_fn = s_dedup_hit,
    };
    rp_err rc;

    if (!w)
        return RP_ENOMEM;
    w->cfg = cfg;
    w->replica = cfg->replica;
    w->last_prune_ms = clock_mono_ms() - PRUNE_EVERY_MS + PRUNE_FIRST_MS;
    if (getrandom(&w->boot_id, sizeof(w->boot_id), 0) != (ssize_t)sizeof(w->boot_id))
        w->boot_id = clock_mono_ns();
    snprintf(dir, sizeof(dir), "%s/logwriter", cfg->state_dir);
    rc = store_open(dir, s_dbis, WRITER_DB_COUNT, (uint64_t)cfg->map_size, cfg->sync_mode,
                    &w->store, errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    for (int i = 0; i < WRITER_DB_COUNT; i++)
        w->db[i] = store_dbi(w->store, (size_t)i);
    rc = store_write(w->store, s_load, w, NULL);
    if (rc == RP_OK)
        rc = intake_load_pending(w);
    if (rc != RP_OK) {
        snprintf(errbuf, errlen, "%s: cannot read the store: %s", dir, rp_strerror(rc));
        goto out_free;
    }
    if ((rc = s_check_role(w, dir, errbuf, errlen)) != RP_OK)
        goto out_free;
    spec.ctx = w;
    /* A replica takes no writes: it has no idempotency records to look up
     * or prune (and the server's prune, a write transaction, would wait
     * forever on the one the replica holds open for a seq). */
    spec.dedup_store = w->replica ? NULL : w->store;
    spec.dedup_dbi = w->db[WRITER_DB_DEDUP];
    spec.dedup_time_dbi = w->db[WRITER_DB_DEDUP_TIME];
    rc = server_new(&spec, cfg, zctx, cfg->logwriter_endpoint, &w->server, errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    if (auth_endpoint_is_tcp(cfg->events_endpoint) &&
        (rc = server_gate(w->server, &gate, errbuf, errlen)) != RP_OK)
        goto out_free;
    rc = bus_socket_bind(zctx, BUS_PUB, cfg->events_endpoint, cfg, gate, &w->pub, errbuf, errlen);
    if (rc != RP_OK)
        goto out_free;
    server_add_socket(w->server, w->pub, s_on_subscription, w);
    if (cfg->replica && (rc = replica_start(w, zctx, errbuf, errlen)) != RP_OK)
        goto out_free;
    /* A log committed before a crash and not yet visible is finished
     * before serving, so that a restart shows it whole. */
    while (indexing_step(w))
        ;
    *ret = w;
    return RP_OK;
out_free:
    logwriter_destroy(&w);
    return rc;
}

void logwriter_destroy(logwriter_t **self_p)
{
    writer_t *w;
    if (!self_p || !*self_p)
        return;
    w = *self_p;
    replica_stop(w);
    server_destroy(&w->server);
    if (w->pub)
        zmq_close(w->pub);
    while (w->pending) {
        writer_range_t *n = w->pending->next;
        free(w->pending->waiters);
        free(w->pending);
        w->pending = n;
    }
    store_close(&w->store);
    free(w->waiting);
    free(w);
    *self_p = NULL;
}

int logwriter_run(logwriter_t *w)
{
    int rc = server_run(w->server);
    return rc ? rc : w->exit_code;
}
