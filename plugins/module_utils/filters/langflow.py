# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Langflow tenants: the releases they make and the PostgreSQL databases those releases need.

Pure functions. The langflow role and the databases role both read them (through the filters in
plugins/filter/langflow.py), so a tenant's database, login role and credentials Secret are named the same
way on both sides: one database and one role per team, environment and plane. ``tenant_planes`` is what the
langflow role passes to helm_tenant for each plane of one tenant in one environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from collections.abc import Mapping, MutableMapping

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

PLANES = ("ide", "runtime")


def database_name(team, environment, plane):
    """langflow_<team>_<env>_<plane>, '-' -> '_' (a PostgreSQL identifier without quoting)."""
    return "langflow_%s_%s_%s" % (team.replace("-", "_"), environment, plane)


def releases(tenants, environments, ide_service="langflow", runtime_service="langflow-runtime"):
    """Every release of the tenants, as dicts: team, environment, plane, release, namespace, database_type,
    database, user (the login role: the database's own, unless the tenant names one)."""
    services = {"ide": ide_service, "runtime": runtime_service}
    out = []
    for index, tenant in enumerate(tenants or []):
        team = tenant.get("team")
        if not team:
            raise AistackError("tenant %d has no team." % index, field="langflow_tenants[%d].team" % index,
                               fix="give every tenant a team (a DNS label such as team-a)")
        planes = PLANES if tenant.get("runtime", True) else PLANES[:1]
        for env in tenant.get("environments") or []:
            if env not in (environments or {}):
                raise AistackError("tenant %s names environment %s, which langflow_environments does not define."
                                   % (team, env), field="langflow_tenants[%d].environments" % index,
                                   fix="use one of %s or add it to langflow_environments"
                                       % ", ".join(sorted(environments or {})))
            dbtype = tenant.get("database_type") or environments[env].get("database_type") or "sqlite"
            for plane in planes:
                name = database_name(team, env, plane)
                out.append({
                    "team": team, "environment": env, "plane": plane,
                    "release": "%s-%s-%s" % (team, services[plane], env),
                    "namespace": "%s-%s" % (team, env),
                    "database_type": dbtype,
                    "database": name,
                    "user": tenant.get("database_user") or name,
                    "external": bool(tenant.get("database_host") or tenant.get("database_password_secret")),
                })
    return out


def database_consumers(tenants, environments, passwords, passwords_var="vault_langflow_database_passwords",
                       ide_service="langflow", runtime_service="langflow-runtime"):
    """The databases role's PostgreSQL consumers for the tenants' releases that use the site's PostgreSQL:
    one per release, its Secret in the tenant namespace. Tenants on a database of their own
    (database_host or database_password_secret set) are left out. A missing password is an error that
    names the release and ``passwords_var`` (the variable the caller took ``passwords`` from), before
    anything is touched."""
    out = []
    for rel in releases(tenants, environments, ide_service, runtime_service):
        if rel["database_type"] != "postgresql" or rel["external"]:
            continue
        password = (passwords or {}).get(rel["release"])
        if not password:
            raise AistackError("release %s uses the site's PostgreSQL but has no password." % rel["release"],
                               field="%s['%s']" % (passwords_var, rel["release"]),
                               fix="add a vaulted password for it to %s" % passwords_var)
        out.append({"name": rel["release"], "database": rel["database"], "user": rel["user"],
                    "password": password, "namespace": rel["namespace"], "extensions": []})
    return out


def endpoint(result, superuser="admin", vaulted=()):
    """One summary line's data for a helm_tenant result of a Langflow release: what, URL host, login hint.
    The password itself never appears: only the Secret and key that hold it (the release's -env Secret for a
    vaulted password, else the -generated one)."""
    release = result.get("release_name") or ""
    runtime = "-langflow-runtime-" in release
    where = ("%s-env key LANGFLOW_SUPERUSER_PASSWORD" % release if release in (vaulted or ())
             else "%s-generated key superuser-password" % release)
    return {
        "what": "Langflow %s %s" % ("runtime API" if runtime else "IDE", release),
        "host": (result.get("hosts") or [""])[0],
        "path": "/health" if runtime else "/",
        "login": "user %s, password in Secret %s/%s" % (superuser, result.get("namespace") or "", where),
    }


# ---------------------------------------------------------------- one tenant's planes (the langflow role)

DATABASE_URL_ENV = "LANGFLOW_DATABASE_URL"
DATABASE_PASSWORD_ENV = "LANGFLOW_DATABASE_PASSWORD"


