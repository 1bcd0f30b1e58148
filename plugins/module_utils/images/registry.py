# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCI distribution API client: just what an import needs (HEAD, monolithic blob PUT, mount, manifest PUT).

Auth: none, HTTP basic, or the bearer-token flow (Docker Hub style, used by Harbor, Nexus and
distribution with token auth); the challenge decides. Credentials never appear in errors.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

try:
    import requests
    from requests.adapters import HTTPAdapter
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - reported by the module
    requests = None
    HTTPAdapter = object
    HAS_REQUESTS = False

ACCEPT_MANIFESTS = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
UPLOAD_BLOCK = 1 << 20


def registry_base_url(registry, tls):
    """``localhost:30500`` -> ``http://localhost:30500``; an explicit scheme wins."""
    if registry.startswith("http://") or registry.startswith("https://"):
        return registry.rstrip("/")
    return ("https://" if tls else "http://") + registry.rstrip("/")


def parse_challenge(header):
    """``Bearer realm="x",service="y",scope="z"`` -> ('bearer', {'realm': 'x', ...})."""
    if not header:
        return None, {}
    scheme, _unused, rest = header.partition(" ")
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def split_repo_ref(ref):
    """``localhost:30500/team/app:1.0`` -> ('team/app', '1.0') (registry host dropped)."""
    rest = ref.split("/", 1)[1]
    if "@" in rest:
        repo, digest = rest.split("@", 1)
        return repo, digest
    repo, _unused, tag = rest.rpartition(":")
    return repo, tag


