/* writer: internal interface of rapport-logwriter, shared by its files.
 *
 * logwriter_server.c  the server spec, group commit and the batch loop
 * entries.c           interaction log entries: write, query, cancel, delete
 * forwarded.c         a segment log batch's entries, read from forwarded bytes
 * intake.c            the segment log stream: Begin, Batch, Commit, reveal
 * indexing.c          a committed segment log's contact index, built after
 * logged.c            logged segments and campaign entries
 * events.c            the durable event log, publication and replay
 * changes.c           the change stream with full records (rapport-relay)
 * changes_held.c      what the change stream needs kept, confirms, pruning
 * replica.c           replica mode: the change stream applied from JetStream
 *
 * Every mutating handler runs inside the batch's write transaction (a
 * writer_txn_t). It validates first and writes only when the request will
 * succeed, so a domain error never leaves half a change; it returns an
 * rp_err only for store failures, which abort the whole batch. Effects
 * outside the store (publishing events, the in-memory list of invisible
 * entry ranges) are staged in the writer_txn_t and applied after commit,
 * because store_write() may run the batch again after growing the map. */
#ifndef RAPPORT_WRITER_H
#define RAPPORT_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "server.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"

/* DBIs of the writer's env, in store_open order. */
enum {
    WRITER_DB_META,             /* counter name -> u64 */
    WRITER_DB_ENTRIES,          /* entry_no -> Entry */
    WRITER_DB_BY_CONTACT,       /* contact_no -> entry_no (DUPFIXED) */
    WRITER_DB_POSTPONED,        /* entry_no -> "" */
    WRITER_DB_LOGGED_SEGMENTS,  /* entry_no -> LoggedSegment */
    WRITER_DB_LSE_BY_SEGMENT,   /* segment_no -> logged segment entry_no */
    WRITER_DB_CAMPAIGN_ENTRIES, /* entry_no -> CampaignEntry */
    WRITER_DB_CE_BY_LSE,        /* logged segment no -> campaign entry no (DUPFIXED) */
    WRITER_DB_CE_RANGE,         /* campaign entry no -> first, last entry_no it can cover */
    WRITER_DB_STATS,            /* kind + code + date -> sums */
    WRITER_DB_EVENTS,           /* seq -> Event */
    WRITER_DB_DEDUP,            /* request_id -> first reply */
    WRITER_DB_DEDUP_TIME,       /* time + request_id -> "" */
    WRITER_DB_SEGLOGS,          /* log_id -> in-flight segment log */
    WRITER_DB_SEGLOG_STATS,     /* log key + stats key -> sums not yet visible */
    WRITER_DB_SEGLOG_TIME,      /* commit time + log_id -> "" (pruning committed logs) */
    WRITER_DB_HELD,             /* kind + seq + no -> a record as of seq (changes_held.c) */
    WRITER_DB_HELD_ENTRIES,     /* entry_no -> seq it was deleted at + Entry (changes_held.c) */
    WRITER_DB_COUNT
};

/* An entry range reserved by a segment log and not yet visible: in flight,
 * or committed and being indexed (indexing.c), with the SegmentLogVisible
 * requests waiting for it. */
typedef struct writer_range {
    uint64_t first, last;
    uint64_t lse;     /* its logged segment no. */
    bool committed;   /* durable; visible once indexed == last - first + 1 */
    uint64_t indexed; /* entries put into the contact index so far */
    uint8_t log_id[2 * WIRE_REQUEST_ID_MAX];
    size_t log_id_len;
    server_req_t **waiters; /* deferred SegmentLogVisible requests */
    size_t n_waiters;
    struct writer_range *next;
} writer_range_t;

typedef struct writer_event {
    char topic[40];
    uint64_t seq;
    size_t len;
    struct writer_event *next;
    uint8_t data[];
} writer_event_t;

typedef struct writer_replica writer_replica_t;

/* A request waiting until its deadline: a read for its min_seq (a replica
 * that has not applied it yet), or, with ack_after_relay, a write's reply
 * for the relay to confirm its seq (relay_seq, 0 for a read). */
typedef struct {
    server_req_t *req;
    int64_t deadline_ms;
    uint64_t relay_seq;
} writer_waiter_t;

