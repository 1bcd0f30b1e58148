# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LightRAG: which Secrets a release reads for its storage backends and LLM, and the secretKeyRef env it gets.

Pure functions, read by the lightrag role through the filters in plugins/filter/lightrag.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

# The LLM Secret's keys become both the OpenAI client's variables and LightRAG's LLM and embedding bindings.
LLM_ENV = (("OPENAI_API_KEY", "OPENAI_API_KEY"), ("OPENAI_API_BASE", "OPENAI_API_BASE"),
           ("LLM_BINDING_API_KEY", "OPENAI_API_KEY"), ("LLM_BINDING_HOST", "OPENAI_API_BASE"),
           ("EMBEDDING_BINDING_API_KEY", "OPENAI_API_KEY"), ("EMBEDDING_BINDING_HOST", "OPENAI_API_BASE"))


def required_secrets(kv_storage, doc_status_storage, vector_storage, graph_storage, postgres_secret, qdrant_secret,
                     neo4j_secret, llm_secret, api_key_secret=""):
    """Every Secret the release reads, in this order: PostgreSQL (when a storage is a PG* one), Qdrant (vector
    storage QdrantVectorDBStorage), Neo4j (graph storage Neo4JStorage), the LLM, the API key (when named).
    Each as {kind, secret, var}: ``var`` is the role variable that names the Secret (for error messages)."""
    storages = (kv_storage, doc_status_storage, vector_storage, graph_storage)
    out = []
    if any(re.match("^PG", str(storage)) for storage in storages):
        out.append({"kind": "postgres", "secret": postgres_secret, "var": "lightrag_postgres_secret"})
    if vector_storage == "QdrantVectorDBStorage":
        out.append({"kind": "qdrant", "secret": qdrant_secret, "var": "lightrag_qdrant_secret"})
    if graph_storage == "Neo4JStorage":
        out.append({"kind": "neo4j", "secret": neo4j_secret, "var": "lightrag_neo4j_secret"})
    out.append({"kind": "llm", "secret": llm_secret, "var": "lightrag_llm_secret"})
    if len(api_key_secret or "") > 0:
        out.append({"kind": "api", "secret": api_key_secret, "var": "lightrag_api_key_secret"})
    return out


def secret_env(required, backend_needs):
    """helm_tenant's ``secret_env`` (secretKeyRef per variable) for the ``required`` Secrets: the LLM Secret's
    two keys under the six names LightRAG and the OpenAI client read, every other backend's keys under their
    own names (``backend_needs``: kind -> keys), plus Qdrant's optional QDRANT_API_KEY."""
    out = []
    for index, secret in enumerate(required or []):
        kind = secret["kind"]
        if kind == "llm":
            out.extend({"name": name, "secret": secret["secret"], "key": key} for name, key in LLM_ENV)
            continue
        if kind not in (backend_needs or {}):
            raise AistackError("Secret %d is of kind %s, which lightrag_backend_needs does not list." % (index, kind),
                               field="lightrag_backend_needs",
                               fix="list the keys of a %s Secret in lightrag_backend_needs" % kind)
        out.extend({"name": key, "secret": secret["secret"], "key": key} for key in backend_needs[kind])
        if kind == "qdrant":
            out.append({"name": "QDRANT_API_KEY", "secret": secret["secret"], "key": "QDRANT_API_KEY",
                        "optional": True})
    return out
