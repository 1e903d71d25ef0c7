#include "bs_version.h"

#ifndef BUILD_SERVICE_COMMIT
#define BUILD_SERVICE_COMMIT "unknown"
#endif

const char *bs_build_commit(void) {
    return BUILD_SERVICE_COMMIT;
}
