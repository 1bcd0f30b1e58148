# -*- coding: utf-8 -*-
"""LightRAG's storage backends -> the Secrets its release reads and the secretKeyRef env helm_tenant gets.

The expected lists are what roles/lightrag/vars/main.yml computed in Jinja before the logic moved into
plugins/module_utils/lightrag.py (commit b48e2d4); the role rendered through the old and the new vars gave
identical helm_tenant arguments."""

from __future__ import absolute_import, division, print_function

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.platform.plugins.filter.lightrag import FilterModule
from ansible_collections.aistack.platform.plugins.module_utils.filters import lightrag

FILTERS = FilterModule().filters()
ROLE = Path(__file__).resolve().parents[2] / "roles" / "lightrag"
NEEDS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["lightrag_backend_needs"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
# The role's variables as vars/main.yml passes them (the role defaults).
PARAMS = {"kv_storage": DEFAULTS["lightrag_kv_storage"], "doc_status_storage": DEFAULTS["lightrag_doc_status_storage"],
          "vector_storage": DEFAULTS["lightrag_vector_storage"], "graph_storage": DEFAULTS["lightrag_graph_storage"],
          "postgres_secret": "db-postgresql-lightrag", "qdrant_secret": "db-qdrant", "neo4j_secret": "db-neo4j",
          "llm_secret": "lightrag-llm", "api_key_secret": ""}
POSTGRES = {"kind": "postgres", "secret": "db-postgresql-lightrag", "var": "lightrag_postgres_secret"}
QDRANT = {"kind": "qdrant", "secret": "db-qdrant", "var": "lightrag_qdrant_secret"}
NEO4J = {"kind": "neo4j", "secret": "db-neo4j", "var": "lightrag_neo4j_secret"}
LLM = {"kind": "llm", "secret": "lightrag-llm", "var": "lightrag_llm_secret"}
API = {"kind": "api", "secret": "lightrag-api", "var": "lightrag_api_key_secret"}


def required(**overrides):
    return FILTERS["lightrag_required_secrets"](dict(PARAMS, **overrides))


FILES = {"kv_storage": "JsonKVStorage", "doc_status_storage": "JsonDocStatusStorage",
         "vector_storage": "NanoVectorDBStorage", "graph_storage": "NetworkXStorage"}


@pytest.mark.parametrize("overrides, expected", [
    ({}, [POSTGRES, LLM]),  # the defaults: KV, doc status and vectors on PostgreSQL, the graph in files
    (FILES, [LLM]),
    (dict(FILES, graph_storage="PGGraphStorage"), [POSTGRES, LLM]),  # any PG* storage
    (dict(FILES, vector_storage="QdrantVectorDBStorage", graph_storage="Neo4JStorage",
          api_key_secret="lightrag-api"), [QDRANT, NEO4J, LLM, API]),
    ({"vector_storage": "QdrantVectorDBStorage", "graph_storage": "Neo4JStorage", "api_key_secret": "lightrag-api"},
     [POSTGRES, QDRANT, NEO4J, LLM, API]),
    # Qdrant and Neo4j only as the vector and the graph storage, as the role checked them
    (dict(FILES, kv_storage="QdrantVectorDBStorage", vector_storage="Neo4JStorage"), [LLM]),
    ({"api_key_secret": None}, [POSTGRES, LLM]),
])
def test_required_secrets(overrides, expected):
    assert required(**overrides) == expected


LLM_ENV = [
    {"name": "OPENAI_API_KEY", "secret": "lightrag-llm", "key": "OPENAI_API_KEY"},
    {"name": "OPENAI_API_BASE", "secret": "lightrag-llm", "key": "OPENAI_API_BASE"},
    {"name": "LLM_BINDING_API_KEY", "secret": "lightrag-llm", "key": "OPENAI_API_KEY"},
    {"name": "LLM_BINDING_HOST", "secret": "lightrag-llm", "key": "OPENAI_API_BASE"},
    {"name": "EMBEDDING_BINDING_API_KEY", "secret": "lightrag-llm", "key": "OPENAI_API_KEY"},
    {"name": "EMBEDDING_BINDING_HOST", "secret": "lightrag-llm", "key": "OPENAI_API_BASE"},
]


def test_secret_env_of_the_defaults():
    env = FILTERS["lightrag_secret_env"](required(), NEEDS)
    assert env == [{"name": key, "secret": "db-postgresql-lightrag", "key": key}
                   for key in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD",
                               "POSTGRES_DATABASE")] + LLM_ENV


def test_secret_env_of_every_backend():
    env = FILTERS["lightrag_secret_env"]([QDRANT, NEO4J, LLM, API], NEEDS)
    assert env == [
        {"name": "QDRANT_URL", "secret": "db-qdrant", "key": "QDRANT_URL"},
        {"name": "QDRANT_API_KEY", "secret": "db-qdrant", "key": "QDRANT_API_KEY", "optional": True},
        {"name": "NEO4J_URI", "secret": "db-neo4j", "key": "NEO4J_URI"},
        {"name": "NEO4J_USERNAME", "secret": "db-neo4j", "key": "NEO4J_USERNAME"},
        {"name": "NEO4J_PASSWORD", "secret": "db-neo4j", "key": "NEO4J_PASSWORD"},
    ] + LLM_ENV + [{"name": "LIGHTRAG_API_KEY", "secret": "lightrag-api", "key": "LIGHTRAG_API_KEY"}]
    # key order as the Jinja loop built the dicts
    assert [list(item) for item in env[:2]] == [["name", "secret", "key"], ["name", "secret", "key", "optional"]]


def test_secret_env_follows_backend_needs_but_not_for_the_llm():
    needs = dict(NEEDS, qdrant=["QDRANT_URL", "QDRANT_EXTRA"], llm=["ONLY_THIS"])
    env = lightrag.secret_env([QDRANT, LLM], needs)
    assert [item["name"] for item in env] == ["QDRANT_URL", "QDRANT_EXTRA", "QDRANT_API_KEY"] + [
        item["name"] for item in LLM_ENV]
    assert not lightrag.secret_env([], NEEDS)


def test_secret_env_of_an_unknown_kind_names_the_field():
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["lightrag_secret_env"]([{"kind": "redis", "secret": "db-redis", "var": "x"}], NEEDS)
    assert str(err.value).startswith("lightrag_backend_needs: ") and "Fix: " in str(err.value)
