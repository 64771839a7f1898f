"""Config -> runtime wiring: filtered controllers, reconciler classes, the API client.

Each test builds a real Manager from a YAML file and checks that what the
file says is what the running pieces do: a controller's ``namespace`` and
``selector`` decide which objects it reconciles, a reconciler named as a
class is instantiated, and every ``api.*`` key reaches the client.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import yaml

from controller_manager.apiserver import EmbeddedAPIServer
from controller_manager.cache.factory import InformerKey, selector_key
from controller_manager.config import ConfigError, load_config
from controller_manager.manager import Manager, client_pool_size, informer_keys

pytestmark = pytest.mark.integration

GOLD = {"matchLabels": {"tier": "gold"}}

EXTRA_OBJECTS = """
apiVersion: gitstore.dev/v1beta1
kind: Namespace
metadata: {name: globex}
spec: {displayName: Globex}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata: {name: air, namespace: acme, labels: {tier: gold}}
spec: {title: Air, categoryRef: {name: laptops}}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata: {name: g1, namespace: globex, labels: {tier: gold}}
spec: {title: G1}
---
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata: {name: g2, namespace: globex, labels: {tier: silver}}
spec: {title: G2}
"""

FILTERED_CONTROLLERS = """
  - name: acme-products
    kind: Product
    namespace: acme
    reconciler: "tests:scripted"
    rate_limit: {base: 10ms, max: 100ms, qps: 1000, burst: 1000}
  - name: gold-products
    kind: Product
    selector: {matchLabels: {tier: gold}}
    workers: 3
    reconciler: "tests:gold"
    rate_limit: {base: 10ms, max: 100ms, qps: 1000, burst: 1000}
"""


def test_namespace_and_selector_filter_what_a_controller_reconciles(
    start_manager, scripted, api, h
) -> None:
    api.apply(EXTRA_OBJECTS)
    gold = h.Scripted()
    manager = start_manager(
        FILTERED_CONTROLLERS + h.TAXONOMY_CONTROLLER, reconcilers={"tests:gold": gold}
    )
    h.wait_for(lambda: scripted.names() == {"x1", "air"}, what="acme's products reconciled")
    h.wait_for(lambda: gold.names() == {"air", "g1"}, what="gold products reconciled")
    h.wait_for(lambda: h.observed(manager, "Product", "globex", "g1"))
    # Both controllers reached what they should reconcile; nothing else joins them.
    names = lambda: (scripted.names(), gold.names())  # noqa: E731
    h.stays(names, 0.5)
    assert scripted.names() == {"x1", "air"}, "only namespace acme"
    assert gold.names() == {"air", "g1"}, "only tier=gold"
    # An unmatched object is not reconciled even when it changes ...
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: g2, namespace: globex, labels: {tier: silver}}\n"
        "spec: {title: G2 v2}\n"
    )
    # ... until its labels match: then the selector's watch delivers it.
    api.apply(
        "apiVersion: catalog.gitstore.dev/v1beta1\nkind: Product\n"
        "metadata: {name: g2, namespace: globex, labels: {tier: gold}}\n"
        "spec: {title: G2 v3}\n"
    )
    h.wait_for(lambda: h.observed(manager, "Product", "globex", "g2"), what="g2 once gold")
    assert gold.names() == {"air", "g1", "g2"}
    h.stays(names, 0.5)
    assert "g1" not in scripted.names() and "g2" not in scripted.names()
    assert "x1" not in gold.names()

    # One shared informer per (kind, namespace, selector); the client's pool is
    # sized for those informers, not for the 2 kinds.
    expected = {
        InformerKey("Product", "acme", None),
        InformerKey("Product", None, selector_key(GOLD)),
        InformerKey("Product", None, None),  # the taxonomy's secondary watch
        InformerKey("CategoryTaxonomy", None, None),  # primary and map_related, shared
    }
    assert manager.factory is not None and manager.client is not None
    assert set(manager.factory.informers()) == expected == informer_keys(manager.config)
    workers = 2 + 3 + 2
    assert client_pool_size(manager.config) == workers + 2 * len(expected) + 4
    adapter = manager.client.transport.session.get_adapter(manager.client.url)
    assert adapter._pool_maxsize == workers + 2 * 4 + 4  # type: ignore[attr-defined]


RECONCILER_CLASS = """
import threading

