/* config_test: defaults, the `key = value` file, RAPPORT_<KEY> variables,
 * flag overrides and their precedence, derived endpoints, and the example
 * file deploy/rapport.conf.example (it must parse and document every key). */
#include "test.h"

#include <ctype.h>

#include "config.h"

#ifndef RAPPORT_SOURCE_DIR
#error "RAPPORT_SOURCE_DIR must name the source tree (tests/unit/CMakeLists.txt)"
#endif

/* RAPPORT_<KEY> of key i into buf. */
static void s_env_name(size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "RAPPORT_%s", config_key_name(i));
    for (char *p = buf; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

/* Cases must not see the caller's RAPPORT_* settings. */
static void s_clean_env(void)
{
    for (size_t i = 0; i < config_key_count(); i++) {
        char var[128];
        s_env_name(i, var, sizeof(var));
        unsetenv(var);
    }
    unsetenv("RAPPORT_CONFIG");
}

static void s_write(const char *name, const char *text, char *path, size_t size)
{
    FILE *f;

    test_path(path, size, name);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ_U64(fwrite(text, 1, strlen(text), f), strlen(text));
    ASSERT_TRUE(fclose(f) == 0);
}

static rp_err s_load(config_t *cfg, const char *text, char *err, size_t errlen)
{
    return config_load_buffer(cfg, "test.conf", text, strlen(text), err, errlen);
}

static void s_defaults(void)
{
    config_t cfg;

    memset(&cfg, 0x55, sizeof(cfg));
    config_defaults(&cfg);
    ASSERT_EQ_STR(cfg.run_dir, "./var/run");
    ASSERT_EQ_STR(cfg.state_dir, "./var/lib");
    ASSERT_EQ_STR(cfg.log_level, "info");
    ASSERT_EQ_STR(cfg.interaction_endpoint, "");
    ASSERT_EQ_STR(cfg.segment_endpoint, "");
    ASSERT_EQ_STR(cfg.logwriter_endpoint, "");
    ASSERT_EQ_STR(cfg.events_endpoint, "");
    ASSERT_EQ_INT(cfg.sndhwm, 100000);
    ASSERT_EQ_INT(cfg.rcvhwm, 100000);
    ASSERT_EQ_INT(cfg.max_msg_size, 4 * 1024 * 1024);
    ASSERT_EQ_INT(cfg.request_timeout_ms, 10000);
    ASSERT_EQ_INT(cfg.batch_max, 512);
    ASSERT_TRUE(cfg.group_commit);
    ASSERT_EQ_INT(cfg.log_batch_entries, 4096);
    ASSERT_EQ_INT(cfg.log_credit, 16);
    ASSERT_EQ_INT(cfg.map_size, 1024LL * 1024 * 1024);
    ASSERT_EQ_INT(cfg.event_retention_days, 7);
    ASSERT_EQ_INT(cfg.dedup_retention_days, 7);
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_FULL);
    ASSERT_EQ_STR(cfg.curve_secret_key_file, "");
    ASSERT_EQ_STR(cfg.curve_server_key_dir, "");
    ASSERT_EQ_STR(cfg.curve_client_keys_dir, "");
    ASSERT_EQ_STR(cfg.curve_client_secret_key_file, "");
}

