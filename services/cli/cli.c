/* cli: the command line: the dispatch table over the command families,
 * global options, help, and argv -> request.
 *
 * Reading order: the dispatch table; the global options (one table, which
 * is also their help text); help; then argument parsing, where presets,
 * options and positionals are applied to the request's command message
 * through reflect.h by the paths in the tables before the command's
 * `prepare` hook runs. cli_main ties it together; talking to the workers
 * is cli_call.c, printing is cli_output.c. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reflect.h"
#include "wire.h"

volatile sig_atomic_t cli_stop;

#define CLI_LOCAL_RUN_DIR  "./var/run"
#define CLI_SYSTEM_RUN_DIR "/run/rapport"

/* ---- the dispatch table ----------------------------------------------- */

static const cli_cmd_t *const s_families[] = {
    cli_catalog_cmds, cli_interaction_cmds, cli_segment_cmds, cli_event_cmds,
    cli_stats_cmds,   cli_backup_cmds,      cli_promote_cmds, cli_key_cmds,
};

#define N_FAMILIES (sizeof(s_families) / sizeof(s_families[0]))

const cli_cmd_t *const *cli_command_families(size_t *ret_n)
{
    *ret_n = N_FAMILIES;
    return s_families;
}

const cli_opt_t cli_paging_opts[] = {
    {.name = "--after", .path = "after"},
    {.name = "--limit", .path = "limit"},
    {.name = "--all", .local = CLI_LOCAL_ALL},
    {0},
};

static bool s_group_exists(const char *group)
{
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const cli_cmd_t *c = s_families[f]; c->group; c++)
            if (strcmp(c->group, group) == 0)
                return true;
    return false;
}

/* The command `group name`; name NULL finds the group's own command. */
static const cli_cmd_t *s_find_cmd(const char *group, const char *name)
{
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const cli_cmd_t *c = s_families[f]; c->group; c++) {
            if (strcmp(c->group, group) != 0)
                continue;
            if (!name ? !c->name : (c->name && strcmp(c->name, name) == 0))
                return c;
        }
    return NULL;
}

/* ---- global options ---------------------------------------------------- */

/* Setters of the global options: CLI_EXIT_OK or a usage error. */
static int s_set_run_dir(cli_ctx_t *ctx, const char *v)
{
    if (!*v)
        return cli_usage_error(ctx, "--run-dir: empty directory");
    ctx->run_dir = v;
    return CLI_EXIT_OK;
}

static int s_set_config(cli_ctx_t *ctx, const char *v)
{
    ctx->config_path = v;
    return CLI_EXIT_OK;
}

static int s_set_user(cli_ctx_t *ctx, const char *v)
{
    ctx->user = v;
    ctx->user_given = true;
    return CLI_EXIT_OK;
}

static int s_set_request_id(cli_ctx_t *ctx, const char *v)
{
    if (!*v || strlen(v) > CLI_REQUEST_ID_MAX)
        return cli_usage_error(ctx, "--request-id: expected 1..%d bytes, got %zu",
                               CLI_REQUEST_ID_MAX, strlen(v));
    ctx->request_id_arg = v;
    return CLI_EXIT_OK;
}

static int s_set_timeout(cli_ctx_t *ctx, const char *v)
{
    uint64_t ms;

    if (reflect_parse_uint(v, 86400000, &ms) != RP_OK || ms == 0)
        return cli_usage_error(ctx, "--timeout: expected milliseconds 1..86400000, got '%s'", v);
    ctx->timeout_ms = (int)ms;
    ctx->timeout_given = true;
    return CLI_EXIT_OK;
}

static int s_set_replica(cli_ctx_t *ctx, const char *v)
{
    if (!*v || strlen(v) >= CONFIG_PATH_MAX)
        return cli_usage_error(ctx, "--replica: expected an endpoint (ipc://... or tcp://...)");
    ctx->replica = v;
    return CLI_EXIT_OK;
}

