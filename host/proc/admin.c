/*
 * admin.c - the master's admin listener (/healthz, /readyz, /metrics) and
 * the declaration of every metric family the host exports, so the
 * exposition page lists them before their first sample.
 */
#include "admin.h"

#include <string.h>

#include "buf.h"
#include "http_server.h"
#include "request.h"

void host_admin_dispatch(tn_request *r)
{
    const host_admin *a = r->srv->ctx;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        host_resp_error(r, 405, "method_not_allowed", "admin pages are read-only");
    } else if (strcmp(r->path, "/healthz") == 0) {
        host_resp_json(r, 200, "{\"status\":\"ok\"}");
    } else if (strcmp(r->path, "/readyz") == 0) {
        if (a->ready(a->ud))
            host_resp_json(r, 200, "{\"status\":\"ready\"}");
        else
            host_resp_error(r, 503, "not_ready", "not ready");
    } else if (strcmp(r->path, "/metrics") == 0) {
        host_buf page;
        host_buf_init(&page);
        host_metrics_render(a->metrics, &page);
        host_resp_status(r, 200);
        host_resp_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        host_resp_body(r, page.data ? page.data : "", page.len);
        host_buf_free(&page);
    } else {
        host_resp_error(r, 404, "not_found", "no such admin page");
    }
    host_response_send(r);
}

void host_admin_declare_families(host_metrics *mx)
{
    host_metrics_family(mx, "tanomu_http_requests_total", HOST_METRIC_COUNTER,
                        "Requests by tenant, route and status class.");
    host_metrics_family(mx, "tanomu_http_request_duration_seconds", HOST_METRIC_HISTOGRAM,
                        "Request latency from first byte to response handed to the socket.");
    host_metrics_family(mx, "tanomu_reloads_total", HOST_METRIC_COUNTER,
                        "Configuration reloads by result.");
    host_metrics_family(mx, "tanomu_plugin_load_failures_total", HOST_METRIC_COUNTER,
                        "Plugins refused at start (ABI, symbol, name, dependency).");
    host_metrics_family(mx, "tanomu_worker_restarts_total", HOST_METRIC_COUNTER,
                        "Workers started again after one died.");
    host_metrics_family(mx, "tanomu_worker_crashes_total", HOST_METRIC_COUNTER,
                        "Worker deaths by the plugin that was running.");
    host_metrics_family(mx, "tanomu_route_breaker_trips_total", HOST_METRIC_COUNTER,
                        "Crash circuit breaker trips by plugin, route and tenant.");
    host_metrics_family(mx, "tanomu_route_breaker_open", HOST_METRIC_GAUGE,
                        "1 while a route is answered 503 for a tenant after crashes.");
    host_metrics_family(mx, "tanomu_route_breaker_rejected_total", HOST_METRIC_COUNTER,
                        "Requests answered 503 by an open crash circuit breaker.");
    host_metrics_family(mx, "tanomu_maintenance_refused_total", HOST_METRIC_COUNTER,
                        "Tenant requests answered 503 by maintenance mode, by tenant.");
    host_metrics_family(mx, "tanomu_generation", HOST_METRIC_GAUGE,
                        "Configuration generation being served.");
    host_metrics_family(mx, "tanomu_accept_paused_total", HOST_METRIC_COUNTER,
                        "Times a worker stopped accepting for a while because it was out of "
                        "file descriptors (EMFILE/ENFILE).");
    host_metrics_family(mx, "tanomu_outbox_delivered_total", HOST_METRIC_COUNTER,
                        "Durable events delivered.");
    host_metrics_family(mx, "tanomu_outbox_failed_total", HOST_METRIC_COUNTER,
                        "Durable event deliveries that failed (to be retried or dead).");
    host_metrics_family(mx, "tanomu_outbox_dead_total", HOST_METRIC_COUNTER,
                        "Durable events given up after max_attempts (tanomu events --dead).");
    host_metrics_family(mx, "tanomu_db_pool_connections", HOST_METRIC_GAUGE,
                        "Database connections per worker slot by state.");
    host_metrics_family(mx, "tanomu_db_pool_waiting", HOST_METRIC_GAUGE,
                        "Requests waiting for a database connection per worker slot.");
    host_metrics_family(mx, "tanomu_db_commit_unknown_total", HOST_METRIC_COUNTER,
                        "Commits whose connection broke during COMMIT: outcome unknown, "
                        "answered 500 commit_unknown.");
    host_metrics_family(mx, "tanomu_db_pool_rejected_total", HOST_METRIC_COUNTER,
                        "Requests refused a connection (queue full or wait timed out), "
                        "per worker process.");
    host_metrics_family(mx, "tanomu_job_runs_total", HOST_METRIC_COUNTER,
                        "Scheduled job runs ended, by plugin, job and result (ok, failed).");
    host_metrics_family(mx, "tanomu_job_lag_seconds", HOST_METRIC_HISTOGRAM,
                        "Delay from a job's tick (or a manual run's request) to its start.");
    host_metrics_family(mx, "tanomu_outbound_calls_total", HOST_METRIC_COUNTER,
                        "Plugins' outbound calls by plugin, destination host:port and result "
                        "(status class, or policy, timeout, too_big, network, canceled).");
    host_metrics_family(mx, "tanomu_outbound_call_duration_seconds", HOST_METRIC_HISTOGRAM,
                        "Outbound call latency by plugin, queueing included.");
    /* Zero series, so dashboards see them before the first event. */
    host_metrics_series(mx, "tanomu_reloads_total", "result=\"ok\"");
    host_metrics_series(mx, "tanomu_reloads_total", "result=\"failed\"");
    host_metrics_series(mx, "tanomu_plugin_load_failures_total", "");
    host_metrics_series(mx, "tanomu_worker_restarts_total", "");
    host_metrics_series(mx, "tanomu_accept_paused_total", "");
}
