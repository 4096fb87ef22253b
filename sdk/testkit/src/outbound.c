/*
 * outbound.c - outbound calls in the testkit (http_call, call_cancel,
 * curl_run): nothing leaves the process.  The test scripts a reply (or a
 * failure) per method and URL, and reads back what the plugin sent.
 *
 * As on the host, a callback never runs inside the call that started it:
 * every call is queued as loop work and answered in tk_run_pending().  A
 * call tied to a request that was aborted or has finished by then gets
 * TN_ECANCELED, as does every call still queued when the kit is freed
 * (the host cancels a stopping worker's calls before fini()).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tk_internal.h"

#define TK_MAX_HOPS 20

typedef struct tk_script {
    char *method; /* NULL: any */
    char *url;
    int result; /* TN_OK: a reply; else a scripted failure */
    int status;
    tn_http_header *headers; /* names lower-case */
    size_t nheaders;
    char *body;
    char *message;
} tk_script;

typedef struct tk_sent_rec {
    tk_http_sent s; /* what the test reads; its strings are these: */
    tn_http_header *headers;
} tk_sent_rec;

typedef struct tk_curl_script {
    int result;
    int curl_code;
    char *error;
} tk_curl_script;

struct tk_outbound {
    tk_list scripts; /* tk_script *, newest last */
    tk_list sent;    /* tk_sent_rec * */
    tk_list curl;    /* tk_curl_script *, FIFO */
    size_t curl_runs;
};

struct tn_call {
    tk_kit *tk;
    tn_plugin *p;
    tn_request *req;
    int canceled;
    tn_http_fn hcb;
    tn_curl_fn ccb;
    void *easy;
    void *ud;
    char *method;
    char *url;
    size_t max_response;
    uint32_t redirects;
    int curl_result, curl_code;
    char *curl_error;
};

static struct tk_outbound *state(tk_kit *tk)
{
    if (tk->outbound == NULL)
        tk->outbound = calloc(1, sizeof *tk->outbound);
    return tk->outbound;
}

/* ---- scripts ------------------------------------------------------------ */

static void script_free(tk_script *s)
{
    for (size_t i = 0; i < s->nheaders; i++) {
        free((char *)s->headers[i].name);
        free((char *)s->headers[i].value);
    }
    free(s->headers);
    free(s->method);
    free(s->url);
    free(s->body);
    free(s->message);
    free(s);
}

