# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the cluster is and how to log in: the one resolver every module and every helm call uses.

It accepts what ``kubernetes.core`` accepts, with the same option names, aliases and precedence:
module options first, then ``K8S_AUTH_<OPTION>`` environment variables (what AWX's Kubernetes
credential injects), then a kubeconfig (the ``kubeconfig`` option, a path or a dict; else every file
in ``KUBECONFIG``, merged as kubectl merges them; else ``~/.kube/config``), and inside a pod the
ServiceAccount. Nothing here opens a connection: ``resolve`` returns an ``Access`` dict that
``kube.client`` and ``helm.runner`` turn into a connection or command-line flags.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import os

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

# Option names, types and aliases as kubernetes.core's (args_common.AUTH_ARG_SPEC), so a play's
# module_defaults for kubernetes.core serve this collection's modules unchanged.
AUTH_ARGSPEC = dict(
    kubeconfig=dict(type="raw", no_log=True),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"]),
    proxy=dict(type="str"),
    no_proxy=dict(type="str"),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
)

# option -> the kubernetes client's name for it; both spellings are read from K8S_AUTH_<NAME>
_CLIENT_NAMES = dict(validate_certs="verify_ssl", ca_cert="ssl_ca_cert", client_cert="cert_file",
                     client_key="key_file")

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _env_value(option, environ):
    for name in (_CLIENT_NAMES.get(option, option), option):
        value = environ.get("K8S_AUTH_%s" % name.upper())
        if value is not None:
            return value
    return None


def auth_options(params, environ):
    """The auth options in force: each option's value, else its ``K8S_AUTH_*`` variable (typed)."""
    options = {}
    for option, spec in AUTH_ARGSPEC.items():
        value = (params or {}).get(option)
        if value is None:
            value = _env_value(option, environ)
            if value is not None and spec.get("type") == "bool":
                value = value.lower() not in ("0", "false", "no")
            elif value is not None and spec.get("type") == "list":
                value = [item for item in value.split(",") if item]
        if value is not None:
            options[option] = value
    return options


def kubeconfig_paths(options, environ, home=None):
    """The kubeconfig files to read, in merge order (empty when the options carry a dict)."""
    value = options.get("kubeconfig")
    if isinstance(value, dict):
        return []
    if value:
        return [os.path.expanduser(value)]
    listed = [path for path in (environ.get("KUBECONFIG") or "").split(os.pathsep) if path]
    if listed:
        return [os.path.expanduser(path) for path in listed]
    return [os.path.join(home or os.path.expanduser("~"), ".kube", "config")]


def merge_kubeconfigs(configs):
    """kubectl's merge: the first file that names a cluster, user or context wins, and so does the first
    ``current-context``."""
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    seen = {"clusters": set(), "users": set(), "contexts": set()}
    for cfg in configs:
        cfg = cfg or {}
        for section in ("clusters", "users", "contexts"):
            for item in cfg.get(section) or []:
                if item.get("name") not in seen[section]:
                    seen[section].add(item.get("name"))
                    merged[section].append(item)
        if not merged["current-context"] and cfg.get("current-context"):
            merged["current-context"] = cfg["current-context"]
    return merged


def _named(items, name):
    for item in items or []:
        if item.get("name") == name:
            return item.get("cluster") or item.get("user") or item.get("context") or {}
    return None


def _relative_to(path, base):
    if not path or not base:
        return path
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base, path)


def _library_reason(cluster, user):
    """Why only the kubernetes library (or helm itself) can log in with this kubeconfig entry, or None."""
    for key in ("exec", "auth-provider"):
        if user.get(key):
            return "user.%s" % key
    if cluster.get("tls-server-name"):
        return "cluster.tls-server-name"
    return None


