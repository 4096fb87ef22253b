/*
 * cycle_a.c - TEST-ONLY loader case: runs before cycle_b, while
 * cycle_b runs before cycle_a.  No hook order satisfies both, so
 * `tanomu check` must fail when both are loaded.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "cycle_a"
#define LOADER_BEFORE                                                                              \
    {                                                                                              \
        "cycle_b", NULL                                                                            \
    }
#include "loader_common.h"
