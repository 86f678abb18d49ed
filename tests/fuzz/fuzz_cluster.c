/* fuzz_cluster: the real workers in one process, stepped by the fuzzer.
 *
 * Built like the workers' main.c files, with three differences: inproc
 * endpoints, sync_mode nosync (a fuzzer does not need durability and fsync
 * would make it a hundred times slower), and log level error (every
 * refused request is a warning line). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fuzz_cluster.h"
#include "fuzz_access.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "clock.h"
#include "config.h"
#include "interaction_server.h"
#include "link.h"
#include "log.h"
#include "logwriter_server.h"
#include "segment_server.h"
#include "server.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define CALL_DEADLINE_MS 20000

static struct {
    bool started;
    unsigned mask;
    char dir[256];
    config_t cfg;
    void *zctx;
    logwriter_t *lw;
    store_t *ix_store;
    link_t *ix_link;
    interaction_server_t *ix;
    server_t *ix_server;
    segsrv_t *seg;
    server_t *servers[3];
    void *client[3];
    ProtobufCMessage *last_reply;
    uint64_t calls; /* since the last reset */
    uint64_t nonce;
    uint64_t gen; /* endpoints are new at each reset: closing is asynchronous */
} s_cl;

static const ProtobufCMessageDescriptor *const s_reply_desc[3] = {
    &rapport__v1__log_reply__descriptor,
    &rapport__v1__interaction_reply__descriptor,
    &rapport__v1__segment_reply__descriptor,
};

static const ProtobufCMessageDescriptor *const s_request_desc[3] = {
    &rapport__v1__log_request__descriptor,
    &rapport__v1__interaction_request__descriptor,
    &rapport__v1__segment_request__descriptor,
};

static const char *const s_names[3] = {"logwriter", "interaction", "segment"};

static bool s_same_id(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (!a.len || memcmp(a.data, b.data, a.len) == 0);
}

/* The reply carries the request_id the worker could read: the request's
 * (the last field 1 when it decodes) or, when it does not decode, the first
 * field 1 found by scanning; none when neither is a valid one. Aborts
 * otherwise: a reply under another id reaches no waiting client. */
