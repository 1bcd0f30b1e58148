"""fetch-tiktoken.py DEST_DIR: tiktoken's BPE rank files (o200k_base, cl100k_base) into a tiktoken cache.

lightrag-server loads tiktoken's o200k_base encoding at start; tiktoken downloads it from OpenAI's blob
storage unless TIKTOKEN_CACHE_DIR already holds it under the sha1 of the blob URL. That storage is not
reachable from the project's machines nor from an airgapped site, so the files come from crates.io:
the Rust crate tiktoken-rs ships the same rank files in its source package (assets/*.tiktoken).

Everything is pinned and verified: the .crate archive by the sha256 crates.io's index publishes for the
version, each extracted file by the sha256 that tiktoken itself expects (tiktoken_ext/openai_public.py),
and the file name is what tiktoken's load.py computes. Only the Python standard library is used.
Set TIKTOKEN_CRATE_FILE to a local copy of the .crate to fetch nothing (airgapped rebuilds; the Dockerfile
does so when the .crate lies in the build context).
"""
import hashlib
import io
import os
import ssl
import sys
import tarfile
import urllib.request

CRATE = "tiktoken-rs"
VERSION = "0.12.1"
CRATE_SHA256 = "2aeff724640cfe13037336ddf35befdffd2909cbdb65cf041cc8a4cf8c584cfa"
CRATE_URL = "https://static.crates.io/crates/%s/%s-%s.crate" % (CRATE, CRATE, VERSION)
BLOB = "https://openaipublic.blob.core.windows.net/encodings/%s.tiktoken"
# sha256 of each rank file, as tiktoken_ext/openai_public.py (tiktoken 0.14.0) expects them
ENCODINGS = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


def cache_name(encoding):
    """The file name tiktoken looks for in TIKTOKEN_CACHE_DIR: sha1 of the blob URL."""
    return hashlib.sha1((BLOB % encoding).encode("utf-8")).hexdigest()


def crate_bytes():
    local = os.environ.get("TIKTOKEN_CRATE_FILE")
    if local:
        with open(local, "rb") as handle:
            return handle.read()
    cafile = os.environ.get("SSL_CERT_FILE")
    context = ssl.create_default_context(cafile=cafile if cafile and os.path.isfile(cafile) else None)
    request = urllib.request.Request(CRATE_URL, headers={"User-Agent": "aistack-image-build"})
    with urllib.request.urlopen(request, timeout=120, context=context) as response:
        return response.read()


def main(dest):
    data = crate_bytes()
    print("%s-%s.crate from %s" % (CRATE, VERSION, os.environ.get("TIKTOKEN_CRATE_FILE") or CRATE_URL))
    got = hashlib.sha256(data).hexdigest()
    if got != CRATE_SHA256:
        sys.exit("%s-%s.crate: sha256 %s, expected %s" % (CRATE, VERSION, got, CRATE_SHA256))
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for encoding, expected in sorted(ENCODINGS.items()):
            member = "%s-%s/assets/%s.tiktoken" % (CRATE, VERSION, encoding)
            blob = tar.extractfile(member).read()
            got = hashlib.sha256(blob).hexdigest()
            if got != expected:
                sys.exit("%s: sha256 %s, expected %s" % (member, got, expected))
            path = os.path.join(dest, cache_name(encoding))
            with open(path, "wb") as handle:
                handle.write(blob)
            print("%s -> %s (%d bytes, sha256 %s)" % (encoding, path, len(blob), got))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: fetch-tiktoken.py DEST_DIR")
    main(sys.argv[1])