def combine(base, other, recursive=False):
    """Ansible's ``base | combine(other, recursive=...)`` (list_merge 'replace'), key order included, so
    what the role passes to helm_tenant is the same as when it merged in Jinja: ``other`` wins, lists are
    replaced, dicts are merged when ``recursive``. Neither argument is changed."""
    if base == {} or base == other:  # as ansible.utils.vars.merge_hash: other's own order
        return dict(other)
    if other == {}:
        return base
    out = dict(base)
    for key in other:
        value = other[key]
        if recursive and isinstance(out.get(key), MutableMapping) and isinstance(value, MutableMapping):
            value = combine(out[key], value, recursive)
        out[key] = value
    return out


def flows_checksum(flow_files):
    """sha256 of the flow files as Jinja's ``flow_files | to_json | hash('sha256')`` gives it (json.dumps with
    its defaults): the runtime's rollout trigger, so it must not change for the same files."""
    plain = dict((name, flow_files[name]) for name in flow_files)
    return hashlib.sha256(json.dumps(plain).encode("utf-8")).hexdigest()


def _mapping(value, field):
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AistackError("is a %s, not a dict." % type(value).__name__, field=field,
                           fix="give %s as a dict (YAML mapping)" % field)
    return value


def _database(tenant, plane, release, dbtype, settings):
    """helm_tenant's ``database`` for one plane. A vaulted password goes in ``password`` (no_log in
    helm_tenant); without one, the release reads it from the Secret the databases role wrote (or the
    tenant's own, database_password_secret)."""
    if dbtype == "sqlite":
        return {"type": "sqlite", "name": "langflow", "url_env": DATABASE_URL_ENV}
    name = database_name(tenant["team"], settings["environment"], plane)
    out = {
        "type": "postgresql",
        "host": tenant["database_host"] if "database_host" in tenant else settings["database_host"],
        "port": settings["database_port"],
        "name": name,
        "user": tenant.get("database_user") or settings["database_user"] or name,
    }
    if settings["database_sslmode"]:
        out["sslmode"] = settings["database_sslmode"]
    out["url_env"] = DATABASE_URL_ENV
    out["password_env"] = DATABASE_PASSWORD_ENV
    password = _mapping(settings["database_passwords"], "langflow_database_passwords").get(release, "")
    if password:
        out["password"] = password
    else:
        out["password_secret"] = {
            "name": (tenant["database_password_secret"] if "database_password_secret" in tenant
                     else "%s-postgresql-%s" % (settings["database_secret_prefix"], release)),
            "key": settings["database_secret_key"],
        }
    return out


def _credentials(release, superuser_passwords, secret_keys):
    """(secret_values, generated_secrets) of a release: the vaulted superuser password and secret key go to
    helm_tenant's secret_values (no_log); the missing ones are generated once in the cluster."""
    password = _mapping(superuser_passwords, "langflow_superuser_passwords").get(release, "")
    secret_key = _mapping(secret_keys, "langflow_secret_keys").get(release, "")
    values = {}
    if password:
        values["LANGFLOW_SUPERUSER_PASSWORD"] = password
    if secret_key:
        values["LANGFLOW_SECRET_KEY"] = secret_key
    generated = []
    if not secret_key:
        generated.append({"key": "secret-key", "env": "LANGFLOW_SECRET_KEY", "format": "fernet"})
    if not password:
        generated.append({"key": "superuser-password", "env": "LANGFLOW_SUPERUSER_PASSWORD", "format": "token",
                          "length": 24})
    return values, generated


