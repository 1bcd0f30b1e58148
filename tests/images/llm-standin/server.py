"""A stand-in for a site's OpenAI-compatible LLM provider, for the local site and the tests only.

No model can be downloaded on the machines this project is built on, so the local site points Langflow,
LightRAG and the worker at this small deterministic service instead of a real provider. It answers the
parts of the OpenAI HTTP API those clients call: GET /v1/models, POST /v1/chat/completions (plain and
streamed as server-sent events), POST /v1/embeddings, and GET /health. Answers are a pure function of the
request, so tests can assert them: a chat answer quotes the last user message, an embedding is a unit
vector derived from the SHA-256 of the text. It is never a default outside inventories/local.
"""

import base64
import hashlib
import json
import math
import os
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHAT_MODEL = os.environ.get("STANDIN_CHAT_MODEL", "standin-chat")
EMBEDDING_MODEL = os.environ.get("STANDIN_EMBEDDING_MODEL", "standin-embedding")
EMBEDDING_DIM = int(os.environ.get("STANDIN_EMBEDDING_DIM", "1024"))
API_KEY = os.environ.get("STANDIN_API_KEY", "")


def embedding(text, dim):
    """Unit vector of ``dim`` floats from SHA-256 blocks of the text (same text, same vector)."""
    values, counter = [], 0
    while len(values) < dim:
        block = hashlib.sha256(("%d:%s" % (counter, text)).encode()).digest()
        values.extend((v / 2147483648.0) for v in struct.unpack(">8i", block))
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def chat_answer(messages):
    """The answer to a chat: names the stand-in and quotes the last user message."""
    last = ""
    for message in messages or []:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            last = content or ""
    digest = hashlib.sha256(last.encode()).hexdigest()[:12]
    return "[llm-standin %s] You said: %s" % (digest, last.strip()[:2000])


def completion(body, answer, created):
    return {"id": "chatcmpl-standin-" + hashlib.sha256(answer.encode()).hexdigest()[:16], "object": "chat.completion",
            "created": created, "model": body.get("model") or CHAT_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(json.dumps(body.get("messages", []))) // 4,
                      "completion_tokens": len(answer) // 4, "total_tokens": 0}}


def chunks(body, answer, created):
    """Streamed completion: one role chunk, the answer in word-sized pieces, a stop chunk."""
    base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": created,
            "model": body.get("model") or CHAT_MODEL}
    yield dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    words = answer.split(" ")
    for i, word in enumerate(words):
        piece = word if i == len(words) - 1 else word + " "
        yield dict(base, choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    yield dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("llm-standin %s %s\n" % (self.address_string(), fmt % args))

    def _send(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self):
        if not API_KEY or self.headers.get("Authorization", "") == "Bearer " + API_KEY:
            return True
        self._send(401, {"error": {"message": "invalid api key", "type": "invalid_request_error"}})
        return False

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?")[0].rstrip("/")
        if path in ("/health", ""):
            return self._send(200, {"status": "ok", "standin": True})
        if not self._authorized():
            return None
        if path in ("/v1/models", "/models"):
            return self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "llm-standin"} for m in (CHAT_MODEL, EMBEDDING_MODEL)]})
        return self._send(404, {"error": {"message": "no route " + path}})

    def do_POST(self):  # noqa: N802
        if not self._authorized():
            return None
        path = self.path.split("?")[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._send(400, {"error": {"message": "body is not JSON"}})
        created = int(time.time())
        if path in ("/v1/chat/completions", "/chat/completions"):
            answer = chat_answer(body.get("messages"))
            if not body.get("stream"):
                return self._send(200, completion(body, answer, created))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks(body, answer, created):
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
            return None
        if path in ("/v1/embeddings", "/embeddings"):
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
            dim = int(body.get("dimensions") or EMBEDDING_DIM)
            vectors = [embedding(str(t), dim) for t in inputs]
            if body.get("encoding_format") == "base64":
                # what the openai Python client asks for by default: little-endian float32, base64
                vectors = [base64.b64encode(struct.pack("<%df" % dim, *v)).decode() for v in vectors]
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
            return self._send(200, {"object": "list", "data": data, "model": body.get("model") or EMBEDDING_MODEL,
                                    "usage": {"prompt_tokens": 0, "total_tokens": 0}})
        return self._send(404, {"error": {"message": "no route " + path}})


def main():
    port = int(os.environ.get("STANDIN_PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    sys.stderr.write("llm-standin listening on :%d (chat %s, embeddings %s/%d)\n"
                     % (port, CHAT_MODEL, EMBEDDING_MODEL, EMBEDDING_DIM))
    server.serve_forever()


if __name__ == "__main__":
    main()