typedef struct writer {
    const config_t *cfg;
    store_t *store;
    store_dbi_t db[WRITER_DB_COUNT];
    server_t *server;
    void *pub;
    uint8_t stream_id[8];    /* event_id = stream_id + seq */
    uint64_t max_entry_key;  /* largest entry_no in WRITER_DB_ENTRIES (MDB_APPEND) */
    writer_range_t *pending; /* invisible ranges of in-flight segment logs */
    int64_t last_prune_ms;
    /* metrics */
    server_hist_t commit_batch;   /* requests per commit */
    server_hist_t commit_seconds; /* apply and commit time */
    server_hist_t fsync_seconds;  /* commit (write and fsync) time */
    uint64_t commits, replays, commit_failures, events_published, events_dropped;
    uint64_t event_subscriptions; /* subscriptions read from the PUB socket */
    uint64_t last_seq;
    uint64_t events_pruned_unrelayed; /* unconfirmed events the hard limit pruned */
    uint64_t relay_confirmed;         /* the newest seq the relay has confirmed */
    size_t n_held_for_relay;          /* of `waiting`: replies held for it */
    uint64_t boot_id;                 /* segment log batches must follow a Begin of this run */
    bool replica;                     /* replica mode (replica.c): reads only */
    bool env_replica;                 /* the env is a replica's (meta "replica") */
    uint64_t term;                    /* the primary's term (meta "term", rapport promote) */
    uint64_t fenced_by_term;          /* meta "fenced": a newer primary took the stream over */
    writer_replica_t *rep;
    int exit_code;            /* of the process (a replica that refuses its stream: 2; fenced: 3) */
    writer_waiter_t *waiting; /* reads waiting for their min_seq, replies for the relay */
    size_t n_waiting, cap_waiting;
    struct {
        uint64_t lse;
        int64_t ms;
    } progress[64]; /* last progress notification per segment log */
} writer_t;

/* A progress notification to publish after commit. */
typedef struct {
    ProtobufCBinaryData log_id;
    const char *segment_no;
    uint64_t done, total;
} writer_progress_t;

/* State of one write transaction attempt. */
typedef struct writer_txn {
    writer_t *w;
    store_txn_t *txn;
    wire_arena_t *arena;    /* scratch for this attempt */
    writer_event_t *events; /* to publish after commit */
    writer_event_t **events_tail;
    uint64_t max_entry_key;
    writer_range_t *add_ranges;      /* become invisible after commit */
    uint64_t commit_range_first[64]; /* committed: to index after commit */
    size_t n_commit_ranges;
    uint64_t remove_range_first[64]; /* indexed: visible after commit */
    size_t n_remove_ranges;
    writer_progress_t progress[16];
    size_t n_progress;
    server_req_t *req; /* the request being applied */
    /* Without a request (the writer's own transactions): the cause that
     * events name, its user id and request_id. */
    const char *cause_user_id;
    ProtobufCBinaryData cause_request_id;
} writer_txn_t;

typedef rp_err (*writer_write_fn)(writer_txn_t *t, server_req_t *req);
typedef rp_err (*writer_txn_fn)(writer_txn_t *t, void *ctx);
typedef rp_err (*writer_read_fn)(writer_t *w, store_txn_t *txn, server_req_t *req);

/* ---- shared helpers (logwriter_server.c) ---- */

/* Run fn in a write transaction of the writer's own (no request): staged
 * events are published and ranges applied after its commit. store_write's
 * errors. */
rp_err writer_txn_run(writer_t *w, writer_txn_fn fn, void *ctx, unsigned flags);

/* The same held open across calls (a replica applies a long seq as its
 * messages arrive): begin, write with t, then commit (staged events are
 * published and ranges applied) or abort. No retry on RP_EMAPFULL: the
 * caller aborts, grows the map (store_grow) and writes again. */
rp_err writer_txn_begin(writer_t *w, writer_txn_t *t);
rp_err writer_txn_commit(writer_txn_t *t);
void writer_txn_abort(writer_txn_t *t);

/* Counter in WRITER_DB_META (0 when absent). */
rp_err writer_meta_get(store_txn_t *txn, writer_t *w, const char *name, uint64_t *ret);
/* The same, saying whether the value is there at all. */
rp_err writer_meta_find(store_txn_t *txn, writer_t *w, const char *name, bool *ret_present,
                        uint64_t *ret);
rp_err writer_meta_put(store_txn_t *txn, writer_t *w, const char *name, uint64_t v);

/* Take `n` consecutive numbers from counter `name` (first number 1). */
rp_err writer_take(writer_txn_t *t, const char *name, uint64_t n, uint64_t *ret_first);

/* Encode msg and put it under a big-endian u64 key. */
rp_err writer_put_record(writer_txn_t *t, int db, uint64_t key, const ProtobufCMessage *msg,
                         unsigned flags);

