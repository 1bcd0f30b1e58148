# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks that a converged site works, made the way its users reach it: HTTP through the ingress by host name.

Pure parts first (validation, URLs, judging answers, the sample flow, the Redis wire format), then one class,
``SiteChecker``, that does the I/O: HTTP to the apps, the Kubernetes API for discovery (Ingress hosts, Secrets,
EndpointSlices) and for the "where to look" of a failure (pods and warning events of the release), and TCP to
the databases. Every object a check creates is named ``<run id>-...`` and removed at the end, also after a
failure. Results are the dicts ``module_utils/verify.py`` turns into the table and the reports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import socket
import ssl
import time
import uuid

from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.six.moves import http_client

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.naming import dns_label_problem

KINDS = ("langflow", "lightrag", "phoenix", "prometheus", "loki", "database", "worker")
# The health path each app answers on, as its chart's probes use it.
HEALTH_PATHS = {"langflow": "/health", "lightrag": "/health", "phoenix": "/healthz", "prometheus": "/-/ready"}
# LightRAG's storages that must be on PostgreSQL when the site says so (its /health "configuration").
LIGHTRAG_PG_STORAGES = ("kv_storage", "vector_storage", "doc_status_storage")
RUN_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


# ---------------------------------------------------------------- validation (before any connection)

def _require(app, key, field):
    value = app.get(key)
    if value in (None, "", [], {}):
        raise AistackError("'%s' is required for a %s check" % (key, app.get("kind")), field="%s.%s" % (field, key),
                           fix="set %s in the verify plan (roles/verify builds it from the inventory)" % key)
    return value


def _secret_ref(app, key, field):
    ref = app.get(key)
    if ref in (None, "", {}):
        return None
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
        raise AistackError("%r is not a Secret reference" % (ref,), field="%s.%s" % (field, key),
                           fix="give {name: <Secret>, key: <key>} of a Secret in the app's namespace")
    return {"name": str(ref["name"]), "key": str(ref["key"])}


def validate(params):
    """Checked copies of the module's parameters; raises AistackError naming the field and the fix."""
    run_id = params.get("run_id") or "aistack-verify-%s" % uuid.uuid4().hex[:8]
    if not RUN_ID_RE.match(run_id) or not run_id.startswith("aistack-verify"):
        raise AistackError("run_id %r is not a verification name" % run_id, field="run_id",
                           fix="a DNS label starting with 'aistack-verify' (objects are named after it), or leave it out")
    address = params.get("connect_address") or ""
    params = dict(params, timeout=15.0 if params.get("timeout") is None else params["timeout"])
    if address and not re.match(r"^[A-Za-z0-9.:\[\]-]+$", address):
        raise AistackError("%r is not a host name or address" % address, field="connect_address",
                           fix="an IP address or host name the ingress controller listens on, e.g. 127.0.0.1")
    for key in ("http_port", "https_port"):
        port = params.get(key)
        if port is not None and not 0 < int(port) < 65536:
            raise AistackError("%s is not a TCP port" % port, field=key, fix="a port between 1 and 65535")
    if float(params["timeout"]) <= 0:
        raise AistackError("timeout must be positive", field="timeout", fix="seconds per request, e.g. 15")
    apps = []
    for index, app in enumerate(params.get("apps") or []):
        field = "apps[%d]" % index
        if not isinstance(app, dict):
            raise AistackError("every app is a dict", field=field, fix="see the module's documentation")
        kind = app.get("kind")
        if kind not in KINDS:
            raise AistackError("kind is %r" % (kind,), field=field + ".kind", fix="one of %s" % ", ".join(KINDS))
        item = dict((k, v) for k, v in app.items() if v is not None)  # the argspec fills unset keys with None
        item["tenant"] = str(app.get("tenant") or "platform")
        for key in ("name", "namespace"):
            problem = dns_label_problem(str(_require(app, key, field)))
            if problem:
                raise AistackError("%r %s" % (app[key], problem), field="%s.%s" % (field, key),
                                   fix="the release (or Service) name and its namespace, as DNS labels")
        for key in ("login_secret", "api_key_secret", "password_secret"):
            item[key] = _secret_ref(app, key, field)
        if kind == "langflow":
            if item.get("plane", "ide") not in ("ide", "runtime"):
                raise AistackError("plane is %r" % (item.get("plane"),), field=field + ".plane", fix="ide or runtime")
            item.setdefault("plane", "ide")
            _require(item, "login_secret", field)
            item.setdefault("username", "admin")
        if kind == "database" and item.get("engine") not in ("postgresql", "redis"):
            raise AistackError("engine is %r" % (item.get("engine"),), field=field + ".engine", fix="postgresql or redis")
        if kind == "worker":
            _require(item, "password_secret", field)
            item.setdefault("queue", "langgraph:jobs")
            item.setdefault("result_prefix", "langgraph:result:")
            _require(item, "redis_service", field)
        if kind == "loki":
            item.setdefault("port", 3100)
        apps.append(item)
    if not apps:
        raise AistackError("nothing to verify", field="apps", fix="list the site's apps (roles/verify does)")
    return dict(params, run_id=run_id, connect_address=address, apps=apps)


