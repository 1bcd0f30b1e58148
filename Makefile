# aistack.platform: the two commands a user needs are `make site` and `make test`.
# Everything else here is a step of those two.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
AISTACK_CACHE ?= $(HOME)/.cache/aistack
export AISTACK_CACHE
CLUSTER := $(ROOT)/tests/cluster/cluster.sh
# The collection as Ansible expects to find it: <path>/ansible_collections/aistack/platform.
COLL_LINK := $(ROOT)/build/collections/ansible_collections/aistack/platform
# ansible-test wants a real directory at that path, not a symlink, and outside this git tree (it would
# list files with this repo's git, which ignores build/): a copy of the tracked files.
SANITY_DIR := $(AISTACK_CACHE)/sanity/ansible_collections/aistack/platform
export PATH := $(VENV)/bin:$(AISTACK_CACHE)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/build/collections
INVENTORY ?= inventories/local
VAULT_PASS ?= $(ROOT)/inventories/local/vault-password.txt
PYTEST_ARGS ?=
# The integration suite on two pytest-xdist workers (tests/conftest.py: one work unit per file, the local
# site's files together, longest first): about 1500 s instead of 2430 s serial. INTEGRATION_WORKERS= runs
# it serially (one test at a time, easier to read when debugging).
INTEGRATION_WORKERS ?= -n 2 --dist loadgroup --no-loadscope-reorder

.PHONY: help ee ee-credential ee-site ee-jobs venv collection cluster cluster-down docker-env local-images site test unit sanity lint changelog integration molecule build bench-helm-tenant bench-helm-tenant-drift bench-image-import bench-airgap-delta bench-network-policy clean

help:
	@echo "make site   - venv, local cluster, Docker + the local images, then playbooks/site.yml against $(INVENTORY)"
	@echo "make test   - unit tests, ansible-test sanity, ansible-lint, integration tests, molecule (local)"
	@echo "make build  - ansible-galaxy collection build"
	@echo "make cluster / cluster-down - start / stop the local test cluster"
	@echo "make ee     - build the execution environment image (execution-environment/; not part of make test)"
	@echo "make ee-site / ee-jobs - site.yml twice / each AWX job template, in the EE through ansible-runner"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

collection: venv
	mkdir -p $(dir $(COLL_LINK))
	ln -sfn $(ROOT) $(COLL_LINK)

cluster: venv
	$(CLUSTER) up

cluster-down:
	$(CLUSTER) down

# The local site runs images built here (tests/images/local_images.py); another INVENTORY brings its own.
site: collection local-images
	start=$$(date +%s)
	ansible-playbook playbooks/site.yml -i $(INVENTORY) --vault-password-file $(VAULT_PASS) \
	  -e aistack_kubeconfig=$$($(CLUSTER) kubeconfig)
	echo "make site: site.yml took $$(( $$(date +%s) - start )) s"
	start=$$(date +%s)
	ansible-playbook playbooks/verify.yml -i $(INVENTORY) --vault-password-file $(VAULT_PASS) \
	  -e aistack_kubeconfig=$$($(CLUSTER) kubeconfig) -e verify_report_dir=$(ROOT)/build/verify
	echo "make site: verify.yml took $$(( $$(date +%s) - start )) s (reports in build/verify)"

build: collection
	mkdir -p build/dist
	ansible-galaxy collection build --force --output-path build/dist .

unit: collection
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