static int s_set_min_seq(cli_ctx_t *ctx, const char *v)
{
    if (reflect_parse_uint(v, UINT64_MAX, &ctx->min_seq) != RP_OK)
        return cli_usage_error(ctx, "--min-seq: expected an event seq, got '%s'", v);
    return CLI_EXIT_OK;
}

static int s_set_json(cli_ctx_t *ctx, const char *v)
{
    (void)v;
    ctx->json = true;
    return CLI_EXIT_OK;
}

/* The global options, accepted before or after the command words. */
static const struct {
    const char *name;
    const char *arg; /* NULL: a flag */
    int (*set)(cli_ctx_t *ctx, const char *value);
    const char *help;
} s_globals[] = {
    {"--run-dir", "DIR", s_set_run_dir,
     "directory of the workers' ipc sockets (config run_dir, default ./var/run);\n"
     "endpoints are ipc://DIR/{interaction,segment,logwriter,events}.sock unless the\n"
     "config sets *_endpoint"},
    {"--config", "FILE", s_set_config,
     "config file (default $RAPPORT_CONFIG, else /etc/rapport/rapport.conf when it\n"
     "exists); RAPPORT_<KEY> variables override it"},
    {"--user", "ID", s_set_user, "user id recorded on the requests (default $USER, else \"cli\")"},
    {"--request-id", "ID", s_set_request_id,
     "idempotency key, 1..64 bytes (default: random). Repeating a command with the\n"
     "same ID changes nothing twice; commands that send several requests use ID-1,\n"
     "ID-2, ..."},
    {"--timeout", "MS", s_set_timeout,
     "how long to wait for an answer (default 10000; segment log 600000). The request\n"
     "is resent every MS/4 with the same request id"},
    {"--replica", "ENDPOINT", s_set_replica,
     "send the log writer's requests to this read replica (rapport-logwriter\n"
     "--replica) instead: reads are answered there, writes refused"},
    {"--min-seq", "SEQ", s_set_min_seq,
     "answer a log writer read only once it reflects event seq SEQ (a replica waits\n"
     "for it up to the --timeout, then the read fails as unavailable); `rapport\n"
     "status` shows the primary's last seq"},
    {"--json", NULL, s_set_json,
     "print exactly one JSON document on stdout (events --follow: one JSON object\n"
     "per line, NDJSON); a refusal prints {\"code\",\"message\",\"field\"} on stderr"},
    {"--help", NULL, NULL, "this text; `rapport GROUP --help` for one group of commands"},
    {"--version", NULL, NULL, "print the version and exit"},
};

#define N_GLOBALS (sizeof(s_globals) / sizeof(s_globals[0]))

const char *cli_global_option(size_t i)
{
    return i < N_GLOBALS ? s_globals[i].name : NULL;
}

typedef enum { GLOBAL_NONE, GLOBAL_DONE, GLOBAL_HELP, GLOBAL_VERSION, GLOBAL_BAD } global_rc_t;

/* Handle argv[*i] when it is a global option (consuming its value). */
static global_rc_t s_global(cli_ctx_t *ctx, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *eq = strchr(a, '='), *value = NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);

    if (strcmp(a, "-h") == 0)
        return GLOBAL_HELP;
    for (size_t k = 0; k < N_GLOBALS; k++) {
        if (strlen(s_globals[k].name) != len || strncmp(a, s_globals[k].name, len) != 0)
            continue;
        if (!s_globals[k].set)
            return strcmp(s_globals[k].name, "--version") == 0 ? GLOBAL_VERSION : GLOBAL_HELP;
        if (!s_globals[k].arg && eq) {
            cli_usage_error(ctx, "option %s takes no value", s_globals[k].name);
            return GLOBAL_BAD;
        }
        if (s_globals[k].arg) {
            if (eq) {
                value = eq + 1;
            } else if (*i + 1 < argc) {
                value = argv[++*i];
            } else {
                cli_usage_error(ctx, "option %s needs a value", s_globals[k].name);
                return GLOBAL_BAD;
            }
        }
        return s_globals[k].set(ctx, value) == CLI_EXIT_OK ? GLOBAL_DONE : GLOBAL_BAD;
    }
    return GLOBAL_NONE;
}

