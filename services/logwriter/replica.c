/* replica: the log writer in replica mode (`--replica`, replica = on).
 *
 * A replica follows the primary's change stream on JetStream (what
 * rapport-relay publishes: each event with the full records it created or
 * changed, as of its seq) and applies it, one seq per transaction, into a
 * store of its own with the writer's own code and layout. It serves every
 * read of the writer from that store, publishes the events it applies on
 * its own PUB, and refuses every write (FAILED_PRECONDITION, naming the
 * primary).
 *
 * Exactly once across kill -9: the last applied seq ("seq") and the
 * JetStream sequence of its last message ("replica_stream_seq") are
 * written in the transaction of the change. At every start the durable
 * consumer (replica_consumer) is made again from that position; the
 * consumer's own state is never trusted.
 *
 * A thread fetches from the consumer (libnats blocks) into a bounded queue
 * and rings an inproc doorbell; the server's loop takes the queue and
 * applies each message as it comes into a write transaction that it holds
 * open for the seq, committed with the seq's last message (Rapport-Last):
 * a reader never sees half of a seq, and memory does not grow with the
 * seq (a 1M-contact log is one seq of a million messages). A seq that
 * fills the map is applied again from its first message, after the map
 * has grown, by following the stream again from there.
 *
 * Where a replica starts: an empty store rebuilds from the stream, which
 * must still hold seq 1; a store restored from `rapport backup` follows
 * from the seq after the backup's. Every message must be the one after the
 * previous (seq, part) and carry the store id of the replica's store: a
 * gap, a message of another store or a gap marker of the relay stops the
 * replica (exit 2) rather than serve a silent gap. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "natsconn.h"
#include "writer.h"

#define FETCH_BATCH   4096 /* messages per pull: fewer round trips and thread hand-offs */
#define RESET_EVERY   1024 /* messages between resets of the decoding arena */
#define FETCH_WAIT_MS 500
#define RETRY_MS      500
#define QUEUE_MAX     (4 * FETCH_BATCH) /* fetched, not yet taken by the loop */
#define SUBJECTS      "rapport.v1.>"

/* The numbers whose counters a replica keeps (s_counters). */
enum { NO_ENTRY, NO_LOGGED_SEGMENT, NO_CAMPAIGN_ENTRY, NO_COUNT };

struct writer_replica {
    writer_t *w;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    void *bell_rx; /* the loop's end of the doorbell */
    void *bell_tx; /* the thread's */
    /* shared with the thread, under mu */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    natsMsg **q;
    size_t qn, qcap;
    uint64_t fetched;   /* messages fetched so far */
    uint64_t rewind_to; /* the loop asks to follow the stream again from there */
    char refusal[400];  /* the thread found the stream is not this store's */
    /* the thread's */
    natsSubscription *sub;
    uint64_t next_stream_seq; /* where a consumer made again starts */
    uint64_t sub_last;        /* the last message the consumer delivered (0: none yet) */
    uint64_t start_seq;       /* the store's seq at start */
    bool warned, checked;
    /* the loop's: the seq being applied, in its open transaction */
    writer_txn_t txn;
    bool open;
    natsMsg *event;            /* its part 0, the event, applied with its last */
    uint64_t event_stream_seq; /* the stream message of that part 0 */
    wire_arena_t *scratch;     /* decoding of its records, reset every RESET_EVERY */
    uint64_t max[NO_COUNT];    /* the highest numbers it names */
    uint64_t n_parts;          /* its messages applied so far */
    bool rewinding;            /* dropping messages until its part 0 comes again */
    unsigned grows;
    uint64_t taken_stream_seq;    /* the last message taken from the queue */
    uint64_t want_seq, want_part; /* the next message the stream must have */
    uint64_t applied_stream_seq;
    uint64_t term;    /* the newest primary's term seen (Rapport-Term, term markers) */
    bool store_known; /* the store has a seq: its store id is the stream's */
    bool store_taken; /* or store_hex is taken from the stream's first message */
    char store_hex[17];
    uint64_t applied_seqs, applied_msgs, apply_failures;
};

/* ---- the fetching thread ---- */

static void s_sleep(writer_replica_t *r, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    if (!r->stop)
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    pthread_mutex_unlock(&r->mu);
}

