/*
 * request.c - the request a test sends and what plugins read of it:
 * method, path, query parameters, headers, cookies, route parameters,
 * body, tenant, principal, and memory that lives as long as the request.
 * Header rules, cookie and query lookup and percent-decoding (%00 refused)
 * are the host's own (host/core/http_util.c); found values are copied into
 * the request's memory, as the host does.
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
    free(r->user);
    free(r->roles);
    pairs_free(&r->headers);
    pairs_free(&r->resp_headers);
    host_buf_free(&r->resp_body);
    tk_tx_clear(&r->tx);
    for (int i = 0; i < TN_PHASE_COUNT; i++)
        tk_list_clear(&r->hooks[i]);
    while (r->arena != NULL) {
        tk_block *b = r->arena;
        r->arena = b->next;
        free(b);
    }
    free(r);
}

tn_request *tk_req_new(tk_kit *tk, const char *tenant, const char *method, const char *target)
{
    /* A method is a token, as a header name is. */
    if (tk == NULL || tenant == NULL || tenant[0] == '\0' || method == NULL ||
        !host_header_name_valid(method) || target == NULL || target[0] == '\0')
        return NULL;
    for (const char *c = target; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return NULL; /* no HTTP parser would hand this over */
    tn_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->tk = tk;
    r->state = TK_REQ_NEW;
    host_buf_init(&r->resp_body);
    /* The host's request-line rules: the target split as it splits it
     * (fragment dropped), and what its server answers without a hook. */
    char *split = tk_strdup(target);
    const char *path = target, *query = "";
    if (split != NULL && host_target_split(split, &path, &query) != 0) {
        r->refused = 400;
        path = target;
        query = "";
    }
    if (r->refused == 0)
        r->refused = host_method_status(method);
    r->tenant = tk_strdup(tenant);
    r->method = tk_strdup(method);
    r->target = tk_strdup(target);
    r->path = split ? tk_strdup(path) : NULL;
    r->query = split ? tk_strdup(query) : NULL;
    free(split);
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
    if (r == NULL || name == NULL || value == NULL || !host_header_name_valid(name) ||
        !host_header_value_valid(value))
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
    if (r == NULL || addr == NULL || !host_header_value_valid(addr))
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
    if ((r->state != TK_REQ_NEW && r->state != TK_REQ_FINISHED) || r->pending > 0) {
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

void tk_req_end(tn_request *r)
{
    r->state = TK_REQ_FINISHED;
    tk_db_request_end(r);
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

static const char *pair_find(const tk_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++) {
        const tk_pair *p = l->items[i];
        if (strcasecmp(p->name, name) == 0)
            return p->value;
    }
    return NULL;
}

/* n bytes of s as a string in the request's memory. */
static char *arena_strndup(tn_request *r, const char *s, size_t n)
{
    char *d = tk_req_arena_alloc(r, n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

const char *tk_api_req_query_param(tn_request *req, const char *name)
{
    const char *v;
    size_t n;
    if (req == NULL || name == NULL || host_query_find(req->query, name, &v, &n) != 0)
        return NULL;
    char *out = tk_req_arena_alloc(req, n + 1);
    if (out == NULL || host_percent_decode_to(v, n, 1, out) != 0)
        return NULL; /* not valid: a bad escape or %00 */
    return out;
}

const char *tk_api_req_header(const tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    return pair_find(&req->headers, name);
}

/* Every header in the order the test set them, as the host gives them in
 * arrival order: fn's first non-zero return ends the walk and is returned. */
int tk_api_req_header_each(const tn_request *req, tn_header_fn fn, void *ud)
{
    if (req == NULL || fn == NULL)
        return TN_EINVAL;
    for (size_t i = 0; i < req->headers.n; i++) {
        const tk_pair *h = req->headers.items[i];
        int rc = fn(h->name, h->value, ud);
        if (rc != 0)
            return rc;
    }
    return TN_OK;
}

/* The first Cookie header that has it, as on the host. */
const char *tk_api_req_cookie(tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < req->headers.n; i++) {
        const tk_pair *h = req->headers.items[i];
        const char *v;
        size_t n;
        if (strcasecmp(h->name, "Cookie") == 0 && host_cookie_find(h->value, name, &v, &n) == 0)
            return arena_strndup(req, v, n);
    }
    return NULL;
}

const char *tk_api_req_param(const tn_request *req, const char *name)
{
    if (req == NULL || name == NULL)
        return NULL;
    for (int i = 0; i < req->match.nparams; i++)
        if (strcmp(req->match.names[i], name) == 0)
            return req->params[i];
    return NULL;
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
    return req && req->match.route ? req->match.route->pattern : NULL;
}

int tk_api_req_is_tls(const tn_request *req)
{
    return req ? req->is_tls : 0;
}

/* Only an authenticate hook sets the principal, and only once: later
 * phases and the host's access check rely on it (S11).  The checks, and
 * their order, are the host's: as there, a hook suspended in the
 * authenticate phase (a session looked up in the database) may set it
 * from its callback, before it resumes. */
int tk_api_req_set_principal(tn_request *req, const char *user_id, const char *roles)
{
    if (req == NULL)
        return TN_EINVAL;
    if ((req->state != TK_REQ_RUNNING && req->state != TK_REQ_SUSPENDED) ||
        req->step != TK_STEP_AUTHENTICATE || req->user != NULL)
        return TN_ESTATE;
    if (user_id == NULL || user_id[0] == '\0' || strlen(user_id) > 256 ||
        !host_header_value_valid(user_id) || (roles != NULL && !host_header_value_valid(roles)))
        return TN_EINVAL;
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

int tk_api_req_has_role(const tn_request *req, const char *role)
{
    return req != NULL && req->user != NULL && role != NULL &&
           host_roles_contain(req->roles, role, strlen(role));
}

/* One block per allocation: simple, and ASan sees every overrun. */
void *tk_req_arena_alloc(tn_request *r, size_t n)
{
    if (n > SIZE_MAX - sizeof(tk_block))
        return NULL;
    tk_block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (b == NULL)
        return NULL;
    b->next = r->arena;
    r->arena = b;
    return b->data;
}

void *tk_api_req_alloc(tn_request *req, size_t n)
{
    return req ? tk_req_arena_alloc(req, n) : NULL;
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
