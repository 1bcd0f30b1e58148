# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The field rules, checked on the module's parameters before anything is touched (docs/architecture.md, field rules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.naming import (
    DNS_LABEL_MAX,
    HELM_RELEASE_MAX,
    dns_label_problem,
    dns_subdomain_problem,
)
from ansible_collections.aistack.platform.plugins.module_utils.tenant.credentials import (
    URL_WITH_PASSWORD,
    find_inline_secrets,
    is_sensitive_name,
)
from ansible_collections.aistack.platform.plugins.module_utils.tenant.names import (
    ENVIRONMENTS,
    PRODUCTION,
    default_namespace,
    fullname,
    ingress_host,
)


LIMITS_REQUIRED_IN = ("stg", "prd")
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")


_CHART_VERSION_RANGE = re.compile(r"[\^~*><=|xX ]|^$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


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
    """Check names and every field rule (docs/architecture.md) before anything is touched.

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
        elif isinstance(value, str) and URL_WITH_PASSWORD.match(value):
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