static bool s_stopping(writer_replica_t *r)
{
    bool stop;
    pthread_mutex_lock(&r->mu);
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

/* The thread found that the stream is not one this store can follow:
 * the loop refuses it (s_on_bell). */
static void s_thread_refuse(writer_replica_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_thread_refuse(writer_replica_t *r, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->mu);
    va_start(ap, fmt);
    vsnprintf(r->refusal, sizeof(r->refusal), fmt, ap);
    va_end(ap);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    (void)zmq_send(r->bell_tx, "", 0, ZMQ_DONTWAIT);
}

/* A store that applied stream messages checks, once, that the stream
 * still has the one it applied last (or has lost it to its limits only):
 * a stream deleted and made again, or another store's, is refused. False
 * while NATS does not answer. */
static bool s_check_stream(writer_replica_t *r)
{
    const config_t *cfg = r->w->cfg;
    uint64_t at = r->next_stream_seq - 1, seq = 0;
    jsStreamInfo *si = NULL;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    char hex[17] = "";
    natsStatus s;

    if (r->checked || at == 0) { /* only where it starts: not where it follows again */
        r->checked = true;
        return true;
    }
    s = js_GetStreamInfo(&si, r->js, cfg->nats_stream, NULL, &jerr);
    if (s != NATS_OK)
        return false;
    if (si->State.LastSeq < at) {
        s_thread_refuse(r,
                        "it ends at message %llu, and this replica applied message %llu of its "
                        "stream: it is not the stream this replica followed (deleted and made "
                        "again?); rebuild the replica from an empty state directory or a backup",
                        (unsigned long long)si->State.LastSeq, (unsigned long long)at);
        jsStreamInfo_Destroy(si);
        return false;
    }
    jsStreamInfo_Destroy(si);
    s = js_GetMsg(&m, r->js, cfg->nats_stream, at, NULL, &jerr);
    if (s == NATS_OK) {
        const char *v = NULL;
        natsconn_header_u64(m, "Rapport-Seq", &seq);
        if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) == NATS_OK && v && strcspn(v, ":") == 16)
            snprintf(hex, sizeof(hex), "%.16s", v);
        natsMsg_Destroy(m);
        if (seq != r->start_seq || strcmp(hex, r->store_hex) != 0) {
            s_thread_refuse(r,
                            "its message %llu is seq %llu of store %s, and this replica applied "
                            "it as seq %llu of store %s: it is not the stream this replica "
                            "followed",
                            (unsigned long long)at, (unsigned long long)seq, hex,
                            (unsigned long long)r->start_seq, r->store_hex);
            return false;
        }
    } else if (jerr != JSNoMessageFoundErr && s != NATS_NOT_FOUND) {
        return false;
    }
    r->checked = true;
    return true;
}

/* The durable consumer, made again at next_stream_seq. */
static bool s_subscribe(writer_replica_t *r)
{
    const config_t *cfg = r->w->cfg;
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s;

    if (!s_check_stream(r))
        return false;
    (void)js_DeleteConsumer(r->js, cfg->nats_stream, cfg->replica_consumer, NULL, NULL);
    jsSubOptions_Init(&so);
    so.Stream = cfg->nats_stream;
    so.Config.Durable = cfg->replica_consumer;
    so.Config.Description = "rapport log writer replica";
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = r->next_stream_seq;
    so.Config.AckPolicy = js_AckAll;
    so.Config.MaxAckPending = QUEUE_MAX; /* acked a batch at a time, as fetched */
    s = js_PullSubscribe(&r->sub, r->js, SUBJECTS, cfg->replica_consumer, NULL, &so, &jerr);
    if (s != NATS_OK) {
        if (!r->warned)
            log_warnx("cannot follow stream %s at %s yet: %s (JetStream error %d); retrying",
                      cfg->nats_stream, cfg->nats_url, nats_GetLastError(NULL), (int)jerr);
        r->warned = true;
        r->sub = NULL;
        return false;
    }
    log_notice("following stream %s from message %llu (consumer %s)", cfg->nats_stream,
               (unsigned long long)r->next_stream_seq, cfg->replica_consumer);
    r->warned = false;
    return true;
}

static void s_unsubscribe(writer_replica_t *r)
{
    natsSubscription_Destroy(r->sub);
    r->sub = NULL;
    r->sub_last = 0;
}

/* The stream sequence of a message fetched from the consumer, read from
 * its reply subject without the allocations of natsMsg_GetMetaData:
 * $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>,
 * or with the domain and account hash after $JS.ACK (12 tokens or more).
 * 0 when it is neither. */
static uint64_t s_stream_seq(natsMsg *m)
{
    const char *reply = natsMsg_GetReply(m), *tok[16];
    size_t n = 0;

    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0)
        return 0;
    for (const char *p = reply + 8; n < 16; p++) {
        tok[n++] = p;
        p = strchr(p, '.');
        if (!p)
            break;
    }
    if (n == 7 || n >= 9) {
        const char *t = tok[n == 7 ? 3 : 5];
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(t, &end, 10);
        if (!errno && end != t && *end == '.')
            return (uint64_t)v;
    }
    return 0;
}

/* Hand the first n messages of a fetched batch to the loop (waits while
 * the queue is full). */
static void s_queue(writer_replica_t *r, natsMsgList *list, int n)
{
    uint64_t last = s_stream_seq(list->Msgs[n - 1]);

    if (last)
        r->next_stream_seq = last + 1;
    r->sub_last = last;
    pthread_mutex_lock(&r->mu);
    while (r->qn + (size_t)n > QUEUE_MAX && !r->stop)
        pthread_cond_wait(&r->cv, &r->mu);
    if (r->qn + (size_t)n > r->qcap) {
        size_t cap = r->qcap ? r->qcap : QUEUE_MAX;
        natsMsg **g;
        while (cap < r->qn + (size_t)n)
            cap *= 2;
        g = realloc(r->q, cap * sizeof(*g));
        if (!g)
            abort();
        r->q = g;
        r->qcap = cap;
    }
    for (int i = 0; i < n; i++) {
        r->q[r->qn++] = list->Msgs[i];
        list->Msgs[i] = NULL;
    }
    r->fetched += (uint64_t)n;
    pthread_mutex_unlock(&r->mu);
    (void)zmq_send(r->bell_tx, "", 0, ZMQ_DONTWAIT);
}

/* How many messages of a fetched batch follow one another from the last
 * one this subscription delivered (any first message of a new one). */
static int s_consecutive(writer_replica_t *r, natsMsgList *list)
{
    uint64_t prev = r->sub_last;

    for (int i = 0; i < list->Count; i++) {
        uint64_t seq = s_stream_seq(list->Msgs[i]);
        if (prev && seq != prev + 1)
            return i;
        prev = seq;
    }
    return list->Count;
}

