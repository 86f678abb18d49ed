/* key_cmds: `rapport keygen`, CURVE key pairs for tcp endpoints.
 *
 * Writes NAME.key (the secret key, mode 0600) and NAME.pub (the public
 * key) in auth.h's formats, and prints the public key. With --role (and
 * --user, --relay) NAME.pub is also an authorized key, ready for a worker's
 * curve_client_keys_dir. DIR is created (mode 0700) when missing; nothing
 * is overwritten. No worker is contacted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "cli.h"
#include "json.h"

static const cli_opt_t s_keygen_opts[] = {
    {.name = "--dir", .local = CLI_LOCAL_KEY_DIR},
    {.name = "--role", .local = CLI_LOCAL_ROLE},
    {.name = "--relay", .local = CLI_LOCAL_RELAY, .requires = "--role"},
    {0},
};

static int s_keygen(cli_ctx_t *ctx)
{
    const char *name = ctx->local[CLI_LOCAL_FILE];
    const char *dir = ctx->local[CLI_LOCAL_KEY_DIR] ? ctx->local[CLI_LOCAL_KEY_DIR] : ".";
    const char *role = ctx->local[CLI_LOCAL_ROLE];
    auth_client_t client;
    auth_keypair_t kp;
    char err[CONFIG_PATH_MAX + 128];
    rp_err rc;

    memset(&client, 0, sizeof(client));
    if (role) {
        if (!auth_role_valid(role))
            return cli_usage_error(ctx, "--role: expected reader, writer or admin, got '%s'", role);
        snprintf(client.role, sizeof(client.role), "%s", role);
        /* The user id the key stands for: --user, else the key's name. */
        if (snprintf(client.user, sizeof(client.user), "%s", ctx->user_given ? ctx->user : name) >=
            (int)sizeof(client.user))
            return cli_usage_error(ctx, "--user: at most %d characters", AUTH_USER_MAX);
        client.relay = ctx->local[CLI_LOCAL_RELAY] != NULL;
    } else if (ctx->user_given) {
        return cli_usage_error(ctx, "--user needs --role (it goes into the authorized key)");
    }
    /* A new key directory is private; an existing one is left as it is. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_warn("%s: %s", dir, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    rc = auth_keypair_new(&kp);
    if (rc != RP_OK) {
        cli_warn("cannot make a key pair: this libzmq has no CURVE support");
        return CLI_EXIT_USAGE;
    }
    rc = auth_keypair_write(dir, name, &kp, role ? &client : NULL, err, sizeof(err));
    memset(kp.secret_key, 0, sizeof(kp.secret_key));
    if (rc == RP_EINVAL)
        return cli_usage_error(ctx, "%s", err);
    if (rc != RP_OK) {
        cli_warn("%s", err);
        return CLI_EXIT_USAGE;
    }
    if (ctx->json) {
        json_writer_t w;
        char path[CONFIG_PATH_MAX + 64];

        json_writer_init(&w, stdout, false);
        json_object_begin(&w);
        json_key(&w, "name");
        json_string(&w, name);
        json_key(&w, "public_key");
        json_string(&w, kp.public_key);
        snprintf(path, sizeof(path), "%s/%s.key", dir, name);
        json_key(&w, "secret_key_file");
        json_string(&w, path);
        snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
        json_key(&w, "public_key_file");
        json_string(&w, path);
        json_key(&w, "role");
        json_string(&w, client.role);
        json_key(&w, "user");
        json_string(&w, client.user);
        json_key(&w, "relay");
        json_bool(&w, client.relay);
        json_object_end(&w);
        json_writer_end(&w);
    } else {
        printf("%s\n", kp.public_key);
    }
    return cli_stdout_status();
}

/* `rapport completion SHELL`: the completion script on stdout. */
static int s_completion(cli_ctx_t *ctx)
{
    const char *shell = ctx->local[CLI_LOCAL_FILE];

    if (!cli_completion_print(stdout, shell))
        return cli_usage_error(ctx, "SHELL: expected bash or zsh, got '%s'", shell);
    return cli_stdout_status();
}

const cli_cmd_t cli_key_cmds[] = {
    {.group = "keygen",
     .usage = "NAME [--dir DIR] [--role reader|writer|admin [--user ID] [--relay]]",
     .summary = "write a CURVE key pair for tcp endpoints: DIR/NAME.key (secret, mode 0600)\n"
                "      and DIR/NAME.pub (public; DIR, default ., is made 0700 if missing) and\n"
                "      print the public key. With --role, NAME.pub is also an authorized key\n"
                "      for a worker's curve_client_keys_dir: that role, user id ID (default\n"
                "      NAME) and, with --relay, a worker's key whose requests keep their\n"
                "      caller's user id. Existing files are never overwritten",
     .service = CLI_SVC_INTERACTION,
     .command = "stats",
     .pos = {{.name = "NAME", .local = CLI_LOCAL_FILE}},
     .opts = {s_keygen_opts},
     .run = s_keygen},
    {.group = "completion",
     .usage = "bash|zsh",
     .summary = "print the shell completion script, e.g. `source <(rapport completion bash)`\n"
                "      (the package installs both)",
     .service = CLI_SVC_INTERACTION,
     .command = "stats",
     .pos = {{.name = "SHELL", .local = CLI_LOCAL_FILE}},
     .run = s_completion},
    {0},
};