from controller_manager.client.status import set_condition

INSTANCES = []


class ProductReconciler:
    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()
        INSTANCES.append(self)

    def reconcile(self, request, ctx):
        obj = ctx.get()
        with self.lock:
            self.seen.append(request.name)
        if obj is None:
            return None
        gen = obj["metadata"]["generation"]
        conditions = set_condition(
            (obj.get("status") or {}).get("conditions"), "Ready", "TRUE", "ByClass", "", gen
        )
        ctx.status.update_status(obj, observed_generation=gen, conditions=conditions)
        return None
"""


def test_a_reconciler_class_in_the_config_is_instantiated_and_used(
    tmp_path, write_config, monkeypatch, h
) -> None:
    (tmp_path / "classrec.py").write_text(RECONCILER_CLASS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "classrec", raising=False)
    path = write_config(
        """
  - {name: products, kind: Product, reconciler: "classrec:ProductReconciler"}
"""
    )
    manager = Manager(load_config(path, resolve=True))
    manager.start()
    try:
        import classrec  # the module the manager imported

        h.wait_for(lambda: h.observed(manager, "Product", "acme", "x1"))
        h.wait_for(lambda: h.observed(manager, "Product", "acme", "air"))
        (instance,) = classrec.INSTANCES  # one no-argument instance, built by the manager
        assert sorted(instance.seen) == ["air", "x1"]
        x1 = h.get(manager, "Product", "acme", "x1")
        assert [c["reason"] for c in x1["status"]["conditions"]] == ["ByClass"]
    finally:
        assert manager.stop(timeout=15.0)


TOKENS = {
    "tokens": [
        {
            "token": "wiring-controller-token",
            "principal": "cm",
            "grants": ["*.read", "*.status.write"],
        },
        {"token": "wiring-admin-token", "principal": "admin", "grants": ["admin", "*.read"]},
    ]
}


def test_every_api_key_reaches_the_client(tmp_path, manifests_dir) -> None:
    """url, token_file, ca_file, client_cert/key and the three timeouts, as the Client uses them."""
    tokens_file = tmp_path / "tokens.yaml"
    tokens_file.write_text(yaml.safe_dump(TOKENS))
    (tmp_path / "token").write_text("wiring-controller-token\n")
    for name in ("ca.pem", "client.pem", "client.key"):  # never used over plain http
        (tmp_path / name).write_text("-----BEGIN DUMMY-----\n")
    with EmbeddedAPIServer(manifests=str(manifests_dir), tokens_file=str(tokens_file)) as api:
        path = tmp_path / "wiring.yaml"
        path.write_text(textwrap.dedent(
            f"""
            api:
              url: "{api.url}"
              token_file: token
              ca_file: ca.pem
              client_cert: client.pem
              client_key: client.key
              timeout: 7s
              connect_timeout: 1500ms
              heartbeat_timeout: 20s
            controllers:
              - {{kind: Product, reconciler: "examples.reconcilers.namespace:reconcile"}}
              - kind: CategoryTaxonomy
                reconciler: "examples.reconcilers.taxonomy:reconcile"
                workers: 4
                watches: [{{kind: Product, map: "examples.reconcilers.taxonomy:map_product"}}]
            metrics: {{bind_address: "0"}}
            health: {{bind_address: "0"}}
            """
        ))  # fmt: skip
        manager = Manager(load_config(path, resolve=True))
        try:
            manager.check_api()  # connects with the token read from token_file
            client = manager.client
            assert client is not None
            transport = client.transport
            assert client.url == api.url
            assert (transport.connect_timeout, transport.read_timeout) == (1.5, 7.0)
            assert client.heartbeat_timeout == 20.0
            assert transport.session.verify == str(tmp_path / "ca.pem")
            assert transport.session.cert == (
                str(tmp_path / "client.pem"),
                str(tmp_path / "client.key"),
            )
            assert transport.tokens.refreshable  # a file source, re-read after a 401
            assert transport.tokens.token() == "wiring-controller-token"
            # 2 informers (Product shared by both controllers), 6 workers.
            assert client_pool_size(manager.config) == 6 + 2 * 2 + 4
            adapter = transport.session.get_adapter(api.url)
            assert adapter._pool_maxsize == 14  # type: ignore[attr-defined]
            assert client.list("Product").items  # the token works over the wire
        finally:
            manager.stop(timeout=10.0)

        # The other token sources reach the client too; a wrong token is refused.
        (tmp_path / "token").write_text("not-a-token\n")
        manager = Manager(load_config(path))
        try:
            with pytest.raises(ConfigError, match="api: cannot list the API's kinds"):
                manager.check_api()
        finally:
            manager.stop(timeout=10.0)


@pytest.mark.parametrize("source", ["token", "token_env"])
def test_token_and_token_env_reach_the_client(tmp_path, monkeypatch, source) -> None:
    monkeypatch.setenv("CM_WIRING_TOKEN", "from-the-environment")
    value = "a-literal-token" if source == "token" else "CM_WIRING_TOKEN"
    path = tmp_path / "c.yaml"
    path.write_text(
        f"api: {{url: 'http://127.0.0.1:9', {source}: {value}}}\n"
        "controllers: [{kind: Product, reconciler: 'm:f'}]\n"
    )
    manager = Manager(load_config(path))
    client = manager._connect()  # builds the client; nothing connects yet
    try:
        tokens = client.transport.tokens
        expected = "a-literal-token" if source == "token" else "from-the-environment"
        assert tokens.token() == expected
        assert tokens.refreshable == (source == "token_env")
        assert client.transport.session.verify is True and client.transport.session.cert is None
        assert (client.transport.connect_timeout, client.transport.read_timeout) == (5.0, 30.0)
        assert client.heartbeat_timeout == 45.0
    finally:
        manager.stop(timeout=5.0)


def test_owner_references_to_a_cluster_scoped_primary(start_manager, api, scripted, h) -> None:
    """A Product owned by Namespace 'acme' enqueues the Namespace itself (no namespace)."""
    manager = start_manager(
        """
  - name: namespaces
    kind: Namespace
    reconciler: "tests:scripted"
    rate_limit: {base: 10ms, max: 100ms, qps: 1000, burst: 1000}
    watches:
      - {kind: Product, owner: true}