static void *s_fetch_loop(void *arg)
{
    writer_replica_t *r = arg;

    while (!s_stopping(r)) {
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s;

        pthread_mutex_lock(&r->mu);
        if (r->rewind_to) {
            for (size_t i = 0; i < r->qn; i++)
                natsMsg_Destroy(r->q[i]);
            r->qn = 0;
            r->next_stream_seq = r->rewind_to;
            r->rewind_to = 0;
            pthread_mutex_unlock(&r->mu);
            s_unsubscribe(r);
        } else {
            pthread_mutex_unlock(&r->mu);
        }
        if (!r->sub && !s_subscribe(r)) {
            s_sleep(r, RETRY_MS);
            continue;
        }
        s = natsSubscription_Fetch(&list, r->sub, FETCH_BATCH, FETCH_WAIT_MS, &jerr);
        if (s == NATS_TIMEOUT && list.Count == 0) {
            natsMsgList_Destroy(&list);
            continue;
        }
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            log_warnx("fetching from stream %s failed: %s (JetStream error %d); following it "
                      "again from message %llu",
                      r->w->cfg->nats_stream, nats_GetLastError(NULL), (int)jerr,
                      (unsigned long long)r->next_stream_seq);
            natsMsgList_Destroy(&list);
            s_unsubscribe(r);
            s_sleep(r, RETRY_MS);
            continue;
        }
        if (list.Count > 0) {
            int n = s_consecutive(r, &list);
            /* AckAll: flow control only; the position is the store's. It
             * never acks past a message that did not arrive. */
            if (n > 0) {
                (void)natsMsg_Ack(list.Msgs[n - 1], NULL);
                s_queue(r, &list, n);
            }
            if (n < list.Count) {
                /* libnats drops what arrives for a fetch that has timed
                 * out: follow again from the first message missing (a
                 * stream that lacks it is refused by the loop). */
                log_info("stream %s: message %llu did not arrive; following it again from there",
                         r->w->cfg->nats_stream, (unsigned long long)r->next_stream_seq);
                s_unsubscribe(r);
            }
        }
        natsMsgList_Destroy(&list);
    }
    s_unsubscribe(r);
    return NULL;
}

/* ---- applying one seq (the server's loop) ---- */

typedef enum { REC_EVENT, REC_ENTRY, REC_LOGGED_SEGMENT, REC_CAMPAIGN_ENTRY, REC_OTHER } rec_t;

static rec_t s_kind(natsMsg *m)
{
    const char *subj = natsMsg_GetSubject(m);
    static const struct {
        const char *prefix;
        rec_t kind;
    } kinds[] = {{"rapport.v1.event.", REC_EVENT},
                 {"rapport.v1.entry.", REC_ENTRY},
                 {"rapport.v1.logged_segment.", REC_LOGGED_SEGMENT},
                 {"rapport.v1.campaign_entry.", REC_CAMPAIGN_ENTRY}};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strncmp(subj, kinds[i].prefix, strlen(kinds[i].prefix)))
            return kinds[i].kind;
    return REC_OTHER;
}

static rp_err s_decode(wire_arena_t *a, const ProtobufCMessageDescriptor *desc, natsMsg *m,
                       ProtobufCMessage **ret)
{
    return wire_decode_trusted(a, desc, (const uint8_t *)natsMsg_GetData(m),
                               (size_t)natsMsg_GetDataLength(m), ret);
}

static rp_err s_put_u64(writer_txn_t *t, int db, uint64_t key, const void *val, size_t len,
                        unsigned flags)
{
    uint8_t k[8];
    rp_err rc;
    store_u64_key(key, k);
    rc = store_put(t->txn, t->w->db[db], k, 8, val, len, flags);
    return rc == RP_EEXIST ? RP_OK : rc;
}