static void s_check_request_id(fz_worker_t w, const void *data, size_t len,
                               const ProtobufCMessage *reply)
{
    const ProtobufCBinaryData *got = wire_msg_request_id(reply);
    ProtobufCBinaryData peeked = wire_peek_request_id(data, len), decoded = {0, NULL};
    ProtobufCMessage *req = protobuf_c_message_unpack(s_request_desc[w], NULL, len, data);
    bool ok;

    if (req && wire_msg_request_id(req) && wire_msg_request_id(req)->len <= WIRE_REQUEST_ID_MAX)
        decoded = *wire_msg_request_id(req);
    if (got && got->len)
        ok = s_same_id(*got, decoded) || s_same_id(*got, peeked);
    else
        ok = !decoded.len || !peeked.len;
    if (!ok)
        fprintf(stderr,
                "fuzz_cluster: worker %d replied under request_id '%.*s' (%zu bytes), the "
                "request's is '%.*s' / '%.*s'\n",
                (int)w, got ? (int)got->len : 0, got ? (const char *)got->data : "",
                got ? got->len : 0, (int)decoded.len, (const char *)decoded.data, (int)peeked.len,
                (const char *)peeked.data);
    if (req)
        protobuf_c_message_free_unpacked(req, NULL);
    if (!ok)
        abort();
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Close the workers and remove their state dir; the ZeroMQ context stays
 * (creating one starts threads) unless `final`. */
static void s_close_workers(bool final)
{
    if (s_cl.last_reply)
        protobuf_c_message_free_unpacked(s_cl.last_reply, NULL);
    s_cl.last_reply = NULL;
    for (int i = 0; i < 3; i++) {
        if (s_cl.client[i])
            zmq_close(s_cl.client[i]);
        s_cl.client[i] = NULL;
        s_cl.servers[i] = NULL;
    }
    segsrv_destroy(&s_cl.seg);
    server_destroy(&s_cl.ix_server);
    interaction_server_destroy(&s_cl.ix);
    link_destroy(&s_cl.ix_link);
    store_close(&s_cl.ix_store);
    logwriter_destroy(&s_cl.lw);
    if (final && s_cl.zctx) {
        zmq_ctx_term(s_cl.zctx);
        s_cl.zctx = NULL;
    }
    if (s_cl.dir[0] && !getenv("RAPPORT_KEEP_TEST_DIRS"))
        nftw(s_cl.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    s_cl.dir[0] = '\0';
}

static void s_close(void)
{
    s_close_workers(true);
}

static void s_die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_cluster: %s: %s\n", what, why);
    abort();
}

/* Build the workers of s_cl.mask in a new state dir. */
static void s_open(void)
{
    char err[CONFIG_PATH_MAX + 256], dir[CONFIG_PATH_MAX + 32];
    const char *tmp = getenv("TMPDIR");
    const store_dbi_spec_t *dbis;
    size_t n_dbis;
    unsigned mask = s_cl.mask;

    snprintf(s_cl.dir, sizeof(s_cl.dir), "%s/rapport-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_cl.dir))
        s_die("mkdtemp", s_cl.dir);
    config_defaults(&s_cl.cfg);
    snprintf(s_cl.cfg.state_dir, sizeof(s_cl.cfg.state_dir), "%s/state", s_cl.dir);
    snprintf(s_cl.cfg.run_dir, sizeof(s_cl.cfg.run_dir), "%s/run", s_cl.dir);
    s_cl.gen++;
    snprintf(s_cl.cfg.logwriter_endpoint, CONFIG_PATH_MAX, "inproc://fuzz-%s-%llu",
             s_names[FZ_W_LOGWRITER], (unsigned long long)s_cl.gen);
    snprintf(s_cl.cfg.interaction_endpoint, CONFIG_PATH_MAX, "inproc://fuzz-%s-%llu",
             s_names[FZ_W_INTERACTION], (unsigned long long)s_cl.gen);
    snprintf(s_cl.cfg.segment_endpoint, CONFIG_PATH_MAX, "inproc://fuzz-%s-%llu",
             s_names[FZ_W_SEGMENT], (unsigned long long)s_cl.gen);
    snprintf(s_cl.cfg.events_endpoint, CONFIG_PATH_MAX, "inproc://fuzz-events-%llu",
             (unsigned long long)s_cl.gen);
    s_cl.cfg.sync_mode = CONFIG_SYNC_NONE;
    s_cl.cfg.map_size = 64 << 20;
    /* Small stream batches and chunks reach more of the log paths. */
    s_cl.cfg.log_batch_entries = 7;
    s_cl.cfg.request_timeout_ms = 2000;
    config_finalize(&s_cl.cfg);

    if (!s_cl.zctx)
        s_cl.zctx = zmq_ctx_new();
    if (!s_cl.zctx)
        s_die("zmq_ctx_new", "failed");
    if (mask & FZ_LOGWRITER) {
        if (logwriter_new(&s_cl.cfg, s_cl.zctx, &s_cl.lw, err, sizeof(err)) != RP_OK)
            s_die("logwriter_new", err);
        s_cl.servers[FZ_W_LOGWRITER] = fz_writer_server(s_cl.lw);
    }
    if (mask & FZ_INTERACTION) {
        snprintf(dir, sizeof(dir), "%s/interaction", s_cl.cfg.state_dir);
        dbis = interaction_server_dbis(&n_dbis);
        if (store_open(dir, dbis, n_dbis, (uint64_t)s_cl.cfg.map_size, s_cl.cfg.sync_mode,
                       &s_cl.ix_store, err, sizeof(err)) != RP_OK)
            s_die("store_open", err);
        if (link_new(s_cl.zctx, s_cl.cfg.logwriter_endpoint, "logwriter",
                     &rapport__v1__log_reply__descriptor, &s_cl.cfg, &s_cl.ix_link, err,
                     sizeof(err)) != RP_OK)
            s_die("link_new", err);
        if (interaction_server_new(&s_cl.cfg, s_cl.ix_store, s_cl.ix_link, &s_cl.ix) != RP_OK)
            s_die("interaction_server_new", "failed");
        if (server_new(interaction_server_spec(s_cl.ix), &s_cl.cfg, s_cl.zctx,
                       s_cl.cfg.interaction_endpoint, &s_cl.ix_server, err, sizeof(err)) != RP_OK)
            s_die("server_new", err);
        interaction_server_attach(s_cl.ix, s_cl.ix_server);
        s_cl.servers[FZ_W_INTERACTION] = s_cl.ix_server;
    }
    if (mask & FZ_SEGMENT) {
        if (segsrv_new(&s_cl.cfg, s_cl.zctx, &s_cl.seg, err, sizeof(err)) != RP_OK)
            s_die("segsrv_new", err);
        s_cl.servers[FZ_W_SEGMENT] = fz_segment_server(s_cl.seg);
    }
    for (int i = 0; i < 3; i++) {
        if (!s_cl.servers[i])
            continue;
        const char *ep = i == FZ_W_LOGWRITER     ? s_cl.cfg.logwriter_endpoint
                         : i == FZ_W_INTERACTION ? s_cl.cfg.interaction_endpoint
                                                 : s_cl.cfg.segment_endpoint;
        if (bus_socket_connect(s_cl.zctx, BUS_DEALER, ep, &s_cl.cfg, &s_cl.client[i], err,
                               sizeof(err)) != RP_OK)
            s_die("connect", err);
    }
    s_cl.calls = 0;
}

void fz_cluster_start(unsigned mask)
{
    if (s_cl.started)
        return;
    s_cl.started = true;
    s_cl.mask = mask;
    setenv("RAPPORT_TODAY", "2026-06-15", 1);
    setenv("RAPPORT_NOW", "10:00", 1);
    setenv("TZ", "UTC", 1);
    log_init("fuzz", getenv("FUZZ_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR);
    atexit(s_close);
    s_open();
}

void fz_cluster_reset(void)
{
    s_close_workers(false);
    s_open();
}

/* One turn for every worker; whether any had something to do. */
static bool s_step_all(long timeout_ms)
{
    bool any = false;
    for (int i = 0; i < 3; i++)
        if (s_cl.servers[i] && server_step(s_cl.servers[i], timeout_ms) > 0)
            any = true;
    return any;
}

int fz_status(const ProtobufCMessage *reply)
{
    const ProtobufCMessage *st = reply ? wire_msg_status(reply) : NULL;
    return st ? (int)((const Rapport__V1__Status *)(const void *)st)->code : 0;
}

const ProtobufCMessage *fz_call(fz_worker_t w, const void *data, size_t len)
{
    void *sock = s_cl.client[w];
    int64_t deadline = clock_mono_ms() + CALL_DEADLINE_MS;
    zmq_msg_t msg;
    const Rapport__V1__Status *st;

    if (!sock)
        s_die("fz_call", "worker not started");
    if (s_cl.last_reply) {
        protobuf_c_message_free_unpacked(s_cl.last_reply, NULL);
        s_cl.last_reply = NULL;
    }
    if (zmq_send(sock, data, len, 0) < 0)
        s_die("zmq_send", zmq_strerror(zmq_errno()));
    for (;;) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) > 0)
            break;
        if (!s_step_all(0) && zmq_poll(&it, 1, 0) <= 0)
            s_step_all(1);
        if (clock_mono_ms() > deadline) {
            fprintf(stderr, "fuzz_cluster: no reply from worker %d within %d ms\n", (int)w,
                    CALL_DEADLINE_MS);
            abort();
        }
    }
    /* The reply: the last frame (a DEALER sees no envelope). */
    zmq_msg_init(&msg);
    for (;;) {
        int more;
        size_t more_len = sizeof(more);
        if (zmq_msg_recv(&msg, sock, 0) < 0)
            s_die("zmq_msg_recv", zmq_strerror(zmq_errno()));
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
        if (!more)
            break;
    }
    if (zmq_msg_size(&msg) > 0) {
        s_cl.last_reply = protobuf_c_message_unpack(s_reply_desc[w], NULL, zmq_msg_size(&msg),
                                                    zmq_msg_data(&msg));
        if (!s_cl.last_reply) {
            fprintf(stderr, "fuzz_cluster: the reply of %zu bytes does not decode\n",
                    zmq_msg_size(&msg));
            abort();
        }
    }
    zmq_msg_close(&msg);
    if (!s_cl.last_reply) {
        /* Only a reply that cannot be encoded is empty: never expected. */
        fprintf(stderr, "fuzz_cluster: empty reply\n");
        abort();
    }
    s_check_request_id(w, data, len, s_cl.last_reply);
    st = (const Rapport__V1__Status *)(const void *)wire_msg_status(s_cl.last_reply);
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "worker %d: %zu bytes -> %d %s\n", (int)w, len, st ? (int)st->code : 0,
                st ? st->message : "");
    if (st && st->code != 0 && (!st->message || !*st->message)) {
        fprintf(stderr, "fuzz_cluster: a refusal (code %d) without a message\n", (int)st->code);
        abort();
    }
    /* Every peer is here and up, and the stores are healthy: a store
     * error or an unavailable peer can only be the input's doing. */
    if (st && (st->code == RAPPORT__V1__STATUS_CODE__INTERNAL ||
               st->code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE ||
               st->code == RAPPORT__V1__STATUS_CODE__DATA_LOSS)) {
        fprintf(stderr, "fuzz_cluster: worker %d answered %d: %s\n", (int)w, (int)st->code,
                st->message);
        abort();
    }
    return s_cl.last_reply;
}

