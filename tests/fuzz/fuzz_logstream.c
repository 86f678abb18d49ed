/* fuzz_logstream: the segment log stream as the log writer receives it. An
 * input is a sequence of LogRequests (frames of u16 LE length + bytes, at
 * most 64), typically log_begin / log_batch / log_commit with the same
 * log_id, interleaved with other commands; each goes through
 * rapport-logwriter's decode, validation, batch dispatch and commit. Every
 * input starts from an empty store, so a finding replays alone.
 *
 * After the sequence the writer's queries must show every logged segment
 * whole and no entry of a segment log that did not commit
 * (fz_check_writer). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_cluster.h"

#include "rapport/v1/logwriter.pb-c.h"

#define MAX_FRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a frame is a command that deletes entries (then a logged
 * segment may legitimately have lost some). */
static bool s_deletes(const uint8_t *data, size_t len)
{
    Rapport__V1__LogRequest *r = rapport__v1__log_request__unpack(NULL, len, data);
    bool del = false;
    if (!r)
        return false;
    switch (r->command_case) {
    case RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_ENTRIES:
    case RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_POSTPONED_ENTRIES:
    case RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_CAMPAIGN_ENTRIES:
    case RAPPORT__V1__LOG_REQUEST__COMMAND_DELETE_CANCELED_LOGGED_SEGMENTS:
        del = true;
        break;
    default:
        break;
    }
    rapport__v1__log_request__free_unpacked(r, NULL);
    return del;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool started;
    size_t pos = 0;
    bool strict = true;

    if (!started) {
        started = true;
        fz_cluster_start(FZ_LOGWRITER);
    } else {
        fz_cluster_reset();
    }
    for (int n = 0; n < MAX_FRAMES && size - pos >= 2; n++) {
        size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        if (strict && s_deletes(data + pos, len))
            strict = false;
        fz_call(FZ_W_LOGWRITER, data + pos, len);
        pos += len;
    }
    fz_check_writer(false, strict);
    return 0;
}
