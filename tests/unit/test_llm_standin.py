"""The local site's LLM stand-in answers as an OpenAI-compatible provider does, deterministically."""

import base64
import importlib.util
import json
import struct
import threading
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "llm_standin", Path(__file__).resolve().parents[1] / "images" / "llm-standin" / "server.py")
standin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(standin)


@pytest.fixture(scope="module")
def url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), standin.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def _post(url, doc):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers.get("Content-Type"), resp.read().decode()


def test_embeddings_are_deterministic_unit_vectors():
    one, two = standin.embedding("alpha", 64), standin.embedding("alpha", 64)
    assert one == two and len(one) == 64
    assert abs(sum(v * v for v in one) - 1.0) < 1e-9
    assert standin.embedding("beta", 64) != one


def test_chat_quotes_the_last_user_message(url):
    _ctype, body = _post(url + "/v1/chat/completions", {"model": "m", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]}]})
    doc = json.loads(body)
    answer = doc["choices"][0]["message"]["content"]
    assert answer.startswith("[llm-standin ") and answer.endswith("You said: second question")
    assert doc["model"] == "m" and doc["choices"][0]["finish_reason"] == "stop"


def test_streamed_chat_reassembles_to_the_plain_answer(url):
    plain = json.loads(_post(url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi there"}]})[1])
    ctype, body = _post(url + "/v1/chat/completions", {"stream": True, "messages": [{"role": "user", "content": "hi there"}]})
    assert ctype == "text/event-stream"
    events = [line[len("data: "):] for line in body.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == plain["choices"][0]["message"]["content"]


def test_embeddings_float_and_base64(url):
    floats = json.loads(_post(url + "/v1/embeddings", {"input": ["x", "y"], "dimensions": 8})[1])["data"]
    assert [d["index"] for d in floats] == [0, 1] and len(floats[0]["embedding"]) == 8
    packed = json.loads(_post(url + "/v1/embeddings", {"input": "x", "dimensions": 8, "encoding_format": "base64"})[1])
    decoded = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert all(abs(a - b) < 1e-6 for a, b in zip(decoded, floats[0]["embedding"]))


def test_api_key_is_enforced_when_set(url, monkeypatch):
    monkeypatch.setattr(standin, "API_KEY", "sk-test")
    with pytest.raises(urllib.error.HTTPError) as err:
        _post(url + "/v1/embeddings", {"input": "x"})
    assert err.value.code == 401
