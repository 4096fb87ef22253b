/*
 * response.c - building the response, with the host's rules: which headers
 * a plugin may set (token names, values free of CR, LF and other controls,
 * S7, none of the framing headers the host owns) and the JSON shape of an
 * error, both from host/core/http_util.c; Content-Type is set once and
 * always carries a charset (S5); resp_body() appends; resp_json() replaces
 * the body; resp_error() replaces everything.  And the test's side:
 * reading the response back.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "tk_internal.h"

#define TK_JSON_TYPE "application/json; charset=utf-8"

/* The API may change the head: the request is live and no head sent. */
static int head_open(const tn_request *r)
{
    if (!tk_req_usable(r))
        return TN_ESTATE;
    return r->head_sent ? TN_ESTATE : TN_OK;
}

static void headers_clear(tn_request *r)
{
    for (size_t i = 0; i < r->resp_headers.n; i++) {
        tk_pair *p = r->resp_headers.items[i];
        free(p->name);
        free(p->value);
        free(p);
    }
    r->resp_headers.n = 0;
}

static int header_add(tn_request *r, const char *name, const char *value)
{
    tk_pair *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TN_ENOMEM;
    p->name = tk_strdup(name);
    p->value = tk_strdup(value);
    if (p->name == NULL || p->value == NULL || tk_list_push(&r->resp_headers, p) != TN_OK) {
        free(p->name);
        free(p->value);
        free(p);
        return TN_ENOMEM;
    }
    return TN_OK;
}

static int body_append(tn_request *r, const void *data, size_t len)
{
    host_buf_append(&r->resp_body, data, len);
    return host_buf_failed(&r->resp_body) ? TN_ENOMEM : TN_OK;
}

static int status_ok(int status)
{
    return status >= 200 && status <= 599;
}

/* The one Content-Type; a charset is added when the plugin gave none. */
static int set_content_type(tn_request *r, const char *value)
{
    if (tk_resp_header(r, "Content-Type") != NULL)
        return TN_EEXIST;
    if (strcasestr(value, "charset=") != NULL)
        return header_add(r, "Content-Type", value);
    char *v = tk_format("%s; charset=utf-8", value);
    if (v == NULL)
        return TN_ENOMEM;
    int rc = header_add(r, "Content-Type", v);
    free(v);
    return rc;
}

/* Status and body, and the JSON type unless the plugin set its own. */
static int set_json(tn_request *r, int status, const char *json, size_t len)
{
    int rc = TN_OK;
    if (tk_resp_header(r, "Content-Type") == NULL)
        rc = set_content_type(r, TK_JSON_TYPE);
    if (rc != TN_OK)
        return rc;
    host_buf_reset(&r->resp_body);
    rc = body_append(r, json, len);
    if (rc != TN_OK)
        return rc;
    r->status = status;
    return TN_OK;
}

/* An error answer replaces what the plugin had set, headers included.  As
 * on the host, text that is not UTF-8 fails as out of memory does. */
static int set_error(tn_request *r, int status, const char *code, const char *message)
{
    char *text = host_error_json(code, message);
    if (text == NULL)
        return TN_ENOMEM;
    headers_clear(r);
    int rc = set_json(r, status, text, strlen(text));
    free(text);
    return rc;
}

void tk_resp_head_defaults(tn_request *r)
{
    if (r->status == 0)
        r->status = 200;
    if (tk_resp_header(r, "Content-Type") == NULL && set_content_type(r, TK_JSON_TYPE) != TN_OK)
        tk_log_req(r, TN_LOG_ERROR, "out of memory for the default Content-Type");
}

void tk_resp_fail(tn_request *r, int status, const char *code, const char *message)
{
    if (set_error(r, status, code, message) != TN_OK) {
        /* Out of memory: at least the status goes out. */
        r->status = status;
    }
}

int tk_api_resp_status(tn_request *req, int status)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (!status_ok(status))
        return TN_EINVAL;
    req->status = status;
    return TN_OK;
}

int tk_api_resp_header(tn_request *req, const char *name, const char *value)
{
    if (host_resp_header_allowed(name, value) != TN_OK)
        return TN_EINVAL;
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (strcasecmp(name, "Content-Type") == 0)
        return set_content_type(req, value);
    return header_add(req, name, value);
}

int tk_api_resp_body(tn_request *req, const void *data, size_t len)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (data == NULL && len > 0)
        return TN_EINVAL;
    return body_append(req, data, len);
}

