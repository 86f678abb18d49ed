/* interaction_cmds: single interactions (docs/domain.md sections 4 and 5) on
 * rapport-interaction, and the interaction log entries themselves (section
 * 8) straight on rapport-logwriter: show, cancel, list, delete canceled.
 *
 * Every field option of create and resume maps to InteractionFields; a
 * scalar given on the command line selects its `_opt` oneof, so the server
 * tells "not given" (its default applies) from an explicit zero. */
#include <string.h>

#include "cli.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"

/* The fields of an interaction, shared by create and resume. */
static const cli_opt_t s_field_opts[] = {
    {.name = "--contact", .path = "fields.contact_no"},
    {.name = "--salesperson", .path = "fields.salesperson_code"},
    {.name = "--template", .path = "fields.interaction_template_code"},
    {.name = "--description", .path = "fields.description"},
    {.name = "--date", .path = "fields.date"},
    {.name = "--time", .path = "fields.time_of_interaction"},
    {.name = "--evaluation", .path = "fields.evaluation"},
    {.name = "--failed", .path = "fields.attempt_failed"},
    {.name = "--successful", .path = "fields.attempt_failed", .value = "false"},
    {.name = "--cost", .path = "fields.cost_cents"},
    {.name = "--duration", .path = "fields.duration_min"},
    {.name = "--flow", .path = "fields.information_flow"},
    {.name = "--initiated-by", .path = "fields.initiated_by"},
    {.name = "--campaign", .path = "fields.campaign_no"},
    {.name = "--campaign-target", .path = "fields.campaign_target"},
    {.name = "--campaign-response", .path = "fields.campaign_response"},
    {.name = "--language", .path = "fields.language_code"},
    {.name = "--corr-type", .path = "fields.correspondence_type"},
    {.name = "--opportunity", .path = "fields.opportunity_no"},
    {.name = "--todo", .path = "fields.todo_no"},
    {.name = "--subject", .path = "fields.subject"},
    {.name = "--comment", .path = "fields.comments"},
    {.name = "--postpone", .path = "postpone"},
    {0},
};

static const cli_opt_t s_create_opts[] = {
    {.name = "--from-entry", .path = "from_entry_no"},
    {0},
};

static const cli_opt_t s_resume_opts[] = {
    {.name = "--clear-comments", .path = "clear_comments"},
    {0},
};

static const cli_opt_t s_postponed_opts[] = {
    {.name = "--contact", .path = "contact_no"},
    {.name = "--salesperson", .path = "salesperson_code"},
    {.name = "--template", .path = "interaction_template_code"},
    {.name = "--from", .path = "date_from"},
    {.name = "--to", .path = "date_to"},
    {0},
};

/* EntryFilter, for listing and for deleting canceled entries. */
static const cli_opt_t s_filter_opts[] = {
    {.name = "--contact", .path = "filter.contact_no"},
    {.name = "--from", .path = "filter.date_from"},
    {.name = "--to", .path = "filter.date_to"},
    {.name = "--template", .path = "filter.interaction_template_code"},
    {.name = "--group", .path = "filter.interaction_group_code"},
    {.name = "--salesperson", .path = "filter.salesperson_code"},
    {.name = "--campaign", .path = "filter.campaign_no"},
    {.name = "--segment", .path = "filter.segment_no"},
    {.name = "--logged-segment", .path = "filter.logged_segment_entry_no"},
    {.name = "--entry-from", .path = "filter.entry_no_from"},
    {.name = "--entry-to", .path = "filter.entry_no_to"},
    {.name = "--canceled", .path = "filter.canceled", .value = "yes"},
    {.name = "--not-canceled", .path = "filter.canceled", .value = "no"},
    {.name = "--postponed", .path = "filter.postponed", .value = "yes"},
    {.name = "--any-postponed", .path = "filter.postponed", .value = "any"},
    {0},
};

static const cli_opt_t s_list_entries_opts[] = {
    {.name = "--descending", .path = "descending"},
    {0},
};

