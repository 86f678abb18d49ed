/* cli_call: talking to the workers.
 *
 * Which worker has which request and reply type and endpoint, building a
 * request with its envelope, calling with retries under one request_id,
 * and turning what went wrong into the exit codes: a refusal (an error
 * Status) is 1, no answer is 3, each reported once on stderr (as JSON with
 * --json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cli.h"
#include "clock.h"
#include "json.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"
#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

/* ---- workers ---------------------------------------------------------- */

static const struct {
    const char *name;
    const char *process;
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *reply;
    size_t endpoint_offset;
} s_services[CLI_SVC_COUNT] = {
    [CLI_SVC_INTERACTION] = {"interaction", "rapport-interaction",
                             &rapport__v1__interaction_request__descriptor,
                             &rapport__v1__interaction_reply__descriptor,
                             offsetof(config_t, interaction_endpoint)},
    [CLI_SVC_SEGMENT] = {"segment", "rapport-segment", &rapport__v1__segment_request__descriptor,
                         &rapport__v1__segment_reply__descriptor,
                         offsetof(config_t, segment_endpoint)},
    [CLI_SVC_LOGWRITER] = {"logwriter", "rapport-logwriter", &rapport__v1__log_request__descriptor,
                           &rapport__v1__log_reply__descriptor,
                           offsetof(config_t, logwriter_endpoint)},
};

const char *cli_endpoint(const cli_ctx_t *ctx, cli_service_t svc)
{
    return (const char *)&ctx->cfg + s_services[svc].endpoint_offset;
}

const char *cli_service_process(cli_service_t svc)
{
    return s_services[svc].process;
}

const char *cli_service_name(cli_service_t svc)
{
    return s_services[svc].name;
}

const ProtobufCMessageDescriptor *cli_service_request(cli_service_t svc)
{
    return s_services[svc].request;
}

const ProtobufCMessageDescriptor *cli_service_reply(cli_service_t svc)
{
    return s_services[svc].reply;
}

/* ---- requests ----------------------------------------------------------- */

static void s_set_envelope(cli_ctx_t *ctx, ProtobufCMessage *req, const char *request_id)
{
    ProtobufCBinaryData id;

    id.data = (uint8_t *)wire_arena_strdup(ctx->arena, request_id);
    id.len = strlen(request_id);
    wire_msg_set_envelope(req, id, wire_arena_strdup(ctx->arena, ctx->user));
}

void cli_request_renumber(cli_ctx_t *ctx, ProtobufCMessage *req, size_t n)
{
    char id[CLI_REQUEST_ID_MAX + 1];

    if (n == 0)
        snprintf(id, sizeof(id), "%s", ctx->request_id);
    else
        cli_request_id_derive(ctx, n, id, sizeof(id));
    s_set_envelope(ctx, req, id);
}

ProtobufCMessage *cli_request_new(cli_ctx_t *ctx, cli_service_t svc, const char *command,
                                  const char *request_id, ProtobufCMessage **ret_cmd)
{
    ProtobufCMessage *req = wire_arena_message(ctx->arena, s_services[svc].request);
    const ProtobufCFieldDescriptor *fd = reflect_field(req, command);

    /* The tables name only members of the contract: a typo is a bug. */
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        fprintf(stderr, "rapport: internal: %s has no command '%s'\n",
                s_services[svc].request->short_name, command);
        abort();
    }
    *ret_cmd = reflect_submessage(ctx->arena, req, fd);
    s_set_envelope(ctx, req, request_id);
    return req;
}

void cli_request_id_derive(const cli_ctx_t *ctx, size_t n, char *buf, size_t size)
{
    char suffix[24];
    int slen = snprintf(suffix, sizeof(suffix), "-%zu", n);
    size_t base = strlen(ctx->request_id);

    if (base + (size_t)slen > CLI_REQUEST_ID_MAX)
        base = CLI_REQUEST_ID_MAX - (size_t)slen;
    snprintf(buf, size, "%.*s%s", (int)base, ctx->request_id, suffix);
}

/* ---- calls -------------------------------------------------------------- */

static void s_report(const cli_ctx_t *ctx, const char *code, const char *message,
                     const char *field);