/* ---- help --------------------------------------------------------------- */

static void s_print_cmd(FILE *out, const cli_cmd_t *c)
{
    fprintf(out, "  rapport %s%s%s%s%s\n", c->group, c->name ? " " : "", c->name ? c->name : "",
            c->usage && *c->usage ? " " : "", c->usage ? c->usage : "");
    if (c->summary)
        fprintf(out, "      %s\n", c->summary);
}

static void s_print_indented(FILE *out, const char *text, int indent)
{
    for (const char *p = text; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%*s", indent, "");
    }
}

static void s_help_all(FILE *out)
{
    const char *last_group = NULL;

    fputs("usage: rapport [GLOBAL OPTIONS] GROUP [COMMAND] [ARGUMENTS] [OPTIONS]\n\n"
          "Records interactions with contacts and segments through the rapport workers.\n\n"
          "Global options (before or after the command):\n",
          out);
    for (size_t i = 0; i < N_GLOBALS; i++) {
        char head[40];
        snprintf(head, sizeof(head), "%s%s%s", s_globals[i].name, s_globals[i].arg ? " " : "",
                 s_globals[i].arg ? s_globals[i].arg : "");
        fprintf(out, "  %-18s ", head);
        s_print_indented(out, s_globals[i].help, 21);
        fputc('\n', out);
    }
    fputs("\nCommands:\n", out);
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const cli_cmd_t *c = s_families[f]; c->group; c++) {
            if (last_group && strcmp(last_group, c->group) != 0)
                fputc('\n', out);
            last_group = c->group;
            s_print_cmd(out, c);
        }
    fputs("\nValues: dates YYYY-MM-DD; times HH:MM[:SS]; amounts (--cost, --unit-cost) are\n"
          "decimals with at most 2 places (12.5 = 12.50); enums by name (outbound, us,\n"
          "very-positive, hard-copy, none, ...). Codes are stored upper-case.\n\n"
          "Output: without --json, records print as \"field: value\" lines (amounts as\n"
          "decimals), lists as tables, create commands print the new number. With --json,\n"
          "the reply's result: keys are the proto field names and every field is present;\n"
          "enums are lower-case names; dates \"YYYY-MM-DD\" (\"\" when blank); times\n"
          "\"HH:MM:SS\"; *_cents fields are integers in hundredths; 64-bit numbers are JSON\n"
          "numbers; bytes are text when printable, else hex.\n\n"
          "Exit codes: 0 ok; 1 the service refused (its message on stderr); 2 usage error\n"
          "(or missing CURVE keys); 3 a worker unreachable, no answer within the timeout, or\n"
          "this client's CURVE key refused.\n\n"
          "Over tcp:// endpoints the command uses CURVE: curve_client_secret_key_file and\n"
          "curve_server_key_dir in the config (see rapport keygen).\n",
          out);
}

static void s_help_group(FILE *out, const char *group)
{
    fprintf(out, "usage: rapport [GLOBAL OPTIONS] %s ...\n\n", group);
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const cli_cmd_t *c = s_families[f]; c->group; c++)
            if (strcmp(c->group, group) == 0)
                s_print_cmd(out, c);
    fputs("\nGlobal options and exit codes: rapport --help\n", out);
}

