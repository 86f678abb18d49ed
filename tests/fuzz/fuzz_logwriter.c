/* fuzz_logwriter: a LogRequest from arbitrary bytes through
 * rapport-logwriter's decode, validation, batch dispatch and group commit,
 * against a real store.
 *
 * The store is checked (see fz_worker_input for how often): entries in
 * order, none of a logged segment that is not visible (an input may delete
 * entries, so neither gapless nor complete), and the event log replayed is
 * the store. */
#include "fuzz_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_check(void)
{
    fz_check_writer(false, false);
    fz_check_events();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_worker_input(FZ_LOGWRITER, FZ_W_LOGWRITER, data, size, s_check);
    return 0;
}