/* Load a record by u64 key into the arena. RP_ENOTFOUND. */
rp_err writer_get_record(store_txn_t *txn, writer_t *w, wire_arena_t *a, int db, uint64_t key,
                         const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret);

/* The LogReply of a request. */
static inline Rapport__V1__LogReply *writer_reply(server_req_t *req)
{
    return (Rapport__V1__LogReply *)req->reply;
}

/* With ack_after_relay: hold req's reply (set already) until the relay
 * has confirmed `seq` (true: deferred; the writer finishes it, or answers
 * UNAVAILABLE at its deadline). False when it may leave now. */
bool writer_hold_for_relay(writer_t *w, server_req_t *req, uint64_t seq);

/* Reply with a Count. */
void writer_reply_count(server_req_t *req, uint64_t count);

static inline Rapport__V1__LogRequest *writer_request(server_req_t *req)
{
    return (Rapport__V1__LogRequest *)req->request;
}

/* ---- entries.c ---- */

/* Whether entry_no is visible (not in an in-flight segment log's range). */
bool writer_entry_visible(const writer_t *w, uint64_t entry_no);

/* Whether logged segment `lse` is visible (its log is neither in flight nor
 * being indexed); its campaign entries go with it. */
bool writer_lse_visible(const writer_t *w, uint64_t lse);

/* The pending range of a log, or NULL. */
writer_range_t *writer_range_of_log(const writer_t *w, const ProtobufCBinaryData *log_id);

/* Put an entry (new or replaced) with its contact index; updates the
 * statistics when it counts (neither canceled nor postponed). `old` is the
 * entry it replaces or NULL. */
rp_err writer_entry_store(writer_txn_t *t, const Rapport__V1__Entry *e,
                          const Rapport__V1__Entry *old, bool count_stats);

/* Statistics sums of one (template or group, date) key. */
typedef struct {
    uint64_t count;
    int64_t cost;
    uint64_t duration;
} writer_stats_t;

#define WRITER_STATS_KEY_LEN    15
#define WRITER_STATS_PREFIX_MAX 130

/* Add (sign +1) or remove (-1) an entry's figures in the statistics. */
rp_err writer_stats_apply(writer_txn_t *t, const Rapport__V1__Entry *e, int sign);

/* Same into any DBI with a key prefix (a segment log's sums kept aside
 * until the log is committed). */
rp_err writer_stats_apply_to(store_txn_t *txn, store_dbi_t dbi, const uint8_t *prefix, size_t plen,
                             const Rapport__V1__Entry *e, int sign);

/* Add sums kept aside to the statistics under their key. */
rp_err writer_stats_merge(writer_txn_t *t, const uint8_t *key, size_t klen,
                          const writer_stats_t *delta);

/* Delete an entry and its index records (not the statistics). */
rp_err writer_entry_delete(writer_txn_t *t, const Rapport__V1__Entry *e);

/* A logged segment's entries, and a campaign entry's, have consecutive
 * numbers: writer_each_entry hands each stored one in [first, last] to
 * `fn` (a later command may have deleted some), decoded into a scratch
 * arena that lives for 1024 entries. An error from fn ends the walk. */
typedef rp_err (*writer_entry_fn)(writer_txn_t *t, Rapport__V1__Entry *e, void *ctx);
rp_err writer_each_entry(writer_txn_t *t, uint64_t first, uint64_t last, writer_entry_fn fn,
                         void *ctx);