static rp_err s_del_u64(writer_txn_t *t, int db, uint64_t key, const void *val, size_t len)
{
    uint8_t k[8];
    rp_err rc;
    store_u64_key(key, k);
    rc = store_del(t->txn, t->w->db[db], k, 8, val, len);
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* The entries a campaign entry can cover (what deleting it walks). */
static rp_err s_ce_range(writer_txn_t *t, uint64_t ce, uint64_t first, uint64_t last)
{
    uint8_t range[16];
    store_u64_key(first, range);
    store_u64_key(last, range + 8);
    return s_put_u64(t, WRITER_DB_CE_RANGE, ce, range, 16, STORE_PUT_NOOVERWRITE);
}

/* ---- the counters ----
 * The writer takes its numbers from counters in WRITER_DB_META; a replica
 * keeps them at the highest number it has seen (stored or deleted), so
 * that its env, promoted, would never give a number twice. */

static const char *const s_counters[NO_COUNT] = {"entry", "logged_segment", "campaign_entry"};

static void s_seen(uint64_t *max, uint64_t no)
{
    if (no > *max)
        *max = no;
}

static rp_err s_counters_put(writer_txn_t *t, const uint64_t max[NO_COUNT])
{
    rp_err rc = RP_OK;

    for (int i = 0; i < NO_COUNT && rc == RP_OK; i++) {
        uint64_t have;
        rc = writer_meta_get(t->txn, t->w, s_counters[i], &have);
        if (rc == RP_OK && max[i] > have)
            rc = writer_meta_put(t->txn, t->w, s_counters[i], max[i]);
    }
    return rc;
}

static rp_err s_apply_entry(writer_txn_t *t, wire_arena_t *a, natsMsg *m, uint64_t *max)
{
    Rapport__V1__Entry *e, *old = NULL;
    rp_err rc = s_decode(a, &rapport__v1__entry__descriptor, m, (ProtobufCMessage **)&e);

    if (rc == RP_OK)
        s_seen(&max[NO_ENTRY], e->entry_no);
    /* Above every stored number (a segment log's entries): new. */
    if (rc == RP_OK && e->entry_no <= t->max_entry_key)
        rc = writer_get_record(t->txn, t->w, a, WRITER_DB_ENTRIES, e->entry_no,
                               &rapport__v1__entry__descriptor, (ProtobufCMessage **)&old);
    if (rc == RP_ENOTFOUND) {
        old = NULL;
        rc = RP_OK;
    }
    if (rc == RP_OK)
        rc = writer_entry_store(t, e, old, true);
    /* A single interaction's campaign entry covers that entry (a logged
     * segment's got its range with its record). */
    if (rc == RP_OK && e->campaign_entry_no && !e->segment_no[0])
        rc = s_ce_range(t, e->campaign_entry_no, e->entry_no, e->entry_no);
    return rc;
}

/* Whether record `no` of db is stored yet (RP_OK) or new (RP_ENOTFOUND). */
static rp_err s_stored(writer_txn_t *t, int db, uint64_t no)
{
    uint8_t k[8];
    store_val_t v;
    store_u64_key(no, k);
    return store_get(t->txn, t->w->db[db], k, 8, &v);
}

static rp_err s_apply_logged_segment(writer_txn_t *t, wire_arena_t *a, natsMsg *m, uint64_t *max)
{
    Rapport__V1__LoggedSegment *ls;
    uint8_t k[8];
    rp_err rc = s_decode(a, &rapport__v1__logged_segment__descriptor, m, (ProtobufCMessage **)&ls);

    if (rc == RP_OK)
        s_seen(&max[NO_LOGGED_SEGMENT], ls->entry_no);
    if (rc == RP_OK)
        rc = s_stored(t, WRITER_DB_LOGGED_SEGMENTS, ls->entry_no);
    if (rc == RP_ENOTFOUND) { /* new: its segment's newest logged segment */
        store_u64_key(ls->entry_no, k);
        rc = store_put(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls->segment_no,
                       strlen(ls->segment_no), k, 8, 0);
    }
    return rc == RP_OK ? writer_put_record(t, WRITER_DB_LOGGED_SEGMENTS, ls->entry_no, &ls->base, 0)
                       : rc;
}

static rp_err s_apply_campaign_entry(writer_txn_t *t, wire_arena_t *a, natsMsg *m, uint64_t *max)
{
    Rapport__V1__CampaignEntry *ce;
    Rapport__V1__LoggedSegment *ls;
    uint8_t cek[8];
    rp_err rc = s_decode(a, &rapport__v1__campaign_entry__descriptor, m, (ProtobufCMessage **)&ce);

    if (rc == RP_OK)
        s_seen(&max[NO_CAMPAIGN_ENTRY], ce->entry_no);
    if (rc == RP_OK)
        rc = s_stored(t, WRITER_DB_CAMPAIGN_ENTRIES, ce->entry_no);
    if (rc == RP_ENOTFOUND && ce->register_no) {
        /* New, of a logged segment (its record came first in this seq):
         * indexed under it, covering its entries. */
        store_u64_key(ce->entry_no, cek);
        rc = s_put_u64(t, WRITER_DB_CE_BY_LSE, ce->register_no, cek, 8, STORE_PUT_NODUPDATA);
        if (rc == RP_OK)
            rc = writer_get_record(t->txn, t->w, a, WRITER_DB_LOGGED_SEGMENTS, ce->register_no,
                                   &rapport__v1__logged_segment__descriptor,
                                   (ProtobufCMessage **)&ls);
        if (rc == RP_OK)
            rc = s_ce_range(t, ce->entry_no, ls->first_entry_no, ls->last_entry_no);
    } else if (rc == RP_ENOTFOUND) {
        rc = RP_OK;
    }
    return rc == RP_OK
               ? writer_put_record(t, WRITER_DB_CAMPAIGN_ENTRIES, ce->entry_no, &ce->base, 0)
               : rc;
}

/* ---- what an event deletes (its records are not in the stream) ---- */

static rp_err s_delete_entry(writer_txn_t *t, wire_arena_t *a, uint64_t no)
{
    Rapport__V1__Entry *e;
    rp_err rc = writer_get_record(t->txn, t->w, a, WRITER_DB_ENTRIES, no,
                                  &rapport__v1__entry__descriptor, (ProtobufCMessage **)&e);

    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc == RP_OK && !e->canceled && !e->postponed)
        rc = writer_stats_apply(t, e, -1);
    return rc == RP_OK ? writer_entry_delete(t, e) : rc;
}

static rp_err s_delete_campaign_entry(writer_txn_t *t, wire_arena_t *a, uint64_t no)
{
    Rapport__V1__CampaignEntry *ce;
    uint8_t cek[8];
    rp_err rc =
        writer_get_record(t->txn, t->w, a, WRITER_DB_CAMPAIGN_ENTRIES, no,
                          &rapport__v1__campaign_entry__descriptor, (ProtobufCMessage **)&ce);

    if (rc == RP_ENOTFOUND)
        return RP_OK;
    store_u64_key(no, cek);
    if (rc == RP_OK && ce->register_no)
        rc = s_del_u64(t, WRITER_DB_CE_BY_LSE, ce->register_no, cek, 8);
    if (rc == RP_OK)
        rc = s_del_u64(t, WRITER_DB_CE_RANGE, no, NULL, 0);
    return rc == RP_OK ? s_del_u64(t, WRITER_DB_CAMPAIGN_ENTRIES, no, NULL, 0) : rc;
}

