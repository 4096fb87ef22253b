/*
 * needs_missing.c - TEST-ONLY loader case: depends on a plugin
 * "nonexistent" that is never loaded, so the host must refuse it.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "needs_missing"
#define LOADER_DEPENDS                                                                             \
    {                                                                                              \
        "nonexistent", NULL                                                                        \
    }
#include "loader_common.h"