const ProtobufCMessage *fz_call_msg(fz_worker_t w, const ProtobufCMessage *msg, bool must_ok)
{
    uint8_t *buf;
    size_t len;
    const ProtobufCMessage *rep;

    if (wire_encode(msg, &buf, &len) != RP_OK)
        s_die("wire_encode", "out of memory");
    rep = fz_call(w, buf, len);
    free(buf);
    if (must_ok && fz_status(rep) != 0) {
        const Rapport__V1__Status *st =
            (const Rapport__V1__Status *)(const void *)wire_msg_status(rep);
        fprintf(stderr, "fuzz_cluster: set-up request refused: %d %s\n", (int)st->code,
                st->message);
        abort();
    }
    return rep;
}

void fz_settle(long ms)
{
    int64_t deadline = clock_mono_ms() + ms;
    while (clock_mono_ms() < deadline) {
        bool busy = s_cl.seg && fz_segment_busy(s_cl.seg);
        if (!s_step_all(busy ? 1 : 0) && !busy)
            break;
    }
}

const char *fz_state_dir(void)
{
    return s_cl.cfg.state_dir;
}

void fz_setup(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t hdr[5];

    if (!f)
        s_die("cannot open the set-up script", path);
    while (fread(hdr, 1, 5, f) == 5) {
        size_t len =
            (size_t)hdr[1] | (size_t)hdr[2] << 8 | (size_t)hdr[3] << 16 | (size_t)hdr[4] << 24;
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf || fread(buf, 1, len, f) != len)
            s_die("truncated set-up script", path);
        if (hdr[0] < 3 && s_cl.servers[hdr[0]]) {
            const ProtobufCMessage *rep = fz_call((fz_worker_t)hdr[0], buf, len);
            if (fz_status(rep) != 0) {
                const Rapport__V1__Status *st =
                    (const Rapport__V1__Status *)(const void *)wire_msg_status(rep);
                fprintf(stderr, "fuzz_cluster: set-up request refused: %s\n", st->message);
                abort();
            }
        }
        free(buf);
    }
    fclose(f);
    fz_settle(2000);
}