static void s_key_table(void)
{
    size_t n = config_key_count();

    ASSERT_TRUE(n >= 23); /* the keys of config_t */
    for (size_t i = 0; i < n; i++) {
        const char *name = config_key_name(i), *help = config_key_help(i);
        ASSERT_NOT_NULL(name);
        ASSERT_NOT_NULL(help);
        ASSERT_TRUE(strlen(help) > 10);
        for (const char *p = name; *p; p++)
            ASSERT_TRUE(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_');
        for (size_t j = i + 1; j < n; j++)
            ASSERT_TRUE(strcmp(name, config_key_name(j)) != 0);
    }
    ASSERT_TRUE(config_key_name(n) == NULL);
    ASSERT_TRUE(config_key_help(n) == NULL);
}

static void s_file_parse(void)
{
    config_t cfg;
    char path[600], err[512] = "";
    const char *text = "# rapport test configuration\n"
                       "\n"
                       "   ; another comment style\n"
                       "run_dir = /tmp/r\n"
                       "state_dir=\"/var/lib/rapport with space\"\n"
                       "  log_level   =   debug   \n"
                       "sndhwm = 2K\r\n"
                       "rcvhwm = 3\n"
                       "max_msg_size = 8M\n"
                       "map_size = 2G\n"
                       "group_commit = off\n"
                       "sync_mode = nometasync\n"
                       "logwriter_endpoint = tcp://127.0.0.1:5555\n"
                       "curve_secret_key_file = \"\"\n"
                       "\t# indented comment\n"
                       "event_retention_days = 30"; /* no final newline */

    config_defaults(&cfg);
    s_write("rapport.conf", text, path, sizeof(path));
    ASSERT_OK(config_load_file(&cfg, path, err, sizeof(err)));
    ASSERT_EQ_STR(cfg.run_dir, "/tmp/r");
    ASSERT_EQ_STR(cfg.state_dir, "/var/lib/rapport with space");
    ASSERT_EQ_STR(cfg.log_level, "debug");
    ASSERT_EQ_INT(cfg.sndhwm, 2048);
    ASSERT_EQ_INT(cfg.rcvhwm, 3);
    ASSERT_EQ_INT(cfg.max_msg_size, 8 * 1024 * 1024);
    ASSERT_EQ_INT(cfg.map_size, 2LL * 1024 * 1024 * 1024);
    ASSERT_FALSE(cfg.group_commit);
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_NOMETA);
    ASSERT_EQ_STR(cfg.logwriter_endpoint, "tcp://127.0.0.1:5555");
    ASSERT_EQ_STR(cfg.curve_secret_key_file, "");
    ASSERT_EQ_INT(cfg.event_retention_days, 30);
    /* untouched keys keep their defaults */
    ASSERT_EQ_INT(cfg.batch_max, 512);

    /* bools and sync modes in every spelling */
    static const char *const yes[] = {"true", "yes", "1", "on"};
    static const char *const no[] = {"false", "no", "0", "off"};
    for (size_t i = 0; i < 4; i++) {
        ASSERT_OK(config_set(&cfg, "group_commit", yes[i], err, sizeof(err)));
        ASSERT_TRUE(cfg.group_commit);
        ASSERT_OK(config_set(&cfg, "group_commit", no[i], err, sizeof(err)));
        ASSERT_FALSE(cfg.group_commit);
    }
    ASSERT_OK(config_set(&cfg, "sync_mode", "nosync", err, sizeof(err)));
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_NONE);
    ASSERT_OK(config_set(&cfg, "sync_mode", "full", err, sizeof(err)));
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_FULL);
    ASSERT_OK(config_set(&cfg, "max_msg_size", "1024", err, sizeof(err))); /* lower bound */
    ASSERT_EQ_INT(cfg.max_msg_size, 1024);
    ASSERT_OK(config_set(&cfg, "sndhwm", "10000000", err, sizeof(err))); /* upper bound */
    ASSERT_EQ_INT(cfg.sndhwm, 10000000);
}

static void s_empty_file(void)
{
    config_t cfg, def;
    char path[600], err[256];

    config_defaults(&cfg);
    config_defaults(&def);
    s_write("empty.conf", "", path, sizeof(path));
    ASSERT_OK(config_load_file(&cfg, path, err, sizeof(err)));
    ASSERT_TRUE(memcmp(&cfg, &def, sizeof(cfg)) == 0);
    ASSERT_OK(s_load(&cfg, "\n\n# only comments\n", err, sizeof(err)));
    ASSERT_TRUE(memcmp(&cfg, &def, sizeof(cfg)) == 0);
}

