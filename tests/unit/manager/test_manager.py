"""Sizing the manager's shared client: one pool slot pair per informer, not per kind."""

from __future__ import annotations

from controller_manager.cache.factory import InformerKey, selector_key
from controller_manager.config import load_config
from controller_manager.manager import Manager, client_pool_size, informer_keys


def test_informer_keys_and_pool_size_count_informers_not_kinds(write_config) -> None:
    path = write_config(
        """
        api: {url: "http://127.0.0.1:9", token: t0ken-value}
        controllers:
          - {name: a, kind: Product, namespace: acme, reconciler: "m:f"}
          - {name: b, kind: Product, namespace: globex, reconciler: "m:f", workers: 3}
          - name: c
            kind: Product
            selector: {matchLabels: {tier: gold}}
            reconciler: "m:f"
          - name: d
            kind: Product
            selector: {}
            reconciler: "m:f"
            workers: 1
          - name: e
            kind: CategoryTaxonomy
            reconciler: "m:f"
            watches:
              - {kind: Product, map: "m:g"}
              - {kind: CategoryTaxonomy, map: "m:h"}
        """
    )
    config = load_config(path)
    keys = informer_keys(config)
    assert keys == {
        InformerKey("Product", "acme", None),
        InformerKey("Product", "globex", None),
        InformerKey("Product", None, selector_key({"matchLabels": {"tier": "gold"}})),
        InformerKey("Product", None, None),  # d (empty selector = none) and e's watch share
        InformerKey("CategoryTaxonomy", None, None),  # e's primary and its own-kind watch
    }
    workers = 2 + 3 + 2 + 1 + 2
    assert client_pool_size(config) == workers + 2 * 5 + 4  # 2 kinds would give 16
    manager = Manager(config)
    try:
        client = manager._connect()  # builds the client; nothing connects yet
        adapter = client.transport.session.get_adapter(client.url)
        assert adapter._pool_maxsize == 24
    finally:
        manager.stop(timeout=5.0)
