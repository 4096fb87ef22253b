/*
 * request.c - the request a test sends and what plugins read of it:
 * method, path, query parameters (percent-decoded, %00 refused), headers,
 * cookies, route parameters, body, tenant, principal, and memory that
 * lives as long as the request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tk_internal.h"

static void pairs_free(tk_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        tk_pair *p = l->items[i];
        free(p->name);
        free(p->value);
        free(p);
    }
    tk_list_clear(l);
}

static int pair_add(tk_list *l, const char *name, size_t nlen, char *value)
{
    tk_pair *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TN_ENOMEM;
    p->name = tk_strndup(name, nlen);
    p->value = value;
    if (p->name == NULL || tk_list_push(l, p) != TN_OK) {
        free(p->name);
        free(p);
        return TN_ENOMEM;
    }
    return TN_OK;
}

void tk_request_destroy(tn_request *r)
{
    if (r == NULL)
        return;
    free(r->tenant);
    free(r->method);
    free(r->target);
    free(r->path);
    free(r->query);
    free(r->id);
    free(r->client_addr);
    free(r->body);
    free(r->allow);
    free(r->user);
    free(r->roles);
    pairs_free(&r->headers);
    pairs_free(&r->params);
    pairs_free(&r->query_params);
    pairs_free(&r->cookies);
    pairs_free(&r->resp_headers);
    for (int i = 0; i < TN_PHASE_COUNT; i++)
        tk_list_clear(&r->hooks[i]);
    while (r->arena != NULL) {
        tk_block *b = r->arena;
        r->arena = b->next;
        free(b);
    }
    free(r->resp_body);
    free(r);
}

tn_request *tk_req_new(tk_kit *tk, const char *tenant, const char *method,
                       const char *target)
{
    if (tk == NULL || tenant == NULL || tenant[0] == '\0' || !tk_is_token(method) ||
        target == NULL || target[0] == '\0')
        return NULL;
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return NULL;  /* no HTTP parser would hand this over */
    tn_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->tk = tk;
    r->state = TK_REQ_NEW;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    r->tenant = tk_strdup(tenant);
    r->method = tk_strdup(method);
    r->target = tk_strdup(target);
    r->path = tk_strndup(target, plen);
    r->query = tk_strdup(q ? q + 1 : "");
    r->id = tk_format("tk-%llu", (unsigned long long)tk->next_req_id++);
    r->client_addr = tk_strdup("127.0.0.1");
    if (r->tenant == NULL || r->method == NULL || r->target == NULL || r->path == NULL ||
        r->query == NULL || r->id == NULL || r->client_addr == NULL ||
        tk_list_push(&tk->requests, r) != TN_OK) {
        tk_request_destroy(r);
        return NULL;
    }
    return r;
}

int tk_req_set_header(tn_request *r, const char *name, const char *value)
{
    if (r == NULL || !tk_is_token(name) || !tk_is_field_value(value))
        return TN_EINVAL;
    if (r->state != TK_REQ_NEW)
        return TN_ESTATE;
    char *v = tk_strdup(value);
    if (v == NULL)
        return TN_ENOMEM;
    int rc = pair_add(&r->headers, name, strlen(name), v);
    if (rc != TN_OK)
        free(v);
    return rc;
}

int tk_req_set_body(tn_request *r, const void *body, size_t len)
{
    if (r == NULL || (body == NULL && len > 0))
        return TN_EINVAL;
    if (r->state != TK_REQ_NEW)
        return TN_ESTATE;
    char *b = malloc(len + 1);
    if (b == NULL)
        return TN_ENOMEM;
    if (len > 0)
        memcpy(b, body, len);
    b[len] = '\0';
    free(r->body);
    r->body = b;
    r->body_len = len;
    return TN_OK;
}

