#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: helm_tenant
short_description: One team's service in one environment as a Helm release, with the platform's rules enforced
version_added: 0.1.0
description:
  - Installs, upgrades or removes the Helm release C(<team>-<service>-<env>) of one tenant, normally with the
    collection's generic chart C(charts/aistack-service).
  - The release name and C(fullnameOverride) are C(<team>-<service>-<env>); the namespace defaults to
    C(<team>-<env>); the ingress host is C(<service>-<team>.<domain>).
  - "Policy checked before anything is touched, each failure naming the option and the fix: C(latest) or empty
    image tags and image references outside the OCI grammar, SQLite in prd, data without persistence in prd,
    missing limits in stg and prd, missing requests, credentials in clear text, resource names and ingress
    hosts other than the tenant's, and a security context weaker than the C(restricted) Pod Security level."
  - "The rules are checked twice: on the typed options, then on the values Helm really receives, merged from the
    chart's defaults (the C(values.yaml) of a local chart), the typed options, O(values_files) and
    O(extra_values), whichever of them a value comes from. The defaults of a chart from a repository are only
    known once Helm has downloaded it and are not part of that check."
  - Credentials reach the release only as C(secretKeyRef). A vaulted O(database.password) is stored in the
    Secret C(<fullname>-db), O(secret_values) in C(<fullname>-env); values in O(generated_secrets) are generated once into C(<fullname>-generated)
    and reused on every later run.
  - The release is read straight from Helm's storage Secret, so a run that changes nothing starts no Helm
    process; C(changed) is reported only when the values, the chart (name, version, or files of a local
    chart) or an owned Secret differ, or when the last revision is not C(deployed).
  - "With O(drift=detect) (the default) the objects of a deployed release are also compared with the cluster: an
    object edited by hand (replicas, image, env, a Secret reference) or deleted makes the run C(changed), the diff
    names the object and the field (Secret data masked), and the run repairs it with C(helm upgrade) and the same
    values. A release whose objects match reports no change."
  - "A release left C(pending-install), C(pending-upgrade) or C(pending-rollback) by a run that did not finish (killed,
    the API server gone) is recovered: a first install that never finished is removed from Helm's records and
    installed again, an unfinished upgrade or rollback is marked C(failed) and the release upgraded again.
    PersistentVolumeClaims and data are never deleted; the result says what was found and done (RV(recovered))."
  - "While it changes a release, a run holds the Lease C(aistack-helm-<release>) in the release's namespace, renewed
    every 5 s and lasting 15 s: a second run meanwhile fails, naming the holder, instead of touching the release;
    a pending record whose Lease has expired (or never existed) is taken as abandoned."
author:
  - aistack platform engineering (@aistack)
extends_documentation_fragment:
  - aistack.platform.kube_auth
  - aistack.platform.kube_auth.validate_certs
