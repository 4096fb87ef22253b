/*
 * api.h - the tn_api function table the host hands every plugin, and the
 * per-worker state behind its event and timer calls.
 */
#ifndef HOST_API_H
#define HOST_API_H

#include <tanomu/tanomu.h>

struct host_worker;

extern const tn_api host_api;
void host_worker_events_init(struct host_worker *w);
void host_worker_api_cleanup(struct host_worker *w);

#endif
