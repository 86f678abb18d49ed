/* daemon_test: the systemd notify protocol (a datagram to $NOTIFY_SOCKET,
 * path or abstract), the watchdog (WATCHDOG_USEC / WATCHDOG_PID), signals,
 * and the worker flags of daemon_setup.
 *
 * Built twice when libsystemd is found: daemon_test uses rapport_common as
 * is (sd_notify), daemon_builtin_test compiles daemon.c without libsystemd
 * (the built-in client). Each case runs in its own process, so the
 * watchdog interval that daemon.c caches is read afresh. */
#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "clock.h"
#include "daemon.h"
#include "wire.h"

#define WAIT_MS 10000

/* Bind a datagram socket at <tmpdir>/notify.sock (or an abstract name when
 * abstract) and point NOTIFY_SOCKET at it. Returns the fd. */
static int s_notify_listener(bool abstract)
{
    struct sockaddr_un sa;
    char path[600], env[600];
    socklen_t salen;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ASSERT_TRUE(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (abstract) {
        int n = snprintf(env, sizeof(env), "@rapport-test-%ld-%ld", (long)getpid(),
                         (long)clock_mono_ns());
        ASSERT_TRUE(n > 0 && (size_t)n < sizeof(sa.sun_path));
        memcpy(sa.sun_path, env, (size_t)n);
        sa.sun_path[0] = '\0';
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n);
    } else {
        test_path(path, sizeof(path), "notify.sock");
        ASSERT_TRUE(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        salen = (socklen_t)sizeof(sa);
        snprintf(env, sizeof(env), "%s", path);
    }
    ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&sa, salen), 0);
    ASSERT_EQ_INT(setenv("NOTIFY_SOCKET", env, 1), 0);
    return fd;
}

/* Next datagram into buf (NUL-terminated); false when none came within
 * timeout_ms. */
static bool s_read_notify(int fd, char *buf, size_t size, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    n = recv(fd, buf, size - 1, 0);
    ASSERT_TRUE(n >= 0);
    buf[n] = '\0';
    return true;
}

static void s_expect_notify(int fd, const char *want)
{
    char buf[1024];
    if (!s_read_notify(fd, buf, sizeof(buf), WAIT_MS))
        FAIL("no notification within %d ms (expected \"%s\")", WAIT_MS, want);
    ASSERT_EQ_STR(buf, want);
}

static void s_expect_silence(int fd, int ms)
{
    char buf[1024];
    if (s_read_notify(fd, buf, sizeof(buf), ms))
        FAIL("unexpected notification \"%s\"", buf);
}

static void s_notify_path(void)
{
    int fd = s_notify_listener(false);

    daemon_notify("READY=1");
    s_expect_notify(fd, "READY=1");
    daemon_notify("READY=1\nSTATUS=serving on %s", "ipc://x.sock");
    s_expect_notify(fd, "READY=1\nSTATUS=serving on ipc://x.sock");
    daemon_notify("STOPPING=1");
    s_expect_notify(fd, "STOPPING=1");
    close(fd);
}

static void s_notify_abstract(void)
{
    int fd = s_notify_listener(true);

    daemon_notify("STATUS=%d requests", 7);
    s_expect_notify(fd, "STATUS=7 requests");
    close(fd);
}

static void s_notify_unset_or_bad(void)
{
    int fd = s_notify_listener(false);

    /* nothing to send to: no crash, nothing sent */
    ASSERT_EQ_INT(unsetenv("NOTIFY_SOCKET"), 0);
    daemon_notify("READY=1");
    ASSERT_EQ_INT(setenv("NOTIFY_SOCKET", "", 1), 0);
    daemon_notify("READY=1");
    ASSERT_EQ_INT(setenv("NOTIFY_SOCKET", "relative/notify.sock", 1), 0);
    daemon_notify("READY=1");
    char nobody[600];
    test_path(nobody, sizeof(nobody), "nobody.sock");
    ASSERT_EQ_INT(setenv("NOTIFY_SOCKET", nobody, 1), 0);
    daemon_notify("READY=1"); /* no listener: the error is swallowed */
    s_expect_silence(fd, 200);
    close(fd);
}

