# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The field rules, checked on the module's parameters and on the merged values Helm will render, before anything
is touched (docs/architecture.md, field rules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common import reference
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.naming import (
    DNS_LABEL_MAX,
    HELM_RELEASE_MAX,
    dns_label_problem,
    dns_subdomain_problem,
)
from ansible_collections.aistack.platform.plugins.module_utils.tenant.credentials import (
    URL_WITH_PASSWORD,
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


def validate(params, files_values=None, chart_values=None):
    """Check names and every field rule (docs/architecture.md) before anything is touched.

    First the typed options on their own (early, precise messages), then, with ``state=present``, every rule
    again on the merged values Helm will render: the chart's defaults (``values.yaml`` of a local chart),
    the typed options, ``values_files`` in order, ``extra_values`` (``check_merged``). ``files_values`` and
    ``chart_values`` are read here when not given. Reads local files only; opens no connection.

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
    for index, path in enumerate(params.get("values_files") or []):
        if not isinstance(path, str) or not path:
            p.add("values_files[%d]" % index, "is empty.", "give the path of a YAML file")
    if not params.get("image") or not params.get("chart") or "fullname" not in names or \
            any(item[0].startswith(("chart", "values_files")) for item in p.items):
        p.raise_if_any()
        return names
    if files_values is None:
        from ansible_collections.aistack.platform.plugins.module_utils.tenant.values import load_values_files
        files_values = load_values_files(params.get("values_files"))
    if chart_values is None:
        chart_values = local_chart_values(params)
    typed_fields = set(item[0] for item in p.items)
    merged = Problems()
    try:
        merged_rules(merged, layers_of(params, names, chart_values, files_values), env,
                     dict(names, team=team, service=service))
    except (KeyError, TypeError, ValueError, AttributeError):
        if not p.items:
            raise
    # a typed option already reported keeps its early, more precise message
    p.items.extend(item for item in merged.items if item[0] not in typed_fields)
    p.raise_if_any()
    return names


def local_chart_values(params):
    """The defaults of a local chart (directory or packaged), or None for a chart from a repository (its
    defaults are only known once Helm has downloaded it)."""
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.chart import local_chart_values as read
    path = (params.get("chart") or {}).get("path")
    if path and os.path.exists(path):
        return read(path)
    return None


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
    else:
        _field_ok(p, reference.validate_repository, repo, "image.repository")
    if tag is not None and str(tag).strip().lower() == "latest":
        p.add("image.tag", "'latest' is not a pinned version.", "pin an exact tag (e.g. 1.4.3) or set image.digest")
    elif tag:
        _field_ok(p, reference.validate_tag, tag, "image.tag")
    if dig and not _DIGEST.match(dig):
        p.add("image.digest", "'%s' is not a sha256 digest." % dig, "use the form sha256:<64 hex digits>")


def _field_ok(p, check, value, field):
    try:
        check(value, field)
    except AistackError as err:
        p.add(err.field, err.message, err.fix)
        return False
    return True


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
    # presence (requests everywhere, limits in stg/prd) is checked on the merged values (_rule_resources):
    # a values file may give them


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


# ---------------------------------------------------------------------------------------------------------
# The field rules on what Helm really receives: the chart's defaults, the typed options, the values files and
# extra_values, merged the way Helm merges them. Every problem names the route and the value path.
# ---------------------------------------------------------------------------------------------------------

ROUTE_CHART = "chart"
ROUTE_TYPED = "typed"
ROUTE_FILE = "values_files"
ROUTE_EXTRA = "extra_values"

# chart value paths the typed options render under another name
_TYPED_FIELDS = {
    ("fullnameOverride",): "team",
    ("nameOverride",): "service",
    ("persistence", "mountPath"): "persistence.mount_path",
    ("extraClaims",): "volumes",
}
_SQLITE_URL = re.compile(r"^sqlite(\+[a-z0-9]+)?:", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", re.IGNORECASE)
_ENV_REFERENCE = re.compile(r"^\$\([A-Za-z_][A-Za-z0-9_]*\)$")


def dotted(path):
    out = ""
    for part in path:
        if isinstance(part, int):
            out += "[%d]" % part
        else:
            out += ("." if out else "") + str(part)
    return out


class Layer(object):
    """One route a value arrives by: its kind (chart, typed, values_files, extra_values), its index among the
    values files, and its values."""

    def __init__(self, route, values, index=None, origin=None):
        self.route = route
        self.values = values or {}
        self.index = index
        self.origin = origin

    def field(self, path):
        where = dotted(path)
        if self.route == ROUTE_EXTRA:
            return "extra_values." + where if where else "extra_values"
        if self.route == ROUTE_FILE:
            return "values_files[%d]: %s" % (self.index, where)
        if self.route == ROUTE_CHART:
            return "chart.path values.yaml: %s" % where
        for length in range(len(path), 0, -1):
            if tuple(path[:length]) in _TYPED_FIELDS:
                rest = dotted(path[length:])
                return _TYPED_FIELDS[tuple(path[:length])] + ("." + rest if rest else "")
        return where

    def route_fix(self):
        if self.route == ROUTE_EXTRA:
            return "change it in extra_values"
        if self.route == ROUTE_FILE:
            return "change it in values_files[%d] (%s)" % (self.index, self.origin)
        if self.route == ROUTE_CHART:
            return "override the chart default with the module's options"
        return "change the module option"


def _defined(values, path):
    """Whether ``path`` (or a prefix of it holding a non-map, or a null) is set in ``values``."""
    node = values
    for part in path:
        if isinstance(node, dict):
            if part not in node:
                return False
            node = node[part]
            if node is None or not isinstance(node, (dict, list)):
                return True
        elif isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                return False
            node = node[part]
        else:
            return True
    return True


class Merged(object):
    """The values the chart renders, and for every path the layer it came from."""

    def __init__(self, layers):
        from ansible_collections.aistack.platform.plugins.module_utils.tenant.values import coalesce, deep_merge
        self.layers = layers
        user = {}
        defaults = {}
        for layer in layers:
            if layer.route == ROUTE_CHART:
                defaults = layer.values
            else:
                user = deep_merge(user, layer.values)
        self.values = coalesce(defaults, user)

    def get(self, *path):
        node = self.values
        for part in path:
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return None
        return node

    def layer(self, path):
        for layer in reversed(self.layers):
            if _defined(layer.values, path):
                return layer
        return None

    def field(self, path, default=None):
        layer = self.layer(path)
        if layer is None:
            return default or dotted(path)
        return layer.field(path)

    def fix(self, path, fix):
        layer = self.layer(path)
        if layer is None or layer.route == ROUTE_TYPED:
            return fix
        return "%s: %s" % (layer.route_fix(), fix)


def _walk(node, path=(), out=None):
    """[(path, value)] of ``node`` and every node below it, maps and lists included."""
    out = [] if out is None else out
    out.append((path, node))
    if isinstance(node, dict):
        for key in sorted(node, key=str):
            _walk(node[key], path + (key,), out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, path + (index,), out)
    return out


def _check_reference(p, m, path, repository, tag, digest):
    from ansible_collections.aistack.platform.plugins.module_utils.common import reference
    tag_path, digest_path = path + ("tag",), path + ("digest",)
    try:
        reference.validate_repository(repository, m.field(path + ("repository",)))
        if digest:
            reference.validate_digest(digest, m.field(digest_path))
        if tag not in (None, ""):
            reference.validate_tag(tag, m.field(tag_path))
    except AistackError as err:
        p.add(err.field, err.message, err.fix)
        return
    if tag not in (None, "") and str(tag).strip().lower() == "latest":
        p.add(m.field(tag_path), "'latest' is not a pinned version.",
              m.fix(tag_path, "pin an exact tag (e.g. 1.4.3) or set a digest"))
    elif tag in (None, "") and not digest:
        layer = m.layer(tag_path)
        if path != ("image",) and layer is not None and layer.route == ROUTE_CHART:
            return  # a chart's own empty default tag means its appVersion, pinned by the chart version
        p.add(m.field(tag_path, dotted(tag_path)), "is empty in the merged values: the image would float.",
              m.fix(tag_path, "pin an exact tag (e.g. 1.4.3) or set a digest"))


def _rule_images(p, m, env, names):
    """Field rule 2: every image the values name is a valid, pinned reference."""
    for path, node in _walk(m.values):
        if isinstance(node, dict) and "repository" in node and ("tag" in node or "digest" in node or path == ("image",)):
            if not node.get("repository") and path != ("image",):
                continue
            _check_reference(p, m, path, node.get("repository"), node.get("tag"), node.get("digest"))
        elif isinstance(node, str) and path and path[-1] == "image" and node:
            from ansible_collections.aistack.platform.plugins.module_utils.common import reference
            try:
                parts = reference.parse(node, m.field(path))
            except AistackError as err:
                p.add(err.field, err.message, err.fix)
                continue
            if (parts["tag"] or "").lower() == "latest" or (not parts["tag"] and not parts["digest"]):
                p.add(m.field(path), "'%s' is not pinned (no tag, or 'latest')." % node,
                      m.fix(path, "pin an exact tag (e.g. 1.4.3) or a digest"))


def _rule_sqlite(p, m, env, names):
    """Field rule 3: SQLite only outside prd, whatever value carries the database URL."""
    if env != PRODUCTION:
        return
    for path, node in _walk(m.values):
        if isinstance(node, str) and _SQLITE_URL.match(node.strip()):
            p.add(m.field(path), "a SQLite database is refused in prd.",
                  m.fix(path, "use an external PostgreSQL (database.type=postgresql)"))
        elif isinstance(node, dict) and str(node.get("type", "")).lower() == "sqlite" and path and \
                str(path[-1]).lower() in ("database", "db"):
            p.add(m.field(path + ("type",)), "a SQLite database is refused in prd.",
                  m.fix(path + ("type",), "use an external PostgreSQL (database.type=postgresql)"))


def _rule_persistence(p, m, env, names):
    """Field rule 4: data on a PersistentVolume, never emptyDir, in prd."""
    if env != PRODUCTION:
        return
    path = ("persistence", "enabled")
    if not m.get(*path):
        p.add(m.field(path), "data on emptyDir is refused in prd (lost with the pod).",
              m.fix(path, "set persistence.enabled=true with a storage class (ReadWriteMany for several pods)"))
        return
    mount = str(m.get("persistence", "mountPath") or "/data").rstrip("/") or "/"
    for index, scratch in enumerate(m.get("scratchDirs") or []):
        if str(scratch).rstrip("/") == mount:
            p.add(m.field(("scratchDirs", index)), "'%s' is the data mount path; an emptyDir there hides the "
                                                   "PersistentVolume in prd." % scratch,
                  m.fix(("scratchDirs", index), "remove it from scratchDirs"))


def _rule_resources(p, m, env, names):
    """Field rule 7: requests on every container, limits mandatory in stg and prd."""
    for section in ("requests", "limits"):
        for key, value in sorted((m.get("resources", section) or {}).items()):
            if key in ("cpu", "memory", "ephemeral-storage") and not _quantity_ok(value):
                path = ("resources", section, key)
                p.add(m.field(path), "'%s' is not a quantity." % value,
                      m.fix(path, "use e.g. 500m for CPU, 1Gi for memory"))
    sections = [("requests", "every container needs requests")]
    if env in LIMITS_REQUIRED_IN:
        sections.append(("limits", "limits are mandatory in %s" % env))
    for section, why in sections:
        for key in ("cpu", "memory"):
            path = ("resources", section, key)
            if m.get(*path) in (None, ""):
                p.add(m.field(path), "missing in the merged values: %s." % why,
                      m.fix(path, "set resources.%s.%s (e.g. %s)" % (section, key, {
                          ("requests", "cpu"): "500m", ("requests", "memory"): "1Gi",
                          ("limits", "cpu"): "1", ("limits", "memory"): "2Gi"}[(section, key)])))


def _rule_credentials(p, m, env, names):
    """Field rule 5: no credential in the values (they are stored in the release, readable by its readers)."""
    fix = "store it in a Secret and reference it with secret_env (secretKeyRef) or database.password"
    for path, node in _walk(m.values):
        if path and path[0] in ("aistack", "rolloutTriggers"):
            continue  # bookkeeping: digests and resourceVersions keyed by Secret names, never a credential
        if isinstance(node, dict) and isinstance(node.get("name"), str) and is_sensitive_name(node["name"]) \
                and isinstance(node.get("value"), str) and node["value"]:
            vpath = path + ("value",)
            p.add(m.field(vpath), "holds the credential %s in clear text; Helm values are stored in the release."
                  % node["name"], m.fix(vpath, fix))
        elif isinstance(node, str) and node and path and not isinstance(path[-1], int) \
                and is_sensitive_name(str(path[-1])):
            p.add(m.field(path), "holds a credential in clear text; Helm values are stored in the release and "
                                 "readable by anyone who can read it.", m.fix(path, fix))
        elif isinstance(node, str):
            match = _URL_PASSWORD.match(node)
            if match and not _ENV_REFERENCE.match(match.group(1)):
                p.add(m.field(path), "is a URL with a password in clear text.", m.fix(path, fix))


def _rule_names(p, m, env, names):
    """Field rule 1: resource names are <team>-<service>-<env>, whatever a values file says."""
    want = names.get("fullname")
    if want and m.get("fullnameOverride") != want:
        p.add(m.field(("fullnameOverride",)), "'%s' is not the release's name '%s'."
              % (m.get("fullnameOverride"), want),
              m.fix(("fullnameOverride",), "remove fullnameOverride: it is always <team>-<service>-<env>"))
    if names.get("service") and m.get("nameOverride") != names["service"]:
        p.add(m.field(("nameOverride",)), "'%s' is not the service name '%s'."
              % (m.get("nameOverride"), names["service"]),
              m.fix(("nameOverride",), "remove nameOverride: it is always the service"))


def _rule_ingress(p, m, env, names):
    """Field rule 6: the ingress host is <service>-<team>.<domain>."""
    if not m.get("ingress", "enabled"):
        return
    host = str(m.get("ingress", "host") or "")
    path = ("ingress", "host")
    if names.get("host"):
        if host != names["host"]:
            p.add(m.field(path), "'%s' is not the tenant host '%s'." % (host, names["host"]),
                  m.fix(path, "remove the override: the host is <service>-<team>.<ingress.domain>"))
        return
    label = "%s-%s." % (names.get("service"), names.get("team"))
    if not host.startswith(label) or dns_subdomain_problem(host):
        p.add(m.field(path, "ingress.domain"), "'%s' is not a host '%s<domain>'." % (host, label),
              m.fix(path, "enable the ingress with ingress.enabled and ingress.domain instead"))


def _rule_tracing(p, m, env, names):
    """Field rule 8: the Phoenix endpoint is the collector base URL."""
    value = m.get("env", "PHOENIX_COLLECTOR_ENDPOINT")
    if isinstance(value, str) and value.rstrip("/").endswith("/v1/traces"):
        path = ("env", "PHOENIX_COLLECTOR_ENDPOINT")
        p.add(m.field(path), "must not end with /v1/traces (the exporter appends it).",
              m.fix(path, "use the collector base URL, e.g. http://phoenix.observability:6006"))


def _rule_pod_security(p, m, env, names):
    """The namespaces enforce the restricted Pod Security level: the pod must keep to it."""
    pod = m.get("podSecurityContext") or {}
    ctr = m.get("securityContext") or {}
    fix = "keep the chart's restricted security context (do not override it)"
    if pod.get("runAsNonRoot") is not True and ctr.get("runAsNonRoot") is not True:
        p.add(m.field(("securityContext", "runAsNonRoot")), "the pod may run as root (restricted Pod Security).",
              m.fix(("securityContext", "runAsNonRoot"), fix))
    for section, values in (("podSecurityContext", pod), ("securityContext", ctr)):
        if values.get("runAsUser") == 0:
            p.add(m.field((section, "runAsUser")), "runAsUser 0 is root (restricted Pod Security).",
                  m.fix((section, "runAsUser"), "run as a non-zero user id"))
    if ctr.get("allowPrivilegeEscalation") is not False:
        p.add(m.field(("securityContext", "allowPrivilegeEscalation")),
              "must be false (restricted Pod Security).", m.fix(("securityContext", "allowPrivilegeEscalation"), fix))
    if ctr.get("privileged"):
        p.add(m.field(("securityContext", "privileged")), "privileged containers are refused.",
              m.fix(("securityContext", "privileged"), fix))
    caps = ctr.get("capabilities") or {}
    if "ALL" not in [str(c) for c in caps.get("drop") or []]:
        p.add(m.field(("securityContext", "capabilities", "drop")), "must drop ALL (restricted Pod Security).",
              m.fix(("securityContext", "capabilities", "drop"), fix))
    extra = [c for c in caps.get("add") or [] if str(c) != "NET_BIND_SERVICE"]
    if extra:
        p.add(m.field(("securityContext", "capabilities", "add")), "%s may not be added (restricted Pod "
              "Security)." % ", ".join(str(c) for c in extra), m.fix(("securityContext", "capabilities", "add"), fix))
    seccomp = (ctr.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        p.add(m.field(("podSecurityContext", "seccompProfile", "type")),
              "must be RuntimeDefault or Localhost (restricted Pod Security).",
              m.fix(("podSecurityContext", "seccompProfile", "type"), fix))
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if m.get(key):
            p.add(m.field((key,)), "host namespaces are refused.", m.fix((key,), "remove it"))
    if m.get("enableServiceLinks"):
        p.add(m.field(("enableServiceLinks",)), "service links inject <SERVICE>_PORT variables (they collide with "
              "e.g. LANGFLOW_PORT).", m.fix(("enableServiceLinks",), "remove it"))


MERGED_RULES = (
    ("names", _rule_names),
    ("image", _rule_images),
    ("sqlite", _rule_sqlite),
    ("persistence", _rule_persistence),
    ("credentials", _rule_credentials),
    ("ingress", _rule_ingress),
    ("resources", _rule_resources),
    ("tracing", _rule_tracing),
    ("pod_security", _rule_pod_security),
)


def check_merged(layers, environment, names):
    """Every field rule on the merged values (``layers``: chart defaults, typed options, values files,
    extra_values, in that order). Raises ``AistackError`` naming the route and value path of the first
    problem (all of them in ``problems``); returns the merged values."""
    p = Problems()
    values = merged_rules(p, layers, environment, names)
    p.raise_if_any()
    return values


def merged_rules(p, layers, environment, names):
    """Run every rule of ``MERGED_RULES`` on the merged ``layers``, adding to ``p``; returns the merged values.
    The pod security rule needs the chart's defaults (the generic chart's keys) and is skipped without them."""
    merged = Merged(layers)
    has_chart = any(layer.route == ROUTE_CHART for layer in layers)
    for name, rule in MERGED_RULES:
        if name == "pod_security" and not has_chart:
            continue
        rule(p, merged, environment, names)
    return merged.values


def layers_of(params, names, chart_values=None, files_values=None):
    """The routes of a release's values, in Helm's order."""
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.values import typed_values
    layers = []
    if chart_values is not None:
        layers.append(Layer(ROUTE_CHART, chart_values))
    layers.append(Layer(ROUTE_TYPED, typed_values(params, names)))
    for index, values in enumerate(files_values or []):
        layers.append(Layer(ROUTE_FILE, values, index=index, origin=(params.get("values_files") or [None] * (index + 1))[index]))
    if params.get("extra_values"):
        layers.append(Layer(ROUTE_EXTRA, params["extra_values"]))
    return layers
