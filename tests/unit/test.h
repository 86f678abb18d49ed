/* test: the unit test framework of rapport (nng NUTS / libuv task.h style).
 *
 * A test file lists its cases in a table and ends with TEST_MAIN(table):
 *
 *     static const test_case_t s_cases[] = {
 *         {"date_valid", s_date_valid},
 *     };
 *     TEST_MAIN(s_cases)
 *
 * `foo_test` runs every case, `foo_test NAME` runs one, `foo_test --list`
 * prints the names. Each case runs in a child process of its own, with a
 * fresh temporary directory (test_tmpdir()) that the runner removes
 * whatever happened, so a case cannot leak environment variables, signal
 * handlers, static state or files into the next one, and a crash or a hang
 * (TEST_CASE_TIMEOUT seconds, SIGALRM) fails that case only.
 * TEST_NOFORK=1 runs the cases in-process, for a debugger.
 *
 * The ASSERT_* macros print file:line, the expression and both operands
 * (rp_err values by name and text) and end the case with a failure. */
#ifndef RAPPORT_TEST_H
#define RAPPORT_TEST_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define TEST_CASE_TIMEOUT 50 /* seconds; ctest's TIMEOUT is 60 for the whole file */

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

/* The running case's temporary directory (no trailing slash). */
static char test_tmpdir_[512];
static const char *test_case_name_ = "";

static inline const char *test_tmpdir(void)
{
    return test_tmpdir_;
}

/* "<tmpdir>/<name>" into buf. */
static inline void test_path(char *buf, size_t size, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", test_tmpdir_, name);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "test_path: %s/%s does not fit\n", test_tmpdir_, name);
        abort();
    }
}

/* Sleep ms milliseconds (at least). */
static inline void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static inline void test_fail_(void)
{
    fflush(stdout);
    fflush(stderr);
    _exit(1);
}

#define TEST_FAILF_(...)                                                      \
    do {                                                                      \
        fprintf(stderr, "%s:%d: [%s] ", __FILE__, __LINE__, test_case_name_); \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        test_fail_();                                                         \
    } while (0)

#define FAIL(...) TEST_FAILF_(__VA_ARGS__)