static void s_watchdog_off(void)
{
    int fd = s_notify_listener(false);

    ASSERT_EQ_INT(unsetenv("WATCHDOG_USEC"), 0);
    ASSERT_EQ_INT(daemon_poll_interval_ms(), 1000);
    daemon_watchdog();
    s_expect_silence(fd, 200);
    close(fd);
}

static void s_watchdog_bad_values(void)
{
    static const char *const bad[] = {"abc", "0", "-5", "", "12x"};

    /* every value in a process of its own: daemon.c reads it once */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pid_t pid;
        int status = 0;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            int fd = s_notify_listener(false);
            ASSERT_EQ_INT(setenv("WATCHDOG_USEC", bad[i], 1), 0);
            ASSERT_EQ_INT(daemon_poll_interval_ms(), 1000);
            daemon_watchdog();
            s_expect_silence(fd, 100);
            _exit(0);
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            FAIL("WATCHDOG_USEC=\"%s\" was not treated as off", bad[i]);
        /* the child's socket file */
        char path[600];
        test_path(path, sizeof(path), "notify.sock");
        unlink(path);
    }
}

/* The first call kicks; the next within half the interval does not. */
static void s_watchdog_kicks(void)
{
    int fd = s_notify_listener(false);
    int64_t uptime_ms = clock_mono_ms();
    /* half the interval = the monotonic clock now: the first call (last
     * kick at 0) is due, a second one right after is not */
    int64_t ivl_ms = uptime_ms * 2 > 60000 ? uptime_ms * 2 : 60000;
    char usec[32];

    if (uptime_ms < 30000)
        ivl_ms = 2 * (uptime_ms - 1); /* a just-booted machine */
    ASSERT_TRUE(ivl_ms > 1000);
    snprintf(usec, sizeof(usec), "%lld", (long long)ivl_ms * 1000);
    ASSERT_EQ_INT(setenv("WATCHDOG_USEC", usec, 1), 0);
    ASSERT_EQ_INT(daemon_poll_interval_ms(), ivl_ms / 4);
    daemon_watchdog();
    s_expect_notify(fd, "WATCHDOG=1");
    daemon_watchdog();
    daemon_watchdog();
    s_expect_silence(fd, 200);
    close(fd);
}

static void s_watchdog_half_interval(void)
{
    int fd = s_notify_listener(false);
    char buf[64];
    int kicks = 0;

    ASSERT_EQ_INT(setenv("WATCHDOG_USEC", "200000", 1), 0); /* 200 ms */
    ASSERT_EQ_INT(daemon_poll_interval_ms(), 50);
    daemon_watchdog();
    s_expect_notify(fd, "WATCHDOG=1");
    for (int i = 0; i < 3; i++) {
        test_sleep_ms(110); /* more than half the interval */
        daemon_watchdog();
    }
    while (s_read_notify(fd, buf, sizeof(buf), 500)) {
        ASSERT_EQ_STR(buf, "WATCHDOG=1");
        kicks++;
    }
    ASSERT_EQ_INT(kicks, 3);
    close(fd);
}

static void s_watchdog_pid(void)
{
    char pid[32];
    pid_t child;
    int status = 0;

    /* for another process: off */
    fflush(stdout);
    fflush(stderr);
    child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        int fd = s_notify_listener(false);
        snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
        ASSERT_EQ_INT(setenv("WATCHDOG_PID", pid, 1), 0);
        ASSERT_EQ_INT(setenv("WATCHDOG_USEC", "200000", 1), 0);
        ASSERT_EQ_INT(daemon_poll_interval_ms(), 1000);
        daemon_watchdog();
        s_expect_silence(fd, 200);
        _exit(0);
    }
    ASSERT_TRUE(waitpid(child, &status, 0) == child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* for this process: on */
    char path[600];
    test_path(path, sizeof(path), "notify.sock");
    unlink(path);
    int fd = s_notify_listener(false);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    ASSERT_EQ_INT(setenv("WATCHDOG_PID", pid, 1), 0);
    ASSERT_EQ_INT(setenv("WATCHDOG_USEC", "200000", 1), 0);
    ASSERT_EQ_INT(daemon_poll_interval_ms(), 50);
    daemon_watchdog();
    s_expect_notify(fd, "WATCHDOG=1");
    close(fd);
}

