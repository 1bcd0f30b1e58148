"""kube.auth.resolve: kubernetes.core's options and precedence, K8S_AUTH_* (AWX's credential), several
KUBECONFIG files, a kubeconfig dict, in-cluster; and how helm gets the same Access."""

import json
import os
import stat

import pytest
import yaml

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.helm import runner as H
from ansible_collections.aistack.platform.plugins.module_utils.kube import _rest as R
from ansible_collections.aistack.platform.plugins.module_utils.kube import auth as A
from ansible_collections.aistack.platform.plugins.module_utils.kube import client as C

FIRST = {
    "current-context": "one",
    "clusters": [{"name": "c1", "cluster": {"server": "https://one:6443", "certificate-authority": "ca.crt"}}],
    "users": [{"name": "u1", "user": {"token": "token-one"}}],
    "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u1"}},
                 {"name": "shared", "context": {"cluster": "c1", "user": "u1"}}],
}
SECOND = {
    "current-context": "two",
    "clusters": [{"name": "c2", "cluster": {"server": "https://two:6443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u2", "user": {"username": "admin", "password": "pw-two"}}],
    "contexts": [{"name": "two", "context": {"cluster": "c2", "user": "u2"}},
                 {"name": "shared", "context": {"cluster": "c2", "user": "u2"}}],
}
FILES = {"/k/first": FIRST, "/other/second": SECOND}


def resolve(params=None, environ=None, files=None):
    files = FILES if files is None else files
    return A.resolve(params or {}, environ=environ or {}, read_yaml=lambda path: json.loads(json.dumps(files[path])),
                     exists=lambda path: path in files, home="/nohome")


def test_awx_credential_alone_needs_no_kubeconfig():
    env = {"K8S_AUTH_HOST": "https://api.site:6443/", "K8S_AUTH_API_KEY": "sa-token",
           "K8S_AUTH_VERIFY_SSL": "false", "K8S_AUTH_SSL_CA_CERT": "/ca.pem"}
    access = resolve(environ=env, files={})
    assert access["server"] == "https://api.site:6443" and access["insecure"] and access["ca_file"] == "/ca.pem"
    assert A.auth_headers(access) == {"Authorization": "Bearer sa-token"}
    assert access["overridden"] and access["kubeconfig_files"] == []
    assert R.serves(access, "v1", "Secret")


def test_options_beat_environment_which_beats_the_kubeconfig():
    env = {"KUBECONFIG": "/k/first", "K8S_AUTH_CONTEXT": "two", "K8S_AUTH_KUBECONFIG": "/other/second"}
    assert resolve(environ=env)["server"] == "https://two:6443"           # K8S_AUTH_KUBECONFIG over KUBECONFIG
    assert resolve({"kubeconfig": "/k/first", "context": "one"}, env)["server"] == "https://one:6443"
    access = resolve({"kubeconfig": "/k/first", "context": "one", "host": "https://elsewhere:6443"}, env)
    assert access["server"] == "https://elsewhere:6443" and access["overridden"]
    assert A.auth_headers(access)["Authorization"] == "Bearer token-one"  # the rest still from the file


def test_validate_certs_both_spellings_and_types():
    assert resolve(environ={"KUBECONFIG": "/k/first", "K8S_AUTH_VALIDATE_CERTS": "no"})["insecure"]
    assert not resolve(environ={"KUBECONFIG": "/other/second"}, params={"validate_certs": True})["insecure"]
    groups = resolve(environ={"KUBECONFIG": "/k/first", "K8S_AUTH_IMPERSONATE_GROUPS": "a,b,"})
    assert groups["impersonate_groups"] == ["a", "b"]
    assert not R.serves(groups, "v1", "Secret")  # several Impersonate-Group headers: the library's job


def test_several_kubeconfig_files_merge_as_kubectl_does():
    env = {"KUBECONFIG": os.pathsep.join(["/k/first", "/missing", "/other/second"])}
    access = resolve(environ=env)
    assert access["server"] == "https://one:6443" and access["context"] == "one"  # first current-context
    assert access["ca_file"] == "/k/ca.crt"  # relative to the file that names it
    assert access["kubeconfig_files"] == ["/k/first", "/other/second"]
    assert resolve({"context": "two"}, env)["server"] == "https://two:6443"       # a context of the second file
    assert resolve({"context": "shared"}, env)["server"] == "https://one:6443"    # the first file wins a name
    with pytest.raises(AistackError) as info:
        resolve({"context": "nope"}, env)
    assert info.value.field == "context" and "one, shared, two" in str(info.value)


def test_kubeconfig_as_a_dict_and_its_secrets_hidden():
    access = resolve({"kubeconfig": SECOND}, files={})
    assert access["server"] == "https://two:6443" and access["kubeconfig_dict"] == SECOND
    assert A.auth_headers(access)["Authorization"].startswith("Basic ")
    assert C.kubeconfig_secrets({"kubeconfig": SECOND}) == ["pw-two"]
    assert C.kubeconfig_secrets({"kubeconfig": "/k/first"}) == []  # negative control: a path hides nothing


def test_in_cluster_service_account(monkeypatch):
    env = {"KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    token = os.path.join(A.SERVICE_ACCOUNT_DIR, "token")
    access = A.resolve({}, environ=env, read_yaml=None, exists=lambda path: path == token)
    assert access["server"] == "https://10.43.0.1:443" and access["token_file"] == token
    # with a kubeconfig named, the pod's account is not used
    assert resolve({"kubeconfig": "/k/first"}, env)["server"] == "https://one:6443"


def test_missing_kubeconfig_names_the_field():
    with pytest.raises(AistackError) as info:
        resolve(environ={"KUBECONFIG": "/nope"})
    assert info.value.field == "kubeconfig" and "/nope" in str(info.value)
    with pytest.raises(AistackError):
        resolve(files={})  # ~/.kube/config of a home without one
    assert resolve(environ={"KUBECONFIG": "/k/first"})["server"]  # control: a file that exists resolves


def test_exec_plugins_go_to_the_library_and_to_helm_unchanged():
    cfg = {"current-context": "e", "clusters": [{"name": "c", "cluster": {"server": "https://e:6443"}}],
           "users": [{"name": "u", "user": {"exec": {"command": "aws"}}}],
           "contexts": [{"name": "e", "context": {"cluster": "c", "user": "u"}}]}
    access = resolve(environ={"KUBECONFIG": "/x"}, files={"/x": cfg})
    assert access["library_only"] == "user.exec"
    assert C.KubeClient(access)._fast("v1", "Secret") is None
    assert H.helm_auth(access) == ({"KUBECONFIG": "/x"}, "e", None)


def test_helm_gets_the_users_files_or_a_private_kubeconfig_of_its_own(tmp_path):
    files_access = resolve(environ={"KUBECONFIG": os.pathsep.join(["/k/first", "/other/second"])}, params={"context": "two"})
    assert H.helm_auth(files_access) == ({"KUBECONFIG": "/k/first" + os.pathsep + "/other/second"}, "two", None)

    access = resolve(environ={"K8S_AUTH_HOST": "https://api:6443", "K8S_AUTH_API_KEY": "sa-token"}, files={})
    env, context, doc = H.helm_auth(access)
    assert env == {} and context is None and doc["users"][0]["user"]["token"] == "sa-token"
    helm_bin = tmp_path / "helm"
    helm_bin.write_text("")
    helm_bin.chmod(0o755)
    seen = {}

    def fake_run(cmd, env=None):
        path = cmd[cmd.index("--kubeconfig") + 1]
        seen["path"], seen["mode"] = path, stat.S_IMODE(os.stat(path).st_mode)
        with open(path) as handle:
            seen["doc"] = yaml.safe_load(handle)
        seen["cmd"] = cmd
        return 0, "", ""

    H.HelmRunner(str(helm_bin), access=access, run_command=fake_run).uninstall("r", "n")
    assert seen["doc"]["clusters"][0]["cluster"]["server"] == "https://api:6443"
    assert seen["mode"] == 0o600 and not os.path.exists(seen["path"])
    assert "sa-token" not in " ".join(seen["cmd"])  # the token is in the private file only
    assert "sa-token" in json.dumps(seen["doc"])    # control: the check above looks at the right thing


def test_transport_switch_sends_everything_through_the_library():
    fast = resolve(environ={"KUBECONFIG": "/k/first"})
    slow = resolve(environ={"KUBECONFIG": "/k/first", "AISTACK_KUBE_TRANSPORT": "library"})
    assert R.serves(fast, "v1", "Secret") and not R.serves(slow, "v1", "Secret")


def test_several_impersonated_groups_are_refused_clearly():
    pytest.importorskip("kubernetes")
    access = resolve(environ={"K8S_AUTH_HOST": "https://api:6443", "K8S_AUTH_API_KEY": "t",
                              "K8S_AUTH_IMPERSONATE_GROUPS": "a,b"}, files={})
    with pytest.raises(AistackError) as info:
        getattr(C.KubeClient(access), "api_client")
    assert info.value.field == "impersonate_groups"
    one = resolve(environ={"K8S_AUTH_HOST": "https://api:6443", "K8S_AUTH_API_KEY": "t",
                           "K8S_AUTH_IMPERSONATE_GROUPS": "a"}, files={})
    assert C.KubeClient(one).api_client.default_headers["Impersonate-Group"] == "a"


def test_a_caller_prefers_a_transport_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.setattr(C, "resolve", lambda params, environ=None: resolve(environ=environ))
    env = {"KUBECONFIG": "/other/second"}
    auto = C.open_client({}, environ=env, prefer="library")
    forced = C.open_client({}, environ=dict(env, AISTACK_KUBE_TRANSPORT="https"), prefer="library")
    assert auto._fast("v1", "Secret") is None                # the action plugin's in-process check: the library
    assert forced._fast("v1", "Secret") is not None          # the benchmark's other side
    assert C.open_client({}, environ=env)._fast("v1", "Secret") is not None  # a module process: HTTPS