/* The first line of the usage only, for errors. */
static void s_usage_short(FILE *out, const cli_cmd_t *c)
{
    const char *usage = c->usage ? c->usage : "", *nl = strchr(usage, '\n');
    int len = nl ? (int)(nl - usage) : (int)strlen(usage);

    fprintf(out, "usage: rapport %s%s%s%s%.*s%s\n", c->group, c->name ? " " : "",
            c->name ? c->name : "", len ? " " : "", len, usage, nl ? " ..." : "");
    if (nl)
        fprintf(out, "(all options: rapport %s%s%s --help)\n", c->group, c->name ? " " : "",
                c->name ? c->name : "");
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;

    fputs("rapport: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_input_error(const char *fmt, ...)
{
    va_list ap;

    fputs("rapport: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

int cli_usage_error(const cli_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;

    fputs("rapport: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (ctx && ctx->cmd)
        s_usage_short(stderr, ctx->cmd);
    else
        fputs("usage: rapport [GLOBAL OPTIONS] GROUP [COMMAND] [ARGUMENTS]; see rapport --help\n",
              stderr);
    return CLI_EXIT_USAGE;
}

/* ---- arguments -> request ----------------------------------------------- */

static const cli_opt_t *s_find_opt(const cli_cmd_t *cmd, const char *name, size_t len)
{
    for (size_t t = 0; t < CLI_MAX_OPT_TABLES && cmd->opts[t]; t++)
        for (const cli_opt_t *o = cmd->opts[t]; o->name; o++)
            if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
                return o;
    return NULL;
}

bool cli_opt_given(const cli_ctx_t *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_opts_seen; i++)
        if (strcmp(ctx->opts_seen[i], name) == 0)
            return true;
    return false;
}

static bool s_local_takes_arg(cli_local_t local)
{
    return local == CLI_LOCAL_FILE || local == CLI_LOCAL_STATE_DIR || local == CLI_LOCAL_KEY_DIR ||
           local == CLI_LOCAL_ROLE;
}

/* Whether option o needs an argument: not with a fixed value, not for a
 * bool field (a flag). */
static bool s_opt_takes_arg(cli_ctx_t *ctx, const cli_opt_t *o)
{
    ProtobufCMessage *parent;
    const ProtobufCFieldDescriptor *fd;

    if (o->value)
        return false;
    if (!o->path)
        return s_local_takes_arg(o->local);
    if (reflect_path(ctx->arena, ctx->cmd_msg, o->path, &parent, &fd) != RP_OK)
        return true;
    return fd->type != PROTOBUF_C_TYPE_BOOL;
}

/* Set `path` (or a local) from text; `what` names the option or argument
 * in a usage error. */
static int s_apply(cli_ctx_t *ctx, const char *what, const char *path, cli_local_t local,
                   const char *text)
{
    char why[320];

    if (!path) {
        ctx->local[local] = text;
        return CLI_EXIT_OK;
    }
    if (reflect_set_path(ctx->arena, ctx->cmd_msg, path, text, why, sizeof(why)) != RP_OK)
        return cli_usage_error(ctx, "%s: %s", what, why);
    return CLI_EXIT_OK;
}

static int s_apply_presets(cli_ctx_t *ctx)
{
    for (size_t i = 0; i < CLI_MAX_PRESETS && ctx->cmd->presets[i]; i++) {
        const char *p = ctx->cmd->presets[i], *eq = strchr(p, '=');
        char path[128], why[320];

        if (!eq || (size_t)(eq - p) >= sizeof(path))
            return cli_usage_error(ctx, "internal: bad preset '%s'", p);
        memcpy(path, p, (size_t)(eq - p));
        path[eq - p] = '\0';
        if (reflect_set_path(ctx->arena, ctx->cmd_msg, path, eq + 1, why, sizeof(why)) != RP_OK)
            return cli_usage_error(ctx, "internal: preset %s: %s", p, why);
    }
    return CLI_EXIT_OK;
}

static int s_apply_option(cli_ctx_t *ctx, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *eq = strchr(a, '='), *value;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    const cli_opt_t *o = s_find_opt(ctx->cmd, a, len);
    int rc;

    if (!o) {
        const char *near = cli_option_nearest(ctx->cmd, a, len);
        if (near)
            return cli_usage_error(ctx, "unknown option %.*s; did you mean %s?", (int)len, a, near);
        return cli_usage_error(ctx, "unknown option %.*s", (int)len, a);
    }
    if (s_opt_takes_arg(ctx, o)) {
        if (eq)
            value = eq + 1;
        else if (*i + 1 < argc)
            value = argv[++*i];
        else
            return cli_usage_error(ctx, "option %s needs a value", o->name);
    } else {
        if (eq)
            return cli_usage_error(ctx, "option %s takes no value", o->name);
        value = o->value ? o->value : (o->path ? "true" : "1");
    }
    rc = s_apply(ctx, o->name, o->path, o->local, value);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (!cli_opt_given(ctx, o->name) &&
        ctx->n_opts_seen < sizeof(ctx->opts_seen) / sizeof(ctx->opts_seen[0]))
        ctx->opts_seen[ctx->n_opts_seen++] = o->name;
    return CLI_EXIT_OK;
}

static int s_apply_positionals(cli_ctx_t *ctx, const char **posv, size_t npos)
{
    const cli_cmd_t *cmd = ctx->cmd;
    size_t k = 0;
    int rc;

    for (size_t p = 0; p < CLI_MAX_POS && cmd->pos[p].name; p++) {
        const cli_pos_t *ps = &cmd->pos[p];

        if (ps->flags & CLI_POS_MANY) {
            if (k >= npos && !(ps->flags & CLI_POS_OPTIONAL))
                return cli_usage_error(ctx, "missing %s", ps->name);
            for (; k < npos; k++) {
                rc = s_apply(ctx, ps->name, ps->path, ps->local, posv[k]);
                if (rc != CLI_EXIT_OK)
                    return rc;
            }
            continue;
        }
        if (k < npos) {
            rc = s_apply(ctx, ps->name, ps->path, ps->local, posv[k++]);
            if (rc != CLI_EXIT_OK)
                return rc;
        } else if (!(ps->flags & CLI_POS_OPTIONAL)) {
            return cli_usage_error(ctx, "missing %s", ps->name);
        }
    }
    if (k < npos)
        return cli_usage_error(ctx, "unexpected argument '%s'", posv[k]);
    return CLI_EXIT_OK;
}

static int s_check_options(cli_ctx_t *ctx)
{
    const cli_cmd_t *cmd = ctx->cmd;

    for (size_t t = 0; t < CLI_MAX_OPT_TABLES && cmd->opts[t]; t++)
        for (const cli_opt_t *o = cmd->opts[t]; o->name; o++) {
            if (o->required && !cli_opt_given(ctx, o->name))
                return cli_usage_error(ctx, "missing %s", o->name);
            if (o->requires && cli_opt_given(ctx, o->name) && !cli_opt_given(ctx, o->requires))
                return cli_usage_error(ctx, "%s needs %s", o->name, o->requires);
        }
    return CLI_EXIT_OK;
}

/* Parse the command's arguments (global options may be among them) into
 * ctx->cmd_msg. *help is set for --help. */
static int s_parse_args(cli_ctx_t *ctx, int argc, char **argv, bool *help)
{
    const char **posv = wire_arena_alloc(ctx->arena, sizeof(*posv) * (size_t)(argc + 1));
    size_t npos = 0;
    bool dashdash = false;
    int rc = s_apply_presets(ctx);

    if (rc != CLI_EXIT_OK)
        return rc;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
            continue;
        }
        if (!dashdash && a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            global_rc_t g = s_global(ctx, argc, argv, &i);
            if (g == GLOBAL_BAD)
                return CLI_EXIT_USAGE;
            if (g == GLOBAL_HELP || g == GLOBAL_VERSION) {
                *help = true;
                continue;
            }
            if (g == GLOBAL_DONE)
                continue;
            rc = s_apply_option(ctx, argc, argv, &i);
            if (rc != CLI_EXIT_OK)
                return rc;
            continue;
        }
        posv[npos++] = a;
    }
    if (*help)
        return CLI_EXIT_OK;
    rc = s_apply_positionals(ctx, posv, npos);
    if (rc == CLI_EXIT_OK)
        rc = s_check_options(ctx);
    if (rc == CLI_EXIT_OK && ctx->cmd->prepare)
        rc = ctx->cmd->prepare(ctx, ctx->cmd_msg);
    return rc;
}

/* ---- files -------------------------------------------------------------- */

int cli_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 65536;
    char *buf;

    if (fd < 0)
        return cli_input_error("%s: %s", path, strerror(errno));
    buf = malloc(cap + 1);
    if (!buf)
        goto out_nomem;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *grown;
            if (cap >= max) {
                free(buf);
                if (fd != STDIN_FILENO)
                    close(fd);
                return cli_input_error("%s: larger than %zu bytes", path, max);
            }
            cap = cap * 2 > max ? max : cap * 2;
            grown = realloc(buf, cap + 1);
            if (!grown)
                goto out_nomem;
            buf = grown;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            if (fd != STDIN_FILENO)
                close(fd);
            return cli_input_error("%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    return CLI_EXIT_OK;

out_nomem:
    free(buf);
    if (fd != STDIN_FILENO)
        close(fd);
    cli_warn("%s: out of memory", path);
    return CLI_EXIT_USAGE;
}

bool cli_stderr_is_tty(void)
{
    return isatty(STDERR_FILENO) == 1;
}

/* ---- main --------------------------------------------------------------- */

static int s_setup(cli_ctx_t *ctx)
{
    char err[CONFIG_PATH_MAX + 200], override[CONFIG_PATH_MAX + 16];
    const char *overrides[1];
    size_t n_overrides = 0;

    if (ctx->run_dir) {
        if (strlen(ctx->run_dir) >= CONFIG_PATH_MAX)
            return cli_usage_error(ctx, "--run-dir: path too long");
        snprintf(override, sizeof(override), "run_dir=%s", ctx->run_dir);
        overrides[n_overrides++] = override;
    }
    if (config_load_all(&ctx->cfg, ctx->config_path, overrides, n_overrides, err, sizeof(err)) !=
        RP_OK) {
        cli_warn("%s", err);
        return CLI_EXIT_USAGE;
    }
    /* An installed package serves in /run/rapport: use it when the local
     * default does not exist and nothing named another directory. */
    if (!ctx->run_dir && strcmp(ctx->cfg.run_dir, CLI_LOCAL_RUN_DIR) == 0 &&
        access(CLI_LOCAL_RUN_DIR, F_OK) != 0 && access(CLI_SYSTEM_RUN_DIR, F_OK) == 0) {
        snprintf(override, sizeof(override), "run_dir=%s", CLI_SYSTEM_RUN_DIR);
        overrides[0] = override;
        n_overrides = 1;
        if (config_load_all(&ctx->cfg, ctx->config_path, overrides, 1, err, sizeof(err)) != RP_OK) {
            cli_warn("%s", err);
            return CLI_EXIT_USAGE;
        }
    }
    if (!ctx->timeout_given && ctx->cmd->timeout_ms)
        ctx->timeout_ms = ctx->cmd->timeout_ms;
    /* librapport reads the same file, environment and overrides; with
     * --replica the log writer's requests go to the replica. */
    {
        char replica[CONFIG_PATH_MAX + 32];
        const char *settings[3] = {NULL, NULL, NULL};
        size_t n_settings = 0;
        rapport_options o = {.config_path = ctx->config_path, .timeout_ms = ctx->timeout_ms};
        rapport_error e;

        if (n_overrides)
            settings[n_settings++] = overrides[0];
        if (ctx->replica) {
            snprintf(ctx->cfg.logwriter_endpoint, sizeof(ctx->cfg.logwriter_endpoint), "%s",
                     ctx->replica);
            snprintf(replica, sizeof(replica), "logwriter_endpoint=%s", ctx->replica);
            settings[n_settings++] = replica;
        }
        o.settings = settings;
        if (rapport_client_new(&o, &ctx->client, &e) != 0) {
            cli_warn("%s", e.message);
            return e.source == RAPPORT_ERR_CONFIG ? CLI_EXIT_USAGE : CLI_EXIT_UNREACHABLE;
        }
    }
    return CLI_EXIT_OK;
}

/* "unknown command 'segmnet'; did you mean 'segment'?": the closest group
 * (or, with `group`, command of that group) by edit distance. */
static int s_unknown(cli_ctx_t *ctx, const char *prefix, const char *word, const char *group)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const cli_cmd_t *c = s_families[f]; c->group; c++) {
            const char *cand = group ? c->name : c->group;
            size_t d;
            if (!cand || (group && strcmp(c->group, group) != 0))
                continue;
            d = cli_edit_distance(word, cand);
            if (d < best_d) {
                best_d = d;
                best = cand;
            }
        }
    if (best && best_d <= 2 && best_d < strlen(word))
        cli_warn("%sunknown command '%s'; did you mean '%s'?", prefix, word, best);
    else
        cli_warn("%sunknown command '%s'", prefix, word);
    (void)ctx;
    if (group)
        return CLI_EXIT_USAGE; /* the caller prints the group's help */
    fputs("usage: rapport [GLOBAL OPTIONS] GROUP [COMMAND] [ARGUMENTS]; see rapport --help\n",
          stderr);
    return CLI_EXIT_USAGE;
}