static void s_unknown_key_names_file_line(void)
{
    config_t cfg;
    char path[600], err[512] = "", want[700];

    config_defaults(&cfg);
    s_write("bad.conf", "# comment\nrun_dir = /x\nbogus_key = 1\n", path, sizeof(path));
    ASSERT_ERR(config_load_file(&cfg, path, err, sizeof(err)), RP_ECONFIG);
    snprintf(want, sizeof(want), "%s:3:", path);
    ASSERT_CONTAINS(err, want);
    ASSERT_CONTAINS(err, "bogus_key");
    ASSERT_CONTAINS(err, "unknown");

    /* keys are case-sensitive */
    ASSERT_ERR(s_load(&cfg, "RUN_DIR = /x\n", err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "test.conf:1:");
    ASSERT_CONTAINS(err, "RUN_DIR");
    /* a line without '=' */
    ASSERT_ERR(s_load(&cfg, "\n\nrun_dir /x\n", err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "test.conf:3:");
    ASSERT_CONTAINS(err, "key = value");
    /* an empty key */
    ASSERT_ERR(s_load(&cfg, "= 5\n", err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "test.conf:1:");
}

static void s_bad_values(void)
{
    static const struct {
        const char *line;
        const char *key;
    } bad[] = {
        {"sndhwm = abc", "sndhwm"},
        {"sndhwm = 12abc", "sndhwm"},
        {"sndhwm = ", "sndhwm"},
        {"sndhwm = 0", "sndhwm"},
        {"sndhwm = -5", "sndhwm"},
        {"sndhwm = 10000001", "sndhwm"},
        {"sndhwm = 1.5", "sndhwm"},
        {"sndhwm = 0x10", "sndhwm"},
        {"max_msg_size = 1023", "max_msg_size"},
        {"max_msg_size = 1T", "max_msg_size"},
        {"map_size = 99999999999999999999", "map_size"},
        {"map_size = 9223372036854775807G", "map_size"},
        {"log_credit = \" 5\"", "log_credit"},
        {"group_commit = maybe", "group_commit"},
        {"group_commit = TRUE", "group_commit"},
        {"group_commit = ", "group_commit"},
        {"sync_mode = fast", "sync_mode"},
        {"sync_mode = FULL", "sync_mode"},
        {"log_level = verbose", "log_level"},
        {"log_level = ", "log_level"},
    };
    config_t cfg, def;
    char err[512];

    config_defaults(&def);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        rp_err rc;
        config_defaults(&cfg);
        snprintf(text, sizeof(text), "# x\n%s\n", bad[i].line);
        err[0] = '\0';
        rc = s_load(&cfg, text, err, sizeof(err));
        if (rc != RP_ECONFIG)
            FAIL("'%s' gave RP_%s, expected RP_ECONFIG", bad[i].line, rp_err_name(rc));
        ASSERT_CONTAINS(err, "test.conf:2:");
        ASSERT_CONTAINS(err, bad[i].key);
        ASSERT_CONTAINS(err, "bad value");
        /* a refused value changes nothing */
        ASSERT_TRUE(memcmp(&cfg, &def, sizeof(cfg)) == 0);
    }
}

static void s_long_values_and_lines(void)
{
    config_t cfg;
    char err[512], *text;
    size_t n;

    /* a string value that does not fit its buffer */
    text = malloc(CONFIG_PATH_MAX + 64);
    ASSERT_NOT_NULL(text);
    n = (size_t)snprintf(text, 32, "run_dir = ");
    memset(text + n, 'a', CONFIG_PATH_MAX);
    text[n + CONFIG_PATH_MAX] = '\0';
    config_defaults(&cfg);
    ASSERT_ERR(s_load(&cfg, text, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "run_dir");
    ASSERT_CONTAINS(err, "too long");
    ASSERT_EQ_STR(cfg.run_dir, "./var/run");
    /* the longest that fits */
    text[n + CONFIG_PATH_MAX - 1] = '\0';
    ASSERT_OK(s_load(&cfg, text, err, sizeof(err)));
    ASSERT_EQ_U64(strlen(cfg.run_dir), CONFIG_PATH_MAX - 1);
    free(text);

    /* a line longer than the parser's line buffer */
    text = malloc(10000);
    ASSERT_NOT_NULL(text);
    memset(text, '#', 9999);
    text[9999] = '\0';
    ASSERT_ERR(s_load(&cfg, text, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "test.conf:1:");
    free(text);

    /* a NUL byte inside a line */
    ASSERT_ERR(config_load_buffer(&cfg, "nul.conf", "run_dir = /a\0b\n", 15, err, sizeof(err)),
               RP_ECONFIG);
    ASSERT_CONTAINS(err, "nul.conf:1:");
}

static void s_missing_file(void)
{
    config_t cfg;
    char path[600], err[512];

    s_clean_env();
    config_defaults(&cfg);
    test_path(path, sizeof(path), "nope.conf");
    ASSERT_ERR(config_load_file(&cfg, path, err, sizeof(err)), RP_ENOTFOUND);
    ASSERT_CONTAINS(err, "nope.conf");
    /* an explicitly named file must exist */
    ASSERT_ERR(config_load_all(&cfg, path, NULL, 0, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "nope.conf");
    /* so must one named by RAPPORT_CONFIG */
    ASSERT_TRUE(setenv("RAPPORT_CONFIG", path, 1) == 0);
    ASSERT_ERR(config_load_all(&cfg, NULL, NULL, 0, err, sizeof(err)), RP_ECONFIG);
    /* a directory is not a configuration file */
    ASSERT_TRUE(config_load_file(&cfg, test_tmpdir(), err, sizeof(err)) != RP_OK);
}

static void s_env_override(void)
{
    config_t cfg;
    char err[512] = "";

    s_clean_env();
    config_defaults(&cfg);
    ASSERT_TRUE(setenv("RAPPORT_SNDHWM", "42", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_RUN_DIR", "/run/rapport", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_SYNC_MODE", "nosync", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_GROUP_COMMIT", "no", 1) == 0);
    /* not configuration keys: ignored */
    ASSERT_TRUE(setenv("RAPPORT_TODAY", "2024-01-01", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_NO_SUCH_KEY", "x", 1) == 0);
    /* lower-case names are not ours */
    ASSERT_TRUE(setenv("RAPPORT_rcvhwm", "7", 1) == 0);
    ASSERT_OK(config_load_env(&cfg, err, sizeof(err)));
    ASSERT_EQ_INT(cfg.sndhwm, 42);
    ASSERT_EQ_STR(cfg.run_dir, "/run/rapport");
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_NONE);
    ASSERT_FALSE(cfg.group_commit);
    ASSERT_EQ_INT(cfg.rcvhwm, 100000);

    /* every key has its variable: it is read (a string key takes the
     * value, any other refuses it naming the variable) */
    s_clean_env();
    for (size_t i = 0; i < config_key_count(); i++) {
        char var[128];
        config_t c2, def;
        s_env_name(i, var, sizeof(var));
        config_defaults(&c2);
        config_defaults(&def);
        ASSERT_TRUE(setenv(var, "zzz-not-valid-for-numbers", 1) == 0);
        rp_err rc = config_load_env(&c2, err, sizeof(err));
        unsetenv(var);
        if (rc == RP_OK) {
            ASSERT_TRUE(memcmp(&c2, &def, sizeof(c2)) != 0);
        } else {
            ASSERT_ERR(rc, RP_ECONFIG);
            ASSERT_CONTAINS(err, var);
            ASSERT_CONTAINS(err, config_key_name(i));
        }
    }

    /* a bad value names the variable */
    ASSERT_TRUE(setenv("RAPPORT_BATCH_MAX", "lots", 1) == 0);
    ASSERT_ERR(config_load_env(&cfg, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "RAPPORT_BATCH_MAX");
    ASSERT_CONTAINS(err, "lots");
}

static void s_flag_override(void)
{
    config_t cfg;
    char err[512];

    config_defaults(&cfg);
    ASSERT_OK(config_set(&cfg, "batch_max", "9", err, sizeof(err)));
    ASSERT_EQ_INT(cfg.batch_max, 9);
    ASSERT_ERR(config_set(&cfg, "batch_max", "0", err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "--batch-max");
    ASSERT_EQ_INT(cfg.batch_max, 9);
    ASSERT_ERR(config_set(&cfg, "no_such_key", "1", err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "no_such_key");
    /* errbuf may be omitted */
    ASSERT_ERR(config_set(&cfg, "no_such_key", "1", NULL, 0), RP_ECONFIG);
}

/* flags > environment > file > defaults */
static void s_precedence(void)
{
    config_t cfg;
    char path[600], err[512] = "";
    const char *flags[] = {"batch_max=3", "run_dir=/flag/run"};

    s_clean_env();
    s_write("p.conf",
            "sndhwm = 1\nrcvhwm = 1\nbatch_max = 1\nrun_dir = /file/run\nlog_level = warning\n",
            path, sizeof(path));
    ASSERT_TRUE(setenv("RAPPORT_RCVHWM", "2", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_BATCH_MAX", "2", 1) == 0);
    ASSERT_TRUE(setenv("RAPPORT_RUN_DIR", "/env/run", 1) == 0);
    ASSERT_OK(config_load_all(&cfg, path, flags, 2, err, sizeof(err)));
    ASSERT_EQ_STR(err, "");
    ASSERT_EQ_INT(cfg.sndhwm, 1);    /* file */
    ASSERT_EQ_INT(cfg.rcvhwm, 2);    /* env over file */
    ASSERT_EQ_INT(cfg.batch_max, 3); /* flag over env over file */
    ASSERT_EQ_STR(cfg.run_dir, "/flag/run");
    ASSERT_EQ_STR(cfg.log_level, "warning");
    ASSERT_EQ_INT(cfg.request_timeout_ms, 10000); /* default */
    /* finalize ran: endpoints follow the winning run_dir */
    ASSERT_EQ_STR(cfg.interaction_endpoint, "ipc:///flag/run/interaction.sock");

    /* a bad flag or a malformed override fails the whole load */
    const char *bad_flag[] = {"batch_max=none"};
    ASSERT_ERR(config_load_all(&cfg, path, bad_flag, 1, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "batch-max");
    const char *no_eq[] = {"batch_max"};
    ASSERT_ERR(config_load_all(&cfg, path, no_eq, 1, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "batch_max");
    /* a bad environment value too, naming the variable */
    ASSERT_TRUE(setenv("RAPPORT_RCVHWM", "-1", 1) == 0);
    ASSERT_ERR(config_load_all(&cfg, path, NULL, 0, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "RAPPORT_RCVHWM");
}

static void s_rapport_config_env(void)
{
    config_t cfg;
    char a[600], b[600], err[512];

    s_clean_env();
    s_write("a.conf", "batch_max = 11\n", a, sizeof(a));
    s_write("b.conf", "batch_max = 22\n", b, sizeof(b));
    ASSERT_TRUE(setenv("RAPPORT_CONFIG", a, 1) == 0);
    ASSERT_OK(config_load_all(&cfg, NULL, NULL, 0, err, sizeof(err)));
    ASSERT_EQ_INT(cfg.batch_max, 11);
    ASSERT_OK(config_load_all(&cfg, "", NULL, 0, err, sizeof(err)));
    ASSERT_EQ_INT(cfg.batch_max, 11);
    /* an explicit path (--config) wins over RAPPORT_CONFIG */
    ASSERT_OK(config_load_all(&cfg, b, NULL, 0, err, sizeof(err)));
    ASSERT_EQ_INT(cfg.batch_max, 22);
    /* a bad file named by RAPPORT_CONFIG is reported with its name */
    s_write("c.conf", "batch_max = many\n", b, sizeof(b));
    ASSERT_TRUE(setenv("RAPPORT_CONFIG", b, 1) == 0);
    ASSERT_ERR(config_load_all(&cfg, NULL, NULL, 0, err, sizeof(err)), RP_ECONFIG);
    ASSERT_CONTAINS(err, "c.conf:1:");
}

static void s_finalize_endpoints(void)
{
    config_t cfg;
    char err[256];

    config_defaults(&cfg);
    config_finalize(&cfg);
    ASSERT_EQ_STR(cfg.interaction_endpoint, "ipc://./var/run/interaction.sock");
    ASSERT_EQ_STR(cfg.segment_endpoint, "ipc://./var/run/segment.sock");
    ASSERT_EQ_STR(cfg.logwriter_endpoint, "ipc://./var/run/logwriter.sock");
    ASSERT_EQ_STR(cfg.events_endpoint, "ipc://./var/run/events.sock");

    config_defaults(&cfg);
    ASSERT_OK(config_set(&cfg, "run_dir", "/run/rapport", err, sizeof(err)));
    ASSERT_OK(config_set(&cfg, "segment_endpoint", "tcp://10.0.0.2:7001", err, sizeof(err)));
    config_finalize(&cfg);
    ASSERT_EQ_STR(cfg.interaction_endpoint, "ipc:///run/rapport/interaction.sock");
    ASSERT_EQ_STR(cfg.segment_endpoint, "tcp://10.0.0.2:7001"); /* given: kept */
    ASSERT_EQ_STR(cfg.logwriter_endpoint, "ipc:///run/rapport/logwriter.sock");
    ASSERT_EQ_STR(cfg.events_endpoint, "ipc:///run/rapport/events.sock");
    /* idempotent */
    config_finalize(&cfg);
    ASSERT_EQ_STR(cfg.interaction_endpoint, "ipc:///run/rapport/interaction.sock");

    /* a run_dir too long for an endpoint leaves it empty, not cut */
    config_defaults(&cfg);
    memset(cfg.run_dir, 'd', CONFIG_PATH_MAX - 1);
    cfg.run_dir[CONFIG_PATH_MAX - 1] = '\0';
    config_finalize(&cfg);
    ASSERT_EQ_STR(cfg.interaction_endpoint, "");
}

/* Whether `text` has a line "<key> =" or "# <key> =" (a documented key). */
static bool s_mentions_key(const char *text, const char *key)
{
    size_t klen = strlen(key);
    const char *line = text;

    while (line && *line) {
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '#' || *p == ';')
            p++;
        if (strncmp(p, key, klen) == 0) {
            p += klen;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '=')
                return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

static void s_example_file(void)
{
    const char *path = RAPPORT_SOURCE_DIR "/deploy/rapport.conf.example";
    config_t cfg, def;
    char err[512] = "", *text, *uncommented, *w;
    FILE *f;
    long size;

    s_clean_env();
    config_defaults(&cfg);
    ASSERT_OK(config_load_file(&cfg, path, err, sizeof(err)));
    /* as shipped it changes nothing: every value is the default */
    config_defaults(&def);
    ASSERT_TRUE(memcmp(&cfg, &def, sizeof(cfg)) == 0);

    f = fopen(path, "r");
    ASSERT_NOT_NULL(f);
    ASSERT_TRUE(fseek(f, 0, SEEK_END) == 0);
    size = ftell(f);
    ASSERT_TRUE(size > 0 && size < 1024 * 1024);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    ASSERT_NOT_NULL(text);
    ASSERT_EQ_U64(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    for (size_t i = 0; i < config_key_count(); i++)
        if (!s_mentions_key(text, config_key_name(i)))
            FAIL("%s does not document the key '%s'", path, config_key_name(i));
    ASSERT_CONTAINS(text, "/etc/rapport/rapport.conf");
    ASSERT_CONTAINS(text, "RAPPORT_");

    /* Uncommenting every "# key = value" line still parses, and still
     * gives the defaults: the documented values are the real ones. */
    uncommented = calloc(1, (size_t)size + 1);
    ASSERT_NOT_NULL(uncommented);
    w = uncommented;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n'), *p = line;
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        bool is_setting = false;
        if (*p == '#') {
            p++;
            while (*p == ' ')
                p++;
            for (size_t i = 0; i < config_key_count(); i++) {
                const char *k = config_key_name(i);
                size_t kl = strlen(k);
                const char *q = p + kl;
                if (strncmp(p, k, kl) != 0)
                    continue;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (*q == '=')
                    is_setting = true;
            }
        }
        if (is_setting) {
            len -= (size_t)(p - line);
            memcpy(w, p, len);
        } else {
            memcpy(w, line, len);
        }
        w += len;
        line += end ? (size_t)(end - line) + 1 : strlen(line);
    }
    *w = '\0';
    config_defaults(&cfg);
    ASSERT_OK(config_load_buffer(&cfg, "uncommented example", uncommented, strlen(uncommented), err,
                                 sizeof(err)));
    ASSERT_TRUE(memcmp(&cfg, &def, sizeof(cfg)) == 0);
    free(uncommented);
    free(text);
}

static const test_case_t s_cases[] = {
    {"defaults", s_defaults},
    {"key_table", s_key_table},
    {"file_parse", s_file_parse},
    {"empty_file", s_empty_file},
    {"unknown_key_names_file_line", s_unknown_key_names_file_line},
    {"bad_values", s_bad_values},
    {"long_values_and_lines", s_long_values_and_lines},
    {"missing_file", s_missing_file},
    {"env_override", s_env_override},
    {"flag_override", s_flag_override},
    {"precedence", s_precedence},
    {"rapport_config_env", s_rapport_config_env},
    {"finalize_endpoints", s_finalize_endpoints},
    {"example_file", s_example_file},
};

TEST_MAIN(s_cases)