rp_err entries_write(writer_txn_t *t, server_req_t *req);
rp_err entries_set_canceled(writer_txn_t *t, server_req_t *req);
rp_err entries_delete_canceled(writer_txn_t *t, server_req_t *req);
rp_err entries_delete_postponed(writer_txn_t *t, server_req_t *req);
rp_err entries_get(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err entries_list(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err entries_statistics(writer_t *w, store_txn_t *txn, server_req_t *req);

/* "The Interaction Log Entry does not exist..." */
void writer_fail_no_entry(server_req_t *req, uint64_t entry_no);

/* ---- forwarded.c ---- */

#define WRITER_ID_MAX 64 /* user ids and segment Nos. appended to an entry */

/* One entry of a segment log batch as forwarded: its bytes and the fields
 * the writer indexes, sums and checks. */
typedef struct {
    const uint8_t *bytes; /* inside the request */
    size_t len;
    char contact_no[21];
    char template_code[11];
    char group_code[11];
    char campaign_no[21];
    uint32_t date, time_of_interaction, duration_min;
    int64_t cost_cents;
} writer_fwd_t;

/* What the writer assigns to a forwarded entry. */
typedef struct {
    uint64_t entry_no, logged_segment_no, campaign_entry_no; /* 0: no campaign */
    const char *user_id, *segment_no;
} writer_fwd_ids_t;

/* How many entries a batch's packed entries hold (as far as they are well
 * framed): for sizing a group commit, before they are read. */
size_t writer_fwd_count(const ProtobufCBinaryData *packed);

/* Split a batch's packed entries (at most `max`) into *ret_entries (in the
 * arena) and check each. On a bad one, req is failed (INVALID_ARGUMENT,
 * naming the entry) and RP_EINVAL returned. */
rp_err writer_fwd_parse(server_req_t *req, wire_arena_t *a, const ProtobufCBinaryData *packed,
                        size_t max, writer_fwd_t **ret_entries, size_t *ret_n);

/* Store a forwarded entry under ids->entry_no with the fields assigned
 * appended (its contact index comes after the log's commit, indexing.c;
 * statistics are the caller's). */
rp_err writer_fwd_store(writer_txn_t *t, const writer_fwd_t *e, const writer_fwd_ids_t *ids);

/* ---- intake.c ---- */

rp_err intake_begin(writer_txn_t *t, server_req_t *req);
rp_err intake_batch(writer_txn_t *t, server_req_t *req);
rp_err intake_commit(writer_txn_t *t, server_req_t *req);
rp_err intake_visible(writer_t *w, store_txn_t *txn, server_req_t *req);

/* Delete committed segment logs older than max_age_ms (at most `budget`). */
rp_err intake_prune(writer_t *w, store_txn_t *txn, int64_t max_age_ms, size_t budget);

/* In the transaction of a log's last index chunk: merge its statistics,
 * append segment.logged, mark it visible (the range goes after commit). */
rp_err intake_reveal(writer_txn_t *t, writer_range_t *r);

/* Record how far a committed log's contact index is built. */
rp_err intake_set_indexed(writer_txn_t *t, const writer_range_t *r, uint64_t indexed);

/* Load the invisible ranges of segment logs in flight (start-up). */
rp_err intake_load_pending(writer_t *w);

/* ---- logged.c ---- */

rp_err logged_get(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err logged_list(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err logged_set_canceled(writer_txn_t *t, server_req_t *req);
rp_err logged_delete_canceled(writer_txn_t *t, server_req_t *req);
rp_err logged_list_campaign_entries(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err logged_set_campaign_entry_canceled(writer_txn_t *t, server_req_t *req);
rp_err logged_delete_canceled_campaign_entries(writer_txn_t *t, server_req_t *req);

/* Entries were deleted: lower the derived counts of the logged segments
 * and campaign entries they belonged to (No. of Interactions, No. of
 * Entries). lse_nos / ce_nos hold one number per deleted entry (0: none);
 * the arrays are reordered. Records that are gone are skipped. */
rp_err logged_entries_deleted(writer_txn_t *t, uint64_t *lse_nos, uint64_t *ce_nos, size_t n);

/* A campaign entry for a single interaction (register no. 0). */
rp_err logged_single_campaign_entry(writer_txn_t *t, Rapport__V1__Entry *e);

/* ---- indexing.c ---- */

/* One step of building a committed log's contact index (the oldest
 * first), and when it is complete, making the log visible and answering
 * what waits for it. True when more is left. */
bool indexing_step(writer_t *w);

/* Whether a committed log is still being indexed (a graceful stop finishes
 * it first). */
bool indexing_busy(const writer_t *w);

/* Answer req (a SegmentLogVisible) once range r is visible. */
rp_err indexing_wait(writer_range_t *r, server_req_t *req);

/* ---- events.c ---- */

/* Append a durable event (seq assigned) to WRITER_DB_EVENTS and stage it for
 * publication. `body_case` is the Event.body case and `body` its message. */
rp_err events_append(writer_txn_t *t, const char *type, uint32_t body_case, ProtobufCMessage *body);

/* Stage events.* with the entry numbers given, split into ranges (several
 * events when there are very many). */
rp_err events_append_entry_nos(writer_txn_t *t, const char *type, const uint64_t *nos, size_t n,
                               const uint64_t *ce_nos, size_t n_ce, const uint64_t *lse_nos,
                               size_t n_lse);

/* Store an event as it is (a replica applying the primary's, seq and all)
 * and stage it for publication. */
rp_err events_put(writer_txn_t *t, uint64_t seq, const char *type, const uint8_t *data, size_t len);

/* Publish what a committed transaction staged. */
void events_publish_staged(writer_t *w, writer_event_t *events);

/* Publish a progress notification (seq 0, not stored). */
void events_publish_progress(writer_t *w, const ProtobufCBinaryData *log_id, const char *segment_no,
                             uint64_t done, uint64_t total);

rp_err events_read(writer_t *w, store_txn_t *txn, server_req_t *req);

/* Drop events older than the retention and committed segment logs older
 * than dedup_retention_days (bounded). */
void events_prune(writer_t *w);

/* ---- changes.c (reading), changes_held.c (keeping) ----
 *
 * The change stream (ReadChanges) gives every retained event with the
 * records it created or changed, each as it was at that seq. Most of that
 * is derived from the current records; what a later change destroys is
 * kept aside in WRITER_DB_HELD / WRITER_DB_HELD_ENTRIES until the relay has confirmed
 * the seqs that need it (or the events are pruned). The hooks below are
 * called by the handlers before they append their events, within the
 * request: a request changes records first, then appends its events. */

/* A logged segment or campaign entry (db WRITER_DB_LOGGED_SEGMENTS or
 * WRITER_DB_CAMPAIGN_ENTRIES) is put: keep it as it is at the request's seq. */
rp_err changes_record_put(writer_txn_t *t, int db, uint64_t no, const ProtobufCMessage *msg);

/* A logged segment or campaign entry is about to be deleted (`last` is
 * its final state). */
rp_err changes_record_deleted(writer_txn_t *t, int db, uint64_t no, const ProtobufCMessage *last);

/* An entry is about to be deleted for good (not a discarded, never
 * visible segment-log entry). */
rp_err changes_entry_deleted(writer_txn_t *t, const Rapport__V1__Entry *e);

/* WRITER_DB_HELD's key: kind ('E' entry, 'L' logged segment, 'C' campaign entry),
 * seq, no (big-endian). Its value: a flag byte (0 the record after the
 * request, 1 as it was when deleted) and the record; empty for 'E'. */
#define CHANGES_HELD_KEY_LEN 17
#define CHANGES_HELD_RECORD  0
#define CHANGES_HELD_DELETED 1
void changes_held_key(char kind, uint64_t seq, uint64_t no, uint8_t out[CHANGES_HELD_KEY_LEN]);

/* Whether a relay has ever confirmed a seq to this store, and the last. */
rp_err changes_relay_confirmed(store_txn_t *txn, writer_t *w, bool *ret_present, uint64_t *ret_seq);

/* Start-up: a store older than the change stream serves changes from its
 * next event on. */
rp_err changes_load(store_txn_t *txn, writer_t *w);

rp_err changes_read(writer_t *w, store_txn_t *txn, server_req_t *req);
rp_err changes_confirm(writer_txn_t *t, server_req_t *req);

/* Whether the event `seq` (occurred at occurred_ms) may be pruned by age:
 * always without a relay; with one, once it is confirmed, or when it is
 * older than relay_hold_max_days (then *ret_unrelayed is set). */
bool changes_event_prunable(store_txn_t *txn, writer_t *w, uint64_t seq, int64_t occurred_ms,
                            bool *ret_unrelayed);

/* Drop held records no seq still readable needs (at most `budget`). */
rp_err changes_prune_held(store_txn_t *txn, writer_t *w, size_t budget);

/* rapport_relay_last_confirmed_seq, rapport_relay_lag_events and
 * rapport_events_pruned_unrelayed_total. */
void changes_stats(writer_t *w, wire_arena_t *a, Rapport__V1__WorkerStats *st);

/* ---- replica.c ---- */

/* Replica mode: connect to NATS and follow the stream from the store's
 * last applied seq (a thread fetches; the server's loop applies). After
 * server_new: its doorbell socket joins the server's poll. RP_ECONFIG
 * (errbuf says what to set). */
rp_err replica_start(writer_t *w, void *zctx, char *errbuf, size_t errlen);

/* Stop the fetching thread and free everything (accepts w->rep NULL). */
void replica_stop(writer_t *w);

/* Refuse `command` on a replica (FAILED_PRECONDITION naming the primary). */
void replica_refuse(writer_t *w, server_req_t *req, const char *command);

void replica_stats(writer_t *w, wire_arena_t *a, Rapport__V1__WorkerStats *st);

/* Whether the replica holds its write transaction open (a seq applied in
 * part): the loop must then start no other. False when not a replica. */
bool replica_applying(const writer_t *w);

#endif
