/* stats_cmds: `rapport stats`, the metrics of all three workers.
 *
 * The three GetStats requests go out together and the answers are
 * collected as they come, so a worker that is down costs one timeout, not
 * three. A worker that does not answer is a warning; the command fails
 * (exit 3) only when none answers. Output: a readable list per worker, one
 * JSON document {"workers":[WorkerStats...]}, or with --prometheus the text
 * exposition format (prom.c). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <poll.h>
#include "clock.h"
#include "cli.h"
#include "human.h"
#include "json.h"
#include "prom.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"

static const cli_opt_t s_stats_opts[] = {
    {.name = "--prometheus", .local = CLI_LOCAL_PROMETHEUS},
    {0},
};

static const cli_service_t s_workers[] = {CLI_SVC_INTERACTION, CLI_SVC_SEGMENT, CLI_SVC_LOGWRITER};

#define N_WORKERS (sizeof(s_workers) / sizeof(s_workers[0]))

typedef struct {
    cli_service_t svc;
    ProtobufCMessage *req;
    ProtobufCMessage *reply;
    bool sent, done;
    bool down;                       /* not running: no request sent */
    char why[CONFIG_PATH_MAX + 300]; /* what went wrong, for people */
} stats_call_t;

static void s_done(void *arg, int code, ProtobufCMessage *reply, const rapport_error *err)
{
    stats_call_t *sc = arg;

    (void)code;
    sc->done = true;
    sc->reply = reply;
    if (!reply)
        snprintf(sc->why, sizeof(sc->why), "%s", err->message);
}

/* Ask every worker for its stats at once; a worker that is not running
 * (rapport_client_probe) is marked down without waiting for it. */
static void s_gather(cli_ctx_t *ctx, stats_call_t *calls)
{
    rapport_call_opts o;
    size_t pending = 0;
    int fd = rapport_client_fd(ctx->client);

    memset(calls, 0, sizeof(*calls) * N_WORKERS);
    cli_call_opts(ctx, &o);
    for (size_t i = 0; i < N_WORKERS; i++) {
        char id[CLI_REQUEST_ID_MAX + 1];
        ProtobufCMessage *cmd;
        rapport_error e;

        calls[i].svc = s_workers[i];
        cli_request_id_derive(ctx, i + 1, id, sizeof(id));
        calls[i].req = cli_request_new(ctx, s_workers[i], "stats", id, &cmd);
        if (rapport_client_probe(ctx->client, s_workers[i], &e) != 0 ||
            rapport_call_async(ctx->client, s_workers[i], calls[i].req, &o, s_done, &calls[i],
                               &e) != 0) {
            calls[i].down = e.code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE;
            snprintf(calls[i].why, sizeof(calls[i].why), "%s", e.message);
            continue;
        }
        calls[i].sent = true;
        pending++;
    }
    while (pending && rapport_client_pending(ctx->client) > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int t = rapport_client_timeout(ctx->client);

        poll(&p, 1, t < 0 || t > 100 ? 100 : t);
        rapport_client_process(ctx->client);
    }
}

static int s_stats(cli_ctx_t *ctx)
{
    stats_call_t calls[N_WORKERS];
    Rapport__V1__WorkerStats copies[N_WORKERS];
    const Rapport__V1__WorkerStats *got[N_WORKERS];
    size_t n_got = 0;
    bool any_unreachable = false;
    int rc = CLI_EXIT_OK;

    if (ctx->local[CLI_LOCAL_PROMETHEUS] && ctx->json)
        return cli_usage_error(ctx, "--prometheus and --json exclude each other");
    s_gather(ctx, calls);
    for (size_t i = 0; i < N_WORKERS; i++) {
        stats_call_t *sc = &calls[i];
        const ProtobufCMessage *refusal, *result;

        if (!sc->reply) {
            any_unreachable = true;
            if (sc->down)
                cli_warn("warning: %s", sc->why);
            else
                cli_warn("warning: no stats from %s at %s (%s)", cli_service_process(sc->svc),
                         cli_endpoint(ctx, sc->svc), sc->why);
            continue;
        }
        refusal = cli_reply_refusal(sc->reply);
        result = cli_reply_result(sc->reply);
        if (refusal || !result || result->descriptor != &rapport__v1__worker_stats__descriptor) {
            const Rapport__V1__Status *st = (const Rapport__V1__Status *)(const void *)refusal;
            cli_warn("warning: %s answered no stats%s%s", cli_service_process(sc->svc),
                     st ? ": " : "", st ? st->message : "");
            continue;
        }
        copies[n_got] = *(const Rapport__V1__WorkerStats *)(const void *)result;
        if (!copies[n_got].worker || !*copies[n_got].worker)
            copies[n_got].worker = wire_str(cli_service_name(sc->svc));
        got[n_got] = &copies[n_got];
        if (!ctx->json && !ctx->local[CLI_LOCAL_PROMETHEUS]) {
            if (n_got)
                putchar('\n');
            stats_human_print(stdout, got[n_got], cli_endpoint(ctx, sc->svc));
        }
        n_got++;
    }
    if (n_got == 0) {
        cli_warn("no worker answered");
        rc = any_unreachable ? CLI_EXIT_UNREACHABLE : CLI_EXIT_REFUSED;
    } else if (ctx->local[CLI_LOCAL_PROMETHEUS]) {
        if (prom_write(stdout, got, n_got) != 0) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
    } else if (!ctx->json) {
        rc = cli_stdout_status();
    } else {
        json_writer_t w;
        json_writer_init(&w, stdout, true);
        json_object_begin(&w);
        json_key(&w, "workers");
        json_array_begin(&w);
        for (size_t i = 0; i < n_got; i++)
            json_message(&w, &got[i]->base);
        json_array_end(&w);
        json_object_end(&w);
        if (json_writer_end(&w) != 0) {
            cli_warn("write error on stdout");
            rc = CLI_EXIT_REFUSED;
        }
    }
    for (size_t i = 0; i < N_WORKERS; i++)
        wire_free(calls[i].reply);
    return rc;
}