/* "Name: value" lines, "\n" or "\r\n" apart. */
static int parse_headers(tk_script *s, const char *text)
{
    const char *p = text;

    while (p && *p) {
        const char *eol = strchr(p, '\n'), *colon;
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        colon = memchr(p, ':', n);
        if (colon) {
            tn_http_header *v = realloc(s->headers, (s->nheaders + 1) * sizeof *v);
            const char *val = colon + 1;
            if (!v)
                return TN_ENOMEM;
            s->headers = v;
            while (val < p + n && (*val == ' ' || *val == '\t'))
                val++;
            char *name = tk_strndup(p, (size_t)(colon - p));
            char *value = tk_strndup(val, (size_t)(p + n - val));
            if (!name || !value) {
                free(name);
                free(value);
                return TN_ENOMEM;
            }
            for (char *c = name; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            v[s->nheaders].name = name;
            v[s->nheaders].value = value;
            s->nheaders++;
        }
        p = eol ? eol + 1 : NULL;
    }
    return TN_OK;
}

static int add_script(tk_kit *tk, tk_script *s, const char *method, const char *url)
{
    struct tk_outbound *o = state(tk);

    if (!o || !url || !(s->url = tk_strdup(url)) || (method && !(s->method = tk_strdup(method))) ||
        tk_list_push(&o->scripts, s) != TN_OK) {
        script_free(s);
        return TN_ENOMEM;
    }
    if (s->method)
        for (char *c = s->method; *c; c++)
            *c = (char)toupper((unsigned char)*c);
    return TN_OK;
}

int tk_http_reply(tk_kit *tk, const char *method, const char *url, int status, const char *headers,
                  const char *body)
{
    tk_script *s;

    if (!tk || !url || status < 100 || status > 599)
        return TN_EINVAL;
    if (!(s = calloc(1, sizeof *s)))
        return TN_ENOMEM;
    s->status = status;
    if ((body && !(s->body = tk_strdup(body))) || parse_headers(s, headers) != TN_OK) {
        script_free(s);
        return TN_ENOMEM;
    }
    return add_script(tk, s, method, url);
}

int tk_http_fail(tk_kit *tk, const char *method, const char *url, int result, const char *message)
{
    tk_script *s;

    if (!tk || !url || result >= 0)
        return TN_EINVAL;
    if (!(s = calloc(1, sizeof *s)))
        return TN_ENOMEM;
    s->result = result;
    if (!(s->message = tk_strdup(message ? message : "scripted failure"))) {
        script_free(s);
        return TN_ENOMEM;
    }
    return add_script(tk, s, method, url);
}

int tk_curl_result(tk_kit *tk, int result, int curl_code, const char *error)
{
    struct tk_outbound *o = state(tk);
    tk_curl_script *c;

    if (!o || !(c = calloc(1, sizeof *c)))
        return TN_ENOMEM;
    c->result = result;
    c->curl_code = curl_code;
    if (!(c->error = tk_strdup(error ? error : "")) || tk_list_push(&o->curl, c) != TN_OK) {
        free(c->error);
        free(c);
        return TN_ENOMEM;
    }
    return TN_OK;
}

static const tk_script *find_script(tk_kit *tk, const char *method, const char *url)
{
    struct tk_outbound *o = tk->outbound;

    for (size_t i = o ? o->scripts.n : 0; i > 0; i--) {
        const tk_script *s = o->scripts.items[i - 1];
        if (strcmp(s->url, url) == 0 && (!s->method || strcmp(s->method, method) == 0))
            return s;
    }
    return NULL;
}

/* ---- what was sent ------------------------------------------------------ */

static int record_sent(tn_call *c, const tn_http_request *r)
{
    struct tk_outbound *o = state(c->tk);
    tk_sent_rec *rec = calloc(1, sizeof *rec);
    size_t i;

    if (!o || !rec)
        goto fail;
    rec->s.plugin = c->p->desc.name;
    rec->s.method = tk_strdup(c->method);
    rec->s.url = tk_strdup(c->url);
    rec->s.timeout_ms = r ? r->timeout_ms : 0;
    rec->s.tied_to_request = c->req != NULL;
    if (r && r->nheaders > 0) {
        if (!(rec->headers = calloc(r->nheaders, sizeof *rec->headers)))
            goto fail;
        for (i = 0; i < r->nheaders; i++) {
            rec->headers[i].name = tk_strdup(r->headers[i].name);
            rec->headers[i].value = tk_strdup(r->headers[i].value);
            rec->s.nheaders++;
            if (!rec->headers[i].name || !rec->headers[i].value)
                goto fail;
        }
    }
    rec->s.headers = rec->headers;
    rec->s.body_len = r ? r->body_len : 0;
    if (!(rec->s.body = tk_strndup(r && r->body ? r->body : "", rec->s.body_len)))
        goto fail;
    if (!rec->s.method || !rec->s.url || tk_list_push(&o->sent, rec) != TN_OK)
        goto fail;
    return TN_OK;
fail:
    if (rec) {
        for (i = 0; i < rec->s.nheaders; i++) {
            free((char *)rec->headers[i].name);
            free((char *)rec->headers[i].value);
        }
        free(rec->headers);
        free((char *)rec->s.method);
        free((char *)rec->s.url);
        free((char *)rec->s.body);
        free(rec);
    }
    return TN_ENOMEM;
}

size_t tk_http_sent_count(const tk_kit *tk)
{
    return tk && tk->outbound ? tk->outbound->sent.n : 0;
}

const tk_http_sent *tk_http_sent_at(const tk_kit *tk, size_t i)
{
    if (i >= tk_http_sent_count(tk))
        return NULL;
    return &((tk_sent_rec *)tk->outbound->sent.items[i])->s;
}

const char *tk_http_sent_header(const tk_http_sent *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->nheaders; i++)
        if (strcasecmp(s->headers[i].name, name) == 0)
            return s->headers[i].value;
    return NULL;
}

size_t tk_curl_run_count(const tk_kit *tk)
{
    return tk && tk->outbound ? tk->outbound->curl_runs : 0;
}

/* ---- calls ---------------------------------------------------------------- */

static void call_free(tn_call *c)
{
    free(c->method);
    free(c->url);
    free(c->curl_error);
    free(c);
}

