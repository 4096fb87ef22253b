/*
 * response.c - building the response, with the host's rules: header names
 * must be tokens and values free of control characters (CR, LF, NUL...:
 * S7), the host owns framing headers, JSON answers carry their charset
 * (S5), error bodies are built by jansson so every byte is escaped.  And
 * the test's side: reading the response back.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "tk_internal.h"

#define TK_JSON_TYPE "application/json; charset=utf-8"

/* Framing and hop-by-hop headers: the host writes them, nobody else. */
static const char *const host_owned[] = {
    "Content-Length", "Transfer-Encoding", "Connection", "Date", "Keep-Alive",
    "Upgrade", "TE", "Trailer", "Proxy-Connection", NULL
};

static int is_host_owned(const char *name)
{
    for (const char *const *h = host_owned; *h != NULL; h++)
        if (strcasecmp(*h, name) == 0)
            return 1;
    return 0;
}

/* The API may change the head: the request is live and no head sent. */
static int head_open(const tn_request *r)
{
    if (!tk_req_usable(r))
        return TN_ESTATE;
    return r->head_sent ? TN_ESTATE : TN_OK;
}

static void headers_drop(tn_request *r, const char *name)
{
    for (size_t i = r->resp_headers.n; i > 0; i--) {
        tk_pair *p = r->resp_headers.items[i - 1];
        if (name == NULL || strcasecmp(p->name, name) == 0) {
            free(p->name);
            free(p->value);
            free(p);
            tk_list_remove_at(&r->resp_headers, i - 1);
        }
    }
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
    if (r->resp_len + len + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap : 256;
        while (cap < r->resp_len + len + 1)
            cap *= 2;
        char *b = realloc(r->resp_body, cap);
        if (b == NULL)
            return TN_ENOMEM;
        r->resp_body = b;
        r->resp_cap = cap;
    }
    if (len > 0)
        memcpy(r->resp_body + r->resp_len, data, len);
    r->resp_len += len;
    r->resp_body[r->resp_len] = '\0';
    return TN_OK;
}

static int status_ok(int status)
{
    return status >= 100 && status <= 599;
}

/* Status, Content-Type and body at once, for JSON answers. */
static int set_json(tn_request *r, int status, const char *json, size_t len)
{
    headers_drop(r, "Content-Type");
    int rc = header_add(r, "Content-Type", TK_JSON_TYPE);
    if (rc != TN_OK)
        return rc;
    r->resp_len = 0;
    rc = body_append(r, json, len);
    if (rc != TN_OK)
        return rc;
    r->status = status;
    return TN_OK;
}

static int set_error(tn_request *r, int status, const char *code, const char *message)
{
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (doc == NULL)
        return TN_EINVAL;  /* not UTF-8 */
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return TN_ENOMEM;
    int rc = set_json(r, status, text, strlen(text));
    free(text);
    return rc;
}

void tk_resp_reset(tn_request *r)
{
    r->status = 0;
    headers_drop(r, NULL);
    r->resp_len = 0;
    if (r->resp_body != NULL)
        r->resp_body[0] = '\0';
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
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (!tk_is_token(name) || !tk_is_field_value(value) || is_host_owned(name))
        return TN_EINVAL;
    return header_add(req, name, value);
}

int tk_api_resp_body(tn_request *req, const void *data, size_t len)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (data == NULL && len > 0)
        return TN_EINVAL;
    req->resp_len = 0;
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

int tk_api_resp_error(tn_request *req, int status, const char *code,
                      const char *message)
{
    int rc = head_open(req);
    if (rc != TN_OK)
        return rc;
    if (!status_ok(status) || code == NULL || message == NULL)
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
    req->head_sent = 1;
    return TN_OK;
}

int tk_api_resp_write(tn_request *req, const void *data, size_t len,
                      tn_write_done_fn done, void *ud)
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
        req->state = TK_REQ_FINISHED;
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

const char *tk_resp_body(const tn_request *r, size_t *len)
{
    if (len != NULL)
        *len = r ? r->resp_len : 0;
    return r && r->resp_body ? r->resp_body : "";
}

const char *tk_resp_json_string(tn_request *r, const char *path)
{
    if (r == NULL || path == NULL || r->resp_body == NULL)
        return NULL;
    json_t *doc = json_loadb(r->resp_body, r->resp_len, JSON_DECODE_ANY, NULL);
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
