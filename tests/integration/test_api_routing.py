"""The app's routes answer "not this one" from their fixed part (adapters.api.routing): for
every route of the app and every path of every route (their parameters filled in, trailing
slashes, a root path, other methods), the answer is FastAPI's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from adapters.api.app import ApiConfig, create_app
from adapters.api.routing import PrefixCheckedRoute, route_path
from claims_engine.store.db import engine_for
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _paths(templates: list[str]) -> list[str]:
    """Each template with its parameters filled (a number, a word, a code with a dollar
    sign), with and without a trailing slash, and a few paths no route has."""
    found = {"/", "", "/v1", "/v1/", "/nothing", "/v1/claims/1/nothing", "/my/claims/1/2"}
    for template in templates:
        for value in ("1", "abc", "$submit", "a.b"):
            path = re.sub(r"\{[^}]+\}", value, template)
            found.update({path, path + "/", path.rstrip("/") or "/"})
    return sorted(found)


def test_every_route_answers_as_fastapi_does(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    env = Environment(Settings(url, None, ROOT / "rules", frozenset({1})), engine_for(url))
    app = create_app(ApiConfig(env, inprocess_workers=False))
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    assert routes and all(isinstance(r, PrefixCheckedRoute) for r in routes)
    paths = _paths([r.path for r in routes])
    compared = 0
    for route in routes:
        for path in paths:
            for method in ("GET", "POST", "DELETE"):
                for root in ("", "/claims-engine"):
                    scope: dict[str, Any] = {
                        "type": "http",
                        "method": method,
                        "path": root + path,
                        "root_path": root,
                        "headers": [],
                    }
                    mine = route.matches(dict(scope))
                    fastapis = APIRoute.matches(route, dict(scope))
                    assert (mine[0], mine[1].get("path_params")) == (
                        fastapis[0],
                        fastapis[1].get("path_params"),
                    ), (route.path, method, root + path)
                    compared += mine[0] is not Match.NONE
    assert compared > len(routes)  # every route matched some path, in full or in part


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/v1/claims", "", "/v1/claims"),
        ("/api/v1/claims", "/api", "/v1/claims"),
        ("/api", "/api", ""),
        ("/apiv1", "/api", "/apiv1"),
        ("/other/v1", "/api", "/other/v1"),
    ],
)
def test_the_route_path_is_starlettes(path: str, root: str, expected: str) -> None:
    assert route_path({"path": path, "root_path": root}) == expected


def test_requests_still_find_their_routes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    env = Environment(Settings(url, None, ROOT / "rules", frozenset({1})), engine_for(url))
    client = TestClient(create_app(ApiConfig(env, inprocess_workers=False)))
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/claims/1").status_code == 401  # found, and asks for a key
    assert client.delete("/v1/claims/1").status_code == 405  # the path's, not this method
    assert client.get("/v1/nothing").status_code == 404
