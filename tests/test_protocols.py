"""The protocol registry, and what every protocol promises: Unicode punctuation scores like its
ASCII form, scores lie in [0, 1], the report can name every metric."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vea_augment.errors import ConfigError
from vea_augment.method.protocols import PROTOCOLS, get_protocol, metric_lookup, parse_protocols

TYPED_AS_ASCII = [
    ("don\u2019t", "don't"),
    ("\u201cNokia\u201d", '"Nokia"'),
    ("\u2018red\u2019", "'red'"),
    ("x\u2011ray", "x-ray"),
    ("3\u20135", "3-5"),
    ("yes \u2014 red", "yes - red"),
    ("wait\u2026", "wait..."),
    ("\u00bfqu\u00e9?", "?qu\u00e9?"),
    ("\uff01yes\uff01", "!yes!"),
    ("\u00abNokia\u00bb", '"Nokia"'),
]
REFERENCES = ["don't", "Nokia", "red", "x-ray", "3-5", "yes", "wait", "qué", "nokia phone"]


def test_the_registry_holds_the_five_protocols_by_name():
    assert sorted(PROTOCOLS) == ["anls", "paper", "relaxed", "strict", "vqa"]
    assert all(name == protocol.name for name, protocol in PROTOCOLS.items())
    assert all(protocol.normalizer and protocol.reference for protocol in PROTOCOLS.values())


def test_every_metric_has_a_unique_protocol_qualified_id():
    ids = list(metric_lookup(list(PROTOCOLS.values())))
    assert len(ids) == len(set(ids))
    assert {"paper.exact_match", "strict.exact_match", "anls.anls", "vqa.accuracy"} <= set(ids)
    assert PROTOCOLS["paper"].primary == "paper.exact_match"


def test_protocols_are_parsed_in_order_once_each():
    assert [p.name for p in parse_protocols(" strict, paper,strict ")] == ["strict", "paper"]
    assert [p.name for p in parse_protocols(["vqa"])] == ["vqa"]
    with pytest.raises(ConfigError, match="unknown scoring protocol 'em'"):
        get_protocol("em")
    with pytest.raises(ConfigError, match="at least one"):
        parse_protocols(" , ")


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@pytest.mark.parametrize(("unicode", "ascii"), TYPED_AS_ASCII)
def test_unicode_punctuation_scores_like_its_ascii_form_under_every_protocol(name, unicode, ascii):
    protocol = PROTOCOLS[name]
    assert protocol.normalize(unicode) == protocol.normalize(ascii)
    references = REFERENCES * 2  # ten or more answers for vqa
    for metric in protocol.metrics:
        assert metric.score(unicode, references) == metric.score(ascii, references)
        assert metric.score("x", [unicode, unicode]) == metric.score("x", [ascii, ascii])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12), st.lists(st.text(max_size=12), min_size=2, max_size=4))
def test_every_score_lies_in_the_unit_interval(prediction, references):
    for protocol in PROTOCOLS.values():
        for metric in protocol.metrics:
            assert 0.0 <= metric.score(prediction, references) <= 1.0
