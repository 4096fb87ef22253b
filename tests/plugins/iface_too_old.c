/* iface_too_old.c - TEST-ONLY: depends on iface_provider but needs
 * demo.math >= 3, which it does not export: init() fails.  See iface_user.h. */
#define IFACE_NAME "iface_too_old"
#define IFACE_MIN 3
#define IFACE_DEPENDS
#include "iface_user.h"
