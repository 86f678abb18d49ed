/* cli_output: printing results, and the generic run of a command.
 *
 * A result prints as the command's table says (json.h with --json,
 * human.h otherwise). --all follows next_after page by page and prints as
 * the pages arrive: one JSON document whose repeated field is streamed, or
 * one table; memory stays bounded by a page. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "human.h"
#include "json.h"
#include "reflect.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"

/* ---- output ------------------------------------------------------------- */

int cli_stdout_status(void)
{
    fflush(stdout);
    if (ferror(stdout)) {
        cli_warn("write error on stdout");
        return CLI_EXIT_REFUSED;
    }
    return CLI_EXIT_OK;
}

/* Tell a human reader that a listing goes on. */
static void s_more_hint(const ProtobufCMessage *result)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(result, "next_after");
    char buf[64];

    if (!fd || reflect_is_zero(result, "next_after"))
        return;
    human_format_value(fd, json_field_member(result, fd), buf, sizeof(buf));
    cli_warn("more to list: --after %s, or --all", buf);
}

static int s_output_table(cli_ctx_t *ctx, const ProtobufCMessage *result)
{
    const ProtobufCFieldDescriptor *fd = reflect_field(result, ctx->cmd->out_field);
    human_table_t *t;
    const void *arr;
    size_t n;

    if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE ||
        human_table_new(fd->descriptor, ctx->cmd->columns, &t) != RP_OK) {
        human_show(stdout, result, 0);
        return cli_stdout_status();
    }
    n = reflect_repeated(result, ctx->cmd->out_field, &arr);
    for (size_t i = 0; i < n; i++)
        human_table_add(t, ((const ProtobufCMessage *const *)arr)[i]);
    human_table_flush(t, stdout);
    human_table_destroy(&t);
    s_more_hint(result);
    return cli_stdout_status();
}

int cli_output(cli_ctx_t *ctx, const ProtobufCMessage *result)
{
    const cli_cmd_t *cmd = ctx->cmd;

    if (ctx->json) {
        json_writer_t w;
        json_writer_init(&w, stdout, true);
        if (result) {
            json_message(&w, result);
        } else {
            json_object_begin(&w);
            json_object_end(&w);
        }
        json_writer_end(&w);
        return cli_stdout_status();
    }
    if (cmd->print) {
        cmd->print(ctx, result);
        return cli_stdout_status();
    }
    if (!result)
        return CLI_EXIT_OK;
    switch (cmd->out) {
    case CLI_OUT_FIELD: {
        const ProtobufCFieldDescriptor *fd = reflect_field(result, cmd->out_field);
        char buf[4096];
        if (fd && fd->label != PROTOBUF_C_LABEL_REPEATED && fd->type != PROTOBUF_C_TYPE_MESSAGE) {
            human_format_value(fd, json_field_member(result, fd), buf, sizeof(buf));
            printf("%s\n", buf);
            break;
        }
        human_show(stdout, result, 0);
        break;
    }
    case CLI_OUT_TABLE:
        return s_output_table(ctx, result);
    case CLI_OUT_AUTO:
        if (result->descriptor == &rapport__v1__count__descriptor)
            printf("%" PRIu64 "\n", ((const Rapport__V1__Count *)(const void *)result)->count);
        else
            human_show(stdout, result, 0);
        break;
    }
    return cli_stdout_status();
}

/* --all: follow next_after page by page, printing as pages arrive (a JSON
 * document with the repeated field streamed, or one table). */
static int s_run_pages(cli_ctx_t *ctx)
{
    const cli_cmd_t *cmd = ctx->cmd;
    const cli_service_t svc = cmd->service;
    ProtobufCMessage *last = NULL;
    human_table_t *table = NULL;
    json_writer_t w;
    bool started = false;
    unsigned rep_index = 0;
    int rc = CLI_EXIT_OK;

    for (size_t page = 1;; page++) {
        ProtobufCMessage *reply;
        const ProtobufCMessage *result;
        const ProtobufCFieldDescriptor *fd;
        const void *arr;
        size_t n;

        if (page > 1)
            cli_request_renumber(ctx, ctx->req, page);
        rc = cli_call(ctx, svc, ctx->req, NULL, &reply);
        if (rc != CLI_EXIT_OK)
            break;
        result = cli_reply_result(reply);
        fd = result ? reflect_field(result, cmd->out_field) : NULL;
        if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE) {
            /* Not a listing after all: print what came. */
            if (!started)
                rc = cli_output(ctx, result);
            wire_free(reply);
            break;
        }
        if (!started) {
            started = true;
            rep_index = (unsigned)(fd - result->descriptor->fields);
            if (ctx->json) {
                json_writer_init(&w, stdout, true);
                json_object_begin(&w);
                json_key(&w, fd->name);
                json_array_begin(&w);
            } else if (human_table_new(fd->descriptor, cmd->columns, &table) != RP_OK) {
                wire_free(reply);
                rc = cli_usage_error(ctx, "internal: bad columns '%s'", cmd->columns);
                break;
            }
        }
        n = reflect_repeated(result, cmd->out_field, &arr);
        for (size_t i = 0; i < n; i++) {
            if (ctx->json)
                json_field_value(&w, fd, (const char *)arr + i * sizeof(void *));
            else
                human_table_add(table, ((const ProtobufCMessage *const *)arr)[i]);
        }
        if (table)
            human_table_flush(table, stdout);
        wire_free(last);
        last = reply;
        if (reflect_is_zero(result, "next_after") || cli_stop)
            break;
        if (reflect_copy_scalar(ctx->arena, ctx->cmd_msg, "after", result, "next_after") != RP_OK)
            break;
    }
    if (started && ctx->json) {
        const ProtobufCMessage *lr = cli_reply_result(last);
        json_array_end(&w);
        if (lr && rep_index > 0)
            json_message_fields(&w, lr, 0, rep_index - 1);
        if (lr)
            json_message_fields(&w, lr, rep_index + 1, lr->descriptor->n_fields);
        json_object_end(&w);
        json_writer_end(&w);
    }
    human_table_destroy(&table);
    wire_free(last);
    if (rc == CLI_EXIT_OK)
        rc = cli_stdout_status();
    return rc;
}

int cli_run_generic(cli_ctx_t *ctx)
{
    ProtobufCMessage *reply = NULL;
    int rc = cli_confirm(ctx);

    if (rc == CLI_CONFIRM_DONE)
        return CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        rc = cli_connect(ctx, ctx->cmd->service);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (ctx->local[CLI_LOCAL_ALL])
        return s_run_pages(ctx);
    rc = cli_call(ctx, ctx->cmd->service, ctx->req, NULL, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_output(ctx, cli_reply_result(reply));
    wire_free(reply);
    return rc;
}
