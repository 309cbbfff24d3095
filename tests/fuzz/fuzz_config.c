/* The INI configuration loader through evae_config_load, over the defaults. An accepted file must
 * come back unchanged through the INI writer (evae/io/config.h: "loadable again and giving back
 * the same struct"). */
#include "fuzz_input.h"

#include <string.h>

#include "evae/io/config.h"

int fuzz_config(const uint8_t *data, size_t size)
{
    char path[64];
    fuzz_file(0, data, size, path);
    evae_config c, again;
    evae_config_defaults(&c);
    if (evae_config_load(&c, path) != 0) return 1;
    char *ini = evae_config_to_ini_string(&c);
    FUZZ_ASSERT(ini != NULL, "the INI writer");
    evae_config_defaults(&again);
    FUZZ_ASSERT(evae_config_load_string(&again, ini, "the written config") == 0,
                "the written config loads");
    FUZZ_ASSERT(memcmp(&c, &again, sizeof c) == 0, "the written config gives the same struct");
    free(ini);
    return 0;
}

EVAE_FUZZ_TARGET(fuzz_config)