def access_from_kubeconfig(cfg, context, base_dir=None):
    """The Access a kubeconfig's context describes (files relative to ``base_dir``)."""
    name = context or cfg.get("current-context")
    ctx = _named(cfg.get("contexts"), name)
    if ctx is None:
        if not name:
            raise AistackError("the kubeconfig names no current context.", field="context",
                               fix="set context to one of the kubeconfig's contexts")
        raise AistackError("context '%s' is not in the kubeconfig." % name, field="context",
                           fix="use one of the kubeconfig's contexts: %s"
                               % ", ".join(sorted(item.get("name", "") for item in cfg.get("contexts") or [])))
    cluster = _named(cfg.get("clusters"), ctx.get("cluster")) or {}
    user = _named(cfg.get("users"), ctx.get("user")) or {}
    access = {
        "server": cluster.get("server"),
        "ca_file": _relative_to(cluster.get("certificate-authority"), base_dir),
        "ca_data": cluster.get("certificate-authority-data"),
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "cert_file": _relative_to(user.get("client-certificate"), base_dir),
        "cert_data": user.get("client-certificate-data"),
        "key_file": _relative_to(user.get("client-key"), base_dir),
        "key_data": user.get("client-key-data"),
        "token": user.get("token"),
        "token_file": _relative_to(user.get("tokenFile"), base_dir),
        "username": user.get("username"),
        "password": user.get("password"),
        "proxy": cluster.get("proxy-url"),
        "impersonate_user": user.get("as"),
        "impersonate_groups": user.get("as-groups") or [],
        "context": name,
        "library_only": _library_reason(cluster, user),
    }
    return access


def _enough_without_kubeconfig(options):
    return bool(options.get("host") and (options.get("api_key") or (options.get("username") and options.get("password"))
                                         or (options.get("client_cert") and options.get("client_key"))))


def _override(access, options):
    """Options given explicitly (or through K8S_AUTH_*) replace what the kubeconfig says."""
    mapping = (("host", "server"), ("ca_cert", "ca_file"), ("client_cert", "cert_file"), ("client_key", "key_file"),
               ("username", "username"), ("password", "password"), ("proxy", "proxy"),
               ("impersonate_user", "impersonate_user"), ("impersonate_groups", "impersonate_groups"))
    for option, key in mapping:
        if options.get(option) is not None:
            access[key] = options[option]
            if key in ("ca_file", "cert_file", "key_file"):
                access[key.replace("_file", "_data")] = None
    if options.get("api_key"):
        access["token"], access["token_file"] = options["api_key"], None
    if options.get("validate_certs") is not None:
        access["insecure"] = not options["validate_certs"]
    if options.get("no_proxy"):
        access["no_proxy"] = options["no_proxy"]
    if access.get("server"):
        access["server"] = access["server"].rstrip("/")
    return access


def _empty_access():
    return dict(server=None, ca_file=None, ca_data=None, insecure=False, cert_file=None, cert_data=None,
                key_file=None, key_data=None, token=None, token_file=None, username=None, password=None, proxy=None,
                impersonate_user=None, impersonate_groups=[], context=None, library_only=None)


def resolve(params, environ=None, read_yaml=None, exists=os.path.exists, home=None):
    """The Access for the module options ``params`` (only the auth options are read).

    ``read_yaml(path)`` returns a file's parsed YAML (injected so this stays testable without files).
    The result also says where it came from: ``kubeconfig_files`` (the files read, in merge order) or
    ``kubeconfig_dict``, and ``overridden`` when options replaced part of the kubeconfig (helm then gets a
    kubeconfig of its own instead of the user's files).
    """
    environ = os.environ if environ is None else environ
    read_yaml = read_yaml or _read_yaml
    access = _resolve(params, environ, read_yaml, exists, home)
    # AISTACK_KUBE_TRANSPORT=library sends every call through the kubernetes library (to rule out the
    # HTTPS transport when diagnosing), =https the core kinds through the HTTPS transport wherever it can
    # (the benchmark weighs both)
    access["transport"] = environ.get("AISTACK_KUBE_TRANSPORT") or "auto"
    return access