int tk_req_set_client(tn_request *r, const char *addr)
{
    if (r == NULL || addr == NULL || !tk_is_field_value(addr))
        return TN_EINVAL;
    if (r->state != TK_REQ_NEW)
        return TN_ESTATE;
    char *a = tk_strdup(addr);
    if (a == NULL)
        return TN_ENOMEM;
    free(r->client_addr);
    r->client_addr = a;
    return TN_OK;
}

int tk_req_set_tls(tn_request *r, int on)
{
    if (r == NULL)
        return TN_EINVAL;
    if (r->state != TK_REQ_NEW)
        return TN_ESTATE;
    r->is_tls = on != 0;
    return TN_OK;
}

void tk_req_abort(tn_request *r)
{
    if (r != NULL)
        r->aborted = 1;
}

int tk_req_pending(const tn_request *r)
{
    return r != NULL && r->state != TK_REQ_NEW && r->state != TK_REQ_FINISHED;
}

int tk_req_finished(const tn_request *r)
{
    return r != NULL && r->state == TK_REQ_FINISHED;
}

const char *tk_req_principal(const tn_request *r)
{
    return r ? r->user : NULL;
}

void tk_req_free(tn_request *r)
{
    if (r == NULL)
        return;
    tk_kit *tk = r->tk;
    /* A plugin may still hold a pending request (and will resume it), so
     * that one lives on, aborted, until the kit goes. */
    if ((r->state != TK_REQ_NEW && r->state != TK_REQ_FINISHED) || r->pending_writes > 0) {
        r->released = 1;
        r->aborted = 1;
        return;
    }
    for (size_t i = 0; i < tk->requests.n; i++) {
        if (tk->requests.items[i] == r) {
            tk_list_remove_at(&tk->requests, i);
            break;
        }
    }
    tk_request_destroy(r);
}

int tk_req_usable(const tn_request *r)
{
    return r != NULL && r->state != TK_REQ_NEW && r->state != TK_REQ_FINISHED;
}

/* -- what plugins read ----------------------------------------------- */

const char *tk_api_req_method(const tn_request *req)
{
    return req ? req->method : NULL;
}

const char *tk_api_req_path(const tn_request *req)
{
    return req ? req->path : NULL;
}

const char *tk_api_req_query(const tn_request *req)
{
    return req ? req->query : NULL;
}

/* Splits the query into decoded pairs once.  A value that does not decode
 * (bad escape, %00) is kept as NULL so that its name reads as "not valid"
 * rather than as absent or as a later duplicate. */
static int parse_query(tn_request *r)
{
    const char *p = r->query;
    r->query_parsed = 1;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t nlen = eq ? (size_t)(eq - p) : n;
        char *name = tk_percent_decode(p, nlen, 1);
        if (name != NULL && name[0] != '\0') {
            char *value = eq ? tk_percent_decode(eq + 1, n - nlen - 1, 1) : tk_strdup("");
            int rc = pair_add(&r->query_params, name, strlen(name), value);
            if (rc != TN_OK) {
                free(value);
                free(name);
                return rc;
            }
        }
        free(name);
        if (amp == NULL)
            break;
        p = amp + 1;
    }
    return TN_OK;
}

static const char *pair_find(const tk_list *l, const char *name, int nocase)
{
    for (size_t i = 0; i < l->n; i++) {
        const tk_pair *p = l->items[i];
        if (nocase ? strcasecmp(p->name, name) == 0 : strcmp(p->name, name) == 0)
            return p->value;
    }
    return NULL;
}

const char *tk_api_req_query_param(tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    if (!req->query_parsed && parse_query(req) != TN_OK)
        return NULL;
    return pair_find(&req->query_params, name, 0);
}

const char *tk_api_req_header(const tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    return pair_find(&req->headers, name, 1);
}

