/* fuzz_logwriter: a LogRequest from arbitrary bytes through
 * rapport-logwriter's decode, validation, batch dispatch and group commit,
 * against a real store. */
#include "fuzz_worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_worker_input(FZ_LOGWRITER, FZ_W_LOGWRITER, data, size, NULL);
    return 0;
}