const ProtobufCMessage *fz_call_input(fz_worker_t w, const uint8_t *data, size_t size)
{
    uint8_t *buf;
    const ProtobufCMessage *rep;
    int n;

    s_cl.calls++;
    /* Every other input gets a fresh request_id appended (the last
     * occurrence of a field wins): a mutation that keeps a seed's id would
     * otherwise only ever reach the dedup answer. */
    if (s_cl.calls % 2 == 1 || size > (1u << 24))
        return fz_call(w, data, size);
    buf = malloc(size + 32);
    if (!buf)
        s_die("malloc", "out of memory");
    if (size)
        memcpy(buf, data, size);
    buf[size] = 0x0a; /* field 1, length-delimited */
    n = snprintf((char *)buf + size + 2, 28, "fz%llu", (unsigned long long)++s_cl.nonce);
    buf[size + 1] = (uint8_t)n;
    rep = fz_call(w, buf, size + 2 + (size_t)n);
    free(buf);
    return rep;
}

uint64_t fz_calls(void)
{
    return s_cl.calls;
}

static void s_broken(const char *what, unsigned long long a, unsigned long long b)
{
    fprintf(stderr, "fuzz_cluster: invariant broken: %s (%llu, %llu)\n", what, a, b);
    abort();
}

typedef struct {
    uint64_t no, lse;
} seen_t;

