# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files that hold credentials (client keys, tokens in a kubeconfig): created readable by their owner only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def write_private(directory, name, data):
    """Write ``data`` (bytes) to ``directory/name``, mode 0600, refusing to reuse an existing file; its path."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