int tk_api_resp_json(tn_request *req, int status, const char *json)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (!status_ok(status) || json == NULL)
        return TN_EINVAL;
    /* What the plugin calls JSON has to be JSON. */
    json_t *doc = json_loads(json, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return TN_EINVAL;
    json_decref(doc);
    return set_json(req, status, json, strlen(json));
}

int tk_api_resp_error(tn_request *req, int status, const char *code, const char *message)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (!status_ok(status))
        return TN_EINVAL;
    return set_error(req, status, code, message);
}

int tk_api_resp_stream_begin(tn_request *req)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (req->status == 0)
        req->status = 200;
    /* The head is about to leave: RESPONSE hooks have their say now. */
    rc = tk_run_response_hooks(req);
    if (rc != TN_OK)
        return rc;
    tk_resp_head_defaults(req);
    /* The host sends only what is written after the head: a body set
     * before it (by the handler or a hook's resp_error) is dropped. */
    if (req->resp_body.len > 0) {
        tk_log_req(req, TN_LOG_WARN,
                   "%zu bytes of body set before resp_stream_begin() "
                   "are dropped, as on the host",
                   req->resp_body.len);
        host_buf_reset(&req->resp_body);
    }
    req->head_sent = 1;
    return TN_OK;
}

int tk_api_resp_write(tn_request *req, const void *data, size_t len, tn_write_done_fn done,
                      void *ud)
{
    if (req == NULL || req->state == TK_REQ_FINISHED || !req->head_sent || req->ended ||
        req->aborted)
        return TN_ESTATE;
    if (data == NULL && len > 0)
        return TN_EINVAL;
    int rc = body_append(req, data, len);
    if (rc == TN_OK && done != NULL)
        rc = tk_queue_write_done(req, done, ud);
    return rc;
}

int tk_api_resp_end(tn_request *req)
{
    if (req == NULL || req->state == TK_REQ_FINISHED || !req->head_sent || req->ended)
        return TN_ESTATE;
    req->ended = 1;
    if (req->state == TK_REQ_STREAMING)
        tk_req_end(req);
    return TN_OK;
}

/* -- what the test reads --------------------------------------------- */

int tk_resp_status(const tn_request *r)
{
    return r ? r->status : 0;
}

const char *tk_resp_header(const tn_request *r, const char *name)
{
    if (r == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < r->resp_headers.n; i++) {
        const tk_pair *p = r->resp_headers.items[i];
        if (strcasecmp(p->name, name) == 0)
            return p->value;
    }
    return NULL;
}

size_t tk_resp_header_count(const tn_request *r, const char *name)
{
    size_t n = 0;
    if (r == NULL || name == NULL)
        return 0;
    for (size_t i = 0; i < r->resp_headers.n; i++) {
        const tk_pair *p = r->resp_headers.items[i];
        if (strcasecmp(p->name, name) == 0)
            n++;
    }
    return n;
}

const char *tk_resp_header_at(const tn_request *r, size_t i, const char **value)
{
    if (r == NULL || i >= r->resp_headers.n)
        return NULL;
    const tk_pair *p = r->resp_headers.items[i];
    if (value != NULL)
        *value = p->value;
    return p->name;
}

/* As on the wire: the host sends no body for HEAD, 204 and 304. */
static int sends_body(const tn_request *r)
{
    return strcmp(r->method, "HEAD") != 0 && r->status != 204 && r->status != 304;
}

const char *tk_resp_body(const tn_request *r, size_t *len)
{
    int has = r != NULL && r->resp_body.data != NULL && sends_body(r);
    if (len != NULL)
        *len = has ? r->resp_body.len : 0;
    return has ? r->resp_body.data : "";
}

const char *tk_resp_json_string(tn_request *r, const char *path)
{
    size_t len;
    const char *body = tk_resp_body(r, &len);
    if (r == NULL || path == NULL || len == 0)
        return NULL;
    json_t *doc = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    const char *result = NULL;
    char *copy = tk_strdup(path);
    json_t *at = doc;
    if (doc == NULL || copy == NULL)
        goto done;
    for (char *part = copy; part != NULL && at != NULL;) {
        char *dot = strchr(part, '.');
        if (dot != NULL)
            *dot = '\0';
        at = json_is_object(at) ? json_object_get(at, part) : NULL;
        part = dot ? dot + 1 : NULL;
    }
    if (json_is_string(at))
        result = tk_api_req_strdup(r, json_string_value(at));

done:
    free(copy);
    json_decref(doc);
    return result;
}

int tk_resp_streamed(const tn_request *r)
{
    return r ? r->head_sent : 0;
}
