/*
 * no_entry.c - TEST-ONLY loader case: exports no tn_plugin_entry
 * symbol, so the host has nothing to call and must refuse the file.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "no_entry"
#define LOADER_NO_ENTRY 1
#include "loader_common.h"