# ---------------------------------------------------------------- pure helpers

def result(check, app, ok, seconds, expected="", got="", where=""):
    """One check's result in the shape module_utils/verify.py reads."""
    return {"check": check, "tenant": app.get("tenant") or "platform", "status": "passed" if ok else "failed",
            "seconds": round(max(seconds, 0.0), 3), "expected": "" if ok else expected,
            "got": "" if ok else got, "where": "" if ok else where}


def skipped(check, app, why):
    return {"check": check, "tenant": app.get("tenant") or "platform", "status": "skipped", "seconds": 0.0,
            "expected": "", "got": why, "where": ""}


def ingress_target(ingress, release):
    """(host, tls) of the Ingress rule of ``release``; None when it has no host."""
    spec = (ingress or {}).get("spec") or {}
    for rule in spec.get("rules") or []:
        host = rule.get("host")
        if host:
            tls = any(host in (t.get("hosts") or []) for t in spec.get("tls") or [])
            return host, tls
    return None


def base_url(host, tls, http_port=None, https_port=None):
    """The URL a user types: scheme, host and the port when it is not the scheme's default."""
    port = https_port if tls else http_port
    default = 443 if tls else 80
    return "%s://%s%s" % ("https" if tls else "http", host, "" if not port or int(port) == default else ":%d" % int(port))


def short(text, limit=300):
    text = text if isinstance(text, str) else json.dumps(text) if text is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def http_summary(status, body):
    if status is None:
        return "no answer (%s)" % short(body, 200)
    return "HTTP %s %s" % (status, short(body, 200))


def json_or_none(body):
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None


def lightrag_storage_problem(health, backend="postgresql"):
    """What is wrong with LightRAG's /health answer for a site on ``backend``, or None."""
    if not isinstance(health, dict) or health.get("status") != "healthy":
        return "status is not healthy"
    config = health.get("configuration") or {}
    if backend == "postgresql":
        wrong = ["%s=%s" % (key, config.get(key)) for key in LIGHTRAG_PG_STORAGES
                 if not str(config.get(key) or "").startswith("PG")]
        if wrong:
            return "storages not on PostgreSQL: %s" % ", ".join(wrong)
    return None


def prometheus_targets_problem(answer):
    """Targets that are not up in Prometheus's /api/v1/targets answer, or None."""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        return "no target list"
    active = (answer.get("data") or {}).get("activeTargets") or []
    if not active:
        return "no active targets"
    down = ["%s %s (%s)" % (t.get("labels", {}).get("job"), t.get("labels", {}).get("pod") or t.get("scrapeUrl"),
                            t.get("lastError") or t.get("health")) for t in active if t.get("health") != "up"]
    return "targets down: %s" % "; ".join(down) if down else None


def loki_missing_apps(answer, apps):
    """The apps (Loki label ``app`` values) that have no log stream, from a label-values answer."""
    values = set((answer or {}).get("data") or []) if isinstance(answer, dict) else set()
    return [a for a in apps if a not in values]


def spans_with(answer, needle):
    """Spans of a Phoenix /v1/projects/<p>/spans answer whose attributes or name contain ``needle``."""
    spans = (answer or {}).get("data") or [] if isinstance(answer, dict) else []
    return [s for s in spans if needle in json.dumps(s)]


def pod_summary(pods, events):
    """A failure's 'where': the release's pods (phase, readiness, restarts, waiting reason) and warning events."""
    parts = []
    for pod in pods:
        status = pod.get("status") or {}
        containers = status.get("containerStatuses") or []
        ready = sum(1 for c in containers if c.get("ready"))
        restarts = sum(int(c.get("restartCount") or 0) for c in containers)
        waiting = [((c.get("state") or {}).get("waiting") or {}).get("reason") for c in containers]
        waiting = [w for w in waiting if w]
        parts.append("pod %s %s %d/%d ready%s%s" % (
            pod["metadata"]["name"], status.get("phase"), ready, len(containers),
            ", %d restarts" % restarts if restarts else "", ", " + ",".join(waiting) if waiting else ""))
    if not pods:
        parts.append("no pods")
    for event in events[-3:]:
        parts.append("event %s: %s" % (event.get("reason"), short(event.get("message"), 160)))
    return "; ".join(parts)


# ---------------------------------------------------------------- the sample flow (Langflow)