class _BlockAdapter(HTTPAdapter):
    """Send request bodies in 1 MiB blocks instead of urllib3's 16 KiB."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["blocksize"] = UPLOAD_BLOCK
        super(_BlockAdapter, self).init_poolmanager(*args, **kwargs)


class _SizedBody(object):
    """A streaming request body of known length (requests then sends Content-Length, not chunks)."""

    def __init__(self, reader, size):
        self.reader = reader
        self.size = size

    def __len__(self):
        return self.size

    def read(self, n=-1):
        return self.reader.read(UPLOAD_BLOCK if n is None or n < 0 else max(n, UPLOAD_BLOCK))


class RegistryClient(object):
    def __init__(self, registry, username=None, password=None, tls=False, validate_certs=True, ca_path=None,
                 timeout=60):
        if not HAS_REQUESTS:
            raise AistackError("the requests Python library is missing", field="target",
                               fix="pip install requests on the host running the module")
        self.registry = registry
        self.base = registry_base_url(registry, tls)
        self.session = requests.Session()
        adapter = _BlockAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # passed on every request: a Session's own verify loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the
        # environment, which would silently ignore registry_ca_path
        self.verify = (ca_path or True) if validate_certs else False
        self.session.verify = self.verify
        self.username = username
        self.password = password
        self.timeout = timeout
        self._tokens = {}
        self.stats = {"blob_uploads": 0, "blob_mounts": 0, "manifest_puts": 0}

    # -- transport ---------------------------------------------------------------------------
    def _auth_headers(self, repo):
        token = self._tokens.get(repo)
        if token:
            return {"Authorization": "Bearer %s" % token}
        return {}

    def _authenticate(self, response, repo):
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate"))
        if not self.username:
            raise AistackError("registry %s asks for credentials (%s)" % (self.registry, scheme or "401"),
                               field="registry_username", fix="set registry_username and registry_password")
        if scheme == "basic":
            self.session.auth = (self.username, self.password or "")
            return
        if scheme != "bearer" or not params.get("realm"):
            raise AistackError("registry %s answered 401 with an unsupported challenge '%s'"
                               % (self.registry, response.headers.get("WWW-Authenticate")), field="registry")
        query = {"service": params.get("service", "")}
        query["scope"] = "repository:%s:pull,push" % repo if repo else params.get("scope", "")
        try:
            tok = self.session.get(params["realm"], params=query, auth=(self.username, self.password or ""),
                                   timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise AistackError("cannot get a token from %s: %s" % (params["realm"], exc), field="registry")
        if tok.status_code != 200:
            raise AistackError("token request to %s was refused (HTTP %d)" % (params["realm"], tok.status_code),
                               field="registry_username", fix="check registry_username and registry_password")
        body = tok.json()
        self._tokens[repo] = body.get("token") or body.get("access_token")

    def request(self, method, path, repo=None, retry_auth=True, **kwargs):
        url = path if path.startswith("http") else self.base + path
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.update(self._auth_headers(repo))
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, verify=self.verify,
                                            allow_redirects=method in ("GET", "HEAD"), **kwargs)
        except requests.exceptions.SSLError as exc:
            raise AistackError("TLS to registry %s failed: %s" % (self.registry, exc), field="registry_ca_path",
                               fix="set registry_ca_path to the registry's CA, or registry_validate_certs: false")
        except requests.RequestException as exc:
            raise AistackError("cannot reach registry %s: %s" % (self.registry, exc), field="registry",
                               fix="check the address, the port and registry_tls")
        if response.status_code == 401 and retry_auth:
            self._authenticate(response, repo)
            return self.request(method, path, repo=repo, retry_auth=False, headers=headers, **kwargs)
        return response

    def _error(self, what, response):
        text = (response.text or "")[:300]
        return AistackError("registry %s: %s failed: HTTP %d %s" % (self.registry, what, response.status_code, text),
                            field="registry")

    # -- API -----------------------------------------------------------------------------------
    def ping(self):
        response = self.request("GET", "/v2/")
        if response.status_code not in (200, 401):
            raise self._error("GET /v2/", response)

    def blob_exists(self, repo, digest):
        response = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest), repo=repo)
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._error("HEAD blob %s in %s" % (digest, repo), response)

    def manifest_digest(self, repo, reference):
        """Digest the registry holds under ``reference`` (tag or digest), or None."""
        response = self.request("HEAD", "/v2/%s/manifests/%s" % (repo, reference), repo=repo,
                                headers={"Accept": ACCEPT_MANIFESTS})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._error("HEAD manifest %s:%s" % (repo, reference), response)
        return response.headers.get("Docker-Content-Digest")

    def mount_blob(self, repo, digest, from_repo):
        """Cross-repository mount; True when the registry did it (201), False when it wants an upload."""
        response = self.request("POST", "/v2/%s/blobs/uploads/" % repo, repo=repo,
                                params={"mount": digest, "from": from_repo})
        if response.status_code == 201:
            self.stats["blob_mounts"] += 1
            return True
        if response.status_code == 202:
            self._cancel(response, repo)
            return False
        raise self._error("mount blob %s into %s" % (digest, repo), response)

    def _cancel(self, response, repo):
        location = response.headers.get("Location")
        if location:
            try:
                self.request("DELETE", self._absolute(location), repo=repo)
            except AistackError:
                pass

    def _absolute(self, location):
        if location.startswith("http://") or location.startswith("https://"):
            return location
        return self.base + location

    def push_blob(self, repo, digest, size, reader):
        """Monolithic upload: POST for a session, then PUT the whole body (streamed) with ?digest=.

        The registry checks the digest and stores nothing if it does not match.
        """
        response = self.request("POST", "/v2/%s/blobs/uploads/" % repo, repo=repo)
        if response.status_code != 202:
            raise self._error("start upload of %s to %s" % (digest, repo), response)
        location = self._absolute(response.headers["Location"])
        sep = "&" if "?" in location else "?"
        put = self.request("PUT", location + sep + "digest=" + digest, repo=repo, data=_SizedBody(reader, size),
                           headers={"Content-Type": "application/octet-stream"}, retry_auth=False)
        if put.status_code != 201:
            self._cancel(response, repo)
            raise self._error("upload of blob %s to %s" % (digest, repo), put)
        self.stats["blob_uploads"] += 1

    def put_manifest(self, repo, reference, media_type, data):
        response = self.request("PUT", "/v2/%s/manifests/%s" % (repo, reference), repo=repo, data=data,
                                headers={"Content-Type": media_type})
        if response.status_code not in (200, 201):
            raise self._error("PUT manifest %s:%s" % (repo, reference), response)
        self.stats["manifest_puts"] += 1
        return response.headers.get("Docker-Content-Digest")