static void s_signals(void)
{
    daemon_stop = 0;
    daemon_signals();
    ASSERT_EQ_INT(raise(SIGPIPE), 0); /* ignored: writes fail instead */
    ASSERT_EQ_INT(raise(SIGXFSZ), 0);
    ASSERT_EQ_INT(daemon_stop, 0);
    ASSERT_EQ_INT(raise(SIGTERM), 0);
    ASSERT_EQ_INT(daemon_stop, 1);
    daemon_stop = 0;
    ASSERT_EQ_INT(raise(SIGINT), 0);
    ASSERT_EQ_INT(daemon_stop, 1);
}

static void s_state_path(void)
{
    config_t cfg;
    char buf[CONFIG_PATH_MAX + 64];

    config_defaults(&cfg);
    daemon_state_path(&cfg, "logwriter", buf, sizeof(buf));
    ASSERT_EQ_STR(buf, "./var/lib/logwriter");
    daemon_state_path(&cfg, "segment", buf, 8);
    ASSERT_EQ_STR(buf, "./var/l");
}

static int s_setup(const char *const *args, size_t n, config_t *cfg)
{
    char *argv[16];

    ASSERT_TRUE(n < 16);
    argv[0] = wire_str("rapport-test");
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = wire_str(args[i]);
    return daemon_setup("test", (int)n + 1, argv, cfg);
}