int cli_main(int argc, char **argv)
{
    cli_ctx_t ctx;
    const char *group;
    bool help = false;
    int i = 1, rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
    ctx.user = getenv("USER");
    if (!ctx.user || !*ctx.user)
        ctx.user = "cli";
    /* Global options before the command words. */
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
        global_rc_t g = s_global(&ctx, argc, argv, &i);
        if (g == GLOBAL_BAD)
            return CLI_EXIT_USAGE;
        if (g == GLOBAL_VERSION) {
            printf("rapport %s\n", RAPPORT_VERSION);
            return cli_stdout_status();
        }
        if (g == GLOBAL_NONE)
            return cli_usage_error(&ctx, "unknown global option %s", argv[i]);
        if (g == GLOBAL_HELP)
            help = true;
        i++;
    }
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc || strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc && s_group_exists(argv[i + 1])) {
            s_help_group(stdout, argv[i + 1]);
            return cli_stdout_status();
        }
        if (!help && i >= argc)
            return cli_usage_error(&ctx, "missing command");
        s_help_all(stdout);
        return cli_stdout_status();
    }
    group = argv[i++];
    if (!s_group_exists(group))
        return s_unknown(&ctx, "", group, NULL);
    if (help) {
        s_help_group(stdout, group);
        return cli_stdout_status();
    }
    if (i < argc && s_find_cmd(group, argv[i]))
        ctx.cmd = s_find_cmd(group, argv[i++]);
    else if (s_find_cmd(group, NULL) &&
             !(i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)))
        ctx.cmd = s_find_cmd(group, NULL);
    if (!ctx.cmd) {
        if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            s_help_group(stdout, group);
            return cli_stdout_status();
        }
        if (i < argc) {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "%s: ", group);
            s_unknown(&ctx, prefix, argv[i], group);
        } else {
            cli_warn("%s: missing command", group);
        }
        s_help_group(stderr, group);
        return CLI_EXIT_USAGE;
    }

    ctx.arena = wire_arena_new();
    if (!ctx.arena) {
        cli_warn("out of memory");
        return CLI_EXIT_USAGE;
    }
    ctx.req = cli_request_new(&ctx, ctx.cmd->service, ctx.cmd->command, "-", &ctx.cmd_msg);
    rc = s_parse_args(&ctx, argc - i, argv + i, &help);
    if (rc != CLI_EXIT_OK)
        goto out_destroy_arena;
    if (help) {
        fputs("usage:\n", stdout);
        s_print_cmd(stdout, ctx.cmd);
        fputs("\nGlobal options and exit codes: rapport --help\n", stdout);
        rc = cli_stdout_status();
        goto out_destroy_arena;
    }
    if (ctx.request_id_arg)
        snprintf(ctx.request_id, sizeof(ctx.request_id), "%s", ctx.request_id_arg);
    else
        rapport_new_request_id(ctx.request_id);
    cli_request_renumber(&ctx, ctx.req, 0);

    rc = s_setup(&ctx);
    if (rc == CLI_EXIT_OK)
        rc = ctx.cmd->run ? ctx.cmd->run(&ctx) : cli_run_generic(&ctx);
    rapport_client_destroy(&ctx.client);
out_destroy_arena:
    wire_arena_destroy(&ctx.arena);
    return rc;
}