def sample_flow(components, name, base_url_value, api_key, model, marker):
    """A chat flow (Chat Input -> OpenAI model -> Chat Output) built from the live component registry.

    ``components`` is Langflow's ``GET /api/v1/all`` answer; the flow carries the templates this Langflow
    serves, so no component code is kept in this collection. Returns the body for ``POST /api/v1/flows/``.
    """
    found = {}
    for category in (components or {}).values():
        if isinstance(category, dict):
            for type_name, template in category.items():
                found.setdefault(type_name, template)
    # Langflow 1.13 serves the OpenAI component from its lfx-openai bundle as "ext:openai:OpenAIModelComponent@...".
    model_type = next((t for t in sorted(found) if t == "OpenAIModel" or "OpenAIModelComponent" in t), None)
    missing = [t for t in ("ChatInput", "ChatOutput") if t not in found] + ([] if model_type else ["OpenAIModel"])
    if missing:
        raise AistackError("this Langflow serves no %s component" % ", ".join(missing), field="langflow",
                           fix="check the Langflow version; the sample flow needs Chat Input, OpenAI and Chat Output")
    nodes, ids = [], {}
    for index, type_name in enumerate(("ChatInput", model_type, "ChatOutput")):
        node = json.loads(json.dumps(found[type_name]))
        node_id = "%s-%s" % ("OpenAIModel" if type_name == model_type else type_name, marker[-5:])
        ids[type_name] = node_id
        nodes.append({"id": node_id, "type": "genericNode", "position": {"x": 300 * index, "y": 0},
                      "data": {"id": node_id, "type": type_name, "node": node}})
    _set_field(nodes[1], ("openai_api_base", "base_url"), base_url_value)
    _set_field(nodes[1], ("api_key", "openai_api_key"), api_key)
    _set_field(nodes[1], ("model_name", "model"), model)
    _set_field(nodes[1], ("stream",), False)
    edges = [_edge(nodes[0], "message", nodes[1], "input_value"), _edge(nodes[1], "text_output", nodes[2], "input_value")]
    return {"name": name, "description": "aistack verification flow (removed after the check)",
            "data": {"nodes": nodes, "edges": edges}, "endpoint_name": name}


def echo_flow(components, name, flow_id=None):
    """A flow Chat Input -> Chat Output (no model) from the live component registry, in Langflow's export format:
    what a flow file kept with the inventory looks like (``id`` and ``endpoint_name`` set, so a runtime that loads
    it upserts it by id and runs it by name)."""
    found = {}
    for category in (components or {}).values():
        if isinstance(category, dict):
            found.update(category)
    if "ChatInput" not in found or "ChatOutput" not in found:
        raise AistackError("this Langflow serves no Chat Input/Output component", field="langflow")
    nodes = []
    for index, type_name in enumerate(("ChatInput", "ChatOutput")):
        node_id = "%s-%s" % (type_name, name[-5:])
        nodes.append({"id": node_id, "type": "genericNode", "position": {"x": 300 * index, "y": 0},
                      "data": {"id": node_id, "type": type_name, "node": json.loads(json.dumps(found[type_name]))}})
    doc = {"name": name, "description": "chat input to chat output", "endpoint_name": name,
           "data": {"nodes": nodes, "edges": [_edge(nodes[0], "message", nodes[1], "input_value")]}}
    if flow_id:
        doc["id"] = flow_id
    return doc


def _set_field(node, names, value):
    template = node["data"]["node"].get("template") or {}
    for name in names:
        if name in template and isinstance(template[name], dict):
            if name == "model_name" and template[name].get("options") is not None and value not in template[name]["options"]:
                template[name]["options"] = list(template[name]["options"]) + [value]
            template[name]["value"] = value
            if name in ("openai_api_base", "base_url", "api_key", "openai_api_key"):
                template[name]["load_from_db"] = False
            return True
    return False


def _output(node, preferred):
    outputs = node["data"]["node"].get("outputs") or []
    for out in outputs:
        if out.get("name") == preferred:
            return out
    if not outputs:
        raise AistackError("component %s has no outputs" % node["data"]["type"], field="langflow")
    return outputs[0]


def _edge(source, output_name, target, field_name):
    out = _output(source, output_name)
    template = target["data"]["node"].get("template") or {}
    field = template.get(field_name) or {}
    source_handle = {"dataType": source["data"]["type"], "id": source["id"], "name": out.get("name"),
                     "output_types": out.get("types") or ["Message"]}
    target_handle = {"fieldName": field_name, "id": target["id"], "inputTypes": field.get("input_types") or ["Message"],
                     "type": field.get("type") or "str"}
    return {"id": "edge-%s-%s" % (source["id"], target["id"]), "source": source["id"], "target": target["id"],
            "sourceHandle": _handle(source_handle), "targetHandle": _handle(target_handle),
            "data": {"sourceHandle": source_handle, "targetHandle": target_handle}}


def _handle(doc):
    # Langflow's handle ids are its JSON with the double quote replaced by "œ".
    return json.dumps(doc).replace('"', "\u0153")


