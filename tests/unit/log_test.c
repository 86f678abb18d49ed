/* log_test: level names, filtering and the "<N>ident: text[: strerror]"
 * line format on stderr. */
#include "test.h"

#include <fcntl.h>

#include "log.h"

/* Send stderr to a file of the case's directory; returns its path. */
static void s_capture_stderr(char *path, size_t size)
{
    int fd;

    test_path(path, size, "stderr.txt");
    fflush(stderr);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_TRUE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
}

static void s_read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    ASSERT_NOT_NULL(f);
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void s_level_parse(void)
{
    static const struct {
        const char *text;
        log_level_t level;
    } good[] = {
        {"error", LOG_LEVEL_ERR},    {"err", LOG_LEVEL_ERR},       {"warning", LOG_LEVEL_WARNING},
        {"warn", LOG_LEVEL_WARNING}, {"notice", LOG_LEVEL_NOTICE}, {"info", LOG_LEVEL_INFO},
        {"debug", LOG_LEVEL_DEBUG},
    };
    log_level_t lvl;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        lvl = (log_level_t)0;
        ASSERT_TRUE(log_level_parse(good[i].text, &lvl));
        ASSERT_EQ_INT(lvl, good[i].level);
    }
    lvl = LOG_LEVEL_NOTICE;
    ASSERT_FALSE(log_level_parse("DEBUG", &lvl));
    ASSERT_FALSE(log_level_parse("", &lvl));
    ASSERT_FALSE(log_level_parse("verbose", &lvl));
    ASSERT_FALSE(log_level_parse(NULL, &lvl));
    ASSERT_EQ_INT(lvl, LOG_LEVEL_NOTICE); /* untouched on failure */
}

static void s_enabled_follows_init(void)
{
    log_init("t", LOG_LEVEL_WARNING);
    ASSERT_TRUE(log_enabled(LOG_LEVEL_ERR));
    ASSERT_TRUE(log_enabled(LOG_LEVEL_WARNING));
    ASSERT_FALSE(log_enabled(LOG_LEVEL_NOTICE));
    ASSERT_FALSE(log_enabled(LOG_LEVEL_DEBUG));
    log_init(NULL, LOG_LEVEL_DEBUG);
    ASSERT_TRUE(log_enabled(LOG_LEVEL_DEBUG));
}

static void s_line_format(void)
{
    char path[600], text[4096];

    s_capture_stderr(path, sizeof(path));
    log_init("rapport-test", LOG_LEVEL_INFO);
    errno = ENOENT;
    log_warn("open %s", "x.conf");
    ASSERT_EQ_INT(errno, ENOENT); /* preserved */
    log_warnx("plain %d", 42);
    errno = EACCES;
    log_err("fatal");
    log_errx("fatalx");
    log_notice("note");
    log_info("info line");
    log_debug("hidden at info");
    fflush(stderr);
    s_read_file(path, text, sizeof(text));
    ASSERT_CONTAINS(text, "<4>rapport-test: open x.conf: ");
    ASSERT_CONTAINS(text, strerror(ENOENT));
    ASSERT_CONTAINS(text, "<4>rapport-test: plain 42\n");
    ASSERT_CONTAINS(text, "<3>rapport-test: fatal: ");
    ASSERT_CONTAINS(text, "<3>rapport-test: fatalx\n");
    ASSERT_CONTAINS(text, "<5>rapport-test: note\n");
    ASSERT_CONTAINS(text, "<6>rapport-test: info line\n");
    ASSERT_TRUE(strstr(text, "hidden") == NULL);
}

/* A line longer than the internal buffer is cut, not overflowed. */
static void s_long_line_is_truncated(void)
{
    char path[600], *big, text[8192];

    big = malloc(5000);
    ASSERT_NOT_NULL(big);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    s_capture_stderr(path, sizeof(path));
    log_init("t", LOG_LEVEL_INFO);
    errno = EIO;
    log_warn("%s", big);
    log_info("after");
    fflush(stderr);
    s_read_file(path, text, sizeof(text));
    ASSERT_TRUE(strncmp(text, "<4>t: xxx", 9) == 0);
    ASSERT_TRUE(strlen(text) < 2100 + 20);
    ASSERT_CONTAINS(text, "<6>t: after\n");
    free(big);
}

static const test_case_t s_cases[] = {
    {"level_parse", s_level_parse},
    {"enabled_follows_init", s_enabled_follows_init},
    {"line_format", s_line_format},
    {"long_line_is_truncated", s_long_line_is_truncated},
};

TEST_MAIN(s_cases)
