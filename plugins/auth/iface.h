/*
 * iface.h - the "auth.sessions" interface (include/tanomu_auth.h) other
 * plugins sign users in through (iface.c).
 */
#ifndef AUTH_IFACE_H
#define AUTH_IFACE_H

#include "auth.h"

/* Exports the interface; from init() only. */
int auth_iface_export(auth_ctx *ctx);

#endif
