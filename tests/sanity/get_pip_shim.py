"""Stand-in for the pip bootstrap script that ansible-test downloads into ~/.ansible/test/cache.

ansible-test creates each sanity test's virtualenv without pip and runs a get-pip script fetched from
a host outside the package registries this project may reach. This does the same job from what the
interpreter already ships (ensurepip), then installs the pinned packages ansible-test asks for from PyPI.
Called as: python get_pip.py --disable-pip-version-check pip==X [setuptools==Y] [--no-setuptools] [--no-wheel]
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)
