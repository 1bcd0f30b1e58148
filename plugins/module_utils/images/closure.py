# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The closure of a site: every image its rendered manifests run, and the lockfile of their digests (pure).

``manifest_images`` reads rendered Kubernetes manifests (multi-document YAML, YAML lists, ``kind: List``) and
returns one entry per container of every pod template: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob, and any other kind with a pod template at ``spec.template.spec`` (custom
workloads); ``initContainers``, ``containers`` and ``ephemeralContainers``; Helm hook resources included, chart
test hooks (``helm.sh/hook: test``, run only by ``helm test``) left out. ``compose_images`` does the same for a
rendered Compose file. ``site_closure`` puts the renders of a whole site together: images (where each is used),
the upstream charts of its releases, the bootstrap images. ``lock_problems`` compares the pods of a cluster with
a lockfile.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None
    HAS_YAML = False

LOCK_FORMAT = "aistack-images-lock/v1"
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
# kind -> path of its pod spec
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
}
TEST_HOOKS = ("test", "test-success", "test-failure")
# Kinds without a namespace: Helm applies every other object of a release in the release's namespace.
CLUSTER_SCOPED_KINDS = frozenset((
    "Namespace", "Node", "PersistentVolume", "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment",
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService", "PriorityClass",
    "IngressClass", "RuntimeClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CertificateSigningRequest",
    "FlowSchema", "PriorityLevelConfiguration", "ClusterIssuer"))
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
IMAGE_ID_DIGEST_RE = re.compile(r"(sha256:[0-9a-f]{64})$")


