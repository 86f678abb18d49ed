/* cli_confirm: destructive commands look before they leap.
 *
 * A command with a `confirm` spec (the deletes, and the cancels that reach
 * many records) first reads what it would change, through a read command
 * of the contract: a get of the same key, a get per Entry No., or a list
 * paged to the end with the same filter. Then:
 *   --dry-run  prints the count and the first records, and changes nothing;
 *   a terminal (stdin and stderr) asks "delete 3 canceled entries? [y/N]"
 *              unless --yes;
 *   otherwise  (scripts, pipes) it goes ahead as it always did. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "human.h"
#include "json.h"
#include "reflect.h"
#include "wire.h"

#define SHOW_MAX  10   /* records printed */
#define PAGE_SIZE 1000 /* list page */

const cli_opt_t cli_confirm_opts[] = {
    {.name = "--dry-run", .local = CLI_LOCAL_DRY_RUN},
    {.name = "--yes", .local = CLI_LOCAL_YES},
    {0},
};

typedef struct {
    cli_ctx_t *ctx;
    const cli_confirm_t *spec;
    size_t count;
    const ProtobufCMessage *shown[SHOW_MAX];
    size_t n_shown;
    ProtobufCMessage *replies[64]; /* kept until printed */
    size_t n_replies;
} look_t;

/* The preview request: command `spec->command` with the key of the command
 * message copied in. *ret_cmd is its command message. */
static ProtobufCMessage *s_preview_new(look_t *lk, size_t n, ProtobufCMessage **ret_cmd)
{
    char id[CLI_REQUEST_ID_MAX + 1];
    const char *copy = lk->spec->copy;
    ProtobufCMessage *req;

    cli_request_id_derive(lk->ctx, 900 + n, id, sizeof(id));
    req = cli_request_new(lk->ctx, lk->spec->service, lk->spec->command, id, ret_cmd);
    if (copy && strcmp(copy, "*") == 0) {
        /* Same message type (a CodeRef, a SegmentRef): share it. */
        const ProtobufCFieldDescriptor *fd = reflect_field(req, lk->spec->command);
        *(ProtobufCMessage **)((char *)req + fd->offset) = lk->ctx->cmd_msg;
        *ret_cmd = lk->ctx->cmd_msg;
    } else if (copy) {
        const ProtobufCFieldDescriptor *dst = reflect_field(*ret_cmd, copy),
                                       *src = reflect_field(lk->ctx->cmd_msg, copy);
        if (dst && src && dst->type == PROTOBUF_C_TYPE_MESSAGE)
            *(void **)((char *)*ret_cmd + dst->offset) =
                *(void *const *)((const char *)lk->ctx->cmd_msg + src->offset);
        else
            reflect_copy_scalar(lk->ctx->arena, *ret_cmd, copy, lk->ctx->cmd_msg, copy);
    }
    for (size_t i = 0; i < 2 && lk->spec->presets[i]; i++) {
        char path[64], why[256];
        const char *eq = strchr(lk->spec->presets[i], '=');
        snprintf(path, sizeof(path), "%.*s", (int)(eq - lk->spec->presets[i]),
                 lk->spec->presets[i]);
        reflect_set_path(lk->ctx->arena, *ret_cmd, path, eq + 1, why, sizeof(why));
    }
    return req;
}

static void s_keep(look_t *lk, ProtobufCMessage *reply)
{
    if (lk->n_replies < sizeof(lk->replies) / sizeof(lk->replies[0]))
        lk->replies[lk->n_replies++] = reply;
    else
        wire_free(reply);
}

static void s_take(look_t *lk, const ProtobufCMessage *rec)
{
    if (lk->spec->keep) {
        const ProtobufCFieldDescriptor *fd = reflect_field(rec, lk->spec->keep);
        if (fd && !*(const protobuf_c_boolean *)((const char *)rec + fd->offset))
            return;
    }
    if (lk->n_shown < SHOW_MAX)
        lk->shown[lk->n_shown++] = rec;
    lk->count++;
}

/* One get; a record that is not there is not counted (the command itself
 * will say so). */
static int s_get(look_t *lk, size_t n, uint64_t each)
{
    ProtobufCMessage *cmd, *req = s_preview_new(lk, n, &cmd), *reply = NULL;
    int rc;

    if (lk->spec->each) {
        const ProtobufCFieldDescriptor *fd = reflect_field(cmd, "entry_no");
        if (fd && fd->type == PROTOBUF_C_TYPE_UINT64)
            *(uint64_t *)(void *)((char *)cmd + fd->offset) = each;
    }
    rc = cli_call_raw(lk->ctx, lk->spec->service, req, &reply);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!cli_reply_refusal(reply) && cli_reply_result(reply))
        s_take(lk, cli_reply_result(reply));
    s_keep(lk, reply);
    return CLI_EXIT_OK;
}

