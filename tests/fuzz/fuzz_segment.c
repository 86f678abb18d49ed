/* fuzz_segment: a SegmentRequest from arbitrary bytes through
 * rapport-segment's decode, validation and dispatch, against a real store,
 * with the real rapport-interaction and rapport-logwriter in the same
 * process: add_contacts looks contacts up, log_segment streams to the
 * writer and commits.
 *
 * The stores are checked the way the crash harness checks them (after
 * every input of a corpus replay, every 32 inputs while fuzzing, before
 * each reset): no segment left in LOGGING, entry numbers gapless, every
 * logged segment complete (fz_check_writer), the event log replayed is the
 * store (fz_check_events). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_worker.h"

#include "rapport/v1/segment.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what, unsigned long long a, unsigned long long b)
{
    fprintf(stderr, "fuzz_segment: invariant broken: %s (%llu, %llu)\n", what, a, b);
    abort();
}

static void s_check(void)
{
    Rapport__V1__SegmentRequest sr = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__ListSegments ls = RAPPORT__V1__LIST_SEGMENTS__INIT;
    char after[64] = "";

    fz_settle(5000);
    /* No segment in LOGGING once nothing runs. */
    sr.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LIST_SEGMENTS;
    sr.list_segments = &ls;
    ls.limit = 1000;
    for (;;) {
        const Rapport__V1__SegmentReply *rep =
            (const void *)fz_call_msg(FZ_W_SEGMENT, &sr.base, true);
        if (rep->result_case != RAPPORT__V1__SEGMENT_REPLY__RESULT_SEGMENTS)
            s_fail("list_segments result", rep->result_case, 0);
        for (size_t i = 0; i < rep->segments->n_segments; i++)
            if (rep->segments->segments[i]->logging)
                s_fail("a segment left in LOGGING", i, 0);
        if (!rep->segments->next_after[0])
            break;
        snprintf(after, sizeof(after), "%s", rep->segments->next_after);
        ls.after = after;
    }
    fz_check_writer(true, true);
    fz_check_events();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_worker_input(FZ_LOGWRITER | FZ_INTERACTION | FZ_SEGMENT, FZ_W_SEGMENT, data, size, s_check);
    return 0;
}
