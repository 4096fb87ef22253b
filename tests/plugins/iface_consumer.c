/* iface_consumer.c - TEST-ONLY: depends on iface_provider, uses demo.math
 * >= 2 for GET /iface_consumer/sum.  See iface_user.h. */
#define IFACE_NAME "iface_consumer"
#define IFACE_MIN 2
#define IFACE_DEPENDS
#include "iface_user.h"
