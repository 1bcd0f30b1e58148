# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names a tenant's release derives: release, namespace, hosts, Secrets (docs/architecture.md, field rules 1 and 6)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


ENVIRONMENTS = ("dev", "stg", "prd")
PRODUCTION = "prd"


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


def hosts_of(names):
    return [names["host"]] if names.get("host") else []