#define ENTRY_COLUMNS                                                                         \
    "entry_no:NO.,date,time_of_interaction:TIME,contact_no:CONTACT,"                          \
    "interaction_template_code:TEMPLATE,salesperson_code:SALESPERSON,description,"            \
    "cost_cents:COST,duration_min:MIN,information_flow:FLOW,evaluation,campaign_no:CAMPAIGN," \
    "segment_no:SEGMENT,canceled,postponed"

#define FIELD_USAGE                                                                              \
    "\n        [--contact NO] [--salesperson CODE] [--template CODE] [--description T]\n"        \
    "        [--date D] [--time HH:MM] [--evaluation very-positive|positive|neutral|negative|\n" \
    "        very-negative|none] [--failed|--successful] [--cost N] [--duration MIN]\n"          \
    "        [--flow outbound|inbound|none] [--initiated-by us|them|none] [--campaign NO]\n"     \
    "        [--campaign-target] [--campaign-response] [--language CODE]\n"                      \
    "        [--corr-type email|hard-copy|none] [--opportunity NO] [--todo NO]\n"                \
    "        [--subject T] [--comment TEXT]... [--postpone]"

#define FILTER_USAGE                                                                  \
    "[--contact NO] [--from D] [--to D] [--template C] [--group C]\n"                 \
    "        [--salesperson C] [--campaign NO] [--segment NO] [--logged-segment N]\n" \
    "        [--entry-from N] [--entry-to N] [--canceled|--not-canceled]\n"           \
    "        [--postponed|--any-postponed]"

/* Where a new interaction starts from: the entry, else the contact, else
 * the salesperson; with none the server answers "You must select a contact
 * to interact with." */
static int s_create_prepare(cli_ctx_t *ctx, ProtobufCMessage *cmd)
{
    Rapport__V1__CreateInteraction *ci = (Rapport__V1__CreateInteraction *)(void *)cmd;

    if (cli_opt_given(ctx, "--from-entry"))
        ci->origin = RAPPORT__V1__ORIGIN__ORIGIN_ENTRY;
    else if (cli_opt_given(ctx, "--contact"))
        ci->origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    else if (cli_opt_given(ctx, "--salesperson"))
        ci->origin = RAPPORT__V1__ORIGIN__ORIGIN_SALESPERSON;
    else
        ci->origin = RAPPORT__V1__ORIGIN__ORIGIN_CONTACT;
    return CLI_EXIT_OK;
}

static int s_filter_exclusive(cli_ctx_t *ctx, ProtobufCMessage *cmd)
{
    (void)cmd;
    if (cli_opt_given(ctx, "--canceled") && cli_opt_given(ctx, "--not-canceled"))
        return cli_usage_error(ctx, "--canceled and --not-canceled exclude each other");
    if (cli_opt_given(ctx, "--postponed") && cli_opt_given(ctx, "--any-postponed"))
        return cli_usage_error(ctx, "--postponed and --any-postponed exclude each other");
    return CLI_EXIT_OK;
}

#define PREVIEW_COLUMNS                                                                    \
    "entry_no:NO.,date,contact_no:CONTACT,interaction_template_code:TEMPLATE,description," \
    "canceled,postponed"

static const cli_confirm_t s_confirm_postponed = {.verb = "delete",
                                                  .what = "postponed interactions",
                                                  .service = CLI_SVC_LOGWRITER,
                                                  .command = "get_entry",
                                                  .each = "entry_nos",
                                                  .keep = "postponed",
                                                  .columns = PREVIEW_COLUMNS};
static const cli_confirm_t s_confirm_cancel = {.verb = "cancel",
                                               .what = "entries",
                                               .service = CLI_SVC_LOGWRITER,
                                               .command = "get_entry",
                                               .each = "entry_nos",
                                               .columns = PREVIEW_COLUMNS};
static const cli_confirm_t s_confirm_delete_canceled = {.verb = "delete",
                                                        .what = "canceled entries",
                                                        .service = CLI_SVC_LOGWRITER,
                                                        .command = "list_entries",
                                                        .copy = "filter",
                                                        .presets = {"filter.canceled=yes"},
                                                        .list_field = "entries",
                                                        .columns = PREVIEW_COLUMNS};