static rp_err s_delete_logged_segment(writer_txn_t *t, wire_arena_t *a, uint64_t no)
{
    Rapport__V1__LoggedSegment *ls;
    store_val_t cur;
    rp_err rc =
        writer_get_record(t->txn, t->w, a, WRITER_DB_LOGGED_SEGMENTS, no,
                          &rapport__v1__logged_segment__descriptor, (ProtobufCMessage **)&ls);

    if (rc == RP_ENOTFOUND)
        return RP_OK;
    if (rc == RP_OK &&
        store_get(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls->segment_no,
                  strlen(ls->segment_no), &cur) == RP_OK &&
        cur.len == 8 && store_key_u64(cur.data) == no)
        rc = store_del(t->txn, t->w->db[WRITER_DB_LSE_BY_SEGMENT], ls->segment_no,
                       strlen(ls->segment_no), NULL, 0);
    if (rc == RP_OK)
        rc = s_del_u64(t, WRITER_DB_CE_BY_LSE, no, NULL, 0);
    return rc == RP_OK ? s_del_u64(t, WRITER_DB_LOGGED_SEGMENTS, no, NULL, 0) : rc;
}

static rp_err s_apply_deletions(writer_txn_t *t, wire_arena_t *a, const Rapport__V1__Event *ev,
                                uint64_t *max)
{
    rp_err rc = RP_OK;

    if ((!strcmp(ev->type, "entries.deleted") ||
         !strcmp(ev->type, "interaction.postponed_deleted")) &&
        ev->body_case == RAPPORT__V1__EVENT__BODY_ENTRIES) {
        for (size_t i = 0; i < ev->entries->n_ranges && rc == RP_OK; i++) {
            s_seen(&max[NO_ENTRY], ev->entries->ranges[i]->last);
            for (uint64_t no = ev->entries->ranges[i]->first;
                 no <= ev->entries->ranges[i]->last && rc == RP_OK; no++) {
                if ((no - ev->entries->ranges[i]->first) % 1024 == 0)
                    wire_arena_reset(a);
                rc = s_delete_entry(t, a, no);
            }
        }
        for (size_t i = 0; i < ev->entries->n_campaign_entry_nos && rc == RP_OK; i++) {
            s_seen(&max[NO_CAMPAIGN_ENTRY], ev->entries->campaign_entry_nos[i]);
            rc = s_delete_campaign_entry(t, a, ev->entries->campaign_entry_nos[i]);
        }
    } else if (!strcmp(ev->type, "logged_segments.deleted") &&
               ev->body_case == RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS) {
        for (size_t i = 0; i < ev->logged_segments->n_logged_segment_nos && rc == RP_OK; i++) {
            s_seen(&max[NO_LOGGED_SEGMENT], ev->logged_segments->logged_segment_nos[i]);
            rc = s_delete_logged_segment(t, a, ev->logged_segments->logged_segment_nos[i]);
        }
    }
    return rc;
}

/* One record of the open seq (a part after its event). */
static rp_err s_apply_part(writer_replica_t *r, natsMsg *m)
{
    if (++r->n_parts % RESET_EVERY == 0) {
        wire_arena_reset(r->scratch);
        daemon_fault_point("logwriter.replica_mid_apply"); /* crash tests */
    }
    switch (s_kind(m)) {
    case REC_ENTRY:
        return s_apply_entry(&r->txn, r->scratch, m, r->max);
    case REC_LOGGED_SEGMENT:
        return s_apply_logged_segment(&r->txn, r->scratch, m, r->max);
    case REC_CAMPAIGN_ENTRY:
        return s_apply_campaign_entry(&r->txn, r->scratch, m, r->max);
    default:
        return RP_OK;
    }
}

/* The end of the open seq, after its records: what its event deletes, the
 * event itself, and where the replica is. */
static rp_err s_apply_end(writer_replica_t *r)
{
    writer_txn_t *t = &r->txn;
    Rapport__V1__Event *ev = NULL;
    uint64_t seq = r->want_seq;
    rp_err rc =
        s_decode(t->arena, &rapport__v1__event__descriptor, r->event, (ProtobufCMessage **)&ev);

    wire_arena_reset(r->scratch);
    if (rc == RP_OK)
        rc = s_apply_deletions(t, r->scratch, ev, r->max);
    if (rc == RP_OK)
        rc = s_counters_put(t, r->max);
    if (rc == RP_OK)
        rc = events_put(t, seq, ev->type, (const uint8_t *)natsMsg_GetData(r->event),
                        (size_t)natsMsg_GetDataLength(r->event));
    if (rc == RP_OK)
        rc = writer_meta_put(t->txn, t->w, "seq", seq);
    if (rc == RP_OK)
        rc = writer_meta_put(t->txn, t->w, "replica_stream_seq", r->taken_stream_seq);
    if (rc == RP_OK && r->term != t->w->term)
        rc = writer_meta_put(t->txn, t->w, "term", r->term);
    if (rc == RP_OK && !r->store_known) /* the first seq: the store is the stream's */
        rc = store_put(t->txn, t->w->db[WRITER_DB_META], "stream_id", 9, t->w->stream_id, 8, 0);
    return rc;
}

