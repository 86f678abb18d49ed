/* fuzz_interaction: an InteractionRequest from arbitrary bytes through
 * rapport-interaction's decode, validation and dispatch, against a real
 * store (catalog set up by setup/catalog.frames) and a real log writer in
 * the same process. */
#include "fuzz_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_worker_input(FZ_LOGWRITER | FZ_INTERACTION, FZ_W_INTERACTION, data, size, NULL);
    return 0;
}
