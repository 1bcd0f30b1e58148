"""write_private: the one writer of credential files (kube client, its HTTPS transport, helm's kubeconfig)."""

import os
import stat

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common.files import write_private


def test_owner_only_and_never_over_an_existing_file(tmp_path):
    path = write_private(str(tmp_path), "key.pem", b"secret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and open(path, "rb").read() == b"secret"
    with pytest.raises(OSError):
        write_private(str(tmp_path), "key.pem", b"other")  # a file planted beforehand is not written through
    assert open(path, "rb").read() == b"secret"
