/* iface_undeclared.c - TEST-ONLY: uses demo.math without listing
 * iface_provider in depends: the lookup is refused, init() fails.  See
 * iface_user.h. */
#define IFACE_NAME "iface_undeclared"
#define IFACE_MIN 1
#include "iface_user.h"