static void s_setup_flags(void)
{
    config_t cfg;
    char conf[600];
    FILE *f;

    /* hermetic: an empty file instead of /etc/rapport/rapport.conf */
    test_path(conf, sizeof(conf), "empty.conf");
    f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_EQ_INT(setenv("RAPPORT_CONFIG", conf, 1), 0);
    unsetenv("RAPPORT_RUN_DIR");
    unsetenv("RAPPORT_BATCH_MAX");

    const char *ok[] = {"--run-dir", "/tmp/rr", "--state-dir", "/tmp/ss", "--log-level",
                        "debug",     "--set",   "batch_max=7", "--set",   "sync_mode=nosync"};
    ASSERT_EQ_INT(s_setup(ok, 10, &cfg), -1);
    ASSERT_EQ_STR(cfg.run_dir, "/tmp/rr");
    ASSERT_EQ_STR(cfg.state_dir, "/tmp/ss");
    ASSERT_EQ_STR(cfg.log_level, "debug");
    ASSERT_EQ_INT(cfg.batch_max, 7);
    ASSERT_EQ_INT(cfg.sync_mode, CONFIG_SYNC_NONE);
    ASSERT_EQ_STR(cfg.interaction_endpoint, "ipc:///tmp/rr/interaction.sock");

    /* flags win over the environment */
    ASSERT_EQ_INT(setenv("RAPPORT_BATCH_MAX", "3", 1), 0);
    ASSERT_EQ_INT(setenv("RAPPORT_RUN_DIR", "/env", 1), 0);
    const char *env_vs_flag[] = {"--run-dir", "/flag"};
    ASSERT_EQ_INT(s_setup(env_vs_flag, 2, &cfg), -1);
    ASSERT_EQ_STR(cfg.run_dir, "/flag");
    ASSERT_EQ_INT(cfg.batch_max, 3);
    unsetenv("RAPPORT_BATCH_MAX");
    unsetenv("RAPPORT_RUN_DIR");

    /* --config */
    char conf2[600];
    test_path(conf2, sizeof(conf2), "other.conf");
    f = fopen(conf2, "w");
    ASSERT_NOT_NULL(f);
    fputs("log_credit = 99\n", f);
    fclose(f);
    const char *with_config[] = {"--config", conf2};
    ASSERT_EQ_INT(s_setup(with_config, 2, &cfg), -1);
    ASSERT_EQ_INT(cfg.log_credit, 99);

    /* usage and configuration errors: status 2 */
    const char *unknown[] = {"--frobnicate", "x"};
    ASSERT_EQ_INT(s_setup(unknown, 2, &cfg), 2);
    const char *no_value[] = {"--run-dir"};
    ASSERT_EQ_INT(s_setup(no_value, 1, &cfg), 2);
    const char *bad_value[] = {"--set", "batch_max=zero"};
    ASSERT_EQ_INT(s_setup(bad_value, 2, &cfg), 2);
    const char *bad_level[] = {"--log-level", "chatty"};
    ASSERT_EQ_INT(s_setup(bad_level, 2, &cfg), 2);
    const char *missing_config[] = {"--config", "/nonexistent/rapport.conf"};
    ASSERT_EQ_INT(s_setup(missing_config, 2, &cfg), 2);

    /* --help and --version: status 0, text on stdout */
    char out[600], text[2048];
    int saved = dup(STDOUT_FILENO), fd;
    size_t got;
    test_path(out, sizeof(out), "stdout.txt");
    fflush(stdout);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(saved >= 0 && fd >= 0);
    ASSERT_TRUE(dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
    close(fd);
    const char *help[] = {"--help"};
    int help_rc = s_setup(help, 1, &cfg);
    const char *version[] = {"--version"};
    int version_rc = s_setup(version, 1, &cfg);
    fflush(stdout);
    ASSERT_TRUE(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
    close(saved);
    ASSERT_EQ_INT(help_rc, 0);
    ASSERT_EQ_INT(version_rc, 0);
    f = fopen(out, "r");
    ASSERT_NOT_NULL(f);
    got = fread(text, 1, sizeof(text) - 1, f);
    text[got] = '\0';
    fclose(f);
    ASSERT_CONTAINS(text, "usage: rapport-test");
    ASSERT_CONTAINS(text, "RAPPORT_<KEY>");
    ASSERT_CONTAINS(text, "rapport-test " RAPPORT_VERSION);
}

/* More flags than daemon_setup's tables hold: refused, never written past
 * the end (regression: 64 --set then --run-dir overflowed overrides[]). */
static void s_setup_too_many_options(void)
{
    static char *argv[200];
    config_t cfg;
    char conf[600];
    FILE *f;
    int argc = 0;

    test_path(conf, sizeof(conf), "empty.conf");
    f = fopen(conf, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_EQ_INT(setenv("RAPPORT_CONFIG", conf, 1), 0);

    argv[argc++] = wire_str("rapport-test");
    for (int i = 0; i < 64; i++) {
        argv[argc++] = wire_str("--set");
        argv[argc++] = wire_str("batch_max=5");
    }
    /* exactly full: fine */
    ASSERT_EQ_INT(daemon_setup("test", argc, argv, &cfg), -1);
    ASSERT_EQ_INT(cfg.batch_max, 5);
    /* one more of either kind: a usage error */
    argv[argc++] = wire_str("--run-dir");
    argv[argc++] = wire_str("/x");
    ASSERT_EQ_INT(daemon_setup("test", argc, argv, &cfg), 2);
    argv[argc - 2] = wire_str("--set");
    argv[argc - 1] = wire_str("batch_max=6");
    ASSERT_EQ_INT(daemon_setup("test", argc, argv, &cfg), 2);
    /* many path flags: the last one wins or it is refused, never past the end */
    argc = 1;
    for (int i = 0; i < 6; i++) {
        argv[argc++] = wire_str("--run-dir");
        argv[argc++] = wire_str(i % 2 ? "/odd" : "/even");
    }
    int rc = daemon_setup("test", argc, argv, &cfg);
    ASSERT_TRUE(rc == -1 || rc == 2);
    if (rc == -1)
        ASSERT_EQ_STR(cfg.run_dir, "/odd");
}

static const test_case_t s_cases[] = {
    {"notify_path", s_notify_path},
    {"notify_abstract", s_notify_abstract},
    {"notify_unset_or_bad", s_notify_unset_or_bad},
    {"watchdog_off", s_watchdog_off},
    {"watchdog_bad_values", s_watchdog_bad_values},
    {"watchdog_kicks", s_watchdog_kicks},
    {"watchdog_half_interval", s_watchdog_half_interval},
    {"watchdog_pid", s_watchdog_pid},
    {"signals", s_signals},
    {"state_path", s_state_path},
    {"setup_flags", s_setup_flags},
    {"setup_too_many_options", s_setup_too_many_options},
};

TEST_MAIN(s_cases)
