/* server_stats: the metrics of the request loop and the Stats answer.
 *
 * Workers export counters, gauges and histograms in a WorkerStats message;
 * the helpers here build them in a request's arena. The server adds its own:
 * requests by command and status code with their latency, malformed
 * requests, held and dropped replies, security counters (permission
 * denials, the gate's), idempotency records, uptime and version. The same
 * metrics as Prometheus text serve GET /metrics (metrics_http.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "prom.h"
#include "server_internal.h"

static const double s_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                  0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                  0.5,     1,      2.5,     5,      10,    30};
#define N_BOUNDS (sizeof(s_bounds) / sizeof(s_bounds[0]))

static const char *s_code_names[N_CODES] = {
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
};

/* ---- metrics ---- */

void server_hist_observe(server_hist_t *h, double v)
{
    size_t i = 0;
    while (i < N_BOUNDS && v > s_bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static Rapport__V1__Label **s_labels(wire_arena_t *a, const char *name, const char *value,
                                     const char *name2, const char *value2, size_t *ret_n)
{
    Rapport__V1__Label **ls = (Rapport__V1__Label **)wire_arena_ptrs(a, 2);
    size_t n = 0;
    if (name) {
        ls[n] = (Rapport__V1__Label *)wire_arena_message(a, &rapport__v1__label__descriptor);
        ls[n]->name = wire_str(name);
        ls[n]->value = wire_str(value);
        n++;
    }
    if (name2) {
        ls[n] = (Rapport__V1__Label *)wire_arena_message(a, &rapport__v1__label__descriptor);
        ls[n]->name = wire_str(name2);
        ls[n]->value = wire_str(value2);
        n++;
    }
    *ret_n = n;
    return ls;
}

Rapport__V1__Histogram *server_hist_export(wire_arena_t *a, const server_hist_t *h,
                                           const char *name, const char *help, const char *label,
                                           const char *label_value)
{
    Rapport__V1__Histogram *x =
        (Rapport__V1__Histogram *)wire_arena_message(a, &rapport__v1__histogram__descriptor);
    uint64_t cum = 0;

    x->name = wire_str(name);
    x->help = wire_str(help);
    x->labels = s_labels(a, label, label_value, NULL, NULL, &x->n_labels);
    x->n_bounds = N_BOUNDS;
    x->bounds = wire_arena_alloc(a, sizeof(double) * N_BOUNDS);
    memcpy(x->bounds, s_bounds, sizeof(s_bounds));
    x->n_counts = N_BOUNDS + 1;
    x->counts = wire_arena_alloc(a, sizeof(uint64_t) * (N_BOUNDS + 1));
    for (size_t i = 0; i <= N_BOUNDS; i++) {
        cum += h->counts[i];
        x->counts[i] = cum;
    }
    x->sum = h->sum;
    x->count = h->count;
    return x;
}

Rapport__V1__Gauge *server_gauge(wire_arena_t *a, const char *name, const char *help, double value)
{
    Rapport__V1__Gauge *g =
        (Rapport__V1__Gauge *)wire_arena_message(a, &rapport__v1__gauge__descriptor);
    g->name = wire_str(name);
    g->help = wire_str(help);
    g->value = value;
    return g;
}

#define APPEND(a, arr, n, item)                        \
    do {                                               \
        void **grown_ = wire_arena_ptrs(a, (n) + 1);   \
        if (n)                                         \
            memcpy(grown_, arr, sizeof(void *) * (n)); \
        grown_[n] = item;                              \
        arr = (void *)grown_;                          \
        (n)++;                                         \
    } while (0)

void server_stats_add_gauge(wire_arena_t *a, Rapport__V1__WorkerStats *st, Rapport__V1__Gauge *g)
{
    APPEND(a, st->gauges, st->n_gauges, g);
}

void server_stats_add_hist(wire_arena_t *a, Rapport__V1__WorkerStats *st, Rapport__V1__Histogram *h)
{
    APPEND(a, st->histograms, st->n_histograms, h);
}

void server_stats_add_store(wire_arena_t *a, Rapport__V1__WorkerStats *st, store_t *store)
{
    store_info_t info;
    if (store_info(store, &info) != RP_OK)
        return;
    server_stats_add_gauge(
        a, st, server_gauge(a, "rapport_store_map_bytes", "LMDB map size", (double)info.map_size));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_used_bytes",
                                        "LMDB pages in use times the page size",
                                        (double)info.used_bytes));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_file_bytes", "Size of data.mdb on disk",
                                        (double)info.file_bytes));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_readers", "LMDB reader slots in use",
                                        (double)info.readers_used));
}

static void s_add_counter(wire_arena_t *a, Rapport__V1__WorkerStats *st, const char *name,
                          const char *help, const char *l1, const char *v1, const char *l2,
                          const char *v2, uint64_t value)
{
    Rapport__V1__Counter *c =
        (Rapport__V1__Counter *)wire_arena_message(a, &rapport__v1__counter__descriptor);
    c->name = wire_str(name);
    c->help = wire_str(help);
    c->labels = s_labels(a, l1, v1, l2, v2, &c->n_labels);
    c->value = value;
    APPEND(a, st->counters, st->n_counters, c);
}

/* Refused handshakes, cut and failed pre-auth connections (tcp), and
 * PERMISSION_DENIED answers per command. */
