# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Langflow tenants: the releases they make and the PostgreSQL databases those releases need.

Pure functions. The langflow role and the databases role both read them (through the filters in
plugins/filter/langflow.py), so a tenant's database, login role and credentials Secret are named the same
way on both sides: one database and one role per team, environment and plane.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