options:
  team:
    description: The team (tenant). A DNS label.
    type: str
    required: true
  service:
    description: The service, for example V(langflow) or V(langflow-runtime). A DNS label.
    type: str
    required: true
  environment:
    description: The environment; V(stg) and V(prd) get the stricter rules.
    type: str
    required: true
    choices: [dev, stg, prd]
  namespace:
    description:
      - Namespace of the release. Defaults to C(<team>-<environment>).
      - Created when missing, labelled with the team and environment and the C(restricted) Pod Security level.
    type: str
  state:
    description: V(present) installs or upgrades the release, V(absent) uninstalls it.
    type: str
    choices: [present, absent]
    default: present
  purge:
    description:
      - With O(state=absent), also delete the release's PersistentVolumeClaims and the Secrets the module
        created. Without it they are kept, so a later install finds the data again.
    type: bool
    default: false
  chart:
    description: The chart. Either O(chart.path), or O(chart.name) with O(chart.repo) (or an C(oci://) name) and a
      pinned O(chart.version).
    type: dict
    suboptions:
      path:
        description: A chart directory or a packaged chart (C(.tgz)) on the controller.
        type: path
      repo:
        description: Chart repository URL.
        type: str
      name:
        description: Chart name in O(chart.repo), or an C(oci://) reference.
        type: str
      version:
        description: Exact chart version (ranges are refused).
        type: str
  image:
    description: The container image.
    type: dict
    suboptions:
      repository:
        description: Image repository without tag, for example V(langflowai/langflow).
        type: str
        required: true
      tag:
        description: Pinned tag. Empty or V(latest) is refused unless O(image.digest) is set (V(latest) always).
        type: str
      digest:
        description: Image digest C(sha256:...); wins over the tag when both are set.
        type: str
      pull_policy:
        description: Image pull policy.
        type: str
        choices: [IfNotPresent, Always, Never]
        default: IfNotPresent
  port:
    description: The port the container listens on.
    type: int
    default: 8080
  service_port:
    description: The port of the Service.
    type: int
    default: 80
  command:
    description: Overrides the image's entrypoint.
    type: list
    elements: str
  args:
    description: Overrides the image's arguments.
    type: list
    elements: str
  env:
    description:
      - Plain environment variables. Names that look like credentials (C(*PASSWORD), C(*API_KEY), C(*TOKEN)...)
        with a value, and URLs carrying a password, are refused; use O(secret_env).
    type: dict
  secret_env:
    description: Environment variables read from existing Secrets in the namespace (C(secretKeyRef)).
    type: list
    elements: dict
    suboptions:
      name:
        description: Variable name.
        type: str
        required: true
      secret:
        description: Secret name.
        type: str
        required: true
      key:
        description: Key in the Secret.
        type: str
        required: true
      optional:
        description: Do not require the Secret to exist.
        type: bool
        default: false
  secret_values:
    description:
      - Vaulted values (API keys, a superuser password...) passed as environment variables of the same names.
        The module stores them in the Secret C(<fullname>-env) and references them with C(secretKeyRef).
    type: dict
  generated_secrets:
    description:
      - Credentials the module generates once into the Secret C(<fullname>-generated) and passes as
        environment variables. Existing keys are never regenerated.
    type: list
    elements: dict
    suboptions:
      key:
        description: Key in the Secret.
        type: str
        required: true
      env:
        description: Environment variable that receives it.
        type: str
        required: true
      format:
        description: V(fernet) is a url-safe base64 32-byte key (Langflow's C(LANGFLOW_SECRET_KEY)).
        type: str
        choices: [token, hex, fernet]
        default: token
      length:
        description: Length for V(token) and V(hex).
        type: int
        default: 32
  database:
    description: The service's database.
    type: dict
    suboptions:
      type:
        description: V(sqlite) is refused in prd.
        type: str
        choices: [postgresql, sqlite, none]
        default: none
      host:
        description: PostgreSQL host.
        type: str
      port:
        description: PostgreSQL port.
        type: int
        default: 5432
      name:
        description: Database name (for SQLite the file name without C(.db), on the persistent volume).
        type: str
      user:
        description: PostgreSQL user.
        type: str
      password:
        description: Vaulted password; stored in the Secret C(<fullname>-db) (keys C(password) and C(url)).
        type: str
      password_secret:
        description: An existing Secret holding the password.
        type: dict
        suboptions:
          name:
            description: Secret name.
            type: str
            required: true
          key:
            description: Key of the password.
            type: str
            default: password
          url_key:
            description: Key of a complete database URL, when the Secret has one.
            type: str
      sslmode:
        description: C(sslmode) appended to the URL.
        type: str
      scheme:
        description: URL scheme.
        type: str
        default: postgresql
      url_env:
        description: Environment variable that receives the database URL.
        type: str
        default: DATABASE_URL
      password_env:
        description: Environment variable that receives the password (C(secretKeyRef)).
        type: str
        default: DATABASE_PASSWORD
      env_prefix:
        description: When set, also export C(<prefix>_HOST), C(_PORT), C(_NAME), C(_USER).
        type: str
  persistence:
    description: The data volume (a PersistentVolumeClaim). Disabling it is refused in prd.
    type: dict
    suboptions:
      enabled:
        description: Create and mount a PVC.
        type: bool
        default: true
      storage_class:
        description: StorageClass; empty uses the cluster default.
        type: str
      size:
        description: Requested size.
        type: str
        default: 1Gi
      access_mode:
        description: Access mode; use V(ReadWriteMany) (for example NFS) when several pods share the data.
        type: str
        default: ReadWriteOnce
      mount_path:
        description: Mount path in the container.
        type: str
        default: /data
      existing_claim:
        description: Use this existing PVC instead of creating one.
        type: str
  volumes:
    description:
      - More PersistentVolumeClaims beside O(persistence), each mounted at its own path (for example LightRAG's
        C(rag_storage) and C(inputs)). The claim is C(<fullname>-<name>) unless O(volumes[].existing_claim) is
        given; it carries the release's labels, is kept on uninstall and deleted by O(purge) like the main one.
    type: list
    elements: dict
    suboptions:
      name:
        description: Suffix of the claim's name and of the volume's; a DNS label, not V(data).
        type: str
        required: true
      mount_path:
        description: Absolute mount path in the container; must differ from O(persistence.mount_path).
        type: str
        required: true
      size:
        description: Requested size.
        type: str
        default: 1Gi
      storage_class:
        description: StorageClass; empty uses O(persistence.storage_class), then the cluster default.
        type: str
      access_mode:
        description: Access mode; defaults to O(persistence.access_mode).
        type: str
      existing_claim:
        description: Mount this existing PVC instead of creating one.
        type: str
  ingress:
    description: Host-based ingress C(<service>-<team>.<domain>).
    type: dict
    suboptions:
      enabled:
        description: Create the Ingress.
        type: bool
        default: false
      domain:
        description: Tenant domain.
        type: str
      class_name:
        description: IngressClass.
        type: str
      tls_secret:
        description: Existing TLS Secret.
        type: str
      cert_manager_issuer:
        description: cert-manager Issuer in the namespace (TLS Secret C(<fullname>-tls)).
        type: str
      cert_manager_cluster_issuer:
        description: cert-manager ClusterIssuer (TLS Secret C(<fullname>-tls)).
        type: str
      annotations:
        description: Extra Ingress annotations.
        type: dict
  resources:
    description: Container C(requests) and C(limits) (requests always required; limits required in stg and prd).
    type: dict
  probes:
    description: HTTP liveness and readiness probes.
    type: dict
    suboptions:
      enabled:
        description: Create the probes.
        type: bool
        default: true
      path:
        description: Health path.
        type: str
        default: /health
      liveness_initial_delay:
        description: Liveness initial delay (seconds).
        type: int
        default: 30
      readiness_initial_delay:
        description: Readiness initial delay (seconds).
        type: int
        default: 5
      period:
        description: Probe period (seconds).
        type: int
      timeout:
        description: Probe timeout (seconds).
        type: int
      failure_threshold:
        description: Failures before the probe fails.
        type: int
      startup_failure_threshold:
        description: When set, add a startup probe with this many failures allowed (slow starters).
        type: int
  tracing:
    description: Tracing to Phoenix over OTLP.
    type: dict
    suboptions:
      enabled:
        description: Export traces.
        type: bool
        default: false
      endpoint:
        description: Phoenix collector base URL, without C(/v1/traces).
        type: str
      protocol:
        description: OTLP protocol.
        type: str
        default: http/protobuf
      project:
        description: Phoenix project; defaults to the release name.
        type: str
      api_key_secret:
        description: Secret with the Phoenix API key.
        type: dict
        suboptions:
          name:
            description: Secret name.
            type: str
            required: true
          key:
            description: Key in the Secret.
            type: str
            default: api-key
      api_key_env:
        description: Variable that receives the API key.
        type: str
        default: PHOENIX_API_KEY
      env:
        description: Extra variables set only when tracing is on, for example C(LANGFLOW_TRACING=true).
        type: dict
  replicas:
    description: Replicas when O(autoscaling) is off.
    type: int
    default: 1
  autoscaling:
    description: HorizontalPodAutoscaler.
    type: dict
    suboptions:
      enabled:
        description: Create the HPA (O(replicas) is then ignored).
        type: bool
        default: false
      min_replicas:
        description: Lower bound.
        type: int
        default: 2
      max_replicas:
        description: Upper bound.
        type: int
        default: 4
      target_cpu:
        description: Target average CPU utilization (percent).
        type: int
        default: 80
      target_memory:
        description: Target average memory utilization (percent).
        type: int
  node_selector:
    description: Node selector, for example for GPU nodes.
    type: dict
  tolerations:
    description: Tolerations, for example for GPU taints.
    type: list
    elements: dict
  network_policy:
    description: The NetworkPolicy admitting only the ingress controller's and the tenant's own namespace.
    type: dict
    suboptions:
      enabled:
        description: Create the NetworkPolicy.
        type: bool
        default: true
      ingress_namespaces:
        description: Namespaces of the ingress controllers.
        type: list
        elements: str
  values_files:
    description:
      - Helm values files (YAML mappings) on the host the module runs on, merged in order over the values the
        typed options render and under O(extra_values).
      - "Merge order, as Helm sees it: the chart's defaults, the typed options, O(values_files) in order,
        O(extra_values); a null removes a key. The field rules are checked on the merged result, each problem
        naming the file, for example C(values_files[0]: image.tag)."
      - The files' content becomes part of the release values, so a change in a file upgrades the release.
    type: list
    elements: path
  extra_values:
    description:
      - Values merged last, over the typed options and O(values_files).
      - The field rules hold on the merged values, so C(image.tag=latest), a clear-text credential, a SQLite URL
        in prd and the like are refused here too, naming the path (for example C(extra_values.image.tag)).
    type: dict
  wait:
    description:
      - "Wait until the release's pods are ready. While it waits, the task prints what it waits on every
        10 seconds, without C(-v) (for example C(team-a-langflow-dev: 1/2 pods ready, waiting on readiness probe,
        40 s)); on the controller as it happens, from a remote host when the module returns."
      - V(false) starts the rollout and returns (RV(rollout) with C(state=started)); M(aistack.platform.release_wait) then
        waits for many releases at once (the filter P(aistack.platform.rollout_pending#filter) picks them from the
        registered results).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the release's pods. On timeout the failure carries RV(diagnosis) (the pods not ready,
        their container states, last events and last log lines, credentials masked).
    type: int
    default: 300
  atomic:
    description:
      - Roll back a release whose upgrade fails to its last deployed revision (or remove it, on first install),
        which then keeps serving. The module runs C(helm rollback) itself, so this works the same with Helm 3
        (which calls it C(--atomic)) and Helm 4 (C(--rollback-on-failure)).
      - Implies a wait, also with O(wait=false).
    type: bool
    default: false
  history_max:
    description: Revisions Helm keeps.
    type: int
    default: 5
  binary_path:
    description: The helm binary; by default C(helm) from E(PATH).
    type: path
  drift:
    description:
      - V(detect) compares the live objects of a deployed release with the manifest Helm rendered for it (one read
        per object) and repairs what differs with C(helm upgrade) and the same values.
      - V(ignore) compares only the values, the chart and the status of the release, as Helm does.
      - Only fields the chart renders count, so defaults, status and fields other controllers own are not drift;
        nor are list items added by hand beside the rendered ones (an extra env var), which Helm's merge keeps.
        A PersistentVolumeClaim counts by its existence only.
    type: str
    choices: [detect, ignore]
    default: detect
  render_dir:
    description:
      - "Render only: write the release's manifests, as C(helm template) renders them with the values a real run
        sends (every namespaced object given its namespace), to C(<render_dir>/<release>.yml) on the host the module
        runs on, and touch no cluster: no connection is opened, no Secret read or written, nothing installed."
      - The policy checks run as usual. The rollout triggers (the versions of the Secrets the pods read, known only
        in the cluster) are not part of the values, which changes one pod annotation and nothing else.
      - The file is written in check mode too, and C(changed) is always false (no site is changed). With
        O(state=absent) nothing is written (RV(rendered) is null).
      - "The airgap export renders every release of a site this way to compute the images it runs
        (C(playbooks/closure.yml), C(docs/airgap.md))."
    type: path
notes:
  - "Runs where helm and the kubeconfig are, usually the controller (C(delegate_to: localhost))."
  - Check mode and diff mode are supported; diffs show the release values and the names of changed Secret keys,
    never a credential.
"""

EXAMPLES = r"""
- name: Langflow IDE of team data-science in dev
  aistack.platform.helm_tenant:
    team: data-science
    service: langflow
    environment: dev
    chart:
      path: "{{ playbook_dir }}/../charts/aistack-service"
    image:
      repository: langflowai/langflow
      tag: "1.4.3"
    port: 7860
    database:
      type: postgresql
      host: postgresql.aistack-system.svc.cluster.local
      name: langflow_data_science_dev_ide
      user: langflow
      password: "{{ vault_langflow_db_password }}"
      url_env: LANGFLOW_DATABASE_URL
    persistence:
      size: 5Gi
      mount_path: /app/data
    resources:
      requests: {cpu: 500m, memory: 1Gi}
      limits: {cpu: "1", memory: 2Gi}
    ingress:
      enabled: true
      domain: dev.company.com
    generated_secrets:
      - {key: secret-key, env: LANGFLOW_SECRET_KEY, format: fernet}
  delegate_to: localhost

- name: The same service with site values from files; the rules hold on the merged values
  aistack.platform.helm_tenant:
    team: data-science
    service: langflow
    environment: prd
    chart:
      path: "{{ playbook_dir }}/../charts/aistack-service"
    image:
      repository: langflowai/langflow
      tag: "1.4.3"
    port: 7860
    database:
      type: postgresql
      host: postgresql.aistack-system.svc.cluster.local
      name: langflow_data_science_prd_ide
      user: langflow
      password_secret:
        name: langflow-db
    values_files:
      - "{{ playbook_dir }}/values/langflow-common.yaml"
      - "{{ playbook_dir }}/values/langflow-prd.yaml"
    extra_values:
      podAnnotations:
        team.example.com/owner: data-science
  delegate_to: localhost

- name: Remove it, data included
  aistack.platform.helm_tenant:
    team: data-science
    service: langflow
    environment: dev
    state: absent
    purge: true
"""

RETURN = r"""
release_name:
  description: Release name, also the C(fullnameOverride).
  returned: always
  type: str
  sample: data-science-langflow-dev
namespace:
  description: Namespace of the release.
  returned: always
  type: str
  sample: data-science-dev
revision:
  description: Revision of the release after the run (before it, in check mode); null when not installed.
  returned: always
  type: int
  sample: 3
status:
  description: Helm status of that revision.
  returned: always
  type: str
  sample: deployed
hosts:
  description: Ingress hosts.
  returned: always
  type: list
  elements: str
  sample: [langflow-data-science.dev.company.com]
values_digest:
  description: sha256 over the rendered values and the chart name and version.
  returned: when state=present
  type: str
chart:
  description: Chart name.
  returned: when state=present
  type: str
chart_version:
  description: Chart version.
  returned: when state=present
  type: str
changes:
  description: What differs from the deployed release (value paths, chart, status, C(drift:) objects and fields).
  returned: when the release changes
  type: list
  elements: str
actions:
  description: What the run did (or would do in check mode).
  returned: always
  type: list
  elements: str
rollout:
  description:
    - "The rollout of this run. C(state) is V(started) (O(wait=false): started, not waited for), V(ready) (waited
      for), or V(check_mode); C(seconds) it took; C(previous_revision) the revision an atomic rollback goes back
      to (for M(aistack.platform.release_wait)); C(progress) the progress lines, when the module ran on a
      remote host."
  returned: when the release is upgraded or installed (or would be, in check mode)
  type: dict
  sample: {state: ready, seconds: 42, previous_revision: 3}
diagnosis:
  description:
    - On a failed wait, per pod that is not ready, its C(reason), C(containers) (state, reason, exit code,
      restarts), last C(events) and C(log_tail), the last log lines of the failing container. Credentials (the
      values of the Secrets the pod reads, credential-like C(name=value) pairs, URL passwords) are masked.
  returned: on failure after a wait
  type: list
  elements: dict
rolled_back_to:
  description: The revision O(atomic) rolled back to after a failed upgrade (null after a failed first install).
  returned: on failure with O(atomic)
  type: int
drift:
  description: The objects of the release that differed from its manifest (repaired unless in check mode).
  returned: when O(drift=detect) found drift
  type: list
  elements: dict
  contains:
    object:
      description: Kind, namespace and name.
      type: str
      sample: Deployment team-a-dev/team-a-langflow-dev
    kind:
      description: Kind of the object.
      type: str
      sample: Deployment
    name:
      description: Name of the object.
      type: str
      sample: team-a-langflow-dev
    missing:
      description: True when the object was deleted.
      type: bool
      returned: when the object was deleted
    fields:
      description: Paths of the fields that differed, list items named by their key.
      type: list
      elements: str
      returned: when the object exists
      sample: [spec.replicas, "spec.template.spec.containers[langflow].image"]
recovered:
  description: A release record left C(pending-*) by an interrupted run, and what was done with it.
  returned: when such a record was found
  type: dict
  contains:
    status:
      description: The status the record was left in.
      type: str
      sample: pending-upgrade
    revision:
      description: Its revision.
      type: int
      sample: 4
    secret:
      description: Helm's storage Secret of that revision.
      type: str
      sample: sh.helm.release.v1.team-a-langflow-dev.v4
    deployed:
      description: The last deployed revision before it, or null.
      type: int
      sample: 3
    action:
      description: V(delete) (a first install, installed again) or V(mark-failed) (upgraded again).
      type: str
      sample: mark-failed
    lease:
      description: The Lease found (none, or expired, with its holder and age).
      type: str
      sample: an expired lease of ctl-1/4242/1a2b3c4d, renewed 31 s ago
    message:
      description: What was found and what was done, also given as a warning.
      type: str
rendered:
  description: The file O(render_dir) made (null for O(state=absent)).
  returned: with O(render_dir)
  type: str
  sample: /tmp/closure/team-a-langflow-dev.yml
images:
  description: The images of the pod templates of the rendered release, in manifest order.
  returned: with O(render_dir) and O(state=present)
  type: list
  elements: str
  sample: [ghcr.io/team-a/langflow:1.13.0]
kept_claims:
  description: PVCs left in place by O(state=absent) without O(purge).
  returned: when state=absent and the namespace exists
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import AUTH_ARGSPEC


def _secret_ref(default_key):
    # A reference to a Secret (its name and key), not a secret value.
    return dict(type="dict", no_log=False, options=dict(name=dict(type="str", required=True),
                                                        key=dict(type="str", default=default_key, no_log=False)))


def argument_spec():
    spec = dict(
        team=dict(type="str", required=True),
        service=dict(type="str", required=True),
        environment=dict(type="str", required=True, choices=["dev", "stg", "prd"]),
        namespace=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        purge=dict(type="bool", default=False),
        chart=dict(type="dict", options=dict(path=dict(type="path"), repo=dict(type="str"),
                                             name=dict(type="str"), version=dict(type="str"))),
        image=dict(type="dict", options=dict(
            repository=dict(type="str", required=True), tag=dict(type="str"), digest=dict(type="str"),
            pull_policy=dict(type="str", default="IfNotPresent", choices=["IfNotPresent", "Always", "Never"]))),
        port=dict(type="int", default=8080),
        service_port=dict(type="int", default=80),
        command=dict(type="list", elements="str"),
        args=dict(type="list", elements="str"),
        env=dict(type="dict"),
        secret_env=dict(type="list", elements="dict", no_log=False, options=dict(
            name=dict(type="str", required=True), secret=dict(type="str", required=True, no_log=False),
            key=dict(type="str", required=True, no_log=False), optional=dict(type="bool", default=False))),
        secret_values=dict(type="dict", no_log=True),
        generated_secrets=dict(type="list", elements="dict", no_log=False, options=dict(
            key=dict(type="str", required=True, no_log=False), env=dict(type="str", required=True),
            format=dict(type="str", default="token", choices=["token", "hex", "fernet"]),
            length=dict(type="int", default=32))),
        database=dict(type="dict", apply_defaults=True, options=dict(
            type=dict(type="str", default="none", choices=["postgresql", "sqlite", "none"]),
            host=dict(type="str"), port=dict(type="int", default=5432), name=dict(type="str"),
            user=dict(type="str"), password=dict(type="str", no_log=True),
            password_secret=dict(type="dict", no_log=False, options=dict(
                name=dict(type="str", required=True), key=dict(type="str", default="password", no_log=False),
                url_key=dict(type="str", no_log=False))),
            sslmode=dict(type="str"), scheme=dict(type="str", default="postgresql"),
            url_env=dict(type="str", default="DATABASE_URL"),
            password_env=dict(type="str", default="DATABASE_PASSWORD", no_log=False),
            env_prefix=dict(type="str"))),
        persistence=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=True), storage_class=dict(type="str"),
            size=dict(type="str", default="1Gi"), access_mode=dict(type="str", default="ReadWriteOnce"),
            mount_path=dict(type="str", default="/data"), existing_claim=dict(type="str"))),
        volumes=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True), mount_path=dict(type="str", required=True),
            size=dict(type="str", default="1Gi"), storage_class=dict(type="str"), access_mode=dict(type="str"),
            existing_claim=dict(type="str"))),
        ingress=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=False), domain=dict(type="str"), class_name=dict(type="str"),
            tls_secret=dict(type="str", no_log=False), cert_manager_issuer=dict(type="str"),
            cert_manager_cluster_issuer=dict(type="str"), annotations=dict(type="dict"))),
        resources=dict(type="dict"),
        probes=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=True), path=dict(type="str", default="/health"),
            liveness_initial_delay=dict(type="int", default=30), readiness_initial_delay=dict(type="int", default=5),
            period=dict(type="int"), timeout=dict(type="int"), failure_threshold=dict(type="int"),
            startup_failure_threshold=dict(type="int"))),
        tracing=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=False), endpoint=dict(type="str"),
            protocol=dict(type="str", default="http/protobuf"), project=dict(type="str"),
            api_key_secret=_secret_ref("api-key"), api_key_env=dict(type="str", default="PHOENIX_API_KEY", no_log=False),
            env=dict(type="dict"))),
        replicas=dict(type="int", default=1),
        autoscaling=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=False), min_replicas=dict(type="int", default=2),
            max_replicas=dict(type="int", default=4), target_cpu=dict(type="int", default=80),
            target_memory=dict(type="int"))),
        node_selector=dict(type="dict"),
        tolerations=dict(type="list", elements="dict"),
        network_policy=dict(type="dict", apply_defaults=True, options=dict(
            enabled=dict(type="bool", default=True), ingress_namespaces=dict(type="list", elements="str"))),
        values_files=dict(type="list", elements="path"),
        extra_values=dict(type="dict"),
        wait=dict(type="bool", default=True),
        timeout=dict(type="int", default=300),
        atomic=dict(type="bool", default=False),
        history_max=dict(type="int", default=5),
        binary_path=dict(type="path"),
        drift=dict(type="str", default="detect", choices=["detect", "ignore"]),
        render_dir=dict(type="path"),
    )
    spec.update(AUTH_ARGSPEC)
    return spec


