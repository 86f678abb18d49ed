/* cli: the engine of the `rapport` command.
 *
 * A command is data: a cli_cmd_t names the worker, the request's oneof
 * member, the positional arguments and the options (each mapped to a field
 * path below that member, see reflect.h), fixed presets, and how the result
 * prints. cli.c turns argv into the request from those tables, calls the
 * worker and prints the reply; a command family file (catalog_cmds.c,
 * interaction_cmds.c, segment_cmds.c, event_cmds.c, stats_cmds.c) holds the
 * tables, plus `prepare` / `run` / `print` hooks where one command needs
 * more than that (CSV import, progress bars, event following, stats).
 * cli.c parses, cli_call.c talks to the workers, cli_output.c prints. */
#ifndef RAPPORT_CLI_CLI_H
#define RAPPORT_CLI_CLI_H

#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <rapport/client.h>

#include "config.h"
#include "err.h"

/* Exit codes of `rapport`. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,    /* the service answered with an error Status */
    CLI_EXIT_USAGE = 2,      /* bad command line or input file */
    CLI_EXIT_UNREACHABLE = 3 /* no answer within the timeout */
};

#define CLI_DEFAULT_TIMEOUT_MS 10000
#define CLI_LOG_TIMEOUT_MS     600000
#define CLI_BULK_BATCH         10000
#define CLI_REQUEST_ID_MAX     64

/* The workers, as librapport names them. */
typedef rapport_service cli_service_t;
#define CLI_SVC_INTERACTION RAPPORT_INTERACTION
#define CLI_SVC_SEGMENT     RAPPORT_SEGMENT
#define CLI_SVC_LOGWRITER   RAPPORT_LOGWRITER
#define CLI_SVC_COUNT       RAPPORT_SERVICE_COUNT

/* Values of options and arguments that are no request field; hooks read
 * them from ctx->local[]. Flags hold "1". */
typedef enum {
    CLI_LOCAL_NONE = 0,
    CLI_LOCAL_ALL,        /* --all: follow next_after to the end */
    CLI_LOCAL_FOLLOW,     /* events --follow */
    CLI_LOCAL_FROM_START, /* events --follow --from-start */
    CLI_LOCAL_FILE,       /* a file argument */
    CLI_LOCAL_PROMETHEUS, /* stats --prometheus */
    CLI_LOCAL_STATE_DIR,  /* backup / restore --state-dir DIR */
    CLI_LOCAL_KEY_DIR,    /* keygen --dir DIR */
    CLI_LOCAL_ROLE,       /* keygen --role ROLE */
    CLI_LOCAL_RELAY,      /* keygen --relay */
    CLI_LOCAL_DRY_RUN,    /* destructive commands: --dry-run */
    CLI_LOCAL_YES,        /* destructive commands: --yes */
    CLI_LOCAL_COUNT
} cli_local_t;

/* One option. With `value` set the option takes no argument and sets that
 * text; a bool field without `value` is a flag setting true; anything else
 * takes one argument (`--opt ARG` or `--opt=ARG`). Repeated fields collect
 * every occurrence. Tables end with an entry whose name is NULL. */
typedef struct {
    const char *name;     /* "--contact" */
    const char *path;     /* field below the command message, or NULL */
    cli_local_t local;    /* when path is NULL */
    const char *value;    /* fixed value */
    const char *requires; /* another option that must be given with it */
    bool required;
} cli_opt_t;

enum {
    CLI_POS_OPTIONAL = 1u << 0,
    CLI_POS_MANY = 1u << 1, /* takes every remaining argument */
};

typedef struct {
    const char *name; /* "CODE", for messages */
    const char *path;
    cli_local_t local; /* when path is NULL */
    unsigned flags;
} cli_pos_t;

typedef enum {
    CLI_OUT_AUTO,  /* a Count prints its number, no result nothing, else "field: value" */
    CLI_OUT_FIELD, /* one field of the result (out_field) */
    CLI_OUT_TABLE, /* the repeated field out_field as a table of `columns` */
} cli_out_t;

#define CLI_MAX_POS        3
#define CLI_MAX_OPT_TABLES 4
#define CLI_MAX_PRESETS    3

typedef struct cli_ctx cli_ctx_t;

/* What a destructive command would change, and how to read it first
 * (cli_confirm.c). */
typedef struct {
    const char *verb; /* "delete", "cancel" */
    const char *what; /* "canceled entries", for "delete 3 canceled entries?" */
    cli_service_t service;
    const char *command; /* the read: get_* or list_* */
    const char *copy;    /* field copied from the command message; "*": the whole message */
    const char *presets[2];
    const char *each;       /* repeated Entry Nos. of the command: one get_entry each */
    const char *list_field; /* a list: the repeated field of its result */
    const char *keep;       /* a list: only rows with this bool field set count */
    const char *columns;    /* a list: table columns */
} cli_confirm_t;

#define CLI_CONFIRM_DONE (-1) /* cli_confirm: --dry-run printed, nothing to send */

