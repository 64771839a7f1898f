"""The ``caches`` section: a transform per cached kind, checked before anything starts."""

from __future__ import annotations

from controller_manager.config import load_config

API = "api: {embedded: {manifests: manifests}}\n"
CONTROLLERS = (
    'controllers: [{kind: A, reconciler: "cm_cache_recs:reconcile", '
    'watches: [{kind: B, map: "cm_cache_recs:to_a"}]}]\n'
)
RECS = (
    "def reconcile(request, ctx):\n    return None\n"
    "def to_a(obj):\n    return []\n"
    "def strip(obj):\n    obj.pop('spec', None)\n    return obj\n"
    "NOT_CALLABLE = 3\n"
)


def test_a_transform_for_a_primary_or_a_watched_kind_loads(write_config, tmp_path) -> None:
    (tmp_path / "cm_cache_recs.py").write_text(RECS)
    caches = (
        'caches: [{kind: A, transform: "cm_cache_recs:strip"}, '
        '{kind: B, transform: "cm_cache_recs:strip"}]\n'
    )
    config = load_config(write_config(API + CONTROLLERS + caches), resolve=True)
    assert [(c.kind, c.transform) for c in config.caches] == [
        ("A", "cm_cache_recs:strip"),
        ("B", "cm_cache_recs:strip"),
    ]


def test_every_problem_of_the_section_is_named_with_its_key(write_config, config_errors) -> None:
    caches = (
        "caches:\n"
        '  - {kind: A, transform: "cm_cache_recs:strip"}\n'
        '  - {kind: A, transform: "cm_cache_recs:strip"}\n'
        '  - {kind: Nobody, transform: "cm_cache_recs:strip"}\n'
        "  - {kind: B}\n"
        '  - {kind: B, transform: "not a path"}\n'
        "  - {transform: x:y}\n"
    )
    errors = config_errors(write_config(API + CONTROLLERS + caches))
    assert errors == [
        "caches[1].kind: duplicate of caches[0]",
        "caches[2].kind: no controller reconciles or watches 'Nobody': nothing would be cached",
        "caches[3].transform: missing: an import path like 'pkg.module:func'",
        "caches[4].kind: duplicate of caches[3]",
        "caches[4].transform: expected 'pkg.module:func', got 'not a path'",
        "caches[5].kind: missing: the kind whose cache this configures",
    ]


def test_a_transform_that_is_missing_or_not_callable_fails_the_import_check(
    write_config, config_errors, tmp_path
) -> None:
    (tmp_path / "cm_cache_recs.py").write_text(RECS)
    caches = (
        'caches: [{kind: A, transform: "cm_cache_recs:NOT_CALLABLE"}, '
        '{kind: B, transform: "cm_cache_recs:absent"}]\n'
    )
    errors = config_errors(write_config(API + CONTROLLERS + caches), resolve=True)
    assert errors[0] == "caches[0].transform: 'cm_cache_recs:NOT_CALLABLE' is not callable"
    assert errors[1].startswith("caches[1].transform: ") and "absent" in errors[1]
    assert len(errors) == 2