sanity: collection
	rm -rf $(dir $(SANITY_DIR)) && mkdir -p $(SANITY_DIR)
	git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} $(SANITY_DIR)/ 2>/dev/null || true
	pipv=$$($(PY) -c 'from ansible_test._internal.python_requirements import get_venv_packages; from ansible_test._internal.host_configs import NativePythonConfig; print(get_venv_packages(NativePythonConfig(version="3.11", path="$(PY)"))["pip"])')
	mkdir -p $(HOME)/.ansible/test/cache && cp tests/sanity/get_pip_shim.py $(HOME)/.ansible/test/cache/get_pip_$${pipv//./_}.py
	cd $(SANITY_DIR) && ansible-test sanity --python 3.11 --requirements --color no

# Molecule installs a copy of the collection into ~/.ansible/collections, which ansible-lint searches before
# ANSIBLE_COLLECTIONS_PATH: a copy left by an earlier run would hide what this tree adds (a new module).
INSTALLED_COPY := $(HOME)/.ansible/collections/ansible_collections/aistack/platform
# Release notes: the fragments in changelogs/fragments and changelogs/changelog.yaml (antsibull-changelog).
changelog: venv
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

lint: collection changelog
	rm -rf $(INSTALLED_COPY)
	ANSIBLE_VAULT_PASSWORD_FILE=$(VAULT_PASS) ansible-lint --offline --profile production

# The Docker engine with the compose plugin and the local base image (Compose database backend, image builds).
docker-env:
	tests/images/install-compose.sh
	$(CLUSTER) docker
	$(CLUSTER) base-image

# The images the local site runs, built here from their upstream releases and imported into the cluster
# (warm: a check per image), and the cluster they run on. IMAGES= limits it to some, e.g.
# IMAGES="langflow phoenix". Cold, the Docker builds (package downloads, unpacking) run while cluster.sh
# compiles the cluster's binaries (CPU), then the Go-built images (Loki, Traefik) while the others are imported.
IMAGES ?=
IMAGE_LANES ?=
local-images: venv docker-env
	python3 tests/images/local_images.py --build-only --lane docker $(IMAGES) & docker_lane=$$!
	trap 'kill $$docker_lane 2>/dev/null || true' EXIT
	$(CLUSTER) up
	wait $$docker_lane
	python3 tests/images/local_images.py $(IMAGE_LANES) $(IMAGES)

# The suite starts once the cluster and the Docker-built images are in place. The Go-built images (Loki,
# Traefik: cold, about 20 minutes of compiling) build meanwhile in the background at low CPU priority; the
# few tests that run them wait for them (local_images.py holds a lock per image, so nothing builds twice).
GO_LANE_LOG := $(ROOT)/build/images-go-lane.log
integration: collection
	$(MAKE) --no-print-directory local-images IMAGE_LANES="--lane docker"
	mkdir -p $(dir $(GO_LANE_LOG))
	echo "[images] the Go-built images build in the background (nice 19); progress: $(GO_LANE_LOG)"
	nice -n 19 python3 tests/images/local_images.py --lane go >$(GO_LANE_LOG) 2>&1 & go_lane=$$!
	trap 'kill $$go_lane 2>/dev/null || true' EXIT
	rc=0
	KUBECONFIG=$$($(CLUSTER) kubeconfig) $(PY) -m pytest -q --durations=30 $(INTEGRATION_WORKERS) tests/integration $(PYTEST_ARGS) || rc=$$?
	if ! wait $$go_lane; then echo "the Go-built images failed to build:"; tail -20 $(GO_LANE_LOG); rc=1; fi
	cat $(GO_LANE_LOG)
	exit $$rc

molecule: collection cluster
	KUBECONFIG=$$($(CLUSTER) kubeconfig) molecule test -s local

test: unit sanity lint integration molecule
	@echo "make test: all stages passed"

bench-helm-tenant: collection cluster
	KUBECONFIG=$$($(CLUSTER) kubeconfig) $(PY) benchmarks/helm_tenant_bench.py -n 20

bench-helm-tenant-drift: collection cluster
	KUBECONFIG=$$($(CLUSTER) kubeconfig) $(PY) benchmarks/helm_tenant_drift_bench.py -n 20

bench-network-policy: collection cluster
	KUBECONFIG=$$($(CLUSTER) kubeconfig) $(PY) benchmarks/network_policy_bench.py

bench-image-import: collection cluster docker-env
	KUBECONFIG=$$($(CLUSTER) kubeconfig) $(PY) benchmarks/image_import_bench.py

# registries on loopback and skopeo only (Debian's docker-registry and skopeo): no cluster needed
bench-airgap-delta: collection
	$(PY) benchmarks/airgap_delta_bench.py

clean:
	rm -rf build .pytest_cache

# ---------------------------------------------------------------- the execution environment (docs/awx.md)
# Not part of `make test` (a cold build takes minutes). `make ee` builds it with ansible-builder on the local base
# image, with helm and kubectl from the cluster's build (warm: a check of the image's input digest).
# `make ee-site` runs playbooks/site.yml in it through ansible-runner, as AWX runs a job, with only AWX's
# Kubernetes credential (a ServiceAccount token bound to aistack:deployer): twice, the second must change nothing.
# `make ee-jobs` runs every job template of playbooks/vars/awx_layers.yml the same way, in the workflow's order.
EE_TOOLS = $(AISTACK_CACHE)/ee-tools/bin
EE_RUN = $(EE_TOOLS)/python execution-environment/run_in_ee.py --local-site \
  --k8s-credential $(AISTACK_CACHE)/awx-credential.yml --vault-password-file $(VAULT_PASS)
ee: collection docker-env
	$(CLUSTER) build
	execution-environment/build.sh

ee-credential: ee local-images
	execution-environment/local-credential.sh >/dev/null

ee-site: ee-credential
	$(EE_RUN) --playbook playbooks/site.yml --inventory $(INVENTORY)
	$(EE_RUN) --playbook playbooks/site.yml --inventory $(INVENTORY) --data-dir build/ee-runs/site-second
	python3 -c 'import json,sys; s=json.load(open("build/ee-runs/site-second/summary.json")); \
	  sys.exit("second site.yml run in the EE changed %d" % s["changed"] if s["changed"] else 0)'

ee-jobs: ee-credential
	for jt in $$($(PY) -c 'import yaml; print(" ".join(yaml.safe_load(open("playbooks/vars/awx_layers.yml"))["awx_workflow"]))'); do
	  $(EE_RUN) --job-template $$jt --site local --environment dev
	done