/* First element with no >= key (the entries are listed in order). */
static size_t s_lower(const seen_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].no < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void fz_check_writer(bool gapless, bool strict)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    Rapport__V1__ListLoggedSegments ll = RAPPORT__V1__LIST_LOGGED_SEGMENTS__INIT;
    seen_t *seen = NULL; /* visible entries; lse set to UINT64_MAX once accounted for */
    size_t n = 0, cap = 0;

    /* Every visible entry; numbers 1..N without a gap when asked. */
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES;
    lr.list_entries = &le;
    le.limit = 1000;
    for (;;) {
        const Rapport__V1__LogReply *rep =
            (const void *)fz_call_msg(FZ_W_LOGWRITER, &lr.base, true);
        if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES)
            s_broken("list_entries result", rep->result_case, 0);
        for (size_t i = 0; i < rep->entries->n_entries; i++) {
            const Rapport__V1__Entry *e = rep->entries->entries[i];
            if (n && e->entry_no <= seen[n - 1].no)
                s_broken("entries out of order", e->entry_no, seen[n - 1].no);
            if (gapless && e->entry_no != n + 1)
                s_broken("entry numbers have a gap", e->entry_no, n + 1);
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                seen = realloc(seen, cap * sizeof(*seen));
                if (!seen)
                    s_die("realloc", "out of memory");
            }
            seen[n].no = e->entry_no;
            seen[n].lse = e->logged_segment_entry_no;
            n++;
        }
        if (!rep->entries->next_after)
            break;
        le.after = rep->entries->next_after;
    }
    /* Every logged segment complete: its range visible and its own, and
     * no entry names a logged segment that is not visible. */
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_LOGGED_SEGMENTS;
    lr.list_logged_segments = &ll;
    ll.limit = 1000;
    for (;;) {
        const Rapport__V1__LogReply *rep =
            (const void *)fz_call_msg(FZ_W_LOGWRITER, &lr.base, true);
        const Rapport__V1__LoggedSegments *lss = rep->logged_segments;
        if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_LOGGED_SEGMENTS)
            s_broken("list_logged_segments result", rep->result_case, 0);
        for (size_t i = 0; i < lss->n_logged_segments; i++) {
            const Rapport__V1__LoggedSegment *ls = lss->logged_segments[i];
            size_t k = s_lower(seen, n, ls->first_entry_no);
            uint64_t mine = 0;
            for (; k < n && seen[k].no <= ls->last_entry_no; k++) {
                if (seen[k].lse == ls->entry_no) {
                    seen[k].lse = 0; /* accounted for */
                    mine++;
                } else if (strict) {
                    s_broken("a logged segment's range holds a foreign entry", ls->entry_no,
                             seen[k].no);
                }
            }
            if (!strict)
                continue;
            if (ls->no_of_interactions != ls->last_entry_no - ls->first_entry_no + 1)
                s_broken("a logged segment's count is not its range", ls->entry_no,
                         ls->no_of_interactions);
            if (mine != ls->no_of_interactions)
                s_broken("a logged segment's entries are missing", ls->entry_no, mine);
        }
        if (!lss->next_after)
            break;
        ll.after = lss->next_after;
    }
    for (size_t k = 0; k < n; k++)
        if (seen[k].lse != 0)
            s_broken("an entry of a logged segment that is not visible", seen[k].no, seen[k].lse);
    free(seen);
}

/* What the event log says of one entry number. */
enum { EV_EXISTS = 1, EV_POSTPONED = 2, EV_CANCELED = 4 };

