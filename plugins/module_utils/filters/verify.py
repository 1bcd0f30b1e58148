# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The results of a site verification as a table, a JSON report and JUnit XML (pure functions).

One result is one check of one tenant: ``check`` (what was checked), ``tenant`` (the team/env, or
``platform``), ``status`` (passed, failed or skipped; or ``ok`` as a boolean), ``seconds`` it took, and for a
failure ``expected``, ``got`` and ``where`` (the pod, events or log lines to look at). Results carry no
secrets: the playbook builds them from what it checked, never from Secret values.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

STATUSES = ("passed", "failed", "skipped")
_COLUMNS = ("CHECK", "TENANT", "RESULT", "TIME")


def _text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value if v not in (None, ""))
    return str(value)


def _seconds(value):
    """``value`` as a non-negative float, or None when it is not one."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def normalise(results):
    """Validated copies of ``results`` with every field present; raises AistackError naming the bad entry."""
    if not isinstance(results, (list, tuple)):
        raise AistackError("expected a list of check results, got %s" % type(results).__name__,
                           field="verify results", fix="pass the list the verify tasks collected")
    out = []
    for index, item in enumerate(results):
        field = "verify results[%d]" % index
        if not isinstance(item, dict) or not _text(item.get("check")).strip():
            raise AistackError("every result needs a check name", field=field,
                               fix="give each result a non-empty 'check'")
        status = item.get("status")
        if status is None and "ok" in item:
            status = "passed" if item["ok"] else "failed"
        if status not in STATUSES:
            raise AistackError("status is %r" % (status,), field=field + ".status",
                               fix="use one of %s, or a boolean 'ok'" % ", ".join(STATUSES))
        seconds = _seconds(item.get("seconds"))
        if seconds is None:
            raise AistackError("seconds is %r" % (item.get("seconds"),), field=field + ".seconds",
                               fix="a number of seconds >= 0")
        out.append({"check": _text(item["check"]).strip(), "tenant": _text(item.get("tenant")) or "platform",
                    "status": status, "seconds": round(seconds, 3), "expected": _text(item.get("expected")),
                    "got": _text(item.get("got")), "where": _text(item.get("where"))})
    return out


def summary(results):
    """Counts per status and the total time."""
    rows = normalise(results)
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in STATUSES}
    counts["total"] = len(rows)
    counts["seconds"] = round(sum(r["seconds"] for r in rows), 3)
    return counts


def failures(results):
    """One sentence per failed check: what was expected, what came back, where to look."""
    out = []
    for row in normalise(results):
        if row["status"] != "failed":
            continue
        parts = ["%s (%s) failed" % (row["check"], row["tenant"])]
        if row["expected"]:
            parts.append("expected %s" % row["expected"])
        if row["got"]:
            parts.append("got %s" % row["got"])
        if row["where"]:
            parts.append("look at %s" % row["where"])
        out.append(": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if len(parts) > 1 else ""))
    return out


def table(results):
    """The results as aligned text lines: check, tenant, result, time; each failure followed by its details."""
    rows = normalise(results)
    cells = [(r["check"], r["tenant"], r["status"].upper(), "%.1f s" % r["seconds"]) for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(_COLUMNS)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    lines = [(fmt % _COLUMNS).rstrip()]
    for row, cell in zip(rows, cells):
        lines.append((fmt % cell).rstrip())
        if row["status"] == "failed":
            for label in ("expected", "got", "where"):
                if row[label]:
                    lines.append("    %-8s %s" % (label + ":", row[label]))
    counts = summary(rows)
    lines.append("%d check%s: %d passed, %d failed, %d skipped in %.1f s" % (
        counts["total"], "" if counts["total"] == 1 else "s", counts["passed"], counts["failed"], counts["skipped"],
        counts["seconds"]))
    return lines


def report(results, site=None, started=None):
    """The JSON report: the site, a summary and one entry per check."""
    rows = normalise(results)
    return {"site": site or "", "started": started or "", "summary": summary(rows), "checks": rows}


def junit(results, suite="aistack.platform verify", timestamp=None):
    """JUnit XML (one testsuite, one testcase per check; classname is the tenant) as a string."""
    rows = normalise(results)
    counts = summary(rows)
    root = ET.Element("testsuites", name=suite, tests=str(counts["total"]), failures=str(counts["failed"]),
                      skipped=str(counts["skipped"]), time="%.3f" % counts["seconds"])
    attrs = {"name": suite, "tests": str(counts["total"]), "failures": str(counts["failed"]), "errors": "0",
             "skipped": str(counts["skipped"]), "time": "%.3f" % counts["seconds"]}
    if timestamp:
        attrs["timestamp"] = str(timestamp)
    suite_el = ET.SubElement(root, "testsuite", attrs)
    for row in rows:
        case = ET.SubElement(suite_el, "testcase", classname=row["tenant"], name=row["check"],
                             time="%.3f" % row["seconds"])
        if row["status"] == "failed":
            message = "expected %s, got %s" % (row["expected"] or "success", row["got"] or "a failure")
            failure = ET.SubElement(case, "failure", message=message, type="VerifyFailure")
            failure.text = "\n".join("%s: %s" % (k, row[k]) for k in ("expected", "got", "where") if row[k])
        elif row["status"] == "skipped":
            ET.SubElement(case, "skipped", message=row["got"] or "not run in this mode")
    return ET.tostring(root, encoding="unicode")


def _ref(name, key):
    return {"name": name, "key": key} if name else None


def site_apps(site):
    """The apps ``site_check`` verifies, from the site's settings (roles/verify collects them from the inventory).

    ``site`` holds one entry per layer, each with ``enabled``: ``langflow`` (tenants as in ``langflow_tenants``,
    superuser, llm), ``lightrag``, ``worker``, ``observability``, ``databases``. Release names follow the field
    rule ``<team>-<service>-<env>`` in namespace ``<team>-<env>``.
    """
    if not isinstance(site, dict):
        raise AistackError("expected a dict of layers, got %s" % type(site).__name__, field="verify_site",
                           fix="leave verify_site to the role's defaults or give a dict per layer")
    apps = []
    langflow = site.get("langflow") or {}
    llm = langflow.get("llm") or {}
    if langflow.get("enabled", True):
        for index, tenant in enumerate(langflow.get("tenants") or []):
            if not isinstance(tenant, dict) or not tenant.get("team") or not tenant.get("environments"):
                raise AistackError("every tenant needs team and environments", field="langflow_tenants[%d]" % index,
                                   fix="the same tenants the langflow role deploys")
            planes = [("ide", langflow.get("ide_service", "langflow"))]
            if tenant.get("runtime", True):
                planes.append(("runtime", langflow.get("runtime_service", "langflow-runtime")))
            for env in tenant["environments"]:
                for plane, service in planes:
                    release = "%s-%s-%s" % (tenant["team"], service, env)
                    app = {"kind": "langflow", "name": release, "namespace": "%s-%s" % (tenant["team"], env),
                           "tenant": "%s/%s" % (tenant["team"], env), "label": "langflow-%s" % plane, "plane": plane,
                           "username": langflow.get("superuser") or "admin",
                           # a vaulted password is in the release's env Secret, a generated one in its -generated
                           "login_secret": _ref("%s-env" % release, "LANGFLOW_SUPERUSER_PASSWORD")
                           if release in (langflow.get("vaulted_releases") or []) else
                           _ref("%s-generated" % release, "superuser-password"),
                           "expect_echo": bool(llm.get("echo"))}
                    if llm.get("base_url"):
                        app["llm"] = {"base_url": llm["base_url"], "model": llm.get("model") or "gpt-4o-mini",
                                      "namespace": llm.get("namespace") or app["namespace"],
                                      "api_key_secret": _ref(llm.get("api_key_secret"), llm.get("api_key_key") or "api-key")}
                    flow = (langflow.get("runtime_flow") or "") if plane == "runtime" else ""
                    if flow:
                        app["flow"] = flow
                    apps.append(app)
    lightrag = site.get("lightrag") or {}
    if lightrag.get("enabled"):
        release = "%s-%s-%s" % (lightrag.get("team", "platform"), lightrag.get("service", "lightrag"),
                                lightrag.get("environment", "dev"))
        apps.append({"kind": "lightrag", "name": release, "namespace": lightrag.get("namespace", "aistack-system"),
                     "label": "lightrag", "api_key_secret": _ref(lightrag.get("api_key_secret"), "LIGHTRAG_API_KEY"),
                     "storage": lightrag.get("storage", "postgresql"), "project": release})
    worker = site.get("worker") or {}
    if worker.get("enabled"):
        release = worker.get("release", "langgraph-worker")
        apps.append({"kind": "worker", "name": release, "namespace": worker.get("namespace", "langgraph"),
                     "label": "langgraph-worker", "project": worker.get("project") or release,
                     "password_secret": _ref(worker.get("redis_secret", "db-redis"), worker.get("redis_password_key", "REDIS_PASSWORD")),
                     "redis_service": {"name": worker.get("redis_service", "redis"),
                                       "namespace": worker.get("redis_namespace", "aistack-system")},
                     "queue": worker.get("queue", "langgraph:jobs")})
    databases = site.get("databases") or {}
    if databases.get("enabled"):
        for service in databases.get("services") or []:
            if service in ("postgresql", "redis"):
                apps.append({"kind": "database", "name": service, "namespace": databases.get("namespace", "aistack-system"),
                             "engine": service, "compose_project": databases.get("compose_project") or None})
    obs = site.get("observability") or {}
    if obs.get("enabled"):
        namespace = obs.get("namespace", "observability")
        scraped = obs.get("scraped_apps") or []
        if obs.get("phoenix", True):
            apps.append({"kind": "phoenix", "name": "phoenix", "namespace": namespace, "selector": "app.kubernetes.io/name=phoenix"})
        if obs.get("prometheus", True):
            apps.append({"kind": "prometheus", "name": "prometheus", "namespace": namespace,
                         "selector": "app.kubernetes.io/name=prometheus", "apps": scraped})
        if obs.get("loki", True):
            apps.append({"kind": "loki", "name": "loki", "namespace": namespace, "selector": "app.kubernetes.io/name=loki",
                         "apps": obs.get("logging_apps") or []})
    return apps
