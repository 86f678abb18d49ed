/* rapport-example-segments: a subscriber that prints the entries of every
 * logged segment, once, across restarts, through librapport.
 *
 *   rapport-example-segments OUTPUT [UNTIL_SEQ]
 *
 * It follows the log writer's segment.logged events and, for each, lists
 * the logged segment's entries (ListEntries by logged segment) into OUTPUT:
 *
 *   <seq> <logged segment no.> <entry no.> <contact no.>
 *   <seq> end
 *
 * The "end" line commits an event: on start, OUTPUT is cut after its last
 * "end" line (a crash may have left part of an event behind) and the
 * subscriber resumes after that seq. So the output holds every logged
 * segment's entries exactly once, however often the program is killed.
 * With UNTIL_SEQ it exits once the events up to that seq are handled.
 *
 * Build: cc segment_subscriber.c $(pkg-config --cflags --libs rapport) */
#define _POSIX_C_SOURCE 200809L /* fdatasync, ftruncate, fileno */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rapport/client.h>

typedef struct {
    rapport_client *c;
    FILE *out;
    uint64_t until;
    int failed;
} app_t;

/* The seq of the last "end" line of the file, which is cut after it. */
static uint64_t s_resume(FILE *f)
{
    char line[512];
    long keep = 0;
    uint64_t seq = 0;

    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        uint64_t s;
        char word[16];
        if (sscanf(line, "%" SCNu64 " %15s", &s, word) == 2 && strcmp(word, "end") == 0 &&
            strchr(line, '\n')) {
            seq = s;
            keep = ftell(f);
        }
    }
    if (ftruncate(fileno(f), keep) != 0)
        return UINT64_MAX;
    fseek(f, 0, SEEK_END);
    return seq;
}

/* Print the entries of one logged segment, page by page. */
static int s_entries(app_t *a, uint64_t seq, uint64_t logged_no)
{
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    Rapport__V1__EntryFilter filter = RAPPORT__V1__ENTRY_FILTER__INIT;
    rapport_error err;

    filter.logged_segment_entry_no = logged_no;
    le.filter = &filter;
    le.limit = 1000;
    do {
        Rapport__V1__LogReply *reply;
        if (rapport_logwriter_list_entries(a->c, &le, NULL, &reply, &err) != 0) {
            fprintf(stderr, "logged segment %" PRIu64 ": %s\n", logged_no, err.message);
            rapport_reply_free(reply);
            return -1;
        }
        for (size_t i = 0; i < reply->entries->n_entries; i++)
            fprintf(a->out, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", seq, logged_no,
                    reply->entries->entries[i]->entry_no, reply->entries->entries[i]->contact_no);
        le.after = reply->entries->next_after;
        rapport_reply_free(reply);
    } while (le.after);
    return 0;
}

static int s_on_event(void *arg, const Rapport__V1__Event *ev)
{
    app_t *a = arg;

    if (ev->body_case == RAPPORT__V1__EVENT__BODY_SEGMENT_LOGGED &&
        s_entries(a, ev->seq, ev->segment_logged->logged_segment_no) != 0) {
        a->failed = 1;
        return 1; /* not committed: handled again on the next start */
    }
    /* The commit: the event's output and its seq, in one line. */
    fprintf(a->out, "%" PRIu64 " end\n", ev->seq);
    if (fflush(a->out) != 0 || fdatasync(fileno(a->out)) != 0) {
        a->failed = 1;
        return 1;
    }
    return a->until && ev->seq >= a->until;
}

int main(int argc, char **argv)
{
    app_t a = {0};
    rapport_subscriber *sub = NULL;
    rapport_error err;
    uint64_t saved;
    int rc = 0;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUTPUT [UNTIL_SEQ]\n", argv[0]);
        return 2;
    }
    a.until = argc == 3 ? strtoull(argv[2], NULL, 10) : 0;
    a.out = fopen(argv[1], "a+");
    if (!a.out) {
        perror(argv[1]);
        return 2;
    }
    saved = s_resume(a.out);
    if (saved == UINT64_MAX || (a.until && saved >= a.until)) {
        fclose(a.out);
        return saved == UINT64_MAX;
    }
    if (rapport_client_new(NULL, &a.c, &err) != 0 ||
        rapport_subscriber_new(a.c, saved + 1, "segment.logged", 0, &sub, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        rc = 2;
    }
    /* Each event reaches s_on_event once, in order; the loop only retries
     * after a failed read of the log (the worker away a while). */
    while (rc == 0 && !a.failed && !(a.until && rapport_subscriber_next_seq(sub) > a.until)) {
        int code = rapport_subscriber_run(sub, 1000, s_on_event, &a, &err);
        if (code == RAPPORT__V1__STATUS_CODE__CANCELLED)
            break;
        if (code != 0)
            fprintf(stderr, "%s\n", err.message);
    }
    rapport_subscriber_destroy(&sub);
    rapport_client_destroy(&a.c);
    fclose(a.out);
    return rc ? rc : a.failed;
}