int cli_connect(cli_ctx_t *ctx, cli_service_t svc, client_t **ret_client)
{
    char err[CONFIG_PATH_MAX + 256];
    const char *ep = cli_endpoint(ctx, svc);
    rp_err rc;

    if (!*ep) {
        cli_warn("no endpoint for %s (is the run directory path too long?)",
                 s_services[svc].process);
        return CLI_EXIT_UNREACHABLE;
    }
    if (cli_reach_probe(ep) == CLI_REACH_DOWN) {
        cli_reach_message(s_services[svc].process, ep, err, sizeof(err));
        s_report(ctx, "unavailable", err, NULL);
        return CLI_EXIT_UNREACHABLE;
    }
    rc = client_new(ctx->zctx, ep, &ctx->cfg, ret_client, err, sizeof(err));
    if (rc != RP_OK) {
        cli_warn("cannot connect to %s at %s: %s", s_services[svc].process, ep, err);
        /* Missing or bad CURVE keys are the configuration's fault. */
        return rc == RP_ECONFIG || rc == RP_EPERM ? CLI_EXIT_USAGE : CLI_EXIT_UNREACHABLE;
    }
    return CLI_EXIT_OK;
}

/* A failure on stderr: one JSON object with --json (ctx->note inside the
 * message), else "rapport: message" and the note on a line of its own. */
static void s_report(const cli_ctx_t *ctx, const char *code, const char *message, const char *field)
{
    json_writer_t w;
    char full[1600];

    if (!ctx->json) {
        cli_warn("%s", message);
        if (ctx->note[0])
            cli_warn("%s", ctx->note);
        return;
    }
    if (ctx->note[0])
        snprintf(full, sizeof(full), "%s (%s)", message, ctx->note);
    else
        snprintf(full, sizeof(full), "%s", message);
    json_writer_init(&w, stderr, false);
    json_object_begin(&w);
    json_key(&w, "code");
    json_string(&w, code);
    json_key(&w, "message");
    json_string(&w, full);
    json_key(&w, "field");
    json_string(&w, field ? field : "");
    json_object_end(&w);
    json_writer_end(&w);
}

int cli_report_unreachable(const cli_ctx_t *ctx, cli_service_t svc, rp_err rc)
{
    char msg[CONFIG_PATH_MAX + 200];
    const char *code = "unavailable";

    if (rc == RP_ETIMEDOUT) {
        snprintf(msg, sizeof(msg), "no answer from %s at %s within %d ms", s_services[svc].process,
                 cli_endpoint(ctx, svc), ctx->timeout_ms);
        code = "deadline-exceeded";
    } else if (rc == RP_EUNAUTH) {
        snprintf(msg, sizeof(msg),
                 "%s at %s refused this client's CURVE key (is its .pub in the worker's "
                 "curve_client_keys_dir?)",
                 s_services[svc].process, cli_endpoint(ctx, svc));
        code = "unauthenticated";
    } else if (rc == RP_EABORTED) {
        snprintf(msg, sizeof(msg), "interrupted while waiting for %s at %s",
                 s_services[svc].process, cli_endpoint(ctx, svc));
        code = "cancelled";
    } else {
        snprintf(msg, sizeof(msg), "%s at %s: %s", s_services[svc].process, cli_endpoint(ctx, svc),
                 rp_strerror(rc));
    }
    s_report(ctx, code, msg, NULL);
    return CLI_EXIT_UNREACHABLE;
}

int cli_report_status(const cli_ctx_t *ctx, const ProtobufCMessage *status, const char *what)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)(const void *)status;
    char code[64], message[1400];

    json_enum_name(&rapport__v1__status_code__descriptor, (int)st->code, code, sizeof(code));
    snprintf(message, sizeof(message), "%s%s%s", what ? what : "", what ? ": " : "",
             st->message && *st->message ? st->message : code);
    s_report(ctx, code, message, st->field);
    return CLI_EXIT_REFUSED;
}

const ProtobufCMessage *cli_reply_refusal(const ProtobufCMessage *reply)
{
    const ProtobufCMessage *status = wire_msg_status(reply);

    if (status &&
        ((const Rapport__V1__Status *)(const void *)status)->code != RAPPORT__V1__STATUS_CODE__OK)
        return status;
    return NULL;
}

