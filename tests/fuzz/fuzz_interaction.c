/* fuzz_interaction: an InteractionRequest from arbitrary bytes through
 * rapport-interaction's decode, validation and dispatch, against a real
 * store (catalog set up by setup/catalog.frames) and a real log writer in
 * the same process.
 *
 * The writer's store is checked (see fz_worker_input for how often):
 * entries in order, none of a logged segment that is not visible, and the
 * event log replayed is the store. Deleted postponed entries leave gaps. */
#include "fuzz_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_check(void)
{
    fz_check_writer(false, true);
    fz_check_events();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_worker_input(FZ_LOGWRITER | FZ_INTERACTION, FZ_W_INTERACTION, data, size, s_check);
    return 0;
}