static void nothing(void *ud)
{
    (void)ud;
}

static int ended(const tn_call *c)
{
    return c->canceled || (c->req && (c->req->aborted || c->req->state == TK_REQ_FINISHED));
}

static void answer(tn_call *c, int result, const char *error, const tk_script *s)
{
    tn_http_response res;

    memset(&res, 0, sizeof res);
    res.size = sizeof res;
    res.result = result;
    res.error = result == TN_OK ? "" : error;
    res.body = "";
    if (result == TN_OK) {
        res.status = s->status;
        res.headers = s->headers;
        res.nheaders = s->nheaders;
        res.body = s->body ? s->body : "";
        res.body_len = strlen(res.body);
    }
    c->hcb(c->p, &res, c->ud);
}

static const char *location_of(const tk_script *s)
{
    for (size_t i = 0; i < s->nheaders; i++)
        if (strcmp(s->headers[i].name, "location") == 0)
            return s->headers[i].value;
    return NULL;
}

/* An http_call's answer: the script of its URL, hop by hop. */
static void run_http(tn_call *c)
{
    char msg[600];
    const tk_script *s;
    int hops = 0;

    for (;;) {
        s = find_script(c->tk, c->method, c->url);
        if (!s) {
            int https = strncasecmp(c->url, "https://", 8) == 0;
            snprintf(msg, sizeof msg, "testkit: %s %.500s", c->method,
                     https ? "has no scripted reply (tk_http_reply)"
                           : "refused: not https and not scripted (outbound.allow on a host)");
            answer(c, https ? TN_ENETWORK : TN_EPOLICY, msg, NULL);
            return;
        }
        if (s->result != TN_OK) {
            answer(c, s->result, s->message, NULL);
            return;
        }
        if (s->body && strlen(s->body) > c->max_response) {
            answer(c, TN_ETOOBIG, "response larger than max_response: cut", NULL);
            return;
        }
        const char *loc = location_of(s);
        if (c->redirects == 0 || !loc || s->status < 301 || s->status > 308 || ++hops > TK_MAX_HOPS)
            break;
        c->redirects--;
        char *next = tk_strdup(loc);
        if (!next) {
            answer(c, TN_ENOMEM, "out of memory", NULL);
            return;
        }
        free(c->url);
        c->url = next;
        if (s->status == 303 ||
            ((s->status == 301 || s->status == 302) && strcmp(c->method, "POST") == 0)) {
            free(c->method);
            c->method = tk_strdup("GET");
        }
        if (!c->method || record_sent(c, NULL) != TN_OK) {
            answer(c, TN_ENOMEM, "out of memory", NULL);
            return;
        }
    }
    answer(c, TN_OK, "", s);
}

static void run_call(void *ud, int status)
{
    tn_call *c = ud;
    int cancel = status == TN_ECANCELED || ended(c);

    if (c->req)
        c->req->pending--;
    if (c->ccb) {
        c->ccb(c->p, c->easy, cancel ? TN_ECANCELED : c->curl_result,
               cancel ? 42 /* CURLE_ABORTED_BY_CALLBACK */ : c->curl_code,
               cancel                    ? "cancelled"
               : c->curl_result == TN_OK ? ""
                                         : c->curl_error,
               c->ud);
    } else if (cancel) {
        answer(c, TN_ECANCELED,
               c->canceled              ? "cancelled by the plugin"
               : status == TN_ECANCELED ? "the worker is stopping"
                                        : "the client went away",
               NULL);
    } else {
        run_http(c);
    }
    call_free(c);
}

static int queue_call(tn_call *c)
{
    tk_pending *p = calloc(1, sizeof *p);

    if (!p)
        return TN_ENOMEM;
    p->kind = TK_PENDING_WORK;
    p->plugin = c->p;
    p->work = nothing;
    p->done = run_call;
    p->ud = c;
    if (tk_list_push(&c->tk->pending, p) != TN_OK) {
        free(p);
        return TN_ENOMEM;
    }
    if (c->req)
        c->req->pending++;
    return TN_OK;
}

static tn_call *call_new(tn_plugin *self, tn_request *req, void *ud)
{
    tn_call *c = calloc(1, sizeof *c);

    if (c) {
        c->tk = self->tk;
        c->p = self;
        c->req = req;
        c->ud = ud;
    }
    return c;
}