typedef struct cli_cmd {
    const char *group;   /* first word: "template" */
    const char *name;    /* second word: "put"; NULL when the group word alone is the command */
    const char *usage;   /* the arguments, for --help and usage errors */
    const char *summary; /* one line for --help */
    cli_service_t service;
    const char *command; /* the request's oneof member: "put_template" */
    cli_pos_t pos[CLI_MAX_POS];
    const cli_opt_t *opts[CLI_MAX_OPT_TABLES];
    const char *presets[CLI_MAX_PRESETS]; /* "path=value", applied before the arguments */
    cli_out_t out;
    const char *out_field;
    const char *columns; /* see human_table_new */
    int timeout_ms;      /* default --timeout; 0 means CLI_DEFAULT_TIMEOUT_MS */
    /* After the arguments are parsed: adjust or check the command message.
     * Returns an exit code (CLI_EXIT_OK to go on). */
    int (*prepare)(cli_ctx_t *ctx, ProtobufCMessage *cmd);
    /* Replaces the generic call-and-print; returns the exit code. */
    int (*run)(cli_ctx_t *ctx);
    /* Replaces the human output of the result (not --json). */
    void (*print)(cli_ctx_t *ctx, const ProtobufCMessage *result);
    /* Destructive: --dry-run, and a question on a terminal unless --yes. */
    const cli_confirm_t *confirm;
} cli_cmd_t;

/* Everything one invocation knows. */
struct cli_ctx {
    /* Global options. */
    const char *config_path;
    const char *run_dir;
    const char *user;
    bool user_given; /* --user was on the command line */
    const char *request_id_arg;
    int timeout_ms;
    bool timeout_given;
    bool json;
    const char *replica; /* --replica: the log writer's requests go there */
    uint64_t min_seq;    /* --min-seq: LogRequest.min_seq */
    /* The command and its request, built in the arena. */
    const cli_cmd_t *cmd;
    struct wire_arena *arena;
    ProtobufCMessage *req;
    ProtobufCMessage *cmd_msg;
    char request_id[CLI_REQUEST_ID_MAX + 1];
    const char *local[CLI_LOCAL_COUNT];
    const char *opts_seen[64]; /* names of the distinct options given, for checks */
    size_t n_opts_seen;
    /* What a command that sends several requests has done when one fails
     * ("10000 contacts were imported before the error"); the failure
     * reports print it with the message (see cli_report_status). */
    char note[128];
    /* Set up after parsing. */
    config_t cfg;
    rapport_client *client; /* every call goes through it */
};

/* Set by SIGINT / SIGTERM; long-running commands stop on it. */
extern volatile sig_atomic_t cli_stop;

/* The command families (each table ends with an entry whose group is
 * NULL). */
extern const cli_cmd_t cli_catalog_cmds[];
extern const cli_cmd_t cli_interaction_cmds[];
extern const cli_cmd_t cli_segment_cmds[];
extern const cli_cmd_t cli_event_cmds[];
extern const cli_cmd_t cli_stats_cmds[];
extern const cli_cmd_t cli_backup_cmds[];  /* backup_cmds.c */
extern const cli_cmd_t cli_promote_cmds[]; /* promote_cmds.c */
extern const cli_cmd_t cli_key_cmds[];     /* key_cmds.c */

/* Shared option tables. */
extern const cli_opt_t cli_paging_opts[];  /* --after, --limit, --all */
extern const cli_opt_t cli_confirm_opts[]; /* --dry-run, --yes */

/* Before a destructive command: with --dry-run print what it would change
 * and return CLI_CONFIRM_DONE; on a terminal without --yes ask, and return
 * CLI_EXIT_REFUSED when the answer is not yes; else CLI_EXIT_OK. */
int cli_confirm(cli_ctx_t *ctx);

/* Run `rapport` with argv; returns the process exit code. */
/* ---- the command table as data (cli.c, cli_complete.c) ---- */

/* The command families (each a {0}-terminated array); *ret_n of them. */
const cli_cmd_t *const *cli_command_families(size_t *ret_n);

/* The name of global option i ("--json"), NULL past the last. */
const char *cli_global_option(size_t i);

/* Levenshtein distance of two short words (capped at 64 characters). */
size_t cli_edit_distance(const char *a, const char *b);

/* The option of cmd closest to the first len bytes of name (at most 2
 * edits), or NULL. */
const char *cli_option_nearest(const cli_cmd_t *cmd, const char *name, size_t len);

/* Print a bash (shell "bash") or zsh completion script generated from the
 * command table to out; false for another shell. */
bool cli_completion_print(FILE *out, const char *shell);

/* ---- metrics for people (stats_human.c) ---- */

/* "12.0 MiB"; "1.5 ms", "42 s", "5m02s", "3h05m", "2d04h". */
void stats_format_bytes(double v, char *buf, size_t size);
void stats_format_duration(double seconds, char *buf, size_t size);

/* The gauge `name` without labels of ws (NAN when absent); the version
 * label of rapport_build_info ("" when absent). */
double stats_gauge(const Rapport__V1__WorkerStats *ws, const char *name);
const char *stats_version(const Rapport__V1__WorkerStats *ws);

/* One worker's metrics as aligned tables with units and rates. */
void stats_human_print(FILE *out, const Rapport__V1__WorkerStats *ws, const char *endpoint);

