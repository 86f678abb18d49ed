/* rapport-libtest: librapport driven by test_librapport.py against the
 * real workers. It uses only <rapport/client.h>, as an application would;
 * the configuration comes from RAPPORT_CONFIG and RAPPORT_* variables.
 *
 *   ids N                      N request ids: 36 characters, version 7,
 *                              strictly increasing (so unique)
 *   create ID CONTACT TEMPLATE DEADLINE_MS RETRY_MS
 *                              one blocking CreateInteraction (ID "-": a fresh
 *                              one): "ok ENTRY_NO" or the error
 *   get-group CODE             one blocking GetGroup: "ok DESCRIPTION" or the error
 *   async N CONTACT TEMPLATE   N CreateInteraction in flight at once, driven
 *                              by poll() on rapport_client_fd: "ok N" and
 *                              one entry no. per line
 *   subscribe FILE UNTIL       a restart-safe subscriber: appends "seq type"
 *                              lines to FILE, resumes after FILE's last line,
 *                              ends once seq UNTIL is delivered
 *   subscribe FILE --pause     the same, but after the first catch-up print
 *                              "ready" and wait, reading nothing, for a line
 *                              "go UNTIL" on stdin
 * Errors print "error CODE SOURCE FIELD MESSAGE" and exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rapport/client.h>

static const char *const s_sources[] = {"none", "server", "transport", "config", "usage"};

static int s_error(const rapport_error *e)
{
    printf("error %d %s %s %s\n", e->code, s_sources[e->source], e->field[0] ? e->field : "-",
           e->message);
    return 1;
}

static int s_ids(long n)
{
    char prev[RAPPORT_REQUEST_ID_LEN + 1] = "", id[RAPPORT_REQUEST_ID_LEN + 1];

    for (long i = 0; i < n; i++) {
        rapport_new_request_id(id);
        if (strlen(id) != RAPPORT_REQUEST_ID_LEN || id[14] != '7' || strcmp(id, prev) <= 0) {
            printf("bad id %s after %s\n", id, prev);
            return 1;
        }
        memcpy(prev, id, sizeof(id));
    }
    printf("ok %ld\n", n);
    return 0;
}

static char s_description[] = "librapport";

static void s_fields(Rapport__V1__CreateInteraction *ci, Rapport__V1__InteractionFields *f,
                     char *contact, char *template)
{
    f->contact_no = contact;
    f->interaction_template_code = template;
    f->description = s_description;
    ci->fields = f;
}

/* A whole decimal number in [0, max], or exit 2 naming the argument. */
static long long s_num(const char *arg, long long max)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || n < 0 || n > max) {
        fprintf(stderr, "librapport_tool: '%s' is not a number from 0 to %lld\n", arg, max);
        exit(2);
    }
    return n;
}

static int s_create(rapport_client *c, char **argv)
{
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    rapport_call_opts o = {.deadline_ms = (int)s_num(argv[3], INT_MAX),
                           .retry_ms = (int)s_num(argv[4], INT_MAX)};
    Rapport__V1__InteractionReply *reply;
    rapport_error e;
    int rc;

    if (strcmp(argv[0], "-") != 0)
        o.request_id = argv[0];
    s_fields(&ci, &f, argv[1], argv[2]);
    rc = rapport_interaction_create_interaction(c, &ci, &o, &reply, &e);
    if (rc == 0)
        printf("ok %" PRIu64 "\n", reply->entry->entry_no);
    rapport_reply_free(reply);
    return rc == 0 ? 0 : s_error(&e);
}

static int s_get_group(rapport_client *c, char *code)
{
    Rapport__V1__CodeRef ref = RAPPORT__V1__CODE_REF__INIT;
    Rapport__V1__InteractionReply *reply;
    rapport_error e;
    int rc;

    ref.code = code;
    rc = rapport_interaction_get_group(c, &ref, NULL, &reply, &e);
    if (rc == 0)
        printf("ok %s\n", reply->group->description);
    rapport_reply_free(reply);
    return rc == 0 ? 0 : s_error(&e);
}

typedef struct {
    long done, failed;
    rapport_error err;
    uint64_t *entries;
} async_t;

static void s_async_done(void *arg, int code, ProtobufCMessage *reply, const rapport_error *err)
{
    async_t *a = arg;

    if (code == 0)
        a->entries[a->done - a->failed] =
            ((Rapport__V1__InteractionReply *)(void *)reply)->entry->entry_no;
    else if (a->failed++ == 0)
        a->err = *err;
    a->done++;
    rapport_reply_free(reply);
}