/* ---- status --------------------------------------------------------------- */

/* One worker's line: up or down, version, uptime, store, last seq, in flight. */
static void s_status_line(const stats_call_t *sc, const Rapport__V1__WorkerStats *ws,
                          const char *endpoint)
{
    char up[32] = "-", store[32] = "-", seq[32] = "-", inflight[32] = "-";
    double v;

    if (ws) {
        stats_format_duration(stats_gauge(ws, "rapport_uptime_seconds"), up, sizeof(up));
        if (!isnan(v = stats_gauge(ws, "rapport_store_file_bytes")))
            stats_format_bytes(v, store, sizeof(store));
        if (!isnan(v = stats_gauge(ws, "rapport_last_event_seq")))
            snprintf(seq, sizeof(seq), "%.0f", v);
        if (!isnan(v = stats_gauge(ws, "rapport_requests_in_flight")))
            snprintf(inflight, sizeof(inflight), "%.0f", v);
    }
    printf("%-20s %-5s %-8s %-9s %10s %9s %9s  %s\n", cli_service_process(sc->svc),
           ws ? "up" : "down", ws && *stats_version(ws) ? stats_version(ws) : "-", up, store, seq,
           inflight, ws ? endpoint : sc->why);
}

static void s_status_json(json_writer_t *w, const stats_call_t *sc,
                          const Rapport__V1__WorkerStats *ws, const char *endpoint)
{
    static const char *const gauges[][2] = {
        {"uptime_seconds", "rapport_uptime_seconds"},
        {"store_bytes", "rapport_store_file_bytes"},
        {"last_event_seq", "rapport_last_event_seq"},
        {"requests_in_flight", "rapport_requests_in_flight"},
    };

    json_object_begin(w);
    json_key(w, "worker");
    json_string(w, cli_service_process(sc->svc));
    json_key(w, "endpoint");
    json_string(w, endpoint);
    json_key(w, "up");
    json_bool(w, ws != NULL);
    json_key(w, "version");
    json_string(w, ws ? stats_version(ws) : "");
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        double v = ws ? stats_gauge(ws, gauges[g][1]) : NAN;
        json_key(w, gauges[g][0]);
        if (isnan(v))
            json_null(w);
        else
            json_double(w, v);
    }
    json_key(w, "error");
    json_string(w, ws ? "" : sc->why);
    json_object_end(w);
}

/* `rapport status`: a line per worker; exit 3 when one is down. */
static int s_status(cli_ctx_t *ctx)
{
    stats_call_t calls[N_WORKERS];
    json_writer_t w;
    bool all_up = true;
    int rc;

    s_gather(ctx, calls);
    if (ctx->json) {
        json_writer_init(&w, stdout, true);
        json_object_begin(&w);
        json_key(&w, "workers");
        json_array_begin(&w);
    } else {
        printf("%-20s %-5s %-8s %-9s %10s %9s %9s  %s\n", "WORKER", "STATE", "VERSION", "UPTIME",
               "STORE", "LAST SEQ", "IN FLIGHT", "ENDPOINT");
    }
    for (size_t i = 0; i < N_WORKERS; i++) {
        stats_call_t *sc = &calls[i];
        const ProtobufCMessage *result =
            sc->reply && !cli_reply_refusal(sc->reply) ? cli_reply_result(sc->reply) : NULL;
        const Rapport__V1__WorkerStats *ws =
            result && result->descriptor == &rapport__v1__worker_stats__descriptor
                ? (const Rapport__V1__WorkerStats *)(const void *)result
                : NULL;

        if (!ws && !sc->why[0])
            snprintf(sc->why, sizeof(sc->why), "no answer from %s within %d ms",
                     cli_endpoint(ctx, sc->svc), ctx->timeout_ms);
        all_up = all_up && ws;
        if (ctx->json)
            s_status_json(&w, sc, ws, cli_endpoint(ctx, sc->svc));
        else
            s_status_line(sc, ws, cli_endpoint(ctx, sc->svc));
    }
    if (ctx->json) {
        json_array_end(&w);
        json_object_end(&w);
        rc = json_writer_end(&w) == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
        if (rc != CLI_EXIT_OK)
            cli_warn("write error on stdout");
    } else {
        rc = cli_stdout_status();
    }
    for (size_t i = 0; i < N_WORKERS; i++)
        wire_free(calls[i].reply);
    return rc == CLI_EXIT_OK && !all_up ? CLI_EXIT_UNREACHABLE : rc;
}

const cli_cmd_t cli_stats_cmds[] = {
    {.group = "stats",
     .usage = "[--prometheus]",
     .summary = "counters, gauges and histograms of the three workers, with units and rates\n"
                "      per second; --json the raw WorkerStats, --prometheus the Prometheus text\n"
                "      exposition format with a worker label on each sample",
     .service = CLI_SVC_INTERACTION,
     .command = "stats",
     .opts = {s_stats_opts},
     .run = s_stats},
    {.group = "status",
     .summary = "one line per worker: up or down, version, uptime, store size, last event\n"
                "      seq (log writer) and requests in flight; exit 3 when a worker is down",
     .service = CLI_SVC_INTERACTION,
     .command = "stats",
     .run = s_status},
    {0},
};
