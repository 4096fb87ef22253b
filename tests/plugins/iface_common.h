/*
 * iface_common.h - the interface the TEST-ONLY iface_* plugins share:
 * iface_provider exports "demo.math" at version 2; iface_consumer (lists it
 * in depends, wants >= 2) serves GET /iface/sum through it; iface_too_old
 * (depends, wants >= 3) and iface_undeclared (no depends) must fail init().
 * Each logs "init" and "fini" so the tests see the order (generation.c:
 * init after what a plugin depends on, fini backwards).
 */
#ifndef IFACE_COMMON_H
#define IFACE_COMMON_H

#include <stdint.h>

#include <tanomu/tanomu.h>

#define DEMO_MATH "demo.math"
#define DEMO_MATH_VERSION 2

typedef struct demo_math {
    uint32_t size; /* sizeof(demo_math): later versions append */
    int (*add)(int a, int b);
    const char *(*owner)(void);
} demo_math;

#endif