static int s_async(rapport_client *c, long n, char *contact, char *template)
{
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    async_t a = {.entries = calloc((size_t)n, sizeof(uint64_t))};
    rapport_error e;
    int fd;

    s_fields(&ci, &f, contact, template);
    for (long i = 0; i < n; i++)
        if (rapport_interaction_create_interaction_async(c, &ci, NULL, s_async_done, &a, &e) != 0)
            return s_error(&e);
    fd = rapport_client_fd(c);
    while (rapport_client_pending(c) > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, rapport_client_timeout(c));
        rapport_client_process(c);
    }
    if (a.failed) {
        free(a.entries);
        return s_error(&a.err);
    }
    printf("ok %ld\n", a.done);
    for (long i = 0; i < n; i++)
        printf("%" PRIu64 "\n", a.entries[i]);
    free(a.entries);
    return 0;
}

/* ---- subscribe ---------------------------------------------------------------- */

typedef struct {
    int fd;
    uint64_t until;
} sub_t;

/* The seq of FILE's last complete line (0: none); a partial last line,
 * the trace of a kill mid-write, is cut off. */
static uint64_t s_resume(int fd)
{
    char buf[1 << 16];
    off_t end = lseek(fd, 0, SEEK_END),
          start = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
    ssize_t n = pread(fd, buf, (size_t)(end - start), start);
    ssize_t last_nl = -1, prev_nl = -1;

    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n') {
            prev_nl = last_nl;
            last_nl = i;
        }
    if (ftruncate(fd, start + last_nl + 1) != 0 || last_nl < 0)
        return 0;
    return strtoull(buf + prev_nl + 1, NULL, 10);
}

static int s_on_event(void *arg, const Rapport__V1__Event *ev)
{
    sub_t *s = arg;
    char line[256];
    int n = snprintf(line, sizeof(line), "%" PRIu64 " %s\n", ev->seq, ev->type);

    /* One write: the line is the saved position. */
    if (write(s->fd, line, (size_t)n) != n)
        return 1;
    return ev->seq >= s->until;
}

static int s_subscribe(rapport_client *c, const char *path, uint64_t until, int pause)
{
    sub_t s = {.fd = open(path, O_RDWR | O_CREAT | O_APPEND, 0644), .until = until};
    rapport_subscriber *sub;
    rapport_error e;
    uint64_t saved;
    int rc;

    if (s.fd < 0) {
        perror(path);
        return 1;
    }
    saved = s_resume(s.fd);
    if (saved >= until && !pause) {
        printf("ok %" PRIu64 "\n", saved);
        close(s.fd);
        return 0;
    }
    rc = rapport_subscriber_new(c, saved + 1, NULL, 0, &sub, &e);
    if (rc == 0 && pause) {
        char line[64];
        s.until = UINT64_MAX;
        rc = rapport_subscriber_run(sub, 0, s_on_event, &s, &e);
        printf("ready %" PRIu64 "\n", rapport_subscriber_next_seq(sub));
        if (!fgets(line, sizeof(line), stdin) || strncmp(line, "go ", 3) != 0)
            rc = 1;
        s.until = strtoull(line + 3, NULL, 10);
    }
    while (rc == 0 && rapport_subscriber_next_seq(sub) <= s.until)
        rc = rapport_subscriber_run(sub, 60000, s_on_event, &s, &e);
    if (rc == 0)
        printf("ok %" PRIu64 "\n", rapport_subscriber_next_seq(sub) - 1);
    rapport_subscriber_destroy(&sub);
    close(s.fd);
    return rc == 0 ? 0 : s_error(&e);
}

int main(int argc, char **argv)
{
    rapport_client *c;
    rapport_error e;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "ids") == 0)
        return s_ids((long)s_num(argv[2], LONG_MAX));
    if (rapport_client_new(NULL, &c, &e) != 0)
        return s_error(&e);
    if (argc == 7 && strcmp(argv[1], "create") == 0)
        rc = s_create(c, argv + 2);
    else if (argc == 3 && strcmp(argv[1], "get-group") == 0)
        rc = s_get_group(c, argv[2]);
    else if (argc == 5 && strcmp(argv[1], "async") == 0)
        rc = s_async(c, (long)s_num(argv[2], LONG_MAX), argv[3], argv[4]);
    else if (argc == 4 && strcmp(argv[1], "subscribe") == 0 && strcmp(argv[3], "--pause") == 0)
        rc = s_subscribe(c, argv[2], 0, 1);
    else if (argc == 4 && strcmp(argv[1], "subscribe") == 0)
        rc = s_subscribe(c, argv[2], (uint64_t)s_num(argv[3], LLONG_MAX), 0);
    else {
        fprintf(stderr, "usage: see the comment at the top of librapport_tool.c\n");
        rc = 2;
    }
    rapport_client_destroy(&c);
    return rc;
}