/* Stop serving: the stream is not one this store can follow. */
static void s_refuse(writer_replica_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_refuse(writer_replica_t *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_errx("replica refuses stream %s: %s", r->w->cfg->nats_stream, msg);
    daemon_notify("STATUS=refused: %s", msg);
    r->w->exit_code = 2;
    daemon_stop = 1;
}

/* Drop the open seq: abort its transaction. */
static void s_drop_seq(writer_replica_t *r)
{
    if (r->open)
        writer_txn_abort(&r->txn);
    r->open = false;
    natsMsg_Destroy(r->event);
    r->event = NULL;
}

/* The open seq could not be written: with a full map, grow it and apply
 * the seq again from its part 0 (the stream has it still); else refuse. */
static void s_failed(writer_replica_t *r, rp_err rc)
{
    uint64_t seq = r->want_seq, from = r->event_stream_seq;

    s_drop_seq(r);
    if (rc == RP_EMAPFULL && r->grows < 40 && store_grow(r->w->store) == RP_OK) {
        r->grows++;
        log_info("seq %llu filled the map: grown, applying it again from stream message %llu",
                 (unsigned long long)seq, (unsigned long long)from);
        r->rewinding = true;
        r->taken_stream_seq = from - 1;
        r->want_part = 0;
        pthread_mutex_lock(&r->mu);
        r->rewind_to = from;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->apply_failures++;
    s_refuse(r, "cannot apply seq %llu: %s (%s)", (unsigned long long)seq, rp_strerror(rc),
             store_last_error(r->w->store));
}

/* The seq's last message is applied: commit it. */
static void s_commit_seq(writer_replica_t *r)
{
    uint64_t seq = r->want_seq;
    rp_err rc = s_apply_end(r);

    if (rc == RP_OK) {
        r->open = false;
        rc = writer_txn_commit(&r->txn);
    }
    if (rc != RP_OK) {
        s_failed(r, rc);
        return;
    }
    daemon_fault_point("logwriter.replica_applied");
    r->w->term = r->term;
    r->store_known = true;
    r->applied_stream_seq = r->taken_stream_seq;
    r->applied_seqs++;
    r->applied_msgs += r->n_parts + 1;
    natsMsg_Destroy(r->event);
    r->event = NULL;
    r->want_seq = seq + 1;
    r->want_part = 0;
}

/* Apply message m (the one the stream must have next) of the seq. */
static void s_apply_msg(writer_replica_t *r, natsMsg *m, uint64_t stream_seq, uint64_t part,
                        bool last)
{
    rp_err rc = RP_OK;

    if (part == 0) { /* its event: the seq begins */
        rc = writer_txn_begin(r->w, &r->txn);
        if (rc != RP_OK) {
            natsMsg_Destroy(m);
            s_failed(r, rc);
            return;
        }
        r->open = true;
        r->event = m;
        r->event_stream_seq = stream_seq;
        r->n_parts = 0;
        memset(r->max, 0, sizeof(r->max));
        wire_arena_reset(r->scratch);
    } else {
        rc = s_apply_part(r, m);
        natsMsg_Destroy(m);
        if (rc != RP_OK) {
            s_failed(r, rc);
            return;
        }
    }
    if (last)
        s_commit_seq(r);
}

/* The store id of a message's Nats-Msg-Id ("<store id>:<seq>[:<part>]"). */
static bool s_msg_store(natsMsg *m, char out[17])
{
    const char *v = NULL;
    size_t n;
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) != NATS_OK || !v)
        return false;
    n = strcspn(v, ":");
    if (n != 16)
        return false;
    memcpy(out, v, 16);
    out[16] = '\0';
    return true;
}

static bool s_check_store(writer_replica_t *r, natsMsg *m, uint64_t seq)
{
    char hex[17];

    if (!s_msg_store(m, hex)) {
        s_refuse(r, "message of seq %llu has no store id in its Nats-Msg-Id",
                 (unsigned long long)seq);
        return false;
    }
    if (!r->store_known && !r->store_taken) { /* the stream's first message names it */
        r->store_taken = true;
        for (size_t i = 0; i < 8; i++) {
            unsigned b;
            sscanf(hex + 2 * i, "%2x", &b);
            r->w->stream_id[i] = (uint8_t)b;
        }
        memcpy(r->store_hex, hex, sizeof(hex));
    }
    if (strcmp(hex, r->store_hex) != 0) {
        s_refuse(r,
                 "it holds the changes of store %s, and this replica's store is %s: set "
                 "nats_stream to that store's stream, or start this replica from an empty state "
                 "directory",
                 hex, r->store_hex);
        return false;
    }
    return true;
}

/* The primary's term only grows along the stream (Rapport-Term). A term
 * marker (rapport.v1.term, published by rapport promote at the seq the
 * promoted replica had) is never applied; one that comes before this
 * store's own seq means this store has seqs the stream does not: an old
 * primary's, never relayed. False when refused. */
