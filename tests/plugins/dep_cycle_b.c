/*
 * dep_cycle_b.c - TEST-ONLY loader case: depends on dep_cycle_a, which
 * depends on it: no init order exists, `tanomu check` must fail.  See
 * loader_common.h and tests/integration/test_interfaces.py.
 */
#define LOADER_NAME "dep_cycle_b"
#define LOADER_DEPENDS                                                                             \
    {                                                                                              \
        "dep_cycle_a", NULL                                                                        \
    }
#include "loader_common.h"
