/*
 * cycle_a.c - TEST-ONLY loader case: runs before cycle_b, while cycle_b runs before
 * cycle_a: no hook order satisfies both, so check must fail.
 * (see loader_common.h and tests/integration/test_loader.py).
 */
#define LOADER_NAME "cycle_a"
#define LOADER_BEFORE {"cycle_b", NULL}
#include "loader_common.h"
