"""compose_containers / compose_unhealthy: one shape from docker_compose_v2's and docker_host_info's containers."""

from ansible_collections.aistack.platform.plugins.module_utils.filters import compose

# as docker_compose_v2 returns them (docker compose ps --format json)
COMPOSE = [
    {"ID": "a1", "Name": "aistack-databases-redis-1", "Service": "redis", "State": "running", "Health": "healthy",
     "Status": "Up 2 minutes (healthy)"},
    {"ID": "b2", "Name": "aistack-databases-postgresql-1", "Service": "postgresql", "State": "running",
     "Health": "starting", "Status": "Up 3 seconds (health: starting)"},
]
# as docker_host_info returns them with verbose_output (the Docker API's /containers/json)
API = [
    {"Id": "a1", "Names": ["/aistack-databases-redis-1"], "State": "exited", "Status": "Exited (0) 5 seconds ago",
     "Labels": {"com.docker.compose.project": "aistack-databases", "com.docker.compose.service": "redis"}},
    {"Id": "b2", "Names": ["/aistack-databases-postgresql-1"], "State": "running", "Status": "Up 1 hour (healthy)",
     "Labels": {"com.docker.compose.project": "aistack-databases", "com.docker.compose.service": "postgresql"}},
    {"Id": "c3", "Names": ["/aistack-databases-qdrant-1"], "State": "running", "Status": "Up 1 hour (unhealthy)",
     "Labels": {"com.docker.compose.service": "qdrant"}},
]


def test_both_shapes_become_one():
    from_compose = compose.containers(COMPOSE)
    from_api = compose.containers(API)
    assert [c["Service"] for c in from_compose] == ["postgresql", "redis"]
    assert from_compose[0] == {"Service": "postgresql", "Name": "aistack-databases-postgresql-1", "State": "running",
                               "Health": "starting", "Status": "Up 3 seconds (health: starting)"}
    assert [(c["Service"], c["Name"], c["State"], c["Health"]) for c in from_api] == [
        ("postgresql", "aistack-databases-postgresql-1", "running", "healthy"),
        ("qdrant", "aistack-databases-qdrant-1", "running", "unhealthy"),
        ("redis", "aistack-databases-redis-1", "exited", "")]


def test_services_filter_and_unhealthy():
    assert [c["Service"] for c in compose.containers(API, ["redis", "postgresql"])] == ["postgresql", "redis"]
    assert compose.containers(None) == [] and compose.containers(API, []) == []
    bad = compose.unhealthy(compose.containers(API) + compose.containers(COMPOSE))
    assert sorted((c["Service"], c["State"], c["Health"]) for c in bad) == [
        ("postgresql", "running", "starting"), ("qdrant", "running", "unhealthy"), ("redis", "exited", "")]
    # control: healthy running containers are not reported
    assert compose.unhealthy(compose.containers(COMPOSE[:1])) == []