def tenant_planes(tenant, environment, flow_files=None, environments=None, sizes=None, default_size="small",
                  ide_service="langflow", runtime_service="langflow-runtime", port=7860, data_dir="/app/data",
                  superuser="admin", extra_env=None, extra_values=None, flows_mount_path="/app/flows",
                  database_host="", database_port=5432, database_user="", database_sslmode="",
                  database_passwords=None, database_secret_prefix="db", database_secret_key="POSTGRES_PASSWORD",
                  superuser_passwords=None, secret_keys=None):
    """The helm_tenant arguments the langflow role computes for one tenant in one environment, per plane:
    {release: {plane, release, service, env, database, [secret_values], [generated_secrets], persistence,
    resources, autoscaling, extra_values}} in plane order (the IDE, then the runtime unless the tenant has
    ``runtime: false``). The other arguments are the role's variables as they are. The keyword arguments are
    the role variables of the same name with the ``langflow_`` prefix; ``flow_files`` is {file name: content}
    of the tenant's runtime flows (the runtime mounts them and rolls when their checksum changes).

    ``secret_values`` and ``database.password`` hold vaulted secrets: the role passes them only to
    helm_tenant's no_log options, and keys its loop by release name so they are not in the loop items."""
    team = tenant.get("team")
    if not team:
        raise AistackError("a tenant has no team.", field="langflow_tenants[].team",
                           fix="give every tenant a team (a DNS label such as team-a)")
    environments = _mapping(environments, "langflow_environments")
    if environment not in environments:
        raise AistackError("tenant %s names environment %s, which langflow_environments does not define."
                           % (team, environment), field="langflow_tenants[].environments",
                           fix="use one of %s or add it to langflow_environments" % ", ".join(sorted(environments)))
    env_settings = environments[environment]
    size_name = tenant["size"] if "size" in tenant else default_size
    sizes = _mapping(sizes, "langflow_sizes")
    if size_name not in sizes:
        raise AistackError("tenant %s has size %s, which langflow_sizes does not define." % (team, size_name),
                           field="langflow_tenants[].size",
                           fix="use one of %s or add it to langflow_sizes" % ", ".join(sorted(sizes)))
    size = sizes[size_name]
    if "database_type" in tenant:
        dbtype = tenant["database_type"]
    elif "database_type" in env_settings:
        dbtype = env_settings["database_type"]
    else:
        raise AistackError("environment %s has no database_type." % environment,
                           field="langflow_environments.%s.database_type" % environment,
                           fix="set it to sqlite or postgresql (or set database_type on the tenant)")
    flow_files = _mapping(flow_files, "flow files")
    extra_env = _mapping(extra_env, "langflow_extra_env")
    extra_values = _mapping(extra_values, "langflow_extra_values")
    settings = {"environment": environment, "database_host": database_host, "database_port": database_port,
                "database_user": database_user, "database_sslmode": database_sslmode,
                "database_passwords": database_passwords, "database_secret_prefix": database_secret_prefix,
                "database_secret_key": database_secret_key}

    # LANGFLOW_AUTO_LOGIN: as the environment says, never in prd ('and' keeps the value as Jinja's did)
    auto_login = env_settings.get("auto_login", False) and environment != "prd"
    common_env = {
        "LANGFLOW_HOST": "0.0.0.0",
        "LANGFLOW_PORT": str(port),
        "LANGFLOW_CONFIG_DIR": data_dir,
        "LANGFLOW_SAVE_DB_IN_CONFIG_DIR": "true",
        "LANGFLOW_AUTO_LOGIN": str(auto_login).lower(),
        "LANGFLOW_SUPERUSER": superuser,
        "DO_NOT_TRACK": "true",
    }
    planes = [("ide", ide_service, False, "ReadWriteOnce", "false")]
    if tenant.get("runtime", True):
        planes.append(("runtime", runtime_service, True,
                       env_settings.get("runtime_access_mode", "ReadWriteOnce"), "true"))
    base_values = {"securityContext": {"readOnlyRootFilesystem": False}, "topologySpread": {"enabled": True}}

    out = {}
    for plane, service, hpa, access_mode, backend_only in planes:
        release = "%s-%s-%s" % (team, service, environment)
        env = combine(combine(common_env, {"LANGFLOW_BACKEND_ONLY": backend_only}), extra_env)
        values = combine(base_values, extra_values, recursive=True)
        if plane == "runtime" and len(flow_files) > 0:
            env = combine(env, {"LANGFLOW_LOAD_FLOWS_PATH": flows_mount_path})
            values = combine(values, {
                "configMapMounts": [{"name": "%s-flows" % release, "mountPath": flows_mount_path}],
                "rolloutTriggers": {"flows": flows_checksum(flow_files)},
            }, recursive=True)
        persistence = {"enabled": True, "size": size[plane]["storage"]}
        if env_settings.get("storage_class"):
            persistence["storage_class"] = env_settings["storage_class"]
        persistence["access_mode"] = access_mode
        persistence["mount_path"] = data_dir
        secret_values, generated = _credentials(release, superuser_passwords, secret_keys)
        item = {
            "plane": plane,
            "release": release,
            "service": service,
            "env": env,
            "database": _database(tenant, plane, release, dbtype, settings),
            "persistence": persistence,
            # a size may leave limits out (dev); helm_tenant requires them in stg and prd, naming the field
            "resources": dict((key, size[plane][key]) for key in ("requests", "limits") if size[plane].get(key)),
            "autoscaling": {"enabled": hpa, "min_replicas": size["runtime"]["min_replicas"],
                            "max_replicas": size["runtime"]["max_replicas"]},
            "extra_values": values,
        }
        if secret_values:
            item["secret_values"] = secret_values
        if generated:
            item["generated_secrets"] = generated
        out[release] = item
    return out
