"""The engine every unit test's docker argv names: pinned by an autouse fixture, so argvs are exact."""

from harness.docker_cli import Endpoint

ENDPOINT = Endpoint("unix:///run/test-docker.sock", "the unit tests' pin")
DOCKER = ["docker", "--host", ENDPOINT.host]  # how every docker argv of the harness starts
