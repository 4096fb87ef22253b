/*
 * pipeline.h - one request's way through the phases: tenant, early,
 * authenticate, the route's access check, authorize, handle, the route,
 * response.
 */
#ifndef HOST_PIPELINE_H
#define HOST_PIPELINE_H

#include <tanomu/tanomu.h>

void host_pipeline_dispatch(tn_request *req);
void host_pipeline_complete(tn_request *req);
void host_pipeline_resume(tn_request *req, tn_status status);
const tn_config *host_pipeline_config(tn_request *req, const tn_plugin *p);
int host_pipeline_in_phase(const tn_request *req, tn_phase phase);
/* The plugin whose phase hook runs (or suspended) on req now, or NULL. */
tn_plugin *host_pipeline_hook_plugin(const tn_request *req);

#endif