int tk_api_http_call(tn_plugin *self, tn_request *req, const tn_http_request *r, tn_http_fn cb,
                     void *ud, tn_call **out)
{
    tn_call *c;

    if (out)
        *out = NULL;
    if (!self)
        return TN_EINVAL;
    if (!r || r->size < offsetof(tn_http_request, reserved) || !r->url || !cb)
        return tk_plugin_fail(self, TN_EINVAL, "http_call: request, its size, url or cb missing");
    if (r->body_len > 0 && !r->body)
        return tk_plugin_fail(self, TN_EINVAL, "http_call: body_len without body");
    for (size_t i = 0; i < r->nheaders; i++)
        if (!r->headers || !host_header_name_valid(r->headers[i].name) || !r->headers[i].value ||
            strpbrk(r->headers[i].value, "\r\n"))
            return tk_plugin_fail(self, TN_EINVAL, "http_call: header %zu is not a valid field", i);
    if (req && req->aborted)
        return tk_plugin_fail(self, TN_ECANCELED, "http_call: the client went away");
    if (req && !tk_req_usable(req))
        return tk_plugin_fail(self, TN_ESTATE, "http_call: the request is over");
    if (!(c = call_new(self, req, ud)))
        return tk_plugin_fail(self, TN_ENOMEM, "http_call: out of memory");
    c->hcb = cb;
    c->method = tk_strdup(r->method ? r->method : r->body ? "POST" : "GET");
    c->url = tk_strdup(r->url);
    c->max_response = r->max_response ? r->max_response : 4u << 20;
    c->redirects = r->max_redirects;
    if (c->method)
        for (char *m = c->method; *m; m++)
            *m = (char)toupper((unsigned char)*m);
    if (!c->method || !c->url || record_sent(c, r) != TN_OK || queue_call(c) != TN_OK) {
        call_free(c);
        return tk_plugin_fail(self, TN_ENOMEM, "http_call: out of memory");
    }
    if (out)
        *out = c;
    return TN_OK;
}

void tk_api_call_cancel(tn_call *c)
{
    if (c)
        c->canceled = 1;
}

int tk_api_curl_run(tn_plugin *self, tn_request *req, void *easy, tn_curl_fn cb, void *ud,
                    tn_call **out)
{
    struct tk_outbound *o;
    tn_call *c;

    if (out)
        *out = NULL;
    if (!self)
        return TN_EINVAL;
    if (!easy || !cb)
        return tk_plugin_fail(self, TN_EINVAL, "curl_run: easy handle or cb missing");
    if (req && !tk_req_usable(req))
        return tk_plugin_fail(self, TN_ESTATE, "curl_run: the request is over");
    if (!(o = state(self->tk)) || !(c = call_new(self, req, ud)))
        return tk_plugin_fail(self, TN_ENOMEM, "curl_run: out of memory");
    c->ccb = cb;
    c->easy = easy;
    if (o->curl.n > 0) {
        tk_curl_script *s = o->curl.items[0];
        tk_list_remove_at(&o->curl, 0);
        c->curl_result = s->result;
        c->curl_code = s->curl_code;
        c->curl_error = s->error;
        free(s);
    }
    if (queue_call(c) != TN_OK) {
        call_free(c);
        return tk_plugin_fail(self, TN_ENOMEM, "curl_run: out of memory");
    }
    o->curl_runs++;
    if (out)
        *out = c;
    return TN_OK;
}

void tk_outbound_free(tk_kit *tk)
{
    struct tk_outbound *o = tk->outbound;
    size_t i, j;

    if (!o)
        return;
    for (i = 0; i < o->scripts.n; i++)
        script_free(o->scripts.items[i]);
    for (i = 0; i < o->sent.n; i++) {
        tk_sent_rec *r = o->sent.items[i];
        for (j = 0; j < r->s.nheaders; j++) {
            free((char *)r->headers[j].name);
            free((char *)r->headers[j].value);
        }
        free(r->headers);
        free((char *)r->s.method);
        free((char *)r->s.url);
        free((char *)r->s.body);
        free(r);
    }
    for (i = 0; i < o->curl.n; i++) {
        tk_curl_script *s = o->curl.items[i];
        free(s->error);
        free(s);
    }
    tk_list_clear(&o->scripts);
    tk_list_clear(&o->sent);
    tk_list_clear(&o->curl);
    free(o);
    tk->outbound = NULL;
}