def _resolve(params, environ, read_yaml, exists, home):
    options = auth_options(params, environ)
    if _enough_without_kubeconfig(options):
        access = _override(_empty_access(), options)
        access.update(kubeconfig_files=[], kubeconfig_dict=None, overridden=True)
        return access
    if not options.get("kubeconfig") and not options.get("context") and not environ.get("KUBECONFIG") \
            and environ.get("KUBERNETES_SERVICE_HOST") and exists(os.path.join(SERVICE_ACCOUNT_DIR, "token")):
        access = _empty_access()
        host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
        access.update(server="https://%s:%s" % ("[%s]" % host if ":" in host else host, port),
                      ca_file=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
                      token_file=os.path.join(SERVICE_ACCOUNT_DIR, "token"))
        access = _override(access, options)
        access.update(kubeconfig_files=[], kubeconfig_dict=None, overridden=True)
        return access
    if isinstance(options.get("kubeconfig"), dict):
        access = access_from_kubeconfig(options["kubeconfig"], options.get("context"))
        files, cfg_dict = [], options["kubeconfig"]
    else:
        paths = kubeconfig_paths(options, environ, home)
        found = [path for path in paths if exists(path)]
        if not found:
            raise AistackError("kubeconfig '%s' does not exist." % os.pathsep.join(paths), field="kubeconfig",
                               fix="point kubeconfig (or KUBECONFIG, or K8S_AUTH_KUBECONFIG) at the target "
                                   "cluster's kubeconfig, or give host with api_key")
        configs = []
        for path in found:
            try:
                cfg = read_yaml(path) or {}
            except Exception as exc:  # YAML errors and I/O errors alike
                raise AistackError("cannot read kubeconfig '%s': %s" % (path, exc), field="kubeconfig",
                                   fix="check the file")
            # relative file references resolve against the file that holds them, before merging
            configs.append(_absolutize(cfg, os.path.dirname(os.path.abspath(path))))
        cfg = configs[0] if len(configs) == 1 else merge_kubeconfigs(configs)
        access = access_from_kubeconfig(cfg, options.get("context"))
        files, cfg_dict = found, None
    overridden = any(options.get(option) is not None for option in AUTH_ARGSPEC
                     if option not in ("kubeconfig", "context"))
    access = _override(access, options)
    if not access.get("server") and not access.get("library_only"):
        raise AistackError("the kubeconfig's cluster has no server address.", field="kubeconfig",
                           fix="set the cluster's server in the kubeconfig, or give host")
    access.update(kubeconfig_files=files, kubeconfig_dict=cfg_dict, overridden=overridden)
    return access


def _absolutize(cfg, base_dir):
    for section, inner, keys in (("clusters", "cluster", ("certificate-authority",)),
                                 ("users", "user", ("client-certificate", "client-key", "tokenFile"))):
        for item in cfg.get(section) or []:
            body = item.get(inner) or {}
            for key in keys:
                if body.get(key):
                    body[key] = _relative_to(body[key], base_dir)
    return cfg


def _read_yaml(path):
    import yaml  # pylint: disable=import-outside-toplevel
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as handle:
        return yaml.load(handle, Loader=loader)  # nosec - a safe loader


def bearer_token(access):
    """The bearer token, read from its file when the kubeconfig names one."""
    if access.get("token"):
        return access["token"]
    if access.get("token_file"):
        with open(access["token_file"]) as handle:
            return handle.read().strip()
    return None


def auth_headers(access):
    """HTTP headers that authenticate (and impersonate) as the Access says."""
    headers = {}
    token = bearer_token(access)
    if token:
        headers["Authorization"] = "Bearer %s" % token
    elif access.get("username") and access.get("password"):
        basic = base64.b64encode(("%s:%s" % (access["username"], access["password"])).encode("utf-8"))
        headers["Authorization"] = "Basic %s" % basic.decode("ascii")
    if access.get("impersonate_user"):
        headers["Impersonate-User"] = access["impersonate_user"]
    return headers


def kubeconfig_for(access):
    """A self-contained kubeconfig for this Access (inline data, no exec): what helm gets when the options
    replaced part of the user's kubeconfig or there was none. Holds credentials: write it privately."""
    cluster = {"server": access["server"]}
    if access.get("insecure"):
        cluster["insecure-skip-tls-verify"] = True
    elif access.get("ca_data"):
        cluster["certificate-authority-data"] = access["ca_data"]
    elif access.get("ca_file"):
        cluster["certificate-authority"] = access["ca_file"]
    if access.get("proxy"):
        cluster["proxy-url"] = access["proxy"]
    user = {}
    for key, file_key, data_key in (("cert", "client-certificate", "client-certificate-data"),
                                    ("key", "client-key", "client-key-data")):
        if access.get(key + "_data"):
            user[data_key] = access[key + "_data"]
        elif access.get(key + "_file"):
            user[file_key] = access[key + "_file"]
    token = bearer_token(access)
    if token:
        user["token"] = token
    elif access.get("username") and access.get("password"):
        user["username"], user["password"] = access["username"], access["password"]
    if access.get("impersonate_user"):
        user["as"] = access["impersonate_user"]
    if access.get("impersonate_groups"):
        user["as-groups"] = list(access["impersonate_groups"])
    return {"apiVersion": "v1", "kind": "Config", "current-context": "aistack",
            "clusters": [{"name": "aistack", "cluster": cluster}],
            "users": [{"name": "aistack", "user": user}],
            "contexts": [{"name": "aistack", "context": {"cluster": "aistack", "user": "aistack"}}]}