const ProtobufCMessage *cli_reply_result(const ProtobufCMessage *reply)
{
    return reply ? reflect_oneof_message(reply, NULL) : NULL;
}

/* Wait for the reply to req while polling `watch` too; the same resend
 * schedule as client_call. */
static rp_err s_call_watch(cli_ctx_t *ctx, client_t *c, cli_service_t svc,
                           const ProtobufCMessage *req, void *watch,
                           void (*on_watch)(cli_ctx_t *, void *, void *), void *arg,
                           ProtobufCMessage **ret_reply)
{
    const ProtobufCBinaryData *rid = client_message_request_id(req);
    int retry = ctx->timeout_ms / 4 > 0 ? ctx->timeout_ms / 4 : 1;
    int64_t deadline = clock_mono_ms() + ctx->timeout_ms, next_send = 0;
    void *socks[2] = {client_socket(c), watch};

    for (;;) {
        int64_t now = clock_mono_ms(), wait;
        int ready;
        rp_err rc;

        if (cli_stop)
            return RP_EABORTED;
        if (now >= deadline)
            return RP_ETIMEDOUT;
        if (now >= next_send) {
            rc = client_send(c, req);
            if (rc != RP_OK && rc != RP_ENOSPC)
                return rc;
            next_send = now + retry;
        }
        wait = (next_send < deadline ? next_send : deadline) - now;
        ready = bus_poll(socks, 2, (long)wait);
        if (ready < 0)
            continue; /* a signal: cli_stop decides */
        if (ready & 2)
            on_watch(ctx, watch, arg);
        while (ready & 1) {
            ProtobufCMessage *reply;
            const ProtobufCBinaryData *got;

            rc = client_recv(c, s_services[svc].reply, 0, &reply);
            if (rc == RP_ETIMEDOUT)
                break;
            if (rc == RP_EPROTO)
                continue;
            if (rc != RP_OK)
                return rc;
            got = client_message_request_id(reply);
            if (got && got->len == rid->len && memcmp(got->data, rid->data, rid->len) == 0) {
                *ret_reply = reply;
                return RP_OK;
            }
            wire_free(reply);
        }
    }
}

static int s_call(cli_ctx_t *ctx, client_t *c, cli_service_t svc, const ProtobufCMessage *req,
                  const char *what, bool report, void *watch,
                  void (*on_watch)(cli_ctx_t *, void *, void *), void *arg,
                  ProtobufCMessage **ret_reply)
{
    ProtobufCMessage *reply = NULL;
    const ProtobufCMessage *status;
    rp_err rc;

    if (watch)
        rc = s_call_watch(ctx, c, svc, req, watch, on_watch, arg, &reply);
    else
        rc = client_call(c, req, s_services[svc].reply, ctx->timeout_ms,
                         ctx->timeout_ms / 4 > 0 ? ctx->timeout_ms / 4 : 1, &reply);
    if (rc != RP_OK)
        return cli_report_unreachable(ctx, svc, rc);
    status = cli_reply_refusal(reply);
    if (status && report) {
        int ret = cli_report_status(ctx, status, what);
        wire_free(reply);
        return ret;
    }
    *ret_reply = reply;
    return CLI_EXIT_OK;
}

int cli_call(cli_ctx_t *ctx, client_t *c, cli_service_t svc, const ProtobufCMessage *req,
             const char *what, ProtobufCMessage **ret_reply)
{
    return s_call(ctx, c, svc, req, what, true, NULL, NULL, NULL, ret_reply);
}

int cli_call_raw(cli_ctx_t *ctx, client_t *c, cli_service_t svc, const ProtobufCMessage *req,
                 ProtobufCMessage **ret_reply)
{
    return s_call(ctx, c, svc, req, NULL, false, NULL, NULL, NULL, ret_reply);
}

int cli_call_watch(cli_ctx_t *ctx, client_t *c, cli_service_t svc, const ProtobufCMessage *req,
                   void *watch, void (*on_watch)(cli_ctx_t *ctx, void *sock, void *arg), void *arg,
                   ProtobufCMessage **ret_reply)
{
    return s_call(ctx, c, svc, req, NULL, true, watch, on_watch, arg, ret_reply);
}