#define ASSERT_TRUE(cond)                            \
    do {                                             \
        if (!(cond))                                 \
            TEST_FAILF_("expected true: %s", #cond); \
    } while (0)

#define ASSERT_FALSE(cond)                            \
    do {                                              \
        if (cond)                                     \
            TEST_FAILF_("expected false: %s", #cond); \
    } while (0)

#define ASSERT_NOT_NULL(p)                            \
    do {                                              \
        if ((p) == NULL)                              \
            TEST_FAILF_("expected non-NULL: %s", #p); \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                        \
    do {                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);        \
        if (a_ != b_)                                              \
            TEST_FAILF_("%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define ASSERT_NE_INT(a, b)                                     \
    do {                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);     \
        if (a_ == b_)                                           \
            TEST_FAILF_("%s != %s: both are %lld", #a, #b, a_); \
    } while (0)

#define ASSERT_EQ_U64(a, b)                                                   \
    do {                                                                      \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                      \
        if (a_ != b_)                                                         \
            TEST_FAILF_("%s == %s: %" PRIu64 " != %" PRIu64, #a, #b, a_, b_); \
    } while (0)

/* a >= b, both as u64 */
#define ASSERT_GE_U64(a, b)                                                  \
    do {                                                                     \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                     \
        if (a_ < b_)                                                         \
            TEST_FAILF_("%s >= %s: %" PRIu64 " < %" PRIu64, #a, #b, a_, b_); \
    } while (0)

#define ASSERT_EQ_STR(a, b)                                                       \
    do {                                                                          \
        const char *a_ = (a), *b_ = (b);                                          \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                    \
            TEST_FAILF_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                        b_ ? b_ : "(null)");                                      \
    } while (0)

/* haystack contains needle */
#define ASSERT_CONTAINS(haystack, needle)                                                     \
    do {                                                                                      \
        const char *h_ = (haystack), *n_ = (needle);                                          \
        if (!h_ || !n_ || !strstr(h_, n_))                                                    \
            TEST_FAILF_("%s contains %s: \"%s\" does not contain \"%s\"", #haystack, #needle, \
                        h_ ? h_ : "(null)", n_ ? n_ : "(null)");                              \
    } while (0)

#define ASSERT_EQ_MEM(a, alen, b, blen)                                                 \
    do {                                                                                \
        size_t al_ = (size_t)(alen), bl_ = (size_t)(blen);                              \
        if (al_ != bl_ || (al_ && memcmp((a), (b), al_) != 0))                          \
            TEST_FAILF_("%s == %s: %zu bytes differ from %zu bytes", #a, #b, al_, bl_); \
    } while (0)

#define ASSERT_OK(expr)                                                             \
    do {                                                                            \
        rp_err rc_ = (expr);                                                        \
        if (rc_ != RP_OK)                                                           \
            TEST_FAILF_("%s: expected OK, got RP_%s (%s)", #expr, rp_err_name(rc_), \
                        rp_strerror(rc_));                                          \
    } while (0)

#define ASSERT_ERR(expr, want)                                                                \
    do {                                                                                      \
        rp_err rc_ = (expr), want_ = (want);                                                  \
        if (rc_ != want_)                                                                     \
            TEST_FAILF_("%s: expected RP_%s (%s), got RP_%s (%s)", #expr, rp_err_name(want_), \
                        rp_strerror(want_), rp_err_name(rc_), rp_strerror(rc_));              \
    } while (0)

/* ---- runner ---- */

/* rm -rf of the case's directory (no symlinks followed). */
static inline void test_rmtree_(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char child[1024];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child))
                continue;
            test_rmtree_(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static inline bool test_mktmp_(const char *prog)
{
    const char *base = getenv("TMPDIR");
    const char *slash = strrchr(prog, '/');
    int n;

    if (!base || !*base)
        base = "/tmp";
    n = snprintf(test_tmpdir_, sizeof(test_tmpdir_), "%s/rapport-%s-XXXXXX", base,
                 slash ? slash + 1 : prog);
    if (n < 0 || (size_t)n >= sizeof(test_tmpdir_) || !mkdtemp(test_tmpdir_)) {
        fprintf(stderr, "cannot create a temporary directory under %s: %s\n", base,
                strerror(errno));
        return false;
    }
    return true;
}

static inline double test_elapsed_ms_(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Runs one case; true when it passed. */
static inline bool test_run_one_(const char *prog, const test_case_t *tc, bool nofork)
{
    struct timespec t0;
    int status = 0;
    bool ok;
    pid_t pid;

    if (!test_mktmp_(prog))
        return false;
    test_case_name_ = tc->name;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fflush(stdout);
    fflush(stderr);
    if (nofork) {
        tc->fn();
        ok = true;
    } else {
        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "fork: %s\n", strerror(errno));
            test_rmtree_(test_tmpdir_);
            return false;
        }
        if (pid == 0) {
            alarm(TEST_CASE_TIMEOUT);
            tc->fn();
            fflush(stdout);
            fflush(stderr);
            _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (WIFSIGNALED(status))
            fprintf(stderr, "[%s] killed by signal %d%s\n", tc->name, WTERMSIG(status),
                    WTERMSIG(status) == SIGALRM ? " (case timed out)" : "");
    }
    test_rmtree_(test_tmpdir_);
    printf("%-4s %s (%.0f ms)\n", ok ? "ok" : "FAIL", tc->name, test_elapsed_ms_(&t0));
    fflush(stdout);
    return ok;
}

static inline int test_main_(const test_case_t *cases, size_t n, int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    const char *nofork_env = getenv("TEST_NOFORK");
    bool nofork = nofork_env && *nofork_env && strcmp(nofork_env, "0") != 0;
    size_t ran = 0, failed = 0;

    if (only && !strcmp(only, "--list")) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, cases[i].name) != 0)
            continue;
        ran++;
        if (!test_run_one_(argv[0], &cases[i], nofork))
            failed++;
    }
    if (only && ran == 0) {
        fprintf(stderr, "%s: no case named '%s' (--list shows them)\n", argv[0], only);
        return 2;
    }
    printf("%zu of %zu cases passed\n", ran - failed, ran);
    return failed ? 1 : 0;
}

#define TEST_MAIN(cases)                                                        \
    int main(int argc, char **argv)                                             \
    {                                                                           \
        return test_main_(cases, sizeof(cases) / sizeof(cases[0]), argc, argv); \
    }

#endif
