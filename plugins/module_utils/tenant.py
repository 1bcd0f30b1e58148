# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant's Helm release, as pure functions: names, policy, values rendering, digests, masking.

Nothing here talks to Helm or Kubernetes; ``helm_tenant`` feeds module parameters in and gets
plain data back (see DESIGN.md section 4 for the rules enforced here).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.naming import (
    DNS_LABEL_MAX,
    HELM_RELEASE_MAX,
    dns_label_problem,
    dns_subdomain_problem,
)

ENVIRONMENTS = ("dev", "stg", "prd")
LIMITS_REQUIRED_IN = ("stg", "prd")
PRODUCTION = "prd"
MASK = "********"
MANAGED_BY = "aistack.platform"
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")

# Key names that hold credentials. Matched against the end of a key (or of an env entry's name).
_SENSITIVE_NAME = re.compile(
    r"(password|passwd|passphrase|pwd|api[-_]?key|apikey|access[-_]?key|secret[-_]?key|secret|"
    r"token|credentials?|private[-_]?key|auth[-_]?key)$",
    re.IGNORECASE,
)
# Key names that *refer* to a Secret instead of holding a credential: allowed.
_REFERENCE_NAME = re.compile(
    r"(secretname|existingsecret|secretref|secretkeyref|keyref|secretkey(name)?ref|issuer|"
    r"existingsecret\w*|secret[-_]?name|secrets)$",
    re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_CHART_VERSION_RANGE = re.compile(r"[\^~*><=|xX ]|^$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


# --------------------------------------------------------------------------- names

def fullname(team, service, environment):
    """``<team>-<service>-<env>``: the release name and every resource's name."""
    return "%s-%s-%s" % (team, service, environment)


def default_namespace(team, environment):
    return "%s-%s" % (team, environment)


def ingress_host(service, team, domain):
    return "%s-%s.%s" % (service, team, domain)


def db_secret_name(name):
    return "%s-db" % name


def generated_secret_name(name):
    return "%s-generated" % name


def env_secret_name(name):
    return "%s-env" % name


# --------------------------------------------------------------------------- helpers

def _get(params, *path, **kw):
    cur = params
    for key in path:
        if not isinstance(cur, dict):
            return kw.get("default")
        cur = cur.get(key)
        if cur is None:
            return kw.get("default")
    return cur


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


def is_sensitive_name(name):
    if not isinstance(name, str) or not name:
        return False
    compact = name.replace("-", "").replace("_", "").replace(".", "")
    if _REFERENCE_NAME.search(compact) or _REFERENCE_NAME.search(name):
        return False
    return bool(_SENSITIVE_NAME.search(name) or _SENSITIVE_NAME.search(compact))


def find_inline_secrets(data, path="extra_values"):
    """Paths inside ``data`` that carry a credential in clear text (a password, an API key...)."""
    found = []
    if isinstance(data, dict):
        # an env-style entry: {name: OPENAI_API_KEY, value: sk-...}
        if isinstance(data.get("name"), str) and is_sensitive_name(data["name"]) \
                and isinstance(data.get("value"), str) and data["value"]:
            found.append("%s.value (%s)" % (path, data["name"]))
        for key, value in data.items():
            sub = "%s.%s" % (path, key)
            if isinstance(value, (dict, list)):
                found.extend(find_inline_secrets(value, sub))
            elif isinstance(value, str) and value and is_sensitive_name(str(key)):
                found.append(sub)
            elif isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
                found.append(sub + " (URL with a password)")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(find_inline_secrets(item, "%s[%d]" % (path, index)))
    elif isinstance(data, str) and _URL_WITH_PASSWORD.match(data):
        found.append(path + " (URL with a password)")
    return found


def inline_secret_values(data):
    """The clear-text credentials ``find_inline_secrets`` reports, so the module can hide them from its
    output (including Ansible's echo of the invocation) while it refuses them."""
    found = []
    if isinstance(data, dict):
        if isinstance(data.get("name"), str) and is_sensitive_name(data["name"]) \
                and isinstance(data.get("value"), str) and data["value"]:
            found.append(data["value"])
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                found.extend(inline_secret_values(value))
            elif isinstance(value, str) and value and is_sensitive_name(str(key)):
                found.append(value)
            elif isinstance(value, str):
                found.extend(inline_secret_values(value))
    elif isinstance(data, list):
        for item in data:
            found.extend(inline_secret_values(item))
    elif isinstance(data, str):
        match = re.match(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", data, re.IGNORECASE)
        if match:
            found.append(match.group(1))
    return found


def mask(data):
    """A copy of ``data`` with every credential-looking value replaced by ``MASK``."""
    if isinstance(data, dict):
        out = {}
        env_style = isinstance(data.get("name"), str) and is_sensitive_name(data["name"])
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                out[key] = mask(value)
            elif isinstance(value, str) and value and (
                    is_sensitive_name(str(key)) or (env_style and key == "value")):
                out[key] = MASK
            elif isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
                out[key] = re.sub(r"(://[^/\s:@]+:)[^/\s@]+@", r"\1" + MASK + "@", value)
            else:
                out[key] = value
        return out
    if isinstance(data, list):
        return [mask(item) for item in data]
    return data


# --------------------------------------------------------------------------- policy

class Problems(object):
    """Collects every policy failure, then raises the first with the full list attached."""

    def __init__(self):
        self.items = []

    def add(self, field, message, fix):
        self.items.append((field, message, fix))

    def label(self, value, field, limit=DNS_LABEL_MAX, fix=None):
        problem = dns_label_problem(value, limit)
        if problem:
            self.add(field, problem + ".", fix or "use lower-case letters, digits and '-' only, at most %d "
                                                  "characters" % limit)
        return problem is None

    def raise_if_any(self):
        if not self.items:
            return
        field, message, fix = self.items[0]
        all_problems = ["%s: %s Fix: %s" % item for item in self.items]
        raise AistackError(message, field=field, fix=fix, problems=all_problems)


def _quantity_ok(value):
    return isinstance(value, (int, float)) or (isinstance(value, str) and bool(_QUANTITY.match(value)))


def validate(params):
    """Check names and every rule of DESIGN.md section 4 before anything is touched.

    Returns the derived names; raises ``AistackError`` naming the first bad field (all of them in
    ``problems``).
    """
    p = Problems()
    team, service, env = params.get("team"), params.get("service"), params.get("environment")
    p.label(team, "team")
    p.label(service, "service")
    if env not in ENVIRONMENTS:
        p.add("environment", "'%s' is not one of %s." % (env, ", ".join(ENVIRONMENTS)),
              "use dev, stg or prd")
    names = {}
    if not p.items:
        name = fullname(team, service, env)
        if p.label(name, "team", HELM_RELEASE_MAX,
                   fix="shorten team or service: '<team>-<service>-<env>' must fit Helm's %d-character "
                       "release-name limit" % HELM_RELEASE_MAX):
            names["fullname"] = name
        namespace = params.get("namespace") or default_namespace(team, env)
        p.label(namespace, "namespace")
        names["namespace"] = namespace
    state = params.get("state", "present")
    if state == "absent":
        p.raise_if_any()
        return names

    _validate_chart(p, params.get("chart") or {})
    _validate_image(p, params.get("image") or {})
    _validate_database(p, params.get("database") or {}, env)
    _validate_persistence(p, params.get("persistence") or {}, env, params)
    _validate_volumes(p, params.get("volumes") or [], params.get("persistence") or {}, names)
    _validate_resources(p, params.get("resources") or {}, env)
    _validate_ingress(p, params.get("ingress") or {}, service, team, names)
    _validate_tracing(p, params.get("tracing") or {})
    _validate_scaling(p, params)
    _validate_env(p, params)
    for found in find_inline_secrets(params.get("extra_values") or {}):
        p.add("extra_values", "%s holds a credential in clear text; Helm values are stored in the release "
                              "and readable by anyone who can read it." % found,
              "store it in a Secret and reference it with secret_env (secretKeyRef) or database.password")
    p.raise_if_any()
    return names


def _validate_chart(p, chart):
    path, repo, name, version = chart.get("path"), chart.get("repo"), chart.get("name"), chart.get("version")
    if path and (repo or name):
        p.add("chart", "give either chart.path or chart.repo + chart.name, not both.",
              "remove chart.path or chart.repo/chart.name")
    elif path:
        if not os.path.exists(path):
            p.add("chart.path", "'%s' does not exist." % path,
                  "point chart.path at a chart directory or a packaged chart (.tgz)")
        elif os.path.isdir(path) and not os.path.isfile(os.path.join(path, "Chart.yaml")):
            p.add("chart.path", "'%s' has no Chart.yaml." % path, "point chart.path at a chart directory")
    elif name:
        if not repo and not name.startswith("oci://"):
            p.add("chart.repo", "chart.name '%s' needs a repository." % name,
                  "set chart.repo to the repository URL, or use an oci:// reference as chart.name")
        if not version or _CHART_VERSION_RANGE.search(str(version)):
            p.add("chart.version", "a chart from a repository needs a pinned version (got '%s')." % (version or ""),
                  "set chart.version to an exact version such as 1.2.3")
    else:
        p.add("chart", "no chart given.", "set chart.path, or chart.repo + chart.name + chart.version")


def _validate_image(p, image):
    repo, tag, dig = image.get("repository"), image.get("tag"), image.get("digest")
    if not repo:
        p.add("image.repository", "is required.", "set image.repository, e.g. langflowai/langflow")
    elif ":" in repo.rsplit("/", 1)[-1] or "@" in repo:
        p.add("image.repository", "'%s' carries a tag or digest." % repo,
              "put the tag in image.tag or the digest in image.digest")
    if tag is not None and str(tag).strip().lower() == "latest":
        p.add("image.tag", "'latest' is not a pinned version.", "pin an exact tag (e.g. 1.4.3) or set image.digest")
    elif not tag and not dig:
        p.add("image.tag", "is empty: the image would float.", "pin an exact tag (e.g. 1.4.3) or set image.digest")
    if dig and not _DIGEST.match(dig):
        p.add("image.digest", "'%s' is not a sha256 digest." % dig, "use the form sha256:<64 hex digits>")


def _validate_database(p, db, env):
    dbtype = db.get("type") or "none"
    if dbtype == "sqlite" and env == PRODUCTION:
        p.add("database.type", "sqlite is refused in prd.",
              "use database.type=postgresql with an external PostgreSQL")
    if dbtype == "postgresql":
        for key in ("host", "name", "user"):
            if not db.get(key):
                p.add("database.%s" % key, "is required for PostgreSQL.", "set database.%s" % key)
        secret = db.get("password_secret") or {}
        if db.get("password") and secret.get("name"):
            p.add("database.password", "give either database.password or database.password_secret, not both.",
                  "keep one of them")
        elif not db.get("password") and not secret.get("name"):
            p.add("database.password_secret", "PostgreSQL needs a password.",
                  "reference an existing Secret (database.password_secret.name/key) or pass a vaulted "
                  "database.password")
        port = db.get("port")
        if port is not None and not (0 < int(port) < 65536):
            p.add("database.port", "%s is not a TCP port." % port, "use 1-65535")
    if dbtype != "postgresql" and (db.get("password") or (db.get("password_secret") or {}).get("name")):
        p.add("database.type", "a password is given but database.type is '%s'." % dbtype,
              "set database.type=postgresql or drop the password")
    for key in ("url_env", "password_env"):
        if db.get(key) and not _ENV_NAME.match(db[key]):
            p.add("database.%s" % key, "'%s' is not an environment variable name." % db[key],
                  "use letters, digits and '_'")


def _validate_persistence(p, pers, env, params):
    enabled = pers.get("enabled", True)
    if not enabled and env == PRODUCTION:
        p.add("persistence.enabled", "data on emptyDir is refused in prd (lost with the pod).",
              "set persistence.enabled=true with a storage class (ReadWriteMany for several pods)")
    if enabled and not pers.get("existing_claim"):
        size = pers.get("size") or "1Gi"
        if not _quantity_ok(size):
            p.add("persistence.size", "'%s' is not a storage size." % (size or ""), "use a quantity such as 5Gi")
    mode = pers.get("access_mode") or "ReadWriteOnce"
    if mode not in ACCESS_MODES:
        p.add("persistence.access_mode", "'%s' is not an access mode." % mode, "use one of %s" % ", ".join(ACCESS_MODES))
    if not str(pers.get("mount_path") or "/data").startswith("/"):
        p.add("persistence.mount_path", "must be an absolute path.", "use e.g. /data")


def _validate_volumes(p, volumes, pers, names):
    """Extra claims: unique DNS-label names whose claim names fit, absolute and distinct mount paths."""
    mounts = {}
    if pers.get("enabled", True):
        mounts[str(pers.get("mount_path") or "/data").rstrip("/") or "/"] = "persistence.mount_path"
    seen = set()
    for index, vol in enumerate(volumes):
        field = "volumes[%d]" % index
        name = vol.get("name")
        if name == "data":
            p.add(field + ".name", "'data' is the name of the main volume (persistence).", "choose another name")
        elif name in seen:
            p.add(field + ".name", "'%s' is given twice." % name, "give every volume its own name")
        elif p.label(name, field + ".name") and names.get("fullname") and not vol.get("existing_claim"):
            p.label("%s-%s" % (names["fullname"], name), field + ".name",
                    fix="shorten the volume name: the claim '<fullname>-<name>' must be a DNS label")
        seen.add(name)
        path = str(vol.get("mount_path") or "")
        key = path.rstrip("/") or "/"
        if not path.startswith("/"):
            p.add(field + ".mount_path", "must be an absolute path (got '%s')." % path, "use e.g. /app/data/inputs")
        elif key in mounts:
            p.add(field + ".mount_path", "'%s' is already mounted by %s." % (path, mounts[key]),
                  "give every volume its own mount path")
        else:
            mounts[key] = field
        if not vol.get("existing_claim") and not _quantity_ok(vol.get("size") or "1Gi"):
            p.add(field + ".size", "'%s' is not a storage size." % vol.get("size"), "use a quantity such as 5Gi")
        if vol.get("access_mode") and vol["access_mode"] not in ACCESS_MODES:
            p.add(field + ".access_mode", "'%s' is not an access mode." % vol["access_mode"],
                  "use one of %s" % ", ".join(ACCESS_MODES))


def _validate_resources(p, res, env):
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    for section, values in (("requests", requests), ("limits", limits)):
        for key, value in values.items():
            if key not in ("cpu", "memory", "ephemeral-storage") and not key.startswith(("nvidia.com/", "amd.com/")):
                continue
            if not _quantity_ok(value):
                p.add("resources.%s.%s" % (section, key), "'%s' is not a quantity." % value,
                      "use e.g. 500m for CPU, 1Gi for memory")
    for key in ("cpu", "memory"):
        if not requests.get(key):
            p.add("resources.requests.%s" % key, "missing: every container needs requests.",
                  "set resources.requests.%s (e.g. %s)" % (key, "500m" if key == "cpu" else "1Gi"))
    if env in LIMITS_REQUIRED_IN:
        for key in ("cpu", "memory"):
            if not limits.get(key):
                p.add("resources.limits.%s" % key, "missing: limits are mandatory in %s." % env,
                      "set resources.limits.%s (e.g. %s)" % (key, "1" if key == "cpu" else "2Gi"))


def _validate_ingress(p, ing, service, team, names):
    if not ing.get("enabled"):
        return
    domain = ing.get("domain")
    problem = dns_subdomain_problem(domain) if domain else "is required when ingress is enabled"
    if problem:
        p.add("ingress.domain", problem + ".", "set ingress.domain to the tenant domain, e.g. company.com")
        return
    label = "%s-%s" % (service, team)
    if dns_label_problem(label):
        p.add("ingress.domain", "the host label '%s' (<service>-<team>) %s." % (label, dns_label_problem(label)),
              "shorten service or team")
        return
    host = ingress_host(service, team, domain)
    if dns_subdomain_problem(host):
        p.add("ingress.domain", "host '%s' %s." % (host, dns_subdomain_problem(host)), "use a shorter domain")
    names["host"] = host
    if ing.get("tls_secret") and (ing.get("cert_manager_issuer") or ing.get("cert_manager_cluster_issuer")):
        p.add("ingress.tls_secret", "give either a TLS secret or a cert-manager issuer, not both.",
              "drop ingress.tls_secret or the issuer")
    if ing.get("cert_manager_issuer") and ing.get("cert_manager_cluster_issuer"):
        p.add("ingress.cert_manager_issuer", "give either an Issuer or a ClusterIssuer, not both.",
              "keep one of them")


def _validate_tracing(p, tracing):
    if not tracing.get("enabled"):
        return
    endpoint = tracing.get("endpoint") or ""
    if not re.match(r"^https?://[^/\s]+", endpoint):
        p.add("tracing.endpoint", "'%s' is not an http(s) URL." % endpoint,
              "set tracing.endpoint to the Phoenix collector, e.g. http://phoenix.observability:6006")
    elif endpoint.rstrip("/").endswith("/v1/traces"):
        p.add("tracing.endpoint", "must not end with /v1/traces (the exporter appends it).",
              "use the collector base URL, e.g. http://phoenix.observability:6006")


def _validate_scaling(p, params):
    hpa = params.get("autoscaling") or {}
    replicas = params.get("replicas")
    if replicas is not None and replicas < 0:
        p.add("replicas", "must be 0 or more.", "set replicas to a non-negative number")
    if hpa.get("enabled"):
        low, high = hpa.get("min_replicas") or 1, hpa.get("max_replicas") or 1
        if low < 1 or high < low:
            p.add("autoscaling.max_replicas", "min %s / max %s is not a valid range." % (low, high),
                  "use 1 <= min_replicas <= max_replicas")


def _validate_env(p, params):
    for name, value in (params.get("env") or {}).items():
        if not _ENV_NAME.match(str(name)):
            p.add("env", "'%s' is not an environment variable name." % name, "use letters, digits and '_'")
        elif is_sensitive_name(str(name)) and value not in (None, ""):
            p.add("env.%s" % name, "looks like a credential given in clear text.",
                  "store it in a Secret and reference it with secret_env")
        elif isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
            p.add("env.%s" % name, "is a URL with a password in clear text.",
                  "store it in a Secret and reference it with secret_env")
    for index, item in enumerate(params.get("secret_env") or []):
        if not item.get("name") or not item.get("secret") or not item.get("key"):
            p.add("secret_env[%d]" % index, "needs name, secret and key.", "give all three")
    for name, value in (params.get("secret_values") or {}).items():
        if not _ENV_NAME.match(str(name)):
            p.add("secret_values", "'%s' is not an environment variable name." % name, "use letters, digits and '_'")
        elif value in (None, ""):
            p.add("secret_values.%s" % name, "is empty.", "give the (vaulted) value or drop the entry")
    for index, item in enumerate(params.get("generated_secrets") or []):
        if not item.get("key") or not item.get("env"):
            p.add("generated_secrets[%d]" % index, "needs key and env.", "give both")


# --------------------------------------------------------------------------- rendering

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


def build_values(params, names, chart_digest=None, rollout_triggers=None):
    """The complete values dict for the generic chart, without any credential in it."""
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
    values = deep_merge(values, params.get("extra_values") or {})
    if chart_digest:
        values["aistack"] = {"chartDigest": chart_digest}
    return values


def release_digest(values, chart_name, chart_version):
    """What decides whether the release must be upgraded: values + chart name and version."""
    return digest({"values": values, "chart": chart_name, "version": chart_version})


def hosts_of(names):
    return [names["host"]] if names.get("host") else []


# --------------------------------------------------------------------------- charts on disk

def local_chart_digest(path):
    """Digest of a chart directory's files or of a packaged chart: local edits without a version bump
    still count as a change."""
    sha = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for fname in sorted(files):
                full = os.path.join(root, fname)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                sha.update(rel.encode("utf-8") + b"\0")
                with open(full, "rb") as handle:
                    sha.update(hashlib.sha256(handle.read()).digest())
    else:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                sha.update(block)
    return "sha256:" + sha.hexdigest()


def parse_chart_yaml(text):
    """name and version from a Chart.yaml text (flat keys only, no YAML library needed)."""
    meta = {}
    for line in text.splitlines():
        match = re.match(r"^(name|version|appVersion):\s*['\"]?([^'\"#]+?)['\"]?\s*(#.*)?$", line)
        if match:
            meta[match.group(1)] = match.group(2).strip()
    return meta


def local_chart_meta(path):
    """(name, version) of a chart directory or .tgz archive."""
    if os.path.isdir(path):
        with open(os.path.join(path, "Chart.yaml")) as handle:
            meta = parse_chart_yaml(handle.read())
    else:
        import tarfile
        try:
            with tarfile.open(path, "r:*") as tar:
                member = next((m for m in tar.getmembers()
                               if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                if member is None:
                    raise AistackError("'%s' has no Chart.yaml." % path, field="chart.path",
                                       fix="point chart.path at a chart packaged with 'helm package'")
                meta = parse_chart_yaml(tar.extractfile(member).read().decode("utf-8"))
        except tarfile.TarError as exc:
            raise AistackError("'%s' is not a chart archive: %s" % (path, exc), field="chart.path",
                               fix="point chart.path at a chart packaged with 'helm package'")
    if not meta.get("name") or not meta.get("version"):
        raise AistackError("Chart.yaml of '%s' lacks name or version." % path, field="chart.path",
                           fix="fix the chart's Chart.yaml")
    return meta["name"], meta["version"]


# --------------------------------------------------------------------------- diff

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