static void s_stats_security(server_t *s, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    gate_counters_t g = {0, 0, 0, 0};

    for (size_t c = 0; c < s->spec.n_commands; c++)
        if (s->spec.commands[c].name && s->denied[c])
            s_add_counter(a, st, "rapport_permission_denied_total",
                          "Requests refused for the caller's role or key", "command",
                          s->spec.commands[c].name, NULL, NULL, s->denied[c]);
    if (s->gate)
        gate_counters(s->gate, &g);
    s_add_counter(a, st, "rapport_handshakes_refused_total",
                  "tcp handshakes refused: unknown CURVE key, or keys unreadable", NULL, NULL, NULL,
                  NULL, g.refused);
    s_add_counter(a, st, "rapport_preauth_disconnects_total",
                  "tcp connections that ended before their CURVE handshake did", NULL, NULL, NULL,
                  NULL, g.preauth_ended);
    s_add_counter(a, st, "rapport_preauth_cut_total",
                  "tcp connections cut in their handshake: too many, too many bytes, too slow",
                  NULL, NULL, NULL, NULL, g.cut);
    if (s->gate)
        server_stats_add_gauge(a, st,
                               server_gauge(a, "rapport_authorized_keys",
                                            "Client keys admitted by curve_client_keys_dir",
                                            (double)g.keys));
}

/* The idempotency records kept and the repeats they answered. */
static void s_stats_dedup(server_t *s, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    store_txn_t *txn = NULL;
    uint64_t n = 0;

    if (!s->spec.dedup_store)
        return;
    if (store_txn_begin(s->spec.dedup_store, false, &txn) == RP_OK &&
        store_count(txn, s->spec.dedup_dbi, &n) == RP_OK)
        server_stats_add_gauge(a, st,
                               server_gauge(a, "rapport_dedup_records",
                                            "Idempotency records kept: first replies by "
                                            "(user id, request_id)",
                                            (double)n));
    store_txn_abort(txn);
    s_add_counter(a, st, "rapport_dedup_hits_total",
                  "Requests answered with the stored reply of their request_id", NULL, NULL, NULL,
                  NULL, s->dedup_hits);
}

/* Every metric of the worker, in arena a; `own` requests in flight are the
 * asker's own and not counted. */
static Rapport__V1__WorkerStats *s_stats_build(server_t *s, wire_arena_t *a, size_t own)
{
    Rapport__V1__WorkerStats *st =
        (Rapport__V1__WorkerStats *)wire_arena_message(a, &rapport__v1__worker_stats__descriptor);

    st->worker = wire_str(s->spec.worker);
    for (size_t c = 0; c < s->spec.n_commands; c++) {
        const char *name = s->spec.commands[c].name;
        if (!name)
            continue;
        for (size_t k = 0; k < N_CODES; k++) {
            uint64_t n = s->counts[c * N_CODES + k];
            if (n)
                s_add_counter(a, st, "rapport_requests_total",
                              "Requests answered, by command and status code", "command", name,
                              "code", s_code_names[k], n);
        }
        if (s->latency[c].count)
            server_stats_add_hist(
                a, st,
                server_hist_export(a, &s->latency[c], "rapport_request_duration_seconds",
                                   "Time from receipt to reply", "command", name));
    }
    s_add_counter(a, st, "rapport_malformed_requests_total",
                  "Requests refused before dispatch (malformed, oversized, unknown)", NULL, NULL,
                  NULL, NULL, s->malformed);
    s_add_counter(a, st, "rapport_replies_dropped_total",
                  "Replies not delivered: the client was gone, or did not read (held_reply_ms, "
                  "held_replies_max, held_bytes_max)",
                  NULL, NULL, NULL, NULL, s->replies_dropped);
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replies_held",
                                        "Replies waiting for a client that does not read",
                                        (double)s->n_held));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_requests_in_flight",
                                        "Requests held by the worker",
                                        (double)(s->n_inflight - own)));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_uptime_seconds",
                                        "Seconds since the worker started",
                                        (double)(clock_mono_ms() - s->started_ms) / 1000.0));
    {
        Rapport__V1__Gauge *g =
            server_gauge(a, "rapport_build_info", "The worker's version, in the version label", 1);
        g->labels = s_labels(a, "version", RAPPORT_VERSION, NULL, NULL, &g->n_labels);
        server_stats_add_gauge(a, st, g);
    }
    s_stats_security(s, a, st);
    s_stats_dedup(s, a, st);
    if (s->spec.stats_fn)
        s->spec.stats_fn(s->spec.ctx, a, st);
    return st;
}

void server_stats_answer(server_t *s, server_req_t *req)
{
    Rapport__V1__WorkerStats *st = s_stats_build(s, req->arena, 1); /* not this one */
    const ProtobufCFieldDescriptor *fd;

    /* Put the WorkerStats into the reply's result oneof. */
    fd = protobuf_c_message_descriptor_get_field(s->spec.reply_desc, s->spec.stats_result);
    if (fd && (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
        *(uint32_t *)((char *)req->reply + fd->quantifier_offset) = fd->id;
        *(void **)((char *)req->reply + fd->offset) = st;
    }
    server_req_finish(req);
}

int server_stats_text(void *ctx, char **ret_text, size_t *ret_len)
{
    server_t *s = ctx;
    wire_arena_t *a = wire_arena_new();
    const Rapport__V1__WorkerStats *st;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc = -1;

    if (!a)
        return -1;
    st = s_stats_build(s, a, 0);
    f = open_memstream(&text, &len);
    if (f) {
        rc = prom_write(f, &st, 1);
        if (fclose(f) != 0)
            rc = -1;
    }
    wire_arena_destroy(&a);
    if (rc != 0) {
        free(text);
        return -1;
    }
    *ret_text = text;
    *ret_len = len;
    return 0;
}