def _dig(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def load_documents(text, source="manifest"):
    """The objects of ``text`` (multi-document YAML or JSON); YAML lists and ``kind: List`` are flattened,
    empty documents skipped. A list of objects is taken as it is."""
    if isinstance(text, (list, tuple)):
        docs = list(text)
    elif isinstance(text, dict):
        docs = [text]
    else:
        try:
            docs = list(yaml.safe_load_all(text or ""))
        except yaml.YAMLError as exc:
            raise AistackError("%s is not valid YAML: %s" % (source, str(exc).splitlines()[0] if str(exc) else exc),
                               field=source, fix="render it again; a template that failed halfway leaves a broken file")
    out = []
    while docs:
        doc = docs.pop(0)
        if doc is None:
            continue
        if isinstance(doc, list):
            docs[0:0] = doc
            continue
        if not isinstance(doc, dict):
            raise AistackError("%s holds a document that is not an object: %r" % (source, doc)[:300], field=source,
                               fix="give rendered Kubernetes manifests (objects with apiVersion and kind)")
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            docs[0:0] = doc["items"]
            continue
        out.append(doc)
    return out


def namespaced(docs, namespace):
    """``docs`` with ``metadata.namespace`` set to ``namespace`` where a namespaced object has none, as Helm
    does when it applies a release (``helm template`` prints them without)."""
    out = []
    for obj in docs:
        if namespace and obj.get("kind") not in CLUSTER_SCOPED_KINDS and not _dig(obj, ("metadata", "namespace")):
            obj = dict(obj, metadata=dict(obj.get("metadata") or {}, namespace=namespace))
        out.append(obj)
    return out


def pod_spec(obj):
    """The pod spec of a workload object, or None."""
    kind = obj.get("kind")
    if kind in POD_SPEC_PATHS:
        spec = _dig(obj, POD_SPEC_PATHS[kind])
    else:
        spec = _dig(obj, ("spec", "template", "spec"))  # custom workloads (Rollout, ...) with a pod template
        if not (isinstance(spec, dict) and any(isinstance(spec.get(f), list) for f in CONTAINER_FIELDS)):
            spec = None
    return spec if isinstance(spec, dict) else None


def helm_hook(obj):
    """The Helm hooks of an object ("" when it is not a hook)."""
    annotations = _dig(obj, ("metadata", "annotations")) or {}
    return str(annotations.get("helm.sh/hook") or "").replace(" ", "")


def manifest_images(text, namespace="", source="manifest"):
    """Every container image of every pod template in ``text``: a list of dicts with ``image``, ``namespace``
    (the object's, else ``namespace``), ``kind``, ``name``, ``container``, ``field`` (containers, initContainers,
    ephemeralContainers) and ``hook`` (the Helm hook, "" for none), in document order."""
    found = []
    for obj in load_documents(text, source):
        spec = pod_spec(obj)
        if spec is None:
            continue
        hook = helm_hook(obj)
        if hook and set(hook.split(",")) <= set(TEST_HOOKS):
            continue  # chart tests run only on `helm test`, never on install or upgrade
        meta = obj.get("metadata") or {}
        for field in CONTAINER_FIELDS:
            for index, container in enumerate(spec.get(field) or []):
                image = (container or {}).get("image")
                where = "%s %s/%s %s[%s]" % (obj.get("kind"), meta.get("namespace") or namespace,
                                             meta.get("name"), field, container.get("name") or index)
                if not image or not isinstance(image, str):
                    raise AistackError("%s: %s has no image." % (source, where), field=source,
                                       fix="every container of a pod template needs an image")
                found.append({"image": image.strip(), "namespace": meta.get("namespace") or namespace or "",
                              "kind": obj.get("kind"), "name": meta.get("name") or "",
                              "container": container.get("name") or str(index), "field": field, "hook": hook})
    return found


def compose_images(text, host="", source="compose file"):
    """The image of every service of a rendered Compose file: dicts with ``image``, ``host``, ``project`` and
    ``service``. A service that builds its image (no ``image``) is refused: a site cannot build."""
    found = []
    for doc in load_documents(text, source):
        services = doc.get("services") or {}
        for name in sorted(services):
            image = (services[name] or {}).get("image")
            if not image:
                raise AistackError("%s: service %s has no image." % (source, name), field=source,
                                   fix="give every Compose service a pinned image")
            found.append({"image": str(image).strip(), "host": host, "project": doc.get("name") or "",
                          "service": name})
    return found


def helm_releases(text, namespace="", source="manifest"):
    """The upstream chart releases a role rendered as pseudo-objects ``kind: HelmRelease`` (spec: release,
    chart, repo, version, values, namespace)."""
    out = []
    for obj in load_documents(text, source):
        if obj.get("kind") != "HelmRelease":
            continue
        spec = dict(obj.get("spec") or {})
        for key in ("release", "chart", "version"):
            if not spec.get(key):
                raise AistackError("%s: a HelmRelease without %s." % (source, key), field=source,
                                   fix="pin every upstream chart with release, chart, repo and version")
        spec["version"] = str(spec["version"])
        spec["namespace"] = spec.get("namespace") or _dig(obj, ("metadata", "namespace")) or namespace or ""
        out.append(spec)
    return out


def chart_entry(release):
    """The bundle's chart entry ({name, version, repo}) of a HelmRelease spec: the name without its repository
    (an oci:// chart ref ends with the chart name)."""
    chart = release["chart"].rstrip("/")
    name = chart.rsplit("/", 1)[-1]
    repo = release.get("repo") or ""
    if chart.startswith("oci://"):
        repo = chart.rsplit("/", 1)[0]
    return {"name": name, "version": str(release["version"]), "repo": repo}


def site_closure(renders, extra_images=None, bootstrap_images=None, extra_charts=None):
    """The closure of one site from its renders.

    ``renders``: a list of ``{"kind": "manifest"|"compose", "source": str, "content": text or objects,
    "namespace": default namespace, "host": str}``. Returns ``{"images": [{"ref", "bootstrap", "used_by":
    [...]}], "charts": [{name, version, repo}], "releases": [HelmRelease specs]}``, images and charts in first-use
    order (renders in the order given), each once. ``extra_images`` (the inventory's extra images, an execution
    environment) are added with ``used_by`` naming where they come from: ``[{"ref", "from"}]`` or plain refs.
    """
    order, uses = [], {}

    def add(ref, use):
        if ref not in uses:
            order.append(ref)
            uses[ref] = []
        if use not in uses[ref]:
            uses[ref].append(use)

    releases = []
    for render in renders or []:
        kind = render.get("kind") or "manifest"
        source = render.get("source") or "manifest"
        if kind == "compose":
            for item in compose_images(render.get("content"), render.get("host") or "", source):
                add(item["image"], "compose %s/%s on %s" % (item["project"], item["service"], item["host"] or "?"))
        elif kind == "manifest":
            ns = render.get("namespace") or ""
            for item in manifest_images(render.get("content"), ns, source):
                add(item["image"], "%s %s/%s %s%s" % (item["kind"], item["namespace"], item["name"], item["container"],
                                                      (" (hook %s)" % item["hook"]) if item["hook"] else ""))
            releases.extend(helm_releases(render.get("content"), ns, source))
        else:
            raise AistackError("render %s has kind %r." % (source, kind), field="renders",
                               fix="use manifest or compose")
    for item in extra_images or []:
        ref, origin = (item.get("ref"), item.get("from") or "extra") if isinstance(item, dict) else (item, "extra")
        if ref:
            add(str(ref).strip(), origin)
    bootstrap = [str(ref).strip() for ref in (bootstrap_images or []) if ref]
    for ref in bootstrap:
        add(ref, "bootstrap")
    charts, seen = [], set()
    for entry in [chart_entry(r) for r in releases] + list(extra_charts or []):
        key = (entry.get("name"), str(entry.get("version")))
        if key not in seen:
            seen.add(key)
            charts.append(dict(entry, version=str(entry.get("version"))))
    return {"images": [{"ref": ref, "bootstrap": ref in bootstrap, "used_by": uses[ref]} for ref in order],
            "charts": charts, "releases": releases}


# --------------------------------------------------------------------------- the lockfile

def lock_document(entries, site=""):
    """The lockfile of a bundle: ``{"format", "site", "images": {ref: digest}}`` from entries ``{ref, digest}``,
    refs sorted (the same closure always writes the same bytes)."""
    images = {}
    for entry in entries or []:
        digest = entry.get("digest") or ""
        if not DIGEST_RE.match(digest):
            raise AistackError("image %s has no manifest digest (%r)." % (entry.get("ref"), digest),
                               field="images.lock.json", fix="export the image again")
        if images.get(entry["ref"], digest) != digest:
            raise AistackError("image %s has two digests in the bundle: %s and %s." % (
                entry["ref"], images[entry["ref"]], digest), field="images.lock.json",
                fix="export the bundle again from one registry state")
        images[entry["ref"]] = digest
    return {"format": LOCK_FORMAT, "site": site or "", "images": dict(sorted(images.items()))}


def lock_text(entries, site=""):
    return json.dumps(lock_document(entries, site), indent=2, sort_keys=True) + "\n"


def read_lock(lock, source="images.lock.json"):
    """The ``{ref: digest}`` of a lockfile (its text or the parsed document), checked."""
    if isinstance(lock, str):
        try:
            lock = json.loads(lock)
        except ValueError as exc:
            raise AistackError("%s is not JSON: %s" % (source, exc), field=source, fix="export the bundle again")
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT or not isinstance(lock.get("images"), dict):
        raise AistackError("%s is not an image lockfile (format %s)." % (source, LOCK_FORMAT), field=source,
                           fix="export the bundle again with playbooks/airgap_export.yml")
    bad = sorted(ref for ref, digest in lock["images"].items() if not DIGEST_RE.match(str(digest)))
    if bad:
        raise AistackError("%s has no sha256 digest for %s." % (source, ", ".join(bad)), field=source,
                           fix="export the bundle again")
    return dict(lock["images"])


def image_id_digest(image_id):
    """The manifest digest in a container status's imageID (``docker.io/x@sha256:...``,
    ``docker-pullable://x@sha256:...``), or ""."""
    match = IMAGE_ID_DIGEST_RE.search(str(image_id or ""))
    return match.group(1) if match else ""


def pod_image_ids(pods):
    """(namespace, pod, container, image as the spec says it, digest of the running image) of every container
    that has started of ``pods`` (Pod objects, as kubernetes.core.k8s_info returns them)."""
    out = []
    for pod in pods or []:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        by_name = {}
        for field in CONTAINER_FIELDS:
            for container in spec.get(field) or []:
                by_name[container.get("name")] = container.get("image")
        for field in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
            for cstatus in status.get(field) or []:
                digest = image_id_digest(cstatus.get("imageID"))
                if not digest:
                    continue  # not started yet: no image pulled to compare
                out.append((meta.get("namespace") or "", meta.get("name") or "", cstatus.get("name") or "",
                            by_name.get(cstatus.get("name")) or cstatus.get("image") or "", digest))
    return out


def lock_problems(pods, lock, unlocked="report"):
    """What the running pods do not hold to the lockfile: a container running a locked image under another
    digest, and (``unlocked: report``) one running an image the lockfile does not list. One message each, naming
    the pod, the image, both digests and the fix."""
    images = read_lock(lock)
    problems = []
    for namespace, pod, container, image, digest in pod_image_ids(pods):
        ref = image.split("@", 1)[0] if "@" in image else image
        locked = images.get(image) or images.get(ref)
        if "@" in image and image.split("@", 1)[1] != digest:
            problems.append("pod %s/%s container %s: asks for %s but runs %s. Fix: find what rewrote the image "
                            "(a mutating webhook, a mirror) and deploy again." % (namespace, pod, container, image, digest))
        elif locked and locked != digest:
            problems.append("pod %s/%s container %s runs %s as %s, but the bundle's lockfile says %s. Fix: import the "
                            "bundle again (playbooks/airgap_import.yml) so the site registry holds the exported image, "
                            "then restart the workload." % (namespace, pod, container, image, digest, locked))
        elif not locked and unlocked == "report" and "@" not in image:
            problems.append("pod %s/%s container %s runs %s (%s), which the bundle's lockfile does not list. Fix: the "
                            "image is not part of the site's closure: export the bundle again from this inventory, or "
                            "remove what deployed it." % (namespace, pod, container, image, digest))
    return problems
