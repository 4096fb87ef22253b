/*
 * cycle_b.c - TEST-ONLY loader case: runs before cycle_a, closing
 * the cycle that cycle_a opens.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "cycle_b"
#define LOADER_BEFORE                                                                              \
    {                                                                                              \
        "cycle_a", NULL                                                                            \
    }
#include "loader_common.h"
