/* cli_call: talking to the workers, through librapport.
 *
 * Building a request with its envelope, calling it (librapport resends it
 * under one request_id until the timeout), and turning what went wrong
 * into the exit codes: a refusal (an error Status) is 1, no answer is 3,
 * bad keys or config 2, each reported once on stderr (as JSON with
 * --json). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "reflect.h"
#include "wire.h"

/* At most this long between two looks at the sockets of a watched call. */
#define WATCH_POLL_MS 100

/* ---- workers ---------------------------------------------------------- */

static const char *const s_names[CLI_SVC_COUNT] = {
    [CLI_SVC_INTERACTION] = "interaction",
    [CLI_SVC_SEGMENT] = "segment",
    [CLI_SVC_LOGWRITER] = "logwriter",
};

const char *cli_endpoint(const cli_ctx_t *ctx, cli_service_t svc)
{
    return rapport_client_endpoint(ctx->client, svc);
}

const char *cli_service_process(cli_service_t svc)
{
    return rapport_service_process(svc);
}

const char *cli_service_name(cli_service_t svc)
{
    return s_names[svc];
}

/* ---- requests ----------------------------------------------------------- */

static void s_set_envelope(cli_ctx_t *ctx, ProtobufCMessage *req, const char *request_id)
{
    ProtobufCBinaryData id;

    id.data = (uint8_t *)wire_arena_strdup(ctx->arena, request_id);
    id.len = strlen(request_id);
    wire_msg_set_envelope(req, id, wire_arena_strdup(ctx->arena, ctx->user));
    if (req->descriptor == &rapport__v1__log_request__descriptor && ctx->min_seq) {
        Rapport__V1__LogRequest *lr = (Rapport__V1__LogRequest *)req;
        lr->min_seq = ctx->min_seq;
        /* The writer gives up a resend period (a quarter) before the
         * command does, so that its UNAVAILABLE arrives in time. */
        lr->timeout_ms = (uint32_t)(ctx->timeout_ms - ctx->timeout_ms / 4);
    }
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
    ProtobufCMessage *req = wire_arena_message(ctx->arena, rapport_service_request(svc));
    const ProtobufCFieldDescriptor *fd = reflect_field(req, command);

    /* The tables name only members of the contract: a typo is a bug. */
    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        fprintf(stderr, "rapport: internal: %s has no command '%s'\n",
                rapport_service_request(svc)->short_name, command);
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

static void s_report(const cli_ctx_t *ctx, int code, const char *message, const char *field);

int cli_report_error(const cli_ctx_t *ctx, const rapport_error *err)
{
    if (err->source == RAPPORT_ERR_CONFIG) {
        cli_warn("%s", err->message); /* bad keys or config: the user's to fix */
        return CLI_EXIT_USAGE;
    }
    s_report(ctx, err->code, err->message, NULL);
    return CLI_EXIT_UNREACHABLE;
}

int cli_connect(cli_ctx_t *ctx, cli_service_t svc)
{
    rapport_error err;

    if (rapport_client_probe(ctx->client, svc, &err) != 0)
        return cli_report_error(ctx, &err);
    return CLI_EXIT_OK;
}

/* A failure on stderr: one JSON object with --json (ctx->note inside the
 * message), else "rapport: message" and the note on a line of its own. */
static void s_report(const cli_ctx_t *ctx, int code, const char *message, const char *field)
{
    json_writer_t w;
    char full[1600], name[64];

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
    json_enum_name(&rapport__v1__status_code__descriptor, code, name, sizeof(name));
    json_writer_init(&w, stderr, false);
    json_object_begin(&w);
    json_key(&w, "code");
    json_string(&w, name);
    json_key(&w, "message");
    json_string(&w, full);
    json_key(&w, "field");
    json_string(&w, field ? field : "");
    json_object_end(&w);
    json_writer_end(&w);
}

int cli_report_status(const cli_ctx_t *ctx, const ProtobufCMessage *status, const char *what)
{
    const Rapport__V1__Status *st = (const Rapport__V1__Status *)(const void *)status;
    char code[64], message[1400];

    json_enum_name(&rapport__v1__status_code__descriptor, (int)st->code, code, sizeof(code));
    snprintf(message, sizeof(message), "%s%s%s", what ? what : "", what ? ": " : "",
             st->message && *st->message ? st->message : code);
    s_report(ctx, (int)st->code, message, st->field);
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

void cli_call_opts(const cli_ctx_t *ctx, rapport_call_opts *ret_opts)
{
    /* A retryable refusal (UNAVAILABLE, ...) is reported at once: a person waits. */
    *ret_opts = (rapport_call_opts){
        .deadline_ms = ctx->timeout_ms,
        .retry_ms = ctx->timeout_ms / 4 > 0 ? ctx->timeout_ms / 4 : 1,
        .flags = RAPPORT_CALL_NO_RETRY,
    };
}

/* The outcome of the call cli_call_watch waits for. */
typedef struct {
    bool done;
    ProtobufCMessage *reply;
    rapport_error err;
} watch_t;

static void s_watch_done(void *arg, int code, ProtobufCMessage *reply, const rapport_error *err)
{
    watch_t *w = arg;

    (void)code;
    w->done = true;
    w->reply = reply;
    w->err = *err;
}

/* The call, while the subscriber's events go to fn. */
static void s_call_watch(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req,
                         rapport_subscriber *sub, rapport_event_fn fn, void *arg, watch_t *w)
{
    rapport_call_opts o;
    struct pollfd p[2];

    cli_call_opts(ctx, &o);
    if (rapport_call_async(ctx->client, svc, req, &o, s_watch_done, w, &w->err) != 0) {
        w->done = true;
        return;
    }
    p[0] = (struct pollfd){.fd = rapport_client_fd(ctx->client), .events = POLLIN};
    p[1] = (struct pollfd){.fd = rapport_subscriber_fd(sub), .events = POLLIN};
    while (!w->done) {
        int t = rapport_client_timeout(ctx->client);

        if (cli_stop) {
            /* The command ends: the call stays unanswered in the client,
             * which is not used again. */
            w->err = (rapport_error){.code = RAPPORT__V1__STATUS_CODE__CANCELLED,
                                     .source = RAPPORT_ERR_TRANSPORT};
            snprintf(w->err.message, sizeof(w->err.message),
                     "interrupted while waiting for %s at %s", cli_service_process(svc),
                     cli_endpoint(ctx, svc));
            return;
        }
        /* The fds are edge-like (ZMQ_FD): look at both sockets each time. */
        poll(p, 2, t < 0 || t > WATCH_POLL_MS ? WATCH_POLL_MS : t);
        rapport_subscriber_run(sub, 0, fn, arg, NULL);
        rapport_client_process(ctx->client);
    }
}

static int s_call(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req, const char *what,
                  bool report, rapport_subscriber *sub, rapport_event_fn fn, void *arg,
                  ProtobufCMessage **ret_reply)
{
    watch_t w = {0};
    const ProtobufCMessage *status;

    if (sub) {
        s_call_watch(ctx, svc, req, sub, fn, arg, &w);
    } else {
        rapport_call_opts o;
        cli_call_opts(ctx, &o);
        rapport_call(ctx->client, svc, req, &o, &w.reply, &w.err);
    }
    if (!w.reply)
        return cli_report_error(ctx, &w.err);
    status = cli_reply_refusal(w.reply);
    if (status && report) {
        int ret = cli_report_status(ctx, status, what);
        rapport_reply_free(w.reply);
        return ret;
    }
    *ret_reply = w.reply;
    return CLI_EXIT_OK;
}

int cli_call(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req, const char *what,
             ProtobufCMessage **ret_reply)
{
    return s_call(ctx, svc, req, what, true, NULL, NULL, NULL, ret_reply);
}

int cli_call_raw(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req,
                 ProtobufCMessage **ret_reply)
{
    return s_call(ctx, svc, req, NULL, false, NULL, NULL, NULL, ret_reply);
}

int cli_call_watch(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req,
                   rapport_subscriber *sub, rapport_event_fn fn, void *arg,
                   ProtobufCMessage **ret_reply)
{
    return s_call(ctx, svc, req, NULL, true, sub, fn, arg, ret_reply);
}