"""
    )
    # Start-up ends with the namespace's one reconcile written (observedGeneration).
    h.wait_for(lambda: h.observed(manager, "Namespace", None, "acme"), what="the first reconcile")
    before = scripted.count("acme")
    assert before == 1, "reconciled once at start-up"
    api.apply(
        """
apiVersion: catalog.gitstore.dev/v1beta1
kind: Product
metadata:
  name: owned
  namespace: acme
  ownerReferences: [{kind: Namespace, name: acme, controller: true}]
spec: {title: Owned}
"""
    )
    h.wait_for(lambda: scripted.count("acme") > before, what="the owner to be reconciled")
    assert scripted.count("acme", present=True) == scripted.count("acme")  # found, not "gone"
    (controller,) = manager.controllers
    assert controller.options.watches[0].owner_cluster_scoped


def _strip_title(obj: dict) -> dict:
    obj.get("spec", {}).pop("title", None)
    obj.setdefault("metadata", {}).setdefault("annotations", {})["test/stripped"] = "yes"
    return obj


def test_a_caches_transform_shapes_what_every_informer_of_its_kind_keeps(
    start_manager, scripted, h
) -> None:
    """``caches: [{kind, transform}]`` strips fields before they are cached (issue 16)."""
    seen: list[dict] = []

    class Recording:
        def reconcile(self, request, ctx):
            obj = ctx.get()
            if obj is not None:
                seen.append(obj)

    manager = start_manager(
        """
  - name: products
    kind: Product
    reconciler: "tests:recording"
""",
        extra='caches:\n  - {kind: Product, transform: "tests:strip_title"}\n',
        reconcilers={"tests:recording": Recording(), "tests:strip_title": _strip_title},
    )
    h.wait_for(lambda: any(o["metadata"]["name"] == "x1" for o in seen), what="x1 reconciled")
    cached = [o for o in seen if o["metadata"]["name"] == "x1"][0]
    assert "title" not in cached["spec"]
    assert cached["metadata"]["annotations"]["test/stripped"] == "yes"
    informer = manager.factory.informers()[InformerKey("Product", None, None)]
    assert (
        "title" not in informer.indexer.get_by_key(f"{cached['metadata']['namespace']}/x1")["spec"]
    )
