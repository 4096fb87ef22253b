/*
 * wrong_name.c - TEST-ONLY loader case: the descriptor names another
 * plugin than the file does.  The host must refuse it, so that a file
 * cannot pose as another plugin.
 * See loader_common.h and tests/integration/test_loader.py.
 */
#define LOADER_NAME "wrong_name"
#define LOADER_DESC_NAME "other_name"
#include "loader_common.h"
