/*
 * bad_major.c - TEST-ONLY loader case: built for the next ABI major.
 * The host must refuse it and log both versions ("built for SDK ABI 2.0,
 * host has 1.0"): nothing in its descriptor can be trusted.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "bad_major"
#define LOADER_MAJOR (TN_SDK_ABI_MAJOR + 1)
#include "loader_common.h"
