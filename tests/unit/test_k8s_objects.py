"""module_utils/k8s_objects.py: the definitions one batched kubernetes.core call applies, and its result read back."""

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.kube import objects as k8s_objects
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def test_namespaces_from_names_and_dicts_keep_order_and_drop_duplicates():
    out = k8s_objects.namespaces(["b", {"name": "a", "labels": {"team": "x"}}, "b"], labels={"env": "dev"})
    assert [n["metadata"]["name"] for n in out] == ["b", "a"]
    assert out[0]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "aistack.platform", "env": "dev"}
    assert out[1]["metadata"]["labels"]["team"] == "x"
    assert all(n["kind"] == "Namespace" and n["apiVersion"] == "v1" for n in out)
    assert k8s_objects.namespaces([]) == []


@pytest.mark.parametrize("bad", [[""], [{"labels": {}}], [None]])
def test_namespace_without_a_name_is_refused(bad):
    with pytest.raises(AistackError, match="namespaces: every namespace needs a name"):
        k8s_objects.namespaces(bad)


def test_changed_names_reads_one_and_many_results():
    one = {"changed": True, "result": {"metadata": {"name": "a"}}}
    assert k8s_objects.changed_names(one) == ["a"]
    assert k8s_objects.changed_names(dict(one, changed=False)) == []
    many = {"changed": True, "result": {"results": [
        {"changed": False, "result": {"metadata": {"name": "a"}}},
        {"changed": True, "result": {"metadata": {"name": "b"}}}]}}
    assert k8s_objects.changed_names(many) == ["b"]
    assert k8s_objects.changed_names({"skipped": True, "changed": False}) == []
    assert k8s_objects.changed_names(None) == []


def _secret(name, *keys):
    return {"metadata": {"name": name}, "data": {k: "eA==" for k in keys}}


def test_secret_problems_names_the_missing_secret_and_keys():
    found = [_secret("db", "HOST", "PASSWORD"), _secret("env")]
    wanted = [{"name": "env", "keys": [], "variable": "worker_env_secret"},
              {"name": "db", "keys": ["HOST", "USER", "PASSWORD", "PORT"], "variable": "worker_redis_secret"},
              {"name": "creds", "keys": ["key"], "variable": "worker_credentials_secret"}]
    assert k8s_objects.secret_problems(found, wanted) == [
        "Secret db (worker_redis_secret) lacks USER, PORT",
        "Secret creds (worker_credentials_secret) is missing"]
    assert k8s_objects.secret_problems(found, wanted[:1]) == []


def test_secret_problems_with_kinds_looked_up_in_needs():
    needs = {"postgres": ["POSTGRES_HOST"], "llm": ["OPENAI_API_KEY"]}
    wanted = [{"kind": "postgres", "secret": "pg", "var": "lightrag_postgres_secret"},
              {"kind": "llm", "secret": "llm", "var": "lightrag_llm_secret"}]
    assert k8s_objects.secret_problems([_secret("llm", "OPENAI_API_KEY")], wanted, needs) == [
        "Secret pg (lightrag_postgres_secret, postgres) is missing"]
    assert k8s_objects.secret_problems([_secret("pg"), _secret("llm")], wanted, needs) == [
        "Secret pg (lightrag_postgres_secret) lacks POSTGRES_HOST", "Secret llm (lightrag_llm_secret) lacks OPENAI_API_KEY"]
