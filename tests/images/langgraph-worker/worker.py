# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reference LangGraph worker of aistack.platform.

Watches a Redis list for jobs, runs a small LangGraph graph on each (a deterministic fake model, no
external LLM), writes the result to a Redis key, and serves ``/ok`` and ``/metrics`` on port 2024.

Reliable queue: each job is moved atomically (BLMOVE) from the queue into this worker's own
processing list ``<queue>:processing:<worker id>`` and removed from it only after the result is
written. Every worker refreshes a heartbeat key ``<queue>:alive:<worker id>`` with a short TTL; at
start and then periodically, a worker moves the jobs of processing lists whose heartbeat has expired
(a killed pod) back to the queue, so no job is lost when a pod dies mid-job. A job may therefore run
twice (at-least-once); results are keyed by job id, so the second run overwrites the first.

Job: JSON ``{"id": "...", "input": "text", "sleep": seconds (optional)}``.
Result: key ``<result prefix><id>`` = JSON ``{"id", "output", "words", "worker"}``.
"""

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypedDict

import redis
from langgraph.graph import END, START, StateGraph
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

LOG = logging.getLogger("langgraph-worker")

JOBS = Counter("langgraph_worker_jobs_total", "Jobs finished, by outcome", ["outcome"])
REQUEUED = Counter("langgraph_worker_requeued_total", "Jobs moved back to the queue from dead workers")
DURATION = Histogram("langgraph_worker_job_seconds", "Graph run time per job")
BUSY = Gauge("langgraph_worker_busy", "1 while a job runs")
QUEUE_UP = Gauge("langgraph_worker_queue_up", "1 when the queue answered the last heartbeat")


class Config:
    def __init__(self, env):
        self.backend = env.get("QUEUE_BACKEND", "redis")
        self.queue = env.get("QUEUE_NAME", "langgraph:jobs")
        self.result_prefix = env.get("RESULT_PREFIX", "langgraph:result:")
        self.result_ttl = int(env.get("RESULT_TTL_SECONDS", "86400"))
        self.worker_id = env.get("WORKER_ID") or socket.gethostname()
        self.heartbeat_ttl = int(env.get("HEARTBEAT_TTL_SECONDS", "15"))
        self.port = int(env.get("PORT", "2024"))
        self.model = env.get("AI_MODEL", "fake:echo-1")
        self.redis_url = env.get("REDIS_URL") or "redis://%s:%s/%s" % (
            env.get("REDIS_HOST", "localhost"), env.get("REDIS_PORT", "6379"), env.get("REDIS_DB", "0"))
        self.redis_password = env.get("REDIS_PASSWORD") or None
        self.credentials_file = env.get("CREDENTIALS_FILE", "")

    @property
    def processing(self):
        return "%s:processing:%s" % (self.queue, self.worker_id)

    def alive_key(self, worker_id):
        return "%s:alive:%s" % (self.queue, worker_id)


# ------------------------------------------------------------------ the graph
class State(TypedDict, total=False):
    input: str
    sleep: float
    model: str
    words: int
    output: str


def prepare(state):
    return {"input": " ".join(str(state.get("input", "")).split())}


def fake_model(state):
    """Deterministic stand-in for an LLM call: same input, same output."""
    delay = float(state.get("sleep") or 0)
    if delay > 0:
        time.sleep(delay)
    text = state["input"]
    return {"output": "%s says: %s" % (state.get("model", "fake"), text[::-1].upper()),
            "words": len(text.split())}


def build_graph():
    graph = StateGraph(State)
    graph.add_node("prepare", prepare)
    graph.add_node("model", fake_model)
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "model")
    graph.add_edge("model", END)
    return graph.compile()


# ------------------------------------------------------------------ tracing (optional)
def make_tracer():
    endpoint = os.environ.get("PHOENIX_COLLECTOR_ENDPOINT")
    if not endpoint:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        LOG.warning("tracing requested but OpenTelemetry is not installed")
        return None
    headers = {}
    if os.environ.get("PHOENIX_API_KEY"):
        headers["authorization"] = "Bearer " + os.environ["PHOENIX_API_KEY"]
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "langgraph-worker"),
                                "openinference.project.name": os.environ.get("PHOENIX_PROJECT_NAME", "default")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers)))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("langgraph-worker")


# ------------------------------------------------------------------ the worker
class Worker:
    def __init__(self, config, client=None):
        self.config = config
        self.redis = client or redis.Redis.from_url(config.redis_url, password=config.redis_password,
                                                    socket_timeout=30, socket_connect_timeout=5)
        self.graph = build_graph()
        self.tracer = make_tracer()
        self.stopping = threading.Event()
        self.last_heartbeat = 0.0

    # heartbeat: proves this worker alive to the others, and the queue reachable to /ok
    def heartbeat(self):
        self.redis.set(self.config.alive_key(self.config.worker_id), str(time.time()),
                       ex=self.config.heartbeat_ttl)
        self.last_heartbeat = time.monotonic()
        QUEUE_UP.set(1)

    def heartbeat_loop(self):
        while not self.stopping.wait(max(1, self.config.heartbeat_ttl // 3)):
            try:
                self.heartbeat()
            except redis.RedisError as err:
                QUEUE_UP.set(0)
                LOG.warning("heartbeat failed: %s", err)

    def healthy(self):
        return time.monotonic() - self.last_heartbeat < self.config.heartbeat_ttl

    def requeue_orphans(self):
        """Move the jobs of dead workers' processing lists (no heartbeat) back to the queue head."""
        moved = 0
        prefix = "%s:processing:" % self.config.queue
        for key in self.redis.scan_iter(match=prefix + "*", count=100):
            key = key.decode() if isinstance(key, bytes) else key
            owner = key[len(prefix):]
            if owner != self.config.worker_id and self.redis.exists(self.config.alive_key(owner)):
                continue
            # our own list at start: left by a previous process with the same id
            while self.redis.lmove(key, self.config.queue, "RIGHT", "LEFT") is not None:
                moved += 1
        if moved:
            REQUEUED.inc(moved)
            LOG.info("re-queued %d job(s) of dead workers", moved)
        return moved

    def run_job(self, raw):
        try:
            job = json.loads(raw)
            job_id = str(job["id"])
        except (ValueError, KeyError, TypeError):
            LOG.error("dropping malformed job: %r", raw[:200])
            JOBS.labels("malformed").inc()
            return None
        BUSY.set(1)
        started = time.monotonic()
        try:
            state = {"input": str(job.get("input", "")), "sleep": float(job.get("sleep") or 0),
                     "model": self.config.model}
            if self.tracer is not None:
                with self.tracer.start_as_current_span("langgraph.job") as span:
                    span.set_attribute("job.id", job_id)
                    span.set_attribute("openinference.span.kind", "CHAIN")
                    span.set_attribute("input.value", state["input"])
                    result = self.graph.invoke(state)
                    span.set_attribute("output.value", result["output"])
            else:
                result = self.graph.invoke(state)
            doc = {"id": job_id, "output": result["output"], "words": result["words"],
                   "worker": self.config.worker_id}
            outcome = "ok"
        except Exception as err:  # a failed graph is a result too; the job is not retried forever
            doc = {"id": job_id, "error": str(err), "worker": self.config.worker_id}
            outcome = "error"
        self.redis.set(self.config.result_prefix + job_id, json.dumps(doc), ex=self.config.result_ttl)
        DURATION.observe(time.monotonic() - started)
        JOBS.labels(outcome).inc()
        BUSY.set(0)
        LOG.info("job %s: %s", job_id, outcome)
        return doc

    def loop(self):
        self.heartbeat()
        self.requeue_orphans()
        threading.Thread(target=self.heartbeat_loop, daemon=True).start()
        next_scan = time.monotonic() + self.config.heartbeat_ttl
        while not self.stopping.is_set():
            try:
                if time.monotonic() >= next_scan:
                    self.requeue_orphans()
                    next_scan = time.monotonic() + self.config.heartbeat_ttl
                raw = self.redis.blmove(self.config.queue, self.config.processing, 2, "LEFT", "RIGHT")
                if raw is None:
                    continue
                self.run_job(raw)
                self.redis.lrem(self.config.processing, 1, raw)
            except redis.RedisError as err:
                LOG.warning("queue error: %s", err)
                self.stopping.wait(2)


def serve_http(worker):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            if self.path == "/ok":
                ok = worker.healthy()
                body = json.dumps({"status": "ok" if ok else "unavailable", "worker": worker.config.worker_id,
                                   "queue": worker.config.queue}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
            elif self.path == "/metrics":
                body = generate_latest()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            else:
                body = b'{"status": "not found"}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("0.0.0.0", worker.config.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = Config(os.environ)
    if config.backend != "redis":
        LOG.error("QUEUE_BACKEND=%s: this reference worker implements the redis backend only; the firebase "
                  "backend is for your own worker image", config.backend)
        return 2
    if config.credentials_file and not os.path.isfile(config.credentials_file):
        LOG.error("CREDENTIALS_FILE %s does not exist: mount the credentials Secret", config.credentials_file)
        return 2
    worker = Worker(config)
    signal.signal(signal.SIGTERM, lambda *_: worker.stopping.set())
    serve_http(worker)
    LOG.info("worker %s watching %s (model %s)", config.worker_id, config.queue, config.model)
    while True:
        try:
            worker.loop()
            return 0
        except redis.RedisError as err:
            LOG.warning("queue not reachable yet: %s", err)
            if worker.stopping.wait(3):
                return 0


if __name__ == "__main__":
    sys.exit(main())