/* "a=1; b=2" from every Cookie header; pairs without "=" are skipped. */
static int parse_cookies(tn_request *r)
{
    r->cookies_parsed = 1;
    for (size_t h = 0; h < r->headers.n; h++) {
        const tk_pair *hdr = r->headers.items[h];
        if (strcasecmp(hdr->name, "Cookie") != 0)
            continue;
        const char *p = hdr->value;
        while (*p) {
            while (*p == ' ' || *p == '\t')
                p++;
            const char *semi = strchr(p, ';');
            size_t n = semi ? (size_t)(semi - p) : strlen(p);
            const char *eq = memchr(p, '=', n);
            if (eq != NULL && eq > p) {
                size_t vlen = n - (size_t)(eq + 1 - p);
                while (vlen > 0 && (eq[vlen] == ' ' || eq[vlen] == '\t'))
                    vlen--;
                char *value = tk_strndup(eq + 1, vlen);
                if (value == NULL || pair_add(&r->cookies, p, (size_t)(eq - p), value) != TN_OK) {
                    free(value);
                    return TN_ENOMEM;
                }
            }
            if (semi == NULL)
                break;
            p = semi + 1;
        }
    }
    return TN_OK;
}

const char *tk_api_req_cookie(tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    if (!req->cookies_parsed && parse_cookies(req) != TN_OK)
        return NULL;
    return pair_find(&req->cookies, name, 0);
}

const char *tk_api_req_param(const tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    return pair_find(&req->params, name, 0);
}

const void *tk_api_req_body(const tn_request *req, size_t *len)
{
    if (req == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = req->body_len;
    return req->body ? req->body : "";
}

const char *tk_api_req_tenant(const tn_request *req)
{
    return req ? req->tenant : NULL;
}

const char *tk_api_req_id(const tn_request *req)
{
    return req ? req->id : NULL;
}

const char *tk_api_req_client_addr(const tn_request *req)
{
    return req ? req->client_addr : NULL;
}

const char *tk_api_req_route(const tn_request *req)
{
    return req && req->route ? req->route->pattern : NULL;
}

int tk_api_req_is_tls(const tn_request *req)
{
    return req ? req->is_tls : 0;
}

/* Only an authenticate hook sets the principal, and only once: later
 * phases and the host's access check rely on it. */
int tk_api_req_set_principal(tn_request *req, const char *user_id, const char *roles)
{
    if (req == NULL || user_id == NULL || user_id[0] == '\0' ||
        !tk_is_field_value(user_id) || (roles != NULL && !tk_is_field_value(roles)))
        return TN_EINVAL;
    if (req->state != TK_REQ_RUNNING || req->step != TK_STEP_AUTHENTICATE ||
        req->user != NULL)
        return TN_ESTATE;
    char *u = tk_strdup(user_id);
    char *ro = tk_strdup(roles ? roles : "");
    if (u == NULL || ro == NULL) {
        free(u);
        free(ro);
        return TN_ENOMEM;
    }
    req->user = u;
    req->roles = ro;
    return TN_OK;
}

const char *tk_api_req_principal(const tn_request *req)
{
    return req ? req->user : NULL;
}

int tk_list_has_role(const char *list, const char *role)
{
    if (list == NULL || role == NULL || role[0] == '\0')
        return 0;
    size_t rn = strlen(role);
    const char *p = list;
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        if (t == rn && strncmp(p, role, rn) == 0)
            return 1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

int tk_api_req_has_role(const tn_request *req, const char *role)
{
    return req != NULL && req->user != NULL && tk_list_has_role(req->roles, role);
}

void *tk_api_req_alloc(tn_request *req, size_t n)
{
    if (req == NULL || n > SIZE_MAX - sizeof(tk_block))
        return NULL;
    tk_block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (b == NULL)
        return NULL;
    b->next = req->arena;
    req->arena = b;
    return b->data;
}

char *tk_api_req_strdup(tn_request *req, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *d = tk_api_req_alloc(req, n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

int tk_api_req_is_aborted(const tn_request *req)
{
    return req ? req->aborted : 0;
}