const cli_cmd_t cli_interaction_cmds[] = {
    {.group = "interaction",
     .name = "create",
     .usage = "[--from-entry N]" FIELD_USAGE,
     .summary = "record an interaction (from an entry with --from-entry, else from the\n"
                "      contact, else from the salesperson); prints the new Entry No.",
     .service = CLI_SVC_INTERACTION,
     .command = "create_interaction",
     .opts = {s_field_opts, s_create_opts},
     .out = CLI_OUT_FIELD,
     .out_field = "entry_no",
     .prepare = s_create_prepare},
    {.group = "interaction",
     .name = "resume",
     .usage = "N" FIELD_USAGE " [--clear-comments]",
     .summary = "finish (or, with --postpone, keep) postponed entry N; prints its Entry No.",
     .service = CLI_SVC_INTERACTION,
     .command = "resume_interaction",
     .pos = {{.name = "N", .path = "entry_no"}},
     .opts = {s_field_opts, s_resume_opts},
     .out = CLI_OUT_FIELD,
     .out_field = "entry_no"},
    {.group = "interaction",
     .name = "postponed",
     .usage = "[--contact NO] [--salesperson CODE] [--template C] [--from D] [--to D]\n"
              "        [--after N] [--limit K] [--all]",
     .summary = "list postponed interactions",
     .service = CLI_SVC_INTERACTION,
     .command = "list_postponed",
     .opts = {s_postponed_opts, cli_paging_opts},
     .out = CLI_OUT_TABLE,
     .out_field = "entries",
     .columns = ENTRY_COLUMNS},
    {.group = "interaction",
     .name = "delete-postponed",
     .usage = "N...",
     .summary = "delete postponed interactions",
     .service = CLI_SVC_INTERACTION,
     .command = "delete_postponed",
     .pos = {{.name = "N", .path = "entry_nos", .flags = CLI_POS_MANY}},
     .opts = {cli_confirm_opts},
     .confirm = &s_confirm_postponed},

    {.group = "entry",
     .name = "show",
     .usage = "N",
     .summary = "show an interaction log entry with its comments",
     .service = CLI_SVC_LOGWRITER,
     .command = "get_entry",
     .pos = {{.name = "N", .path = "entry_no"}}},
    {.group = "entry",
     .name = "cancel",
     .usage = "N...",
     .summary = "cancel interaction log entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_entries_canceled",
     .pos = {{.name = "N", .path = "entry_nos", .flags = CLI_POS_MANY}},
     .opts = {cli_confirm_opts},
     .presets = {"canceled=true"},
     .confirm = &s_confirm_cancel},
    {.group = "entry",
     .name = "uncancel",
     .usage = "N...",
     .summary = "un-cancel interaction log entries",
     .service = CLI_SVC_LOGWRITER,
     .command = "set_entries_canceled",
     .pos = {{.name = "N", .path = "entry_nos", .flags = CLI_POS_MANY}},
     .presets = {"canceled=false"}},

    {.group = "entries",
     .usage = FILTER_USAGE "\n        [--descending] [--after N] [--limit K] [--all]",
     .summary = "list interaction log entries (postponed ones only with --postponed, all\n"
                "      with --any-postponed); --all follows the pages to the end",
     .service = CLI_SVC_LOGWRITER,
     .command = "list_entries",
     .opts = {s_filter_opts, s_list_entries_opts, cli_paging_opts},
     .presets = {"filter.postponed=no"},
     .out = CLI_OUT_TABLE,
     .out_field = "entries",
     .columns = ENTRY_COLUMNS,
     .prepare = s_filter_exclusive},
    {.group = "entries",
     .name = "delete-canceled",
     .usage = FILTER_USAGE,
     .summary = "delete the canceled entries matching the filter; prints the count",
     .service = CLI_SVC_LOGWRITER,
     .command = "delete_canceled_entries",
     .opts = {s_filter_opts, cli_confirm_opts},
     .presets = {"filter.postponed=no"},
     .prepare = s_filter_exclusive,
     .confirm = &s_confirm_delete_canceled},
    {0},
};