/* Page through the list to the end. */
static int s_list(look_t *lk)
{
    uint64_t after = 0;

    for (size_t page = 0;; page++) {
        ProtobufCMessage *cmd, *req = s_preview_new(lk, page, &cmd), *reply = NULL;
        const ProtobufCMessage *res;
        const void *items;
        size_t n;
        char num[24];
        int rc;

        snprintf(num, sizeof(num), "%llu", (unsigned long long)after);
        reflect_set_path(lk->ctx->arena, cmd, "after", num, NULL, 0);
        snprintf(num, sizeof(num), "%d", PAGE_SIZE);
        reflect_set_path(lk->ctx->arena, cmd, "limit", num, NULL, 0);
        rc = cli_call(lk->ctx, lk->spec->service, req, NULL, &reply);
        if (rc != CLI_EXIT_OK)
            return rc;
        res = cli_reply_result(reply);
        n = res ? reflect_repeated(res, lk->spec->list_field, &items) : 0;
        for (size_t i = 0; i < n; i++)
            s_take(lk, ((ProtobufCMessage *const *)items)[i]);
        after = res ? reflect_get_uint(res, "next_after") : 0;
        s_keep(lk, reply);
        if (!after || n == 0 || cli_stop)
            return CLI_EXIT_OK;
    }
}

static int s_look(look_t *lk)
{
    const void *nos;
    size_t n;
    int rc = cli_connect(lk->ctx, lk->spec->service);

    if (rc != CLI_EXIT_OK)
        return rc;
    if (lk->spec->list_field)
        return s_list(lk);
    if (!lk->spec->each)
        return s_get(lk, 0, 0);
    n = reflect_repeated(lk->ctx->cmd_msg, lk->spec->each, &nos);
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++)
        rc = s_get(lk, i, ((const uint64_t *)nos)[i]);
    return rc;
}

static void s_print(look_t *lk, FILE *out, const char *lead)
{
    fprintf(out, "%s%s %zu %s%s\n", lead, lk->spec->verb, lk->count, lk->spec->what,
            lk->count ? ":" : "");
    if (lk->n_shown && lk->spec->columns) {
        human_table_t *t = NULL;
        if (human_table_new(lk->shown[0]->descriptor, lk->spec->columns, &t) == RP_OK) {
            for (size_t i = 0; i < lk->n_shown; i++)
                human_table_add(t, lk->shown[i]);
            human_table_flush(t, out);
        }
        human_table_destroy(&t);
    } else {
        for (size_t i = 0; i < lk->n_shown; i++)
            human_show(out, lk->shown[i], 2);
    }
    if (lk->count > lk->n_shown)
        fprintf(out, "... and %zu more\n", lk->count - lk->n_shown);
}

static void s_print_json(look_t *lk)
{
    json_writer_t w;

    json_writer_init(&w, stdout, true);
    json_object_begin(&w);
    json_key(&w, "dry_run");
    json_bool(&w, true);
    json_key(&w, "count");
    json_uint(&w, lk->count);
    json_key(&w, "first");
    json_array_begin(&w);
    for (size_t i = 0; i < lk->n_shown; i++)
        json_message(&w, lk->shown[i]);
    json_array_end(&w);
    json_object_end(&w);
    json_writer_end(&w);
}

/* Ask on the terminal; true for y or yes. */
static bool s_ask(look_t *lk)
{
    char line[32];

    fprintf(stderr, "%s %zu %s? [y/N] ", lk->spec->verb, lk->count, lk->spec->what);
    fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    return strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0 || strcmp(line, "Y\n") == 0;
}

int cli_confirm(cli_ctx_t *ctx)
{
    look_t lk = {.ctx = ctx, .spec = ctx->cmd->confirm};
    bool dry = ctx->local[CLI_LOCAL_DRY_RUN] != NULL;
    bool ask = !dry && !ctx->local[CLI_LOCAL_YES] && isatty(STDIN_FILENO) == 1 &&
               isatty(STDERR_FILENO) == 1;
    int rc = CLI_EXIT_OK;

    if (!lk.spec || (!dry && !ask))
        return CLI_EXIT_OK;
    rc = s_look(&lk);
    if (rc == CLI_EXIT_OK && dry) {
        if (ctx->json)
            s_print_json(&lk);
        else
            s_print(&lk, stdout, "would ");
        rc = cli_stdout_status();
        if (rc == CLI_EXIT_OK)
            rc = CLI_CONFIRM_DONE;
    } else if (rc == CLI_EXIT_OK) {
        s_print(&lk, stderr, "about to ");
        if (!s_ask(&lk)) {
            cli_warn("nothing was changed");
            rc = CLI_EXIT_REFUSED;
        }
    }
    for (size_t i = 0; i < lk.n_replies; i++)
        wire_free(lk.replies[i]);
    return rc;
}
