"""The LightRAG image's sampler (OTEL_TRACES_SAMPLER=aistack_skip_probes) drops the traces of probe requests
and keeps every other trace whole."""

import importlib.util
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SPEC = importlib.util.spec_from_file_location(
    "aistack_probe_sampler",
    Path(__file__).resolve().parents[1] / "images" / "lightrag" / "probe-sampler" / "aistack_probe_sampler.py")
sampler = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(sampler)


def _exported(arg, requests):
    """Names of the spans exported for requests [(root name, url.path)], each with one child span."""
    provider, memory = TracerProvider(sampler=sampler.factory(arg)), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for name, path in requests:
        with tracer.start_as_current_span(name, attributes={"url.path": path}):
            with tracer.start_as_current_span(name + " child"):
                pass
    return sorted(span.name for span in memory.get_finished_spans())


def test_probe_traces_are_dropped_with_their_children():
    assert _exported("/health", [("GET /health", "/health"), ("POST /query", "/query")]) == [
        "POST /query", "POST /query child"]


def test_negative_control_a_request_that_is_not_a_probe_is_kept():
    # the same requests with another probe path: nothing is dropped, so the test above can fail
    assert _exported("/ready", [("GET /health", "/health"), ("POST /query", "/query")]) == [
        "GET /health", "GET /health child", "POST /query", "POST /query child"]


def test_paths_from_the_sampler_argument():
    assert sampler.paths_from("") == ["/health"] and sampler.paths_from(None) == ["/health"]
    assert sampler.paths_from(" /health, /ok ,") == ["/health", "/ok"]
    assert _exported("/health,/ok", [("GET /ok", "/ok"), ("GET /health", "/health")]) == []


def test_spans_without_a_path_are_kept():
    provider, memory = TracerProvider(sampler=sampler.factory("")), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("ChatCompletion", kind=trace.SpanKind.CLIENT):
        pass
    assert [span.name for span in memory.get_finished_spans()] == ["ChatCompletion"]
