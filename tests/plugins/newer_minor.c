/*
 * newer_minor.c - TEST-ONLY loader case: built for a newer ABI minor
 * than the host's.  Its descriptor may carry members the host does not
 * know, so the host must refuse it rather than ignore them.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "newer_minor"
#define LOADER_MINOR (TN_SDK_ABI_MINOR + 1)
#include "loader_common.h"
