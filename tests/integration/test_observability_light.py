"""The observability role in light mode on the real cluster: Phoenix (built from PyPI arize-phoenix) receives a
span sent over OTLP/HTTP to its cluster Service and returns it through its REST API; Prometheus (Debian's
package) scrapes itself and an annotated pod, so `up` has targets. Idempotent on the second run."""

import json
import uuid
from pathlib import Path

import pytest

from conftest import local_image_vars, wait_until

from test_langgraph_worker import ensure_image

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"aistack.local/phoenix:20.26.1": ROOT / "tests/images/phoenix",
          "aistack.local/prometheus:2.53.3": ROOT / "tests/images/prometheus"}

SEND_SPAN = """
import json, sys, urllib.request
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
base, name = sys.argv[1], sys.argv[2]
provider = TracerProvider(resource=Resource.create({"openinference.project.name": "aistack-test"}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces")))
with provider.get_tracer("t").start_as_current_span(name) as span:
    span.set_attribute("openinference.span.kind", "CHAIN")
provider.shutdown()
"""

QUERY = """
import json, sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + "/v1/projects/aistack-test/spans?limit=50").read().decode())
"""


@pytest.fixture(scope="session")
def observability_images(kubeconfig):
    for ref, ctx in IMAGES.items():
        ensure_image(ref, ctx)


def _wait_for(what, fn, timeout):
    return wait_until(what, fn, timeout, interval=2)


def test_light_mode(run_playbook, kubectl, namespace, tmp_path, observability_images):
    ns = namespace
    playbook = tmp_path / "obs.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.observability\n")
    extra = {**local_image_vars(), "observability_namespace": ns, "observability_environment": "dev",
             "observability_phoenix_storage_size": "256Mi", "observability_prometheus_scrape_interval": "5s",
             "observability_prometheus_namespaces": [ns], "observability_wait_timeout": 240,
             # Loki and Promtail: test_observability_loki.py
             "observability_loki_enabled": False, "observability_promtail_enabled": False,
             "observability_phoenix_resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                                 "limits": {"cpu": "1", "memory": "1Gi"}}}
    try:
        proc = run_playbook(playbook, extra_vars={**extra, "observability_environment": "prd"})
        assert proc.returncode != 0 and "observability_phoenix_database_secret" in proc.stdout
        first = run_playbook(playbook, extra_vars=extra)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        second = run_playbook(playbook, extra_vars=extra)
        assert second.returncode == 0 and second.recap["changed"] == 0, second.stdout[-4000:]

        pod = kubectl("-n", ns, "get", "pod", "-l", "app.kubernetes.io/name=phoenix", "-o",
                      "jsonpath={.items[0].metadata.name}").stdout
        base = "http://phoenix.%s.svc.cluster.local:6006" % ns
        name = "span-" + uuid.uuid4().hex[:8]
        kubectl("-n", ns, "exec", pod, "--", "python", "-c", SEND_SPAN, base, name)

        def found():
            out = kubectl("-n", ns, "exec", pod, "--", "python", "-c", QUERY, base, check=False).stdout
            try:
                return [s for s in json.loads(out)["data"] if s.get("name") == name]
            except ValueError:
                return []
        spans = _wait_for("the span in Phoenix", found, 60)
        assert spans[0]["name"] == name

        # an annotated pod for kubernetes_sd; Prometheus' own target too
        kubectl("-n", ns, "run", "scrapeme", "--image=aistack.local/prometheus:2.53.3", "--image-pull-policy=Never",
                "--annotations=prometheus.io/scrape=true", "--annotations=prometheus.io/port=9090",
                "--overrides", json.dumps({"spec": {"containers": [{
                    "name": "scrapeme", "image": "aistack.local/prometheus:2.53.3", "imagePullPolicy": "Never",
                    "args": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/p"],
                    "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}}}]}}))
        prom = kubectl("-n", ns, "get", "pod", "-l", "app.kubernetes.io/name=prometheus", "-o",
                       "jsonpath={.items[0].metadata.name}").stdout

        def up_targets():
            out = kubectl("-n", ns, "exec", pod, "--", "python", "-c",
                          "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                          "http://prometheus.%s.svc.cluster.local:9090/api/v1/query?query=up%%3D%%3D1" % ns, check=False).stdout
            try:
                jobs = {r["metric"]["job"] for r in json.loads(out)["data"]["result"]}
            except (ValueError, KeyError):
                return None
            return jobs if {"prometheus", "kubernetes-pods"} <= jobs else None
        assert _wait_for("up targets", up_targets, 90) == {"prometheus", "kubernetes-pods"}
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", ns + "-prometheus", "--ignore-not-found", check=False)