def run_answer(answer):
    """The chat text of a Langflow ``/api/v1/run`` answer, or None."""
    try:
        for output in answer.get("outputs") or []:
            for item in output.get("outputs") or []:
                results = item.get("results") or {}
                message = results.get("message") or {}
                text = message.get("text") if isinstance(message, dict) else None
                if text:
                    return text
                for value in (item.get("outputs") or {}).values():
                    if isinstance(value, dict) and isinstance(value.get("message"), str):
                        return value["message"]
    except AttributeError:
        return None
    return None


# ---------------------------------------------------------------- Redis wire format (the worker's queue)

def resp_command(*args):
    """A Redis command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def resp_parse(data):
    """(value, rest) of one RESP reply; raises ValueError when ``data`` holds no complete reply."""
    if not data:
        raise ValueError("empty")
    kind, line_end = data[:1], data.find(b"\r\n")
    if line_end < 0:
        raise ValueError("incomplete")
    line, rest = data[1:line_end], data[line_end + 2:]
    if kind == b"+":
        return line.decode(), rest
    if kind == b"-":
        return AistackError("Redis answered: %s" % line.decode(errors="replace")), rest
    if kind == b":":
        return int(line), rest
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, rest
        if len(rest) < size + 2:
            raise ValueError("incomplete")
        return rest[:size].decode(errors="replace"), rest[size + 2:]
    if kind == b"*":
        items = []
        for dummy in range(int(line)):
            item, rest = resp_parse(rest)
            items.append(item)
        return items, rest
    raise ValueError("unknown reply type %r" % kind)


# ---------------------------------------------------------------- I/O

class _PinnedHTTPSConnection(http_client.HTTPSConnection):
    """HTTPS to ``address`` with the certificate checked for the URL's host (curl --resolve)."""

    def __init__(self, host, address, port, context, timeout):
        http_client.HTTPSConnection.__init__(self, host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class SiteChecker(object):
    """Runs the checks of ``validate``'s output; one method does each kind of I/O."""

    def __init__(self, params, client):
        self.p = params
        self.client = client
        self.results = []
        self.created = []
        self.removed = []
        self._secrets = {}
        self._context = ssl.create_default_context(cafile=params.get("ca_path") or None)
        if not params.get("validate_certs", True):
            self._context.check_hostname = False
            self._context.verify_mode = ssl.CERT_NONE

    # -- the only HTTP call
    def http(self, url, method="GET", body=None, headers=None, form=None, timeout=None):
        """(status, text) of one request; status None when nothing answered. Connects to connect_address
        when set, keeping the URL's host for the Host header and TLS, as ``curl --resolve`` does."""
        scheme, rest = url.split("://", 1)
        hostport, path = rest.partition("/")[::2]
        host, port = hostport.partition(":")[::2]
        port = int(port) if port else (443 if scheme == "https" else 80)
        address = self.p.get("connect_address") or host
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        timeout = timeout or float(self.p["timeout"])
        if scheme == "https":
            conn = _PinnedHTTPSConnection(host, address, port, self._context, timeout)
        else:
            conn = http_client.HTTPConnection(address, port, timeout=timeout)
        headers["Host"] = hostport
        try:
            conn.request(method, "/" + path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8", "replace")
        except (OSError, http_client.HTTPException, ssl.SSLError) as exc:
            return None, "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()

    # -- Kubernetes reads
    def secret_value(self, namespace, ref):
        import base64
        key = (namespace, ref["name"], ref["key"])
        if key not in self._secrets:
            secret = self.client.get("v1", "Secret", ref["name"], namespace) or {}
            raw = (secret.get("data") or {}).get(ref["key"])
            if raw is None:
                raise AistackError("Secret %s/%s has no key %s" % (namespace, ref["name"], ref["key"]),
                                   field="secret", fix="converge the site first (playbooks/site.yml)")
            self._secrets[key] = base64.b64decode(raw).decode()
        return self._secrets[key]

    def where(self, app):
        """Where to look when a check of ``app`` fails: its pods and recent warning events."""
        selector = "app.kubernetes.io/instance=%s" % app["name"]
        if app.get("selector"):
            selector = app["selector"]
        try:
            pods = self.client.list("v1", "Pod", app["namespace"], label_selector=selector)
            events = [e for e in self.client.list("v1", "Event", app["namespace"])
                      if e.get("type") == "Warning" and app["name"] in str((e.get("involvedObject") or {}).get("name"))]
        except AistackError as exc:
            return "namespace %s (%s)" % (app["namespace"], exc)
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        text = "namespace %s: %s; logs: kubectl -n %s logs -l %s" % (
            app["namespace"], pod_summary(pods, events), app["namespace"], selector)
        lines = self.last_log_lines(pods)
        return text + ("; last log lines: %s" % " | ".join(lines) if lines else "")

    def last_log_lines(self, pods, count=3):
        """The last lines the first pod logged (shortened), or [] when they cannot be read."""
        if not pods:
            return []
        try:
            from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
            meta = pods[0]["metadata"]
            log = CoreV1Api(self.client.api_client).read_namespaced_pod_log(
                meta["name"], meta["namespace"], tail_lines=count, _request_timeout=float(self.p["timeout"]))
        except Exception:  # a pod without logs yet, or no permission: the rest of the message still helps
            return []
        return [short(line, 160) for line in (log or "").splitlines()[-count:] if line.strip()]

    def url_of(self, app):
        """The app's URL through its Ingress (named after the release), or raises with what is missing."""
        ingress = self.client.get("networking.k8s.io/v1", "Ingress", app.get("ingress") or app["name"], app["namespace"])
        target = ingress_target(ingress, app["name"])
        if not target:
            raise AistackError("no Ingress %s with a host in namespace %s" % (app.get("ingress") or app["name"], app["namespace"]))
        return base_url(target[0], target[1], self.p.get("http_port"), self.p.get("https_port"))

    def service_proxy(self, app, path):
        """(status, text) of a GET through the API server's service proxy (for what has no Ingress, e.g. Loki)."""
        try:
            from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
            # the raw answer: with its content preloaded the client turns JSON into a Python repr
            resp = CoreV1Api(self.client.api_client).connect_get_namespaced_service_proxy_with_path(
                "%s:%s" % (app["name"], app["port"]), app["namespace"], path.lstrip("/"),
                _request_timeout=float(self.p["timeout"]), _preload_content=False)
            return resp.status, resp.data.decode("utf-8", "replace")
        except Exception as exc:  # the client's ApiException and urllib3's errors alike
            return getattr(exc, "status", None), short(getattr(exc, "body", None) or str(exc))

    # -- bookkeeping
    def record(self, check, app, ok, started, expected="", got="", where=None):
        if not ok and where is None:
            where = self.where(app)
        self.results.append(result(check, app, ok, time.time() - started, expected, got, where or ""))
        return ok

    def wait_for(self, probe, seconds, interval=2.0):
        """Call ``probe`` until it returns a truthy value or ``seconds`` pass; return its last value."""
        deadline = time.time() + seconds
        value = probe()
        while not value and time.time() < deadline:
            time.sleep(interval)
            value = probe()
        return value

    # -- the checks, one method per kind of app
    def run(self, smoke=True):
        """Run every check; the objects created on the way are removed at the end, also after a failure."""
        self.smoke = smoke
        self.spans = []  # (app, project, needle, what) that Phoenix must show
        self.phoenix_projects = []  # projects only the verification made (Langflow's per-flow projects)
        self.phoenix_expected = any(a["kind"] == "phoenix" for a in self.p["apps"])
        order = sorted(self.p["apps"], key=lambda a: a["kind"] == "phoenix")
        try:
            for app in order:
                getattr(self, "_check_" + app["kind"])(app)
        finally:
            self.cleanup()
        return self.results

    def _label(self, app, what):
        return "%s %s" % (app.get("label") or app["name"], what)

    def _reach(self, app, path, judge=None, headers=None):
        """Reachability through the ingress; returns (base URL, parsed answer) or None."""
        started = time.time()
        check = self._label(app, "reachable")
        try:
            url = self.url_of(app)
        except AistackError as exc:
            self.record(check, app, False, started, "an Ingress for %s" % app["name"], str(exc))
            return None
        status, body = self.http(url + path, headers=headers)
        problem = None if status == 200 else http_summary(status, body)
        doc = json_or_none(body)
        if not problem and judge:
            problem = judge(doc)
        self.record(check, app, not problem, started, "HTTP 200 from %s%s" % (url, path), problem)
        return None if problem else (url, doc)

    def _skip_writes(self, app, *whats):
        for what in whats:
            self.results.append(skipped(self._label(app, what), app, "read-only mode (smoke checks off)"))

    def _check_langflow(self, app):
        reached = self._reach(app, HEALTH_PATHS["langflow"],
                              lambda d: None if isinstance(d, dict) and d.get("status") == "ok" else "status is not ok")
        if not reached:
            return self._skip_dependents(app, "login and flows", "flow run")
        url = reached[0]
        started = time.time()
        password = self.secret_value(app["namespace"], app["login_secret"])
        status, body = self.http(url + "/api/v1/login", method="POST",
                                 form={"username": app["username"], "password": password})
        token = (json_or_none(body) or {}).get("access_token") if status == 200 else None
        auth = {"Authorization": "Bearer %s" % token}
        ok = False
        got = http_summary(status, body)
        if token:
            status, body = self.http(url + "/api/v1/flows/?get_all=true", headers=auth)
            ok = status == 200 and isinstance(json_or_none(body), list)
            got = http_summary(status, body)
        self.record(self._label(app, "login and flows"), app, ok, started,
                    "the superuser (%s, Secret %s) logs in and lists flows" % (app["username"], app["login_secret"]["name"]),
                    got)
        if not ok:
            return self._skip_dependents(app, "flow run")
        if not self.smoke:
            return self._skip_writes(app, "flow run")
        self._langflow_run(app, url, auth)

    def _skip_dependents(self, app, *whats):
        for what in whats:
            self.results.append(skipped(self._label(app, what), app, "not run: an earlier check of this app failed"))

    def _langflow_run(self, app, url, auth):
        started = time.time()
        check = self._label(app, "flow run")
        marker = "%s-%s" % (self.p["run_id"], app["plane"])
        status, body = self.http(url + "/api/v1/api_key/", method="POST", body={"name": marker}, headers=auth)
        key = json_or_none(body) or {}
        if status not in (200, 201) or not key.get("api_key"):
            return self.record(check, app, False, started, "an API key for the run API", http_summary(status, body))
        self.created.append(("langflow api key", url + "/api/v1/api_key/%s" % key["id"], auth))
        flow_ref = app.get("flow")
        if not flow_ref:
            status, body = self.http(url + "/api/v1/all", headers=auth, timeout=max(60.0, float(self.p["timeout"])))
            if status != 200:
                return self.record(check, app, False, started, "the component list", http_summary(status, body))
            llm = app.get("llm") or {}
            try:
                api_key = self.secret_value(llm["namespace"], llm["api_key_secret"]) if llm.get("api_key_secret") else "none"
                flow = sample_flow(json_or_none(body), marker, llm.get("base_url") or "", api_key,
                                   llm.get("model") or "gpt-4o-mini", marker)
            except AistackError as exc:
                return self.record(check, app, False, started, "the sample flow", str(exc))
            status, body = self.http(url + "/api/v1/flows/", method="POST", body=flow, headers=auth)
            created = json_or_none(body) or {}
            if status not in (200, 201) or not created.get("id"):
                return self.record(check, app, False, started, "the sample flow imported", http_summary(status, body))
            self.created.append(("langflow flow", url + "/api/v1/flows/%s" % created["id"], auth))
            flow_ref = created["id"]
        question = "%s: say hello" % marker
        status, body = self.http(url + "/api/v1/run/%s?stream=false" % quote(str(flow_ref)), method="POST",
                                 body={"input_value": question, "input_type": "chat", "output_type": "chat",
                                       "session_id": marker},
                                 headers={"x-api-key": key["api_key"]}, timeout=max(120.0, float(self.p["timeout"])))
        text = run_answer(json_or_none(body) or {}) if status == 200 else None
        ok = bool(text) and (not app.get("expect_echo") or marker in text)
        self.record(check, app, ok, started, "a chat answer from the flow %s" % flow_ref,
                    http_summary(status, body) if not text else "answer %r" % short(text, 120),
                    None if ok else self.where(app) + "; the model endpoint %s" % ((app.get("llm") or {}).get("base_url") or "?"))
        # Langflow names the Phoenix project after the flow (spaces as dashes), not after the release.
        project = marker if not app.get("flow") else str(app.get("flow_project") or app["flow"]).replace(" ", "-")
        if ok and self.phoenix_expected:
            self.spans.append((app, project, marker, "the flow run"))
            if not app.get("flow"):
                self.phoenix_projects.append(project)

    def _check_lightrag(self, app):
        headers = {}
        if app.get("api_key_secret"):
            headers["X-API-Key"] = self.secret_value(app["namespace"], app["api_key_secret"])
        backend = app.get("storage", "postgresql")
        reached = self._reach(app, HEALTH_PATHS["lightrag"], lambda d: lightrag_storage_problem(d, backend), headers=headers)
        if not reached:
            return self._skip_dependents(app, "insert and query")
        if not self.smoke:
            return self._skip_writes(app, "insert and query")
        url, started = reached[0], time.time()
        check = self._label(app, "insert and query")
        marker = self.p["run_id"]
        source = "%s.txt" % marker
        text = "%s is the verification document of aistack. It says the platform answers from its databases." % marker
        status, body = self.http(url + "/documents/text", method="POST", body={"text": text, "file_source": source},
                                 headers=headers)
        track = (json_or_none(body) or {}).get("track_id")
        if status != 200 or not track:
            return self.record(check, app, False, started, "the document accepted", http_summary(status, body))

        def processed():
            got = json_or_none(self.http(url + "/documents/track_status/%s" % track, headers=headers)[1]) or {}
            docs = got.get("documents") or []
            for doc in docs:
                entry = ("lightrag document", url, headers, doc["id"])
                if entry not in self.created:
                    self.created.append(entry)
            states = [str(d.get("status")).lower() for d in docs]
            if any(s == "failed" for s in states):
                return "failed: %s" % "; ".join(str(d.get("error_msg")) for d in docs)
            return "processed" if states and all(s == "processed" for s in states) else None

        state = self.wait_for(processed, float(app.get("wait", 180)), 3.0)
        if state != "processed":
            return self.record(check, app, False, started, "the document processed", state or "still processing")
        # The query is the document's own text: its nearest chunk under any embedding model, the local site's
        # hash-based stand-in included; naive mode searches the chunks alone (no keyword extraction by the LLM).
        status, body = self.http(url + "/query", method="POST",
                                 body={"query": text, "mode": app.get("mode", "naive"), "include_references": True},
                                 headers=headers, timeout=max(120.0, float(self.p["timeout"])))
        answer = json_or_none(body) or {}
        cited = [r.get("file_path") for r in answer.get("references") or []]
        ok = status == 200 and bool(answer.get("response")) and source in cited
        self.record(check, app, ok, started, "an answer citing %s" % source,
                    http_summary(status, body) if status != 200 else "references %s" % (cited or "none"))
        if ok and app.get("project") and self.phoenix_expected:
            self.spans.append((app, app["project"], marker, "the query"))

    def _check_phoenix(self, app):
        reached = self._reach(app, HEALTH_PATHS["phoenix"])
        if not reached:
            return self._skip_dependents(app, *["traces of %s" % s[1] for s in self.spans])
        url = reached[0]
        for source, project, needle, what in self.spans:
            started = time.time()

            def found(project=project, needle=needle):
                status, body = self.http(url + "/v1/projects/%s/spans?limit=200" % quote(project))
                return spans_with(json_or_none(body), needle) if status == 200 else None

            spans = self.wait_for(found, float(app.get("wait", 60)), 3.0)
            if project in self.phoenix_projects:
                self.created.append(("phoenix project", url + "/v1/projects/%s" % quote(project), {}))
            self.record(self._label(app, "traces of %s" % project), source, bool(spans), started,
                        "spans of %s (%s) in project %s" % (what, needle, project),
                        "none found" if not spans else "", None if spans else self.where(app))

    def _check_prometheus(self, app):
        reached = self._reach(app, HEALTH_PATHS["prometheus"])
        if not reached:
            return self._skip_dependents(app, "targets up")
        started = time.time()
        status, body = self.http(reached[0] + "/api/v1/targets?state=active")
        answer = json_or_none(body)
        problem = http_summary(status, body) if status != 200 else prometheus_targets_problem(answer)
        if not problem and app.get("apps"):
            scraped = set(t.get("labels", {}).get("app") for t in answer["data"]["activeTargets"])
            missing = [a for a in app["apps"] if a not in scraped]
            problem = "no target for %s" % ", ".join(missing) if missing else None
        self.record(self._label(app, "targets up"), app, not problem, started, "every scrape target up", problem)

    def _check_loki(self, app):
        started = time.time()
        status, body = self.service_proxy(app, "/ready")
        if status != 200:
            return self.record(self._label(app, "ready"), app, False, started, "Loki /ready", http_summary(status, body))
        self.record(self._label(app, "ready"), app, True, started)
        started = time.time()

        def streams():
            status, body = self.service_proxy(app, "/loki/api/v1/label/app/values")
            missing = loki_missing_apps(json_or_none(body), app.get("apps") or [])
            return (not missing, missing, status, body)

        def complete():
            state = streams()
            return state if state[0] else None

        state = self.wait_for(complete, float(app.get("wait", 30)), 3.0) or streams()
        self.record(self._label(app, "log streams"), app, state[0], started,
                    "log lines of %s" % ", ".join(app.get("apps") or []),
                    "no streams for %s" % ", ".join(state[1]) if state[2] == 200 else http_summary(state[2], state[3]))

    def endpoints(self, namespace, service):
        """(address, port) pairs of a Service's EndpointSlices (the external_service registration)."""
        slices = self.client.list("discovery.k8s.io/v1", "EndpointSlice", namespace,
                                  label_selector="kubernetes.io/service-name=%s" % service)
        pairs = []
        for item in slices:
            ports = [p.get("port") for p in item.get("ports") or [] if p.get("port")]
            for endpoint in item.get("endpoints") or []:
                for address in endpoint.get("addresses") or []:
                    pairs.extend((address, port) for port in ports)
        return pairs

    def _check_database(self, app):
        started = time.time()
        pairs = self.endpoints(app["namespace"], app["name"])
        errors = []
        for address, port in pairs:
            try:
                socket.create_connection((address, int(port)), float(self.p["timeout"])).close()
            except OSError as exc:
                errors.append("%s:%s %s" % (address, port, exc))
        ok = bool(pairs) and not errors
        where = "the %s registered as Service %s/%s (%s)%s" % (
            app["engine"], app["namespace"], app["name"], ", ".join("%s:%s" % p for p in pairs) or "no endpoints",
            "; on the infra host: docker compose -p %s ps" % app["compose_project"] if app.get("compose_project") else "")
        self.record(self._label(app, "accepts connections"), app, ok, started,
                    "a TCP connection to each endpoint", "; ".join(errors) or "no endpoints", where)

    def _check_worker(self, app):
        started = time.time()
        pods = self.client.list("v1", "Pod", app["namespace"],
                                label_selector=app.get("selector") or "app.kubernetes.io/instance=%s" % app["name"])
        ready = [p for p in pods if all(c.get("ready") for c in (p.get("status") or {}).get("containerStatuses") or [{}])]
        self.record(self._label(app, "ready"), app, bool(ready), started, "a Ready worker pod",
                    "%d of %d pods Ready" % (len(ready), len(pods)))
        if not ready:
            return self._skip_dependents(app, "job")
        if not self.smoke:
            return self._skip_writes(app, "job")
        started = time.time()
        check = self._label(app, "job")
        service = app["redis_service"]
        pairs = self.endpoints(service["namespace"], service["name"])
        if not pairs:
            return self.record(check, app, False, started, "the queue's Redis endpoints",
                               "Service %s/%s has none" % (service["namespace"], service["name"]))
        password = self.secret_value(app["namespace"], app["password_secret"])
        job_id = "%s-job" % self.p["run_id"]
        result_key = app["result_prefix"] + job_id
        text = "%s worker check" % self.p["run_id"]
        try:
            self.redis(pairs[0], password, "RPUSH", app["queue"], json.dumps({"id": job_id, "input": text}))
            self.created.append(("redis key", pairs[0], password, result_key))

            def done():
                return self.redis(pairs[0], password, "GET", result_key)

            raw = self.wait_for(done, float(app.get("wait", 60)), 1.0)
        except (OSError, AistackError, ValueError) as exc:
            return self.record(check, app, False, started, "the job queued and answered", str(exc))
        output = (json_or_none(raw) or {}).get("output") if raw else None
        self.record(check, app, bool(output), started, "a result under %s" % result_key,
                    "no result after %s s" % app.get("wait", 60) if not raw else "result %s" % short(raw, 120))
        if output and app.get("project") and self.phoenix_expected:
            self.spans.append((app, app["project"], job_id, "the job"))

    def redis(self, endpoint, password, *command):
        """One Redis command after AUTH, over a plain connection; returns the reply."""
        sock = socket.create_connection(endpoint, float(self.p["timeout"]))
        try:
            payload = (resp_command("AUTH", password) if password else b"") + resp_command(*command)
            sock.sendall(payload)
            data, replies = b"", []
            want = 2 if password else 1
            while len(replies) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    raise OSError("Redis closed the connection")
                data += chunk
                try:
                    while data and len(replies) < want:
                        value, data = resp_parse(data)
                        replies.append(value)
                except ValueError:
                    continue
        finally:
            sock.close()
        for reply in replies:
            if isinstance(reply, AistackError):
                raise reply
        return replies[-1]

    def cleanup(self):
        """Remove what the checks created (flows, API keys, documents, result keys); never raises."""
        for item in reversed(self.created):
            try:
                if item[0] in ("langflow flow", "langflow api key"):
                    ok = self.http(item[1], method="DELETE", headers=item[2])[0] in (200, 204, 404)
                elif item[0] == "phoenix project":
                    ok = self._delete_project(item[1])
                elif item[0] == "lightrag document":
                    ok = self._delete_document(item[1], item[2], item[3])
                else:
                    self.redis(item[1], item[2], "DEL", item[3])
                    ok = True
            except (OSError, AistackError, ValueError):
                ok = False
            self.removed.append({"what": item[0], "removed": ok})

    def _delete_project(self, url, seconds=12.0, interval=2.0):
        """Delete a Phoenix project and keep it deleted: an app's exporter sends its last spans in a batch a few
        seconds after the run, and a span for a deleted project creates it again."""
        deadline = time.time() + seconds
        gone = False
        while True:
            status = self.http(url)[0]
            if status == 200:
                gone = False
                if self.http(url, method="DELETE")[0] not in (200, 204, 404):
                    return False
            else:
                gone = status == 404
            if time.time() >= deadline:
                return gone
            time.sleep(interval)

    def _delete_document(self, url, headers, doc_id, seconds=60.0):
        """LightRAG answers "busy" while its pipeline runs: ask again until it starts the deletion."""
        def attempt():
            status, body = self.http(url + "/documents/delete_document", method="DELETE",
                                     body={"doc_ids": [doc_id], "delete_file": True, "delete_llm_cache": True},
                                     headers=headers)
            state = (json_or_none(body) or {}).get("status")
            return state if status == 200 and state != "busy" else None
        return self.wait_for(attempt, seconds, 2.0) == "deletion_started"


def plan(params):
    """What a run would check, without connecting (check mode): one skipped result per check."""
    out = []
    for app in params["apps"]:
        label = app.get("label") or app["name"]
        whats = {"langflow": ["reachable", "login and flows", "flow run"], "lightrag": ["reachable", "insert and query"],
                 "phoenix": ["reachable", "traces"], "prometheus": ["reachable", "targets up"],
                 "loki": ["ready", "log streams"], "database": ["accepts connections"], "worker": ["ready", "job"]}
        for what in whats[app["kind"]]:
            out.append(skipped("%s %s" % (label, what), app, "check mode: planned, not run"))
    return out