int cli_main(int argc, char **argv);

/* Print "rapport: <message>" and the command's usage line on stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A bad input file: "rapport: <message>" on stderr, no usage line;
 * returns CLI_EXIT_USAGE. */
int cli_input_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "rapport: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether option `name` was given on the command line. */
bool cli_opt_given(const cli_ctx_t *ctx, const char *name);

/* The endpoint of a worker's ROUTER and its process name
 * ("rapport-interaction"). */
const char *cli_endpoint(const cli_ctx_t *ctx, cli_service_t svc);
const char *cli_service_process(cli_service_t svc);
const char *cli_service_name(cli_service_t svc);

/* Before the first call to a worker: is it running, are the keys right
 * (rapport_client_probe)? Returns an exit code (the failure reported). */
int cli_connect(cli_ctx_t *ctx, cli_service_t svc);

/* Report a librapport error that came without a reply (no answer, a
 * worker not running, bad keys): a message naming the endpoint (and
 * ctx->note, as cli_report_status does). Returns CLI_EXIT_UNREACHABLE, or
 * CLI_EXIT_USAGE for a configuration error. */
int cli_report_error(const cli_ctx_t *ctx, const rapport_error *err);

/* The call options of every request: ctx's timeout, a resend every
 * timeout/4 with the same request_id, retryable refusals reported at once. */
void cli_call_opts(const cli_ctx_t *ctx, rapport_call_opts *ret_opts);

/* A new request of worker svc in the arena with the envelope set (the
 * given request_id, ctx's user) and its `command` member created; that
 * member is returned in *ret_cmd. */
ProtobufCMessage *cli_request_new(cli_ctx_t *ctx, cli_service_t svc, const char *command,
                                  const char *request_id, ProtobufCMessage **ret_cmd);

/* Give req (built by cli_request_new) request id number n: 0 is the
 * invocation's own (--request-id or random), n >= 1 cli_request_id_derive's. */
void cli_request_renumber(cli_ctx_t *ctx, ProtobufCMessage *req, size_t n);

/* Request id number n (1-based) of a command that sends many requests:
 * "<request id>-<n>", so that a repeated invocation with the same
 * --request-id repeats every request idempotently. */
void cli_request_id_derive(const cli_ctx_t *ctx, size_t n, char *buf, size_t size);

/* Call a worker (cli_call_opts). Returns CLI_EXIT_OK with *ret_reply
 * (rapport_reply_free) when the reply's Status is OK; otherwise prints the
 * refusal or the failure (on stderr, as JSON with --json) and returns
 * CLI_EXIT_REFUSED or CLI_EXIT_UNREACHABLE. `what`, when not NULL,
 * prefixes a refusal message (a CSV line, say). */
int cli_call(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req, const char *what,
             ProtobufCMessage **ret_reply);

/* Like cli_call but a refusal is not reported: *ret_reply comes back with
 * whatever Status it has (see cli_reply_refusal). Only an unreachable
 * worker is reported (CLI_EXIT_UNREACHABLE). */
int cli_call_raw(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req,
                 ProtobufCMessage **ret_reply);

/* The Status of a reply when it is an error, else NULL. */
const ProtobufCMessage *cli_reply_refusal(const ProtobufCMessage *reply);

/* Like cli_call, and while waiting also hands the events of `sub` to fn
 * (a progress display, say). */
int cli_call_watch(cli_ctx_t *ctx, cli_service_t svc, ProtobufCMessage *req,
                   rapport_subscriber *sub, rapport_event_fn fn, void *arg,
                   ProtobufCMessage **ret_reply);

/* Report an error Status (a reply's `status`), its message prefixed by
 * `what` when not NULL (also inside the JSON form). A ctx->note follows on
 * a line of its own, or with --json in parentheses at the end of the
 * message, so that stderr stays one JSON object. Returns
 * CLI_EXIT_REFUSED. */
int cli_report_status(const cli_ctx_t *ctx, const ProtobufCMessage *status, const char *what);

/* The result member of a reply (NULL when none is set). */
const ProtobufCMessage *cli_reply_result(const ProtobufCMessage *reply);

/* Print one result the way ctx->cmd says (JSON with --json). Returns an
 * exit code (CLI_EXIT_REFUSED when writing stdout fails). */
int cli_output(cli_ctx_t *ctx, const ProtobufCMessage *result);

/* Flush stdout; after a write error on it (a full disk, a closed pipe)
 * print "write error on stdout" and return CLI_EXIT_REFUSED, else
 * CLI_EXIT_OK. Output that is lost must not end in exit code 0. */
int cli_stdout_status(void);

/* The generic run of a command: one call (or one per page with --all)
 * and cli_output. Returns the exit code. */
int cli_run_generic(cli_ctx_t *ctx);

/* Read a whole file (at most max bytes) into a malloc'd, NUL-terminated
 * buffer. Returns an exit code (CLI_EXIT_USAGE with a message naming the
 * file). */
int cli_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Whether stderr is a terminal (progress displays). */
bool cli_stderr_is_tty(void);

#endif
