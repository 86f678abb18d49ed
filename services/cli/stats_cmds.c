/* stats_cmds: `rapport stats`, the metrics of all three workers.
 *
 * The three GetStats requests go out together and the answers are
 * collected as they come, so a worker that is down costs one timeout, not
 * three. A worker that does not answer is a warning; the command fails
 * (exit 3) only when none answers. Output: a readable list per worker, one
 * JSON document {"workers":[WorkerStats...]}, or with --prometheus the text
 * exposition format (prom.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"
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
    client_t *client;
    ProtobufCMessage *req;
    ProtobufCMessage *reply;
    rp_err rc;
} stats_call_t;

/* Send every request, resend every timeout/4, collect replies until all
 * came or the time is up. */
static void s_collect(cli_ctx_t *ctx, stats_call_t *calls, size_t n)
{
    int retry = ctx->timeout_ms / 4 > 0 ? ctx->timeout_ms / 4 : 1;
    int64_t deadline = clock_mono_ms() + ctx->timeout_ms, next_send = 0;

    for (;;) {
        void *socks[N_WORKERS];
        size_t idx[N_WORKERS], k = 0;
        int64_t now = clock_mono_ms(), wait;
        int ready;

        for (size_t i = 0; i < n; i++)
            if (calls[i].client && !calls[i].reply)
                idx[k] = i, socks[k++] = client_socket(calls[i].client);
        if (k == 0 || now >= deadline)
            break;
        if (now >= next_send) {
            for (size_t j = 0; j < k; j++)
                client_send(calls[idx[j]].client, calls[idx[j]].req);
            next_send = now + retry;
        }
        wait = (next_send < deadline ? next_send : deadline) - now;
        ready = bus_poll(socks, k, (long)wait);
        if (ready <= 0)
            continue;
        for (size_t j = 0; j < k; j++) {
            stats_call_t *sc = &calls[idx[j]];
            const ProtobufCBinaryData *want = client_message_request_id(sc->req), *got;
            ProtobufCMessage *reply;

            if (!(ready & (1 << j)))
                continue;
            while (!sc->reply &&
                   client_recv(sc->client, cli_service_reply(sc->svc), 0, &reply) == RP_OK) {
                got = client_message_request_id(reply);
                if (got && got->len == want->len && memcmp(got->data, want->data, got->len) == 0)
                    sc->reply = reply;
                else
                    wire_free(reply);
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (calls[i].client && !calls[i].reply)
            calls[i].rc = RP_ETIMEDOUT;
}

static void s_labels(FILE *out, Rapport__V1__Label *const *labels, size_t n)
{
    if (n == 0)
        return;
    fputc('{', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%s=\"%s\"", i ? "," : "", labels[i]->name, labels[i]->value);
    fputc('}', out);
}

static void s_print_worker(const Rapport__V1__WorkerStats *ws, const char *endpoint)
{
    char num[48];

    printf("%s (%s)\n", ws->worker, endpoint);
    for (size_t i = 0; i < ws->n_counters; i++) {
        const Rapport__V1__Counter *c = ws->counters[i];
        printf("  %s", c->name);
        s_labels(stdout, c->labels, c->n_labels);
        printf(" %" PRIu64 "\n", c->value);
    }
    for (size_t i = 0; i < ws->n_gauges; i++) {
        const Rapport__V1__Gauge *g = ws->gauges[i];
        printf("  %s", g->name);
        s_labels(stdout, g->labels, g->n_labels);
        json_format_double(g->value, num, sizeof(num));
        printf(" %s\n", num);
    }
    for (size_t i = 0; i < ws->n_histograms; i++) {
        const Rapport__V1__Histogram *h = ws->histograms[i];
        printf("  %s", h->name);
        s_labels(stdout, h->labels, h->n_labels);
        json_format_double(h->sum, num, sizeof(num));
        printf(" count=%" PRIu64 " sum=%s", h->count, num);
        if (h->count) {
            json_format_double(h->sum / (double)h->count, num, sizeof(num));
            printf(" mean=%s", num);
        }
        putchar('\n');
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
    memset(calls, 0, sizeof(calls));
    for (size_t i = 0; i < N_WORKERS; i++) {
        char id[CLI_REQUEST_ID_MAX + 1];
        ProtobufCMessage *cmd;

        calls[i].svc = s_workers[i];
        cli_request_id_derive(ctx, i + 1, id, sizeof(id));
        calls[i].req = cli_request_new(ctx, s_workers[i], "stats", id, &cmd);
        if (cli_connect(ctx, s_workers[i], &calls[i].client) != CLI_EXIT_OK)
            calls[i].rc = RP_EUNAVAIL;
    }
    s_collect(ctx, calls, N_WORKERS);
    for (size_t i = 0; i < N_WORKERS; i++) {
        stats_call_t *sc = &calls[i];
        const ProtobufCMessage *refusal, *result;

        if (!sc->reply) {
            any_unreachable = true;
            cli_warn("warning: no stats from %s at %s (%s)", cli_service_process(sc->svc),
                     cli_endpoint(ctx, sc->svc), rp_strerror(sc->rc ? sc->rc : RP_EUNAVAIL));
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
        if (!ctx->json && !ctx->local[CLI_LOCAL_PROMETHEUS])
            s_print_worker(got[n_got], cli_endpoint(ctx, sc->svc));
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
    for (size_t i = 0; i < N_WORKERS; i++) {
        wire_free(calls[i].reply);
        client_destroy(&calls[i].client);
    }
    return rc;
}

const cli_cmd_t cli_stats_cmds[] = {
    {.group = "stats",
     .usage = "[--prometheus]",
     .summary = "counters, gauges and histograms of the three workers; --prometheus prints\n"
                "      the Prometheus text exposition format with a worker label on each sample",
     .service = CLI_SVC_INTERACTION,
     .command = "stats",
     .opts = {s_stats_opts},
     .run = s_stats},
    {0},
};