typedef struct {
    uint8_t *st;   /* EV_* by entry no. */
    uint64_t *lse; /* its logged segment */
    size_t cap;
} ev_model_t;

static void s_model_grow(ev_model_t *m, uint64_t no)
{
    size_t cap = m->cap ? m->cap : 1024;
    if (no < m->cap)
        return;
    if (no > (1u << 26))
        s_broken("an event names an entry no. beyond any the fuzzer can make", no, 0);
    while (cap <= no)
        cap *= 2;
    m->st = realloc(m->st, cap);
    m->lse = realloc(m->lse, cap * sizeof(*m->lse));
    if (!m->st || !m->lse)
        s_die("realloc", "out of memory");
    memset(m->st + m->cap, 0, cap - m->cap);
    memset(m->lse + m->cap, 0, (cap - m->cap) * sizeof(*m->lse));
    m->cap = cap;
}

/* The entry no. as an event finds it: created by it (`create`), or named
 * by it, and then it must exist. */
static uint8_t *s_model_at(ev_model_t *m, const Rapport__V1__Event *ev, uint64_t no, bool create)
{
    s_model_grow(m, no);
    if (create && (m->st[no] & EV_EXISTS))
        s_broken("an event creates an entry no. that exists", ev->seq, no);
    if (!create && !(m->st[no] & EV_EXISTS))
        s_broken("an event names an entry that does not exist", ev->seq, no);
    return &m->st[no];
}

static void s_model_entry(ev_model_t *m, const Rapport__V1__Event *ev, bool create)
{
    const Rapport__V1__Entry *e = ev->entry;
    uint8_t *st;
    if (ev->body_case != RAPPORT__V1__EVENT__BODY_ENTRY)
        s_broken("an interaction event without its entry", ev->seq, ev->body_case);
    st = s_model_at(m, ev, e->entry_no, create);
    *st = EV_EXISTS | (e->postponed ? EV_POSTPONED : 0) | (e->canceled ? EV_CANCELED : 0);
    m->lse[e->entry_no] = e->logged_segment_entry_no;
}

static void s_model_ranges(ev_model_t *m, const Rapport__V1__Event *ev, bool cancel, bool drop)
{
    if (ev->body_case != RAPPORT__V1__EVENT__BODY_ENTRIES)
        s_broken("an entries event without its entry numbers", ev->seq, ev->body_case);
    for (size_t i = 0; i < ev->entries->n_ranges; i++)
        for (uint64_t no = ev->entries->ranges[i]->first; no <= ev->entries->ranges[i]->last;
             no++) {
            uint8_t *st = s_model_at(m, ev, no, false);
            *st = drop ? 0 : cancel ? (*st | EV_CANCELED) : (*st & (EV_EXISTS | EV_POSTPONED));
        }
}

static void s_model_logged(ev_model_t *m, const Rapport__V1__Event *ev, int how)
{
    const Rapport__V1__LoggedSegmentNos *ls = ev->logged_segments;
    if (ev->body_case != RAPPORT__V1__EVENT__BODY_LOGGED_SEGMENTS)
        s_broken("a logged segment event without its numbers", ev->seq, ev->body_case);
    for (size_t i = 0; i < ls->n_logged_segment_nos; i++)
        for (size_t no = 0; no < m->cap; no++) {
            if (!(m->st[no] & EV_EXISTS) || m->lse[no] != ls->logged_segment_nos[i])
                continue;
            if (how == 0)
                m->lse[no] = 0;
            else
                m->st[no] =
                    how > 0 ? (m->st[no] | EV_CANCELED) : (m->st[no] & (EV_EXISTS | EV_POSTPONED));
        }
}

