# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Helm values of a tenant's release, rendered from the module's parameters; digests and diffs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.tenant.credentials import mask
from ansible_collections.aistack.platform.plugins.module_utils.tenant.names import (
    db_secret_name,
    env_secret_name,
    generated_secret_name,
)


def canonical_json(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def digest(data):
    return "sha256:" + hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def deep_merge(base, override):
    """Helm-like merge: dicts merge recursively, everything else in ``override`` replaces ``base``."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def image_values(image):
    return {
        "repository": image["repository"],
        "tag": str(image.get("tag") or ""),
        "digest": image.get("digest") or "",
        "pullPolicy": image.get("pull_policy") or "IfNotPresent",
    }


def _resources(res):
    out = {}
    for section in ("requests", "limits"):
        values = {k: (str(v) if not isinstance(v, str) else v) for k, v in (res.get(section) or {}).items()
                  if v not in (None, "")}
        if values:
            out[section] = values
    return out


def volume_values(volumes, persistence):
    """The chart's ``extraClaims``: class and access mode fall back to those of the main volume."""
    out = []
    for vol in volumes:
        out.append({
            "name": vol["name"],
            "mountPath": vol["mount_path"],
            "size": str(vol.get("size") or "1Gi"),
            "storageClassName": vol.get("storage_class") or persistence.get("storage_class") or "",
            "accessModes": [vol.get("access_mode") or persistence.get("access_mode") or "ReadWriteOnce"],
            "existingClaim": vol.get("existing_claim") or "",
        })
    return out


def database_env(db, name, persistence):
    """(secret_env list, plain env dict) for the database; the password only ever as secretKeyRef."""
    dbtype = db.get("type") or "none"
    url_env = db.get("url_env") or "DATABASE_URL"
    secret_env, env = [], {}
    if dbtype == "sqlite":
        mount = persistence.get("mount_path") or "/data"
        env[url_env] = "sqlite:///%s/%s.db" % (mount.rstrip("/"), db.get("name") or "app")
    elif dbtype == "postgresql":
        password_env = db.get("password_env") or "DATABASE_PASSWORD"
        if db.get("password"):
            secret = db_secret_name(name)
            secret_env.append({"name": password_env, "secretName": secret, "key": "password"})
            secret_env.append({"name": url_env, "secretName": secret, "key": "url"})
        else:
            ref = db["password_secret"]
            secret_env.append({"name": password_env, "secretName": ref["name"], "key": ref.get("key") or "password"})
            if ref.get("url_key"):
                secret_env.append({"name": url_env, "secretName": ref["name"], "key": ref["url_key"]})
            else:
                # Kubernetes expands $(VAR) from variables defined earlier in the container's env.
                env[url_env] = postgres_url(db, "$(%s)" % password_env)
        for key, suffix in (("host", "HOST"), ("port", "PORT"), ("name", "NAME"), ("user", "USER")):
            if db.get("env_prefix"):
                env["%s_%s" % (db["env_prefix"], suffix)] = str(db.get(key) or (5432 if key == "port" else ""))
    return secret_env, env


def postgres_url(db, password):
    try:
        from urllib.parse import quote
    except ImportError:  # pragma: no cover - Python 2
        from urllib import quote
    query = "?sslmode=%s" % db["sslmode"] if db.get("sslmode") else ""
    return "%s://%s:%s@%s:%s/%s%s" % (
        db.get("scheme") or "postgresql", quote(db["user"], safe=""),
        password if password.startswith("$(") else quote(password, safe=""),
        db["host"], db.get("port") or 5432, db["name"], query)


def db_secret_data(db):
    """The managed ``<fullname>-db`` Secret's string data (never logged, never in values)."""
    return {"password": db["password"], "url": postgres_url(db, db["password"])}


def tracing_env(tracing, name):
    secret_env, env = [], {}
    if not tracing.get("enabled"):
        return secret_env, env
    env["PHOENIX_COLLECTOR_ENDPOINT"] = tracing["endpoint"].rstrip("/")
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = tracing.get("protocol") or "http/protobuf"
    env["OTEL_SERVICE_NAME"] = name
    env["PHOENIX_PROJECT_NAME"] = tracing.get("project") or name
    for key, value in (tracing.get("env") or {}).items():
        env[key] = str(value)
    ref = tracing.get("api_key_secret") or {}
    if ref.get("name"):
        secret_env.append({"name": tracing.get("api_key_env") or "PHOENIX_API_KEY", "secretName": ref["name"],
                           "key": ref.get("key") or "api-key"})
    return secret_env, env


def typed_values(params, names):
    """The values the typed options alone render (no values files, no extra values, no bookkeeping)."""
    return build_values(dict(params, extra_values=None), names)


def build_values(params, names, chart_digest=None, rollout_triggers=None, files_values=None):
    """The complete values dict for the generic chart, without any credential in it.

    Merge order: typed options, then every values file in order (``files_values``, the loaded
    ``values_files``), then ``extra_values``; the chart's defaults sit below all of them in Helm.
    """
    name = names["fullname"]
    team, service, env_name = params["team"], params["service"], params["environment"]
    pers = params.get("persistence") or {}
    db = params.get("database") or {}
    tracing = params.get("tracing") or {}
    ing = params.get("ingress") or {}
    hpa = params.get("autoscaling") or {}
    probes = params.get("probes") or {}

    secret_env, env = [], {}
    for source in (database_env(db, name, pers), tracing_env(tracing, name)):
        secret_env.extend(source[0])
        env.update(source[1])
    for item in params.get("generated_secrets") or []:
        secret_env.append({"name": item["env"], "secretName": generated_secret_name(name), "key": item["key"]})
    for key in sorted(params.get("secret_values") or {}):
        secret_env.append({"name": key, "secretName": env_secret_name(name), "key": key})
    for item in params.get("secret_env") or []:
        entry = {"name": item["name"], "secretName": item["secret"], "key": item["key"]}
        if item.get("optional"):
            entry["optional"] = True
        secret_env.append(entry)
    for key, value in (params.get("env") or {}).items():
        env[key] = "" if value is None else (json.dumps(value) if isinstance(value, bool) else str(value))

    values = {
        "fullnameOverride": name,
        "nameOverride": service,
        "labels": {"aistack.io/team": team, "aistack.io/service": service, "aistack.io/environment": env_name},
        "image": image_values(params["image"]),
        "containerPort": params.get("port") or 8080,
        "service": {"port": params.get("service_port") or 80},
        "resources": _resources(params.get("resources") or {}),
        "env": env,
        "secretEnv": secret_env,
        "persistence": {
            "enabled": bool(pers.get("enabled", True)),
            "mountPath": pers.get("mount_path") or "/data",
            "size": str(pers.get("size") or "1Gi"),
            "storageClassName": pers.get("storage_class") or "",
            "accessModes": [pers.get("access_mode") or "ReadWriteOnce"],
            "existingClaim": pers.get("existing_claim") or "",
        },
        "probes": {
            "enabled": probes.get("enabled", True),
            "path": probes.get("path") or "/health",
            "liveness": {"initialDelaySeconds": probes.get("liveness_initial_delay", 30)},
            "readiness": {"initialDelaySeconds": probes.get("readiness_initial_delay", 5)},
        },
    }
    if params.get("volumes"):
        # only when given: releases without extra volumes keep their values (and their digest) unchanged
        values["extraClaims"] = volume_values(params["volumes"], pers)
    for key, chart_key in (("period", "periodSeconds"), ("timeout", "timeoutSeconds"),
                           ("failure_threshold", "failureThreshold")):
        if probes.get(key) is not None:
            values["probes"]["liveness"][chart_key] = probes[key]
            values["probes"]["readiness"][chart_key] = probes[key]
    if probes.get("startup_failure_threshold"):
        values["probes"]["startup"] = {"enabled": True, "failureThreshold": probes["startup_failure_threshold"]}
    if hpa.get("enabled"):
        values["autoscaling"] = {
            "enabled": True,
            "minReplicas": hpa.get("min_replicas") or 2,
            "maxReplicas": hpa.get("max_replicas") or 4,
            "targetCPUUtilizationPercentage": hpa.get("target_cpu") or 80,
        }
        if hpa.get("target_memory"):
            values["autoscaling"]["targetMemoryUtilizationPercentage"] = hpa["target_memory"]
    else:
        values["replicaCount"] = 1 if params.get("replicas") is None else params["replicas"]
    if ing.get("enabled"):
        ingress = {"enabled": True, "host": names["host"], "className": ing.get("class_name") or "",
                   "annotations": dict(ing.get("annotations") or {})}
        if ing.get("tls_secret"):
            ingress["tls"] = {"enabled": True, "secretName": ing["tls_secret"]}
        elif ing.get("cert_manager_issuer") or ing.get("cert_manager_cluster_issuer"):
            ingress["tls"] = {"enabled": True, "secretName": "%s-tls" % name}
            if ing.get("cert_manager_issuer"):
                ingress["annotations"]["cert-manager.io/issuer"] = ing["cert_manager_issuer"]
            else:
                ingress["annotations"]["cert-manager.io/cluster-issuer"] = ing["cert_manager_cluster_issuer"]
        values["ingress"] = ingress
    if params.get("command"):
        values["command"] = list(params["command"])
    if params.get("args"):
        values["args"] = list(params["args"])
    if params.get("node_selector"):
        values["nodeSelector"] = dict(params["node_selector"])
    if params.get("tolerations"):
        values["tolerations"] = list(params["tolerations"])
    netpol = params.get("network_policy") or {}
    if netpol:
        values["networkPolicy"] = {"enabled": netpol.get("enabled", True)}
        if netpol.get("ingress_namespaces") is not None:
            values["networkPolicy"]["ingressNamespaces"] = list(netpol["ingress_namespaces"])
    if rollout_triggers:
        values["rolloutTriggers"] = dict(rollout_triggers)
    for file_values in files_values or []:
        values = deep_merge(values, file_values)
    values = deep_merge(values, params.get("extra_values") or {})
    if chart_digest:
        values["aistack"] = {"chartDigest": chart_digest}
    return values


def coalesce(defaults, values):
    """What the chart renders: ``values`` over the chart's ``defaults`` the way Helm coalesces them (maps merge,
    anything else replaces, a null removes the key)."""
    result = copy.deepcopy(defaults) if isinstance(defaults, dict) else {}
    for key, value in (values or {}).items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = coalesce(result[key], value)
        elif isinstance(value, dict):
            result[key] = coalesce({}, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def load_values_files(paths, field="values_files"):
    """The YAML mappings of ``values_files``, in order; a file that cannot be read or is not a mapping fails
    naming its index."""
    out = []
    for index, path in enumerate(paths or []):
        name = "%s[%d]" % (field, index)
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML comes with the kubernetes client
            raise AistackError("PyYAML is needed to read values files.", field=name,
                               fix="install PyYAML where the module runs, or use extra_values")
        try:
            with open(path) as handle:
                data = yaml.safe_load(handle)
        except (IOError, OSError) as exc:
            raise AistackError("'%s' cannot be read: %s." % (path, exc.strerror or exc), field=name,
                               fix="give the path of a readable YAML file on the host the module runs on")
        except yaml.YAMLError as exc:
            raise AistackError("'%s' is not valid YAML: %s" % (path, str(exc).splitlines()[0]), field=name,
                               fix="fix the file's YAML syntax")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise AistackError("'%s' holds a %s, not a mapping of values." % (path, type(data).__name__),
                               field=name, fix="write the values as a YAML mapping (key: value)")
        out.append(data)
    return out


def release_digest(values, chart_name, chart_version):
    """What decides whether the release must be upgraded: values + chart name and version."""
    return digest({"values": values, "chart": chart_name, "version": chart_version})


def values_diff(before, after):
    """Ansible diff dict for the release values, credentials masked."""
    return {
        "before": mask(before) if before is not None else {},
        "after": mask(after),
        "before_header": "release values (deployed)",
        "after_header": "release values (desired)",
    }


def changed_paths(before, after, path=""):
    """Dotted paths whose value differs (for a short 'what changes' summary)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            sub = "%s.%s" % (path, key) if path else str(key)
            if key not in before or key not in after:
                out.append(sub)
            else:
                out.extend(changed_paths(before[key], after[key], sub))
        return out
    return [] if before == after else [path or "."]
