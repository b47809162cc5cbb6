/* env.h — reading the WHALE_* switches of the environment (WHALE_NO_SIMD,
 * WHALE_NO_AVX512, WHALE_NO_AMX, WHALE_NO_HUGEPAGE): one rule for all of them. */
#ifndef WH_BASE_ENV_H
#define WH_BASE_ENV_H

#include <stdlib.h>
#include <string.h>

/* The environment variable is set to something other than "" or "0". */
static inline int wh_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

#endif