static void s_model_event(ev_model_t *m, const Rapport__V1__Event *ev)
{
    const char *t = ev->type;
    if (!strcmp(t, "interaction.postponed") && ev->body_case == RAPPORT__V1__EVENT__BODY_ENTRY &&
        ev->entry->entry_no < m->cap && (m->st[ev->entry->entry_no] & EV_POSTPONED))
        s_model_entry(m, ev, false); /* a resume that keeps it postponed */
    else if (!strcmp(t, "interaction.logged") || !strcmp(t, "interaction.postponed"))
        s_model_entry(m, ev, true);
    else if (!strcmp(t, "interaction.resumed"))
        s_model_entry(m, ev, false);
    else if (!strcmp(t, "entries.canceled") || !strcmp(t, "entries.uncanceled"))
        s_model_ranges(m, ev, !strcmp(t, "entries.canceled"), false);
    else if (!strcmp(t, "entries.deleted") || !strcmp(t, "interaction.postponed_deleted"))
        s_model_ranges(m, ev, false, true);
    else if (!strcmp(t, "logged_segment.canceled") || !strcmp(t, "logged_segment.uncanceled"))
        s_model_logged(m, ev, !strcmp(t, "logged_segment.canceled") ? 1 : -1);
    else if (!strcmp(t, "logged_segments.deleted"))
        s_model_logged(m, ev, 0);
    else if (!strcmp(t, "segment.logged") &&
             ev->body_case == RAPPORT__V1__EVENT__BODY_SEGMENT_LOGGED)
        for (uint64_t no = ev->segment_logged->first_entry_no;
             no && no <= ev->segment_logged->last_entry_no; no++) {
            *s_model_at(m, ev, no, true) = EV_EXISTS;
            m->lse[no] = ev->segment_logged->logged_segment_no;
        }
    else
        s_broken("an event of an unknown type or without its body", ev->seq, ev->body_case);
}

void fz_check_events(void)
{
    Rapport__V1__LogRequest lr = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ReadEvents re = RAPPORT__V1__READ_EVENTS__INIT;
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    ev_model_t m = {0};
    uint64_t next = 1, listed = 0;

    /* Replay the event log: seq 1..last without a gap. */
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_READ_EVENTS;
    lr.read_events = &re;
    re.max = 1000;
    for (;;) {
        const Rapport__V1__LogReply *rep;
        re.from_seq = next;
        rep = (const void *)fz_call_msg(FZ_W_LOGWRITER, &lr.base, true);
        if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_EVENTS)
            s_broken("read_events result", rep->result_case, 0);
        if (rep->events->first_seq > 1)
            return; /* retention pruned the start: nothing to replay from */
        for (size_t i = 0; i < rep->events->n_events; i++) {
            if (rep->events->events[i]->seq != next)
                s_broken("the event log has a gap", rep->events->events[i]->seq, next);
            s_model_event(&m, rep->events->events[i]);
            next++;
        }
        if (rep->events->next_seq != next)
            s_broken("read_events: next_seq is not after the page", rep->events->next_seq, next);
        if (next > rep->events->last_seq)
            break;
    }
    /* The store is the replay: every entry, postponed or not. */
    lr.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES;
    lr.list_entries = &le;
    le.limit = 1000;
    for (;;) {
        const Rapport__V1__LogReply *rep =
            (const void *)fz_call_msg(FZ_W_LOGWRITER, &lr.base, true);
        if (rep->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES)
            s_broken("list_entries result", rep->result_case, 0);
        for (size_t i = 0; i < rep->entries->n_entries; i++) {
            const Rapport__V1__Entry *e = rep->entries->entries[i];
            uint8_t want =
                EV_EXISTS | (e->postponed ? EV_POSTPONED : 0) | (e->canceled ? EV_CANCELED : 0);
            if (e->entry_no >= m.cap || m.st[e->entry_no] != want)
                s_broken("an entry is not as the event log says", e->entry_no,
                         e->entry_no < m.cap ? m.st[e->entry_no] : 0);
            if (m.lse[e->entry_no] != e->logged_segment_entry_no)
                s_broken("an entry's logged segment is not the event log's", e->entry_no,
                         m.lse[e->entry_no]);
            listed++;
        }
        if (!rep->entries->next_after)
            break;
        le.after = rep->entries->next_after;
    }
    for (size_t no = 0; no < m.cap; no++)
        if (m.st[no] & EV_EXISTS)
            listed--;
    if (listed != 0)
        s_broken("the event log has entries the store does not show", listed, 0);
    free(m.st);
    free(m.lse);
}
