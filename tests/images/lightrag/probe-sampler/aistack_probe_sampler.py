"""OTEL_TRACES_SAMPLER=aistack_skip_probes: every trace is kept except those whose root request is a probe.

Kubernetes probes a pod every few seconds; a server traced by FastAPI's own telemetry (LightRAG's) would
send four spans per probe to Phoenix, hundreds of thousands a day that hide the real traces. The root
span of such a request carries `url.path` when it starts, so it can be dropped there; its children follow
their parent as with the SDK's parentbased_always_on. OTEL_TRACES_SAMPLER_ARG lists the paths
(comma-separated, default /health).
"""
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult


class _SkipPaths(Sampler):
    def __init__(self, paths):
        self._paths = frozenset(paths)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None):
        if attributes and attributes.get("url.path") in self._paths:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self):
        return "SkipPaths{%s}" % ",".join(sorted(self._paths))


def paths_from(arg):
    """The probe paths from OTEL_TRACES_SAMPLER_ARG (None or empty: /health)."""
    paths = [p.strip() for p in (arg or "").split(",") if p.strip()]
    return paths or ["/health"]


def factory(arg):
    """Entry point of the opentelemetry_traces_sampler group (the SDK passes OTEL_TRACES_SAMPLER_ARG)."""
    return ParentBased(root=_SkipPaths(paths_from(arg)))