static bool s_check_term(writer_replica_t *r, natsMsg *m, uint64_t seq, uint64_t stream_seq)
{
    bool marker = !strcmp(natsMsg_GetSubject(m), "rapport.v1.term");
    uint64_t term = 0;

    natsconn_header_u64(m, "Rapport-Term", &term);
    if (marker && term > r->term && seq + 1 < r->want_seq) {
        s_refuse(r,
                 "a replica was promoted to term %llu at seq %llu (message %llu), and this store "
                 "has seqs up to %llu: those after %llu are an old primary's that the stream "
                 "never had; rebuild this replica from an empty state directory or a backup of "
                 "the new primary",
                 (unsigned long long)term, (unsigned long long)seq, (unsigned long long)stream_seq,
                 (unsigned long long)(r->want_seq - 1), (unsigned long long)seq);
        return false;
    }
    if (!marker && seq >= r->want_seq && term < r->term) {
        s_refuse(r, "message %llu (seq %llu) is of term %llu, after term %llu: the stream forked",
                 (unsigned long long)stream_seq, (unsigned long long)seq, (unsigned long long)term,
                 (unsigned long long)r->term);
        return false;
    }
    if (term > r->term && (marker || seq >= r->want_seq))
        r->term = term;
    return true;
}

/* Take one message from the queue: skip what is applied, check that it
 * follows, gather it, apply its seq when it is the last. */
static void s_take(writer_replica_t *r, natsMsg *m)
{
    uint64_t stream_seq = s_stream_seq(m), seq = 0, part = 0, prev_stream_seq;
    const char *v = NULL;
    bool last;

    if (r->rewinding && stream_seq != r->taken_stream_seq + 1) { /* of the old flow */
        natsMsg_Destroy(m);
        return;
    }
    r->rewinding = false;
    if (daemon_stop || stream_seq <= r->taken_stream_seq) { /* redelivered */
        natsMsg_Destroy(m);
        return;
    }
    prev_stream_seq = r->taken_stream_seq;
    r->taken_stream_seq = stream_seq;
    natsconn_header_u64(m, "Rapport-Seq", &seq);
    natsconn_header_u64(m, "Rapport-Part", &part);
    last = natsMsgHeader_Get(m, "Rapport-Last", &v) == NATS_OK && v && !strcmp(v, "true");
    if (!strcmp(natsMsg_GetSubject(m), "rapport.v1.gap")) {
        v = NULL;
        natsMsgHeader_Get(m, "Rapport-Gap", &v);
        s_refuse(r,
                 "the relay marked seqs %s as lost (message %llu): restore this replica from a "
                 "backup of the primary made after them",
                 v ? v : "?", (unsigned long long)stream_seq);
        natsMsg_Destroy(m);
        return;
    }
    if (!s_check_store(r, m, seq) || !s_check_term(r, m, seq, stream_seq)) {
        natsMsg_Destroy(m);
        return;
    }
    if (seq < r->want_seq || !strcmp(natsMsg_GetSubject(m), "rapport.v1.term")) {
        /* applied already (a restored backup's), or a term marker */
        natsMsg_Destroy(m);
        return;
    }
    /* The relay publishes a seq's parts in order, leaving out the holes
     * (records gone by then), on consecutive stream messages. */
    if (seq != r->want_seq ||
        (r->want_part == 0 ? part != 0 || s_kind(m) != REC_EVENT : part < r->want_part) ||
        (prev_stream_seq && stream_seq != prev_stream_seq + 1)) {
        s_refuse(r,
                 "the stream lacks what this replica needs next, seq %llu from part %llu "
                 "(message %llu, after message %llu, is seq %llu part %llu)%s",
                 (unsigned long long)r->want_seq, (unsigned long long)r->want_part,
                 (unsigned long long)stream_seq, (unsigned long long)prev_stream_seq,
                 (unsigned long long)seq, (unsigned long long)part,
                 r->want_seq == 1 && r->want_part == 0
                     ? ": it no longer holds seq 1; restore a `rapport backup` of the primary "
                       "into this replica's state directory first"
                     : "");
        natsMsg_Destroy(m);
        return;
    }
    r->want_part = part + 1;
    s_apply_msg(r, m, stream_seq, part, last);
}