def run(module):
    from ansible_collections.aistack.platform.plugins.module_utils.helm.versions import VersionedHelmRunner
    from ansible_collections.aistack.platform.plugins.module_utils.kube.client import kubeconfig_secrets, open_client
    from ansible_collections.aistack.platform.plugins.module_utils.tenant.runner import TenantRunner
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import credentials as tcreds
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
    from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues

    params = dict(module.params)
    if params["state"] == "present":
        for key in ("chart", "image"):
            if not params.get(key):
                module.fail_json(msg="%s: is required with state=present. Fix: set %s." % (key, key), field=key)
    # credentials given in clear text where they do not belong are refused below; hide them from every
    # output first (Ansible echoes the invocation's arguments in the result)
    for value in tcreds.inline_secret_values({"extra_values": params.get("extra_values"), "env": params.get("env")}):
        module.no_log_values.add(value)
    for value in kubeconfig_secrets(params):
        module.no_log_values.add(value)
    try:
        files_values = tvalues.load_values_files(params.get("values_files")) if params["state"] == "present" else []
        for value in tcreds.inline_secret_values(files_values):
            module.no_log_values.add(value)
        # pure validation first (the typed options, then the merged values of chart defaults, typed options,
        # values files and extra_values): bad input fails before any connection is opened
        tpolicy.validate(params, files_values=files_values)
        if params.get("render_dir"):
            # render only: helm template, no cluster (tenant/render.py)
            from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import HelmRunner
            from ansible_collections.aistack.platform.plugins.module_utils.tenant.render import render_release
            module.exit_json(**render_release(params, HelmRunner(params.get("binary_path")), files_values))
        kube = open_client(params)
        helm = VersionedHelmRunner(params.get("binary_path"), access=kube.access)
        runner = TenantRunner(params, kube, helm, check_mode=module.check_mode,
                              want_diff=module._diff, warn=module.warn)
        progress = []
        runner.progress = progress.append  # the action plugin shows them (live only when it runs the logic itself)
        result = runner.present() if params["state"] == "present" else runner.absent()
        if progress and result.get("rollout"):
            result["rollout"]["progress"] = progress
    except AistackError as err:
        module.fail_json(**err.to_result())
    if module._diff and runner.diffs:
        result["diff"] = runner.diffs if len(runner.diffs) > 1 else runner.diffs[0]
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module)


if __name__ == "__main__":
    main()
