/*
 * auth_api.h - req_set_auth and req_auth (ABI 1.2): how the principal
 * authenticated, kept with the request for the route options check.
 */
#ifndef HOST_AUTH_API_H
#define HOST_AUTH_API_H

#include <tanomu/tanomu.h>

int host_api_req_set_auth(tn_request *req, const tn_auth_info *info);
const tn_auth_info *host_api_req_auth(const tn_request *req);

#endif