/* The doorbell rang: take what the thread fetched. */
static void s_on_bell(void *ctx)
{
    writer_replica_t *r = ctx;
    natsMsg **q;
    size_t n;
    char buf[1];

    while (zmq_recv(r->bell_rx, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
        ;
    pthread_mutex_lock(&r->mu);
    if (r->refusal[0] && !daemon_stop)
        s_refuse(r, "%s", r->refusal);
    q = r->q;
    n = r->qn;
    r->q = NULL;
    r->qn = r->qcap = 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++)
        s_take(r, q[i]);
    free(q);
}

/* ---- the process ---- */

/* Where the store is: its seq, the stream message of it, its store id. */
static rp_err s_position(writer_replica_t *r)
{
    store_txn_t *txn = NULL;
    uint64_t seq = 0;
    rp_err rc = store_txn_begin(r->w->store, false, &txn);

    if (rc == RP_OK)
        rc = writer_meta_get(txn, r->w, "seq", &seq);
    if (rc == RP_OK)
        rc = writer_meta_get(txn, r->w, "replica_stream_seq", &r->applied_stream_seq);
    store_txn_abort(txn);
    if (rc != RP_OK)
        return rc;
    r->want_seq = seq + 1;
    r->want_part = 0;
    r->store_known = seq > 0;
    r->start_seq = seq;
    r->term = r->w->term;
    for (size_t i = 0; i < 8; i++)
        snprintf(r->store_hex + 2 * i, 3, "%02x", r->w->stream_id[i]);
    /* A restored backup knows its seq, not the stream's message: from the
     * stream's first message on, skipping what it has. */
    r->taken_stream_seq = r->applied_stream_seq;
    r->next_stream_seq = r->applied_stream_seq + 1;
    return RP_OK;
}

static rp_err s_bell(writer_replica_t *r, void *zctx, char *errbuf, size_t errlen)
{
    char ep[64];
    int zero = 0;

    snprintf(ep, sizeof(ep), "inproc://rapport-replica-%p", (void *)r);
    r->bell_rx = zmq_socket(zctx, ZMQ_PAIR);
    r->bell_tx = zmq_socket(zctx, ZMQ_PAIR);
    if (!r->bell_rx || !r->bell_tx || zmq_setsockopt(r->bell_rx, ZMQ_LINGER, &zero, 4) != 0 ||
        zmq_setsockopt(r->bell_tx, ZMQ_LINGER, &zero, 4) != 0 || zmq_bind(r->bell_rx, ep) != 0 ||
        zmq_connect(r->bell_tx, ep) != 0) {
        snprintf(errbuf, errlen, "replica doorbell: %s", zmq_strerror(zmq_errno()));
        return RP_EIO;
    }
    return RP_OK;
}

rp_err replica_start(writer_t *w, void *zctx, char *errbuf, size_t errlen)
{
    writer_replica_t *r;
    jsOptions jo;
    rp_err rc;

    if (!w->cfg->nats_url[0]) {
        snprintf(errbuf, errlen,
                 "replica = on needs the stream to follow: set nats_url = nats://HOST:4222 (and "
                 "nats_stream if it is not RAPPORT) in the configuration file, or "
                 "RAPPORT_NATS_URL, or --set nats_url=...");
        return RP_ECONFIG;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        return RP_ENOMEM;
    w->rep = r;
    r->w = w;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->scratch = wire_arena_new();
    if (!r->scratch)
        return RP_ENOMEM;
    rc = s_position(r);
    if (rc != RP_OK) {
        snprintf(errbuf, errlen, "cannot read the replica's position: %s", rp_strerror(rc));
        return rc;
    }
    rc = natsconn_options(w->cfg, "rapport-logwriter-replica", &r->opts, errbuf, errlen);
    if (rc == RP_OK)
        rc = natsconn_connect(w->cfg, r->opts, &r->nc, errbuf, errlen);
    if (rc != RP_OK)
        return rc;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if (natsConnection_JetStream(&r->js, r->nc, &jo) != NATS_OK) {
        snprintf(errbuf, errlen, "cannot create the JetStream context: %s",
                 nats_GetLastError(NULL));
        return RP_ECONFIG;
    }
    rc = s_bell(r, zctx, errbuf, errlen);
    if (rc != RP_OK)
        return rc;
    server_add_socket(w->server, r->bell_rx, s_on_bell, r);
    if (pthread_create(&r->thread, NULL, s_fetch_loop, r) != 0) {
        snprintf(errbuf, errlen, "cannot start the replica's thread");
        return RP_ENOMEM;
    }
    r->thread_started = true;
    log_info("replica of store %s: applied seq %llu (stream message %llu), following stream %s "
             "at %s; writes go to %s",
             r->store_known ? r->store_hex : "(none yet)", (unsigned long long)(r->want_seq - 1),
             (unsigned long long)r->applied_stream_seq, w->cfg->nats_stream, w->cfg->nats_url,
             w->cfg->replica_primary[0] ? w->cfg->replica_primary : "the primary");
    return RP_OK;
}

void replica_stop(writer_t *w)
{
    writer_replica_t *r = w->rep;

    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    for (size_t i = 0; i < r->qn; i++)
        natsMsg_Destroy(r->q[i]);
    free(r->q);
    s_drop_seq(r);
    wire_arena_destroy(&r->scratch);
    if (r->bell_rx)
        zmq_close(r->bell_rx);
    if (r->bell_tx)
        zmq_close(r->bell_tx);
    jsCtx_Destroy(r->js);
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
    }
    natsOptions_Destroy(r->opts);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    w->rep = NULL;
}

bool replica_applying(const writer_t *w)
{
    return w->rep && w->rep->open;
}

void replica_refuse(writer_t *w, server_req_t *req, const char *command)
{
    const char *primary = w->cfg->replica_primary;
    server_req_status(req, RAPPORT__V1__STATUS_CODE__FAILED_PRECONDITION, NULL,
                      "this log writer is a read replica (store %s, at seq %llu): send %s to "
                      "the primary log writer%s%s",
                      w->rep ? w->rep->store_hex : "?", (unsigned long long)w->last_seq, command,
                      primary[0] ? " at " : "",
                      primary[0] ? primary : " (set replica_primary to name it here)");
    writer_reply(req)->seq = w->last_seq;
}

void replica_stats(writer_t *w, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    writer_replica_t *r = w->rep;
    uint64_t fetched, queued;

    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    fetched = r->fetched;
    queued = r->qn;
    pthread_mutex_unlock(&r->mu);
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replica_applied_seq",
                                        "The newest seq this replica has applied",
                                        (double)(r->want_seq - 1)));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replica_stream_message",
                                        "JetStream sequence of the last message applied",
                                        (double)r->applied_stream_seq));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replica_messages_fetched",
                                        "Stream messages fetched since start", (double)fetched));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replica_messages_waiting",
                                        "Fetched messages not yet taken (queued)", (double)queued));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replica_seq_parts_applied",
                                        "Messages of the seq being applied that are written "
                                        "(uncommitted) so far",
                                        (double)(r->open ? r->n_parts + 1 : 0)));
}
